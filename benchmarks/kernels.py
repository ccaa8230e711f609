"""The relaxations of pc, ep and chl: fused Triton kernels vs the torch paths, over population
sizes and widths.

Per minibatch of 64, on a padded population of ``P`` two-hidden-level nets ``64-n-n-10``
(``N = 2n + 10`` non-input neurons), timed side by side in one run:

- pc: one relaxation, T = 20 steps, γ = 0.1 (rules/kernels/pc_relax.py);
- ep: the free phase (T1 = 8 sweeps) and the ±β nudged phases (T2 = 4 each), β = 0.1;
- chl: the free phase (T1 = 8), then the free and the clamped phases (T2 = 4 each), γ = 0.5
  (rules/kernels/energy_relax.py; one kernel launch per phase).

Paths:

- ``torch``: the rule's own relaxation (level blocks, eager; the reference);
- ``dense``: the kernel's own computation in torch (one square block per member, eager);
- ``compiled``: ``torch.compile`` of ``dense`` (skipped where it cannot compile; for ep/chl
  only with ``--compile-energy``: compiling their unrolled sweeps takes minutes per shape);
- ``triton``: the fused kernel — only on a CUDA device; ``--warps`` times it also at other
  ``num_warps`` (``triton_wN`` columns), each checked like the default.

Each time is the median of ``--repeats`` runs after a warm-up (device work synchronised
before the clock is read). Every row also says how far each path's result is from the
reference, ``‖out − ref‖ / ‖ref‖`` over the relaxed states (pc's triton against its dense
path, which tests/test_kernels.py holds to the level-block path; ep/chl against the torch
path): a fast kernel that computes something else is caught in the same run that times it.
The eager columns of every row are timed first and the JSON is rewritten after each row;
the compiled columns come last, for as long as ``--budget-s`` allows (a compile can take
minutes), so a run cut short still returns its figures.

On a machine without CUDA the table has the torch paths only, and says so. Speed-ups are
ratios to ``torch`` in the same run. GPU figures are only ever measured, never estimated.

    python benchmarks/kernels.py [--quick] [--json PATH] [--device cuda] [--repeats N]
                                 [--budget-s SECONDS] [--warps 4,8,16] [--compile-energy]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import functools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from evolve import strict_json  # noqa: E402
from rules import chl  # noqa: E402
from rules.kernels import (  # noqa: E402
    energy_relax,
    pc_relax,
    relative_error,
    triton_available,
)
from rules.local import one_hot  # noqa: E402
from rules.pc import relax  # noqa: E402
from search_spaces.compile import compile_genome, init_params, stack  # noqa: E402
from search_spaces.genome import Genome, layered  # noqa: E402

STEPS, GAMMA, BATCH = 20, 0.1, 64
FREE_SWEEPS, NUDGE_SWEEPS, BETA, CHL_GAMMA = 8, 4, 0.1, 0.5


def two_hidden(width: int) -> Genome:
    return layered([64, width, width, 10], ["tanh", "relu"])


def timed(fn, repeats: int, sync) -> float:
    """Median seconds of ``repeats`` runs of ``fn`` after one warm-up (compilation, caches)."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def on_cuda(device: str) -> bool:
    """``cuda`` and ``cuda:N`` alike: the Triton column is timed on any CUDA device."""
    return torch.device(device).type == "cuda"


def synchronizer(device: str):
    """Wait for ``device``'s queued work (a CUDA call returns before the GPU is done)."""
    return (lambda: torch.cuda.synchronize(device)) if on_cuda(device) else (lambda: None)


def population(width: int, size: int, device: str, seed: int = 0):
    """``size`` copies of the 64-n-n-10 net, their parameters, a minibatch and its targets,
    on ``device`` (drawn on the host from ``seed``, so every device gets the same inputs)."""
    net = stack([compile_genome(two_hidden(width))] * size)
    params = init_params(net, [seed + i for i in range(size)], [1.0] * size)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCH, 64, generator=gen)
    target = one_hot(torch.randint(0, 10, (size, BATCH), generator=gen), 10)
    return net.to(device), params.to(device), x.to(device), target.to(device)


def case(size: int, width: int, device: str, repeats: int, warps: tuple[int, ...] = ()):
    """pc's row (eager paths; the kernel also at each of ``warps``) and a function that
    adds its compiled column."""
    net, params, x, target = population(width, size, "cpu")
    steps = torch.full((size,), STEPS)
    gamma = torch.full((size,), GAMMA)
    start = relax(net, params, x, target, 0, 0.0).states
    problem = pc_relax.dense_problem(net, params, x, start)
    if device != "cpu":
        params, net = params.to(device), net.to(device)
        problem = {k: v.to(device) if torch.is_tensor(v) else v for k, v in problem.items()}
        x, target = x.to(device), target.to(device)
        steps, gamma = steps.to(device), gamma.to(device)
    sync = synchronizer(device)
    row = {"rule": "pc", "population": size, "width": width, "N": 2 * width + 10,
           "device": device, "compiled_s": None}
    row["torch_s"] = timed(lambda: relax(net, params, x, target, steps, gamma), repeats, sync)
    row["dense_s"] = timed(lambda: pc_relax.relax_dense_torch(problem, steps, gamma), repeats,
                           sync)
    dense = pc_relax.relax_dense_torch(problem, steps, gamma)
    # the dense path against the level blocks: the same relaxed hidden states
    level = relax(net, params, x, target, steps, gamma).states
    as_levels = pc_relax.states_from_dense(net, dense, x, target)
    row["dense_error"] = relative_error(tuple(as_levels[1:-1]), tuple(level[1:-1]))
    if on_cuda(device) and triton_available() and problem["rows"] <= pc_relax.MAX_ROWS:
        triton_column(row, lambda: pc_relax.relax_triton(problem, steps, gamma), dense,
                      repeats, sync)
        for w in warps:
            triton_column(row, lambda w=w: pc_relax.relax_triton(problem, steps, gamma, w),
                          dense, repeats, sync, key=f"triton_w{w}")
    else:
        row["triton_s"] = row["triton_error"] = None

    def add_compiled() -> None:
        try:
            compiled = torch.compile(pc_relax.relax_dense_torch, dynamic=False)
            row["compiled_s"] = timed(lambda: compiled(problem, steps, gamma), repeats, sync)
            row["compiled_error"] = relative_error(compiled(problem, steps, gamma), dense)
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported backend
            row["compiled_s"], row["compiled_failure"] = None, f"{type(exc).__name__}"
    return with_speedups(row), add_compiled


def triton_column(row: dict, run, reference, repeats: int, sync, key: str = "triton") -> None:
    """Time the fused kernel and measure its error against ``reference`` (``key``_s and
    ``key``_error); a kernel that cannot run on this GPU (Triton's ``OutOfResources`` at
    compile time, say) leaves the column empty with the reason (``key``_failure), and the
    other rows are still timed."""
    try:
        row[f"{key}_s"] = timed(run, repeats, sync)
        row[f"{key}_error"] = relative_error(run(), reference)
    except Exception as exc:  # noqa: BLE001 - recorded in the row, never hidden
        row[f"{key}_s"] = row[f"{key}_error"] = None
        row[f"{key}_failure"] = f"{type(exc).__name__}: {exc}"[:300]


def with_speedups(row: dict) -> dict:
    for key in ("dense_s", "compiled_s", "triton_s"):
        row[key.replace("_s", "_speedup")] = (row["torch_s"] / row[key]) if row[key] else None
    return row


def energy_phases(rule: str, net, c, x, target, relax_phase):
    """One minibatch's relaxations of ``rule`` (ep or chl), each phase through
    ``relax_phase`` (the signature of rules/chl.py ``relax``)."""
    start = relax_phase(net, c, chl.initial_state(net, x, torch.float32), FREE_SWEEPS)
    if rule == "ep":
        beta = torch.full((net.population, 1, 1), BETA, device=x.device)
        return (relax_phase(net, c, start.clone(), NUDGE_SWEEPS, target, beta, True),
                relax_phase(net, c, start.clone(), NUDGE_SWEEPS, target, -beta, True))
    return (relax_phase(net, c, start.clone(), NUDGE_SWEEPS, None, None, True),
            relax_phase(net, c, start, NUDGE_SWEEPS, target, None, True))


def energy_case(rule: str, size: int, width: int, device: str, repeats: int,
                compile_dense: bool, warps: tuple[int, ...] = ()):
    """ep's or chl's row (eager paths) and a function that adds its compiled column."""
    net, params, x, target = population(width, size, device)
    c = chl.couplings(net, params, 1.0 if rule == "ep" else CHL_GAMMA)
    sync = synchronizer(device)
    row = {"rule": rule, "population": size, "width": width, "N": 2 * width + 10,
           "device": device, "compiled_s": None}
    row["torch_s"] = timed(lambda: energy_phases(rule, net, c, x, target, chl.relax),
                           repeats, sync)
    reference = energy_phases(rule, net, c, x, target, chl.relax)

    def dense(*args):
        return energy_relax.relax(*args, solver="dense-torch")
    row["dense_s"] = timed(lambda: energy_phases(rule, net, c, x, target, dense), repeats, sync)
    row["dense_error"] = relative_error(energy_phases(rule, net, c, x, target, dense),
                                        reference)
    if on_cuda(device) and triton_available() and energy_relax.fits(net):
        triton_column(row, lambda: energy_phases(rule, net, c, x, target, energy_relax.relax),
                      reference, repeats, sync)
        for w in warps:
            def with_warps(*args, w=w):
                return energy_relax.relax(
                    *args, run=functools.partial(energy_relax.relax_triton, num_warps=w))
            triton_column(row, lambda f=with_warps: energy_phases(rule, net, c, x, target, f),
                          reference, repeats, sync, key=f"triton_w{w}")
    else:
        row["triton_s"] = row["triton_error"] = None

    def add_compiled() -> None:
        if not compile_dense:
            row["compiled_failure"] = "skipped (without --compile-energy)"
            return
        try:
            compiled = torch.compile(energy_relax.relax_dense_torch, dynamic=False)

            def dense_compiled(*args):
                return energy_relax.relax(*args, solver="dense-torch", run=compiled)
            row["compiled_s"] = timed(
                lambda: energy_phases(rule, net, c, x, target, dense_compiled), repeats, sync)
            row["compiled_error"] = relative_error(
                energy_phases(rule, net, c, x, target, dense_compiled), reference)
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported backend
            row["compiled_failure"] = f"{type(exc).__name__}"
    return with_speedups(row), add_compiled


def cell(value: float | None, scale: float = 1e3) -> str:
    return "-" if value is None else f"{value * scale:.2f}"


def error_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.0e}"


def print_table(rows: list[dict]) -> None:
    print(f"{'rule':>4} {'P':>4} {'N':>5} | {'torch ms':>9} {'dense ms':>9} {'compiled ms':>12} "
          f"{'triton ms':>10} | {'triton x':>8} | {'dense err':>9} {'triton err':>10}")
    for r in rows:
        if "triton_failure" in r:
            print(f"{r['rule']} P={r['population']} N={r['N']}: triton failed: "
                  f"{r['triton_failure']}")
        print(f"{r['rule']:>4} {r['population']:>4} {r['N']:>5} | {cell(r['torch_s']):>9} "
              f"{cell(r['dense_s']):>9} {cell(r['compiled_s']):>12} {cell(r['triton_s']):>10} "
              f"| {cell(r['triton_speedup'], 1.0):>8} | {error_cell(r['dense_error']):>9} "
              f"{error_cell(r['triton_error']):>10}")


def print_warps(rows: list[dict], warps: tuple[int, ...]) -> None:
    """The kernels' times at each ``num_warps`` (ms), where they ran."""
    print(f"\n{'rule':>4} {'P':>4} {'N':>5} | " + " ".join(f"{f'w={w} ms':>9}" for w in warps))
    for r in rows:
        if r.get("triton_s") is not None:
            print(f"{r['rule']:>4} {r['population']:>4} {r['N']:>5} | "
                  + " ".join(f"{cell(r.get(f'triton_w{w}_s')):>9}" for w in warps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--json", metavar="PATH", help="write the figures here (after each row)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int,
                        help="timed runs per figure, median taken (default 2 with --quick, "
                             "else 5 on the CPU and 25 on CUDA)")
    parser.add_argument("--budget-s", type=float, default=float("inf"), metavar="SECONDS",
                        help="start no compile after this many seconds of the run "
                             "(default: no limit)")
    parser.add_argument("--warps", metavar="W,W,...",
                        help="also time the kernels at each of these num_warps (CUDA only; "
                             "powers of 2, 1-32; Triton's default is 4)")
    parser.add_argument("--compile-energy", action="store_true",
                        help="also time torch.compile of the ep/chl dense path (slow to compile)")
    args = parser.parse_args()
    try:
        if torch.device(args.device).type not in ("cpu", "cuda"):
            raise RuntimeError
    except RuntimeError:
        parser.error(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    if on_cuda(args.device) and not torch.cuda.is_available():
        parser.error(f"--device {args.device!r}: this machine has no CUDA device")
    warps: tuple[int, ...] = ()
    if args.warps:
        try:
            warps = tuple(int(w) for w in args.warps.split(","))
        except ValueError:
            warps = (0,)
        if not warps or any(w not in (1, 2, 4, 8, 16, 32) for w in warps):
            parser.error(f"--warps {args.warps!r}: expected powers of 2 from 1 to 32, "
                         "comma-separated")
        if not on_cuda(args.device):  # the kernels are timed on CUDA only: an empty table
            parser.error(f"--warps: the kernels are timed on CUDA only, and --device is "
                         f"{args.device!r}")
    if args.repeats is not None and args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: expected at least 1")
    if not args.budget_s >= 0:
        parser.error(f"--budget-s {args.budget_s}: expected a number of seconds >= 0")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json {args.json}: its folder does not exist")
    if not on_cuda(args.device):
        print("no CUDA device: timing the torch paths only (the Triton kernel runs compiled "
              "on CUDA; on the CPU only its interpreter, which is for checking, not speed)")
    began = time.perf_counter()
    torch.manual_seed(0)
    sizes = [16] if args.quick else [16, 64]
    widths = [32, 64] if args.quick else [27, 59, 123, 251]  # N = 64, 128, 256, 512
    repeats = args.repeats or (2 if args.quick else 25 if on_cuda(args.device) else 5)
    header = {"device": args.device, "steps": STEPS, "batch": BATCH, "repeats": repeats,
              "timing": "median", "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(args.device) if on_cuda(args.device) else None,
              "sweeps": {"free": FREE_SWEEPS, "nudge": NUDGE_SWEEPS}}
    rows: list[dict] = []
    compile_later = []

    def save() -> None:
        if args.json:
            Path(args.json).write_text(strict_json.dumps({**header, "rows": rows}))

    plan = [lambda p=p, w=w: case(p, w, args.device, repeats, warps)
            for p in sizes for w in widths]
    plan += [lambda rule=rule, p=p, w=w: energy_case(rule, p, w, args.device, repeats,
                                                    args.compile_energy, warps)
             for rule in ("ep", "chl") for p in sizes for w in widths]
    for make in plan:
        row, add_compiled = make()
        rows.append(row)
        compile_later.append((row, add_compiled))
        save()
    for row, add_compiled in compile_later:
        if time.perf_counter() - began > args.budget_s:
            row.setdefault("compiled_failure", f"skipped (past --budget-s {args.budget_s:g})")
        else:
            add_compiled()
        with_speedups(row)
        save()
    print_table(rows)
    if warps:
        print_warps(rows, warps)


if __name__ == "__main__":
    main()
