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
  only with ``--compile-energy``: compiling their unrolled sweeps takes minutes per shape,
  which would break the run's 10-minute budget);
- ``triton``: the fused kernel — only on a CUDA device.

On a machine without CUDA the table has the torch paths only, and says so. Speed-ups are
ratios to ``torch`` in the same run. GPU figures are only ever measured, never estimated.

    python benchmarks/kernels.py [--quick] [--json PATH] [--device cuda] [--compile-energy]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from rules import chl  # noqa: E402
from rules.kernels import energy_relax, pc_relax, triton_available  # noqa: E402
from rules.local import one_hot  # noqa: E402
from rules.pc import relax  # noqa: E402
from search_spaces.compile import compile_genome, init_params, stack  # noqa: E402
from search_spaces.genome import ConnectionGene, Genome, NodeGene  # noqa: E402
from search_spaces.net import Params  # noqa: E402

STEPS, GAMMA, BATCH = 20, 0.1, 64
FREE_SWEEPS, NUDGE_SWEEPS, BETA, CHL_GAMMA = 8, 4, 0.1, 0.5


def two_hidden(width: int) -> Genome:
    nodes = (NodeGene(0, "input", 64), NodeGene(1, "output", 10),
             NodeGene(2, "hidden", width, "tanh"), NodeGene(3, "hidden", width, "relu"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1))
    return Genome(nodes, conns)


def timed(fn, repeats: int, sync) -> float:
    fn()  # warm-up (compilation, caches)
    sync()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - started)
    return best


def on_cuda(device: str) -> bool:
    """``cuda`` and ``cuda:N`` alike: the Triton column is timed on any CUDA device."""
    return torch.device(device).type == "cuda"


def synchronizer(device: str):
    """Wait for ``device``'s queued work (a CUDA call returns before the GPU is done)."""
    return (lambda: torch.cuda.synchronize(device)) if on_cuda(device) else (lambda: None)


def case(population: int, width: int, device: str, repeats: int) -> dict:
    net = stack([compile_genome(two_hidden(width))] * population)
    params = init_params(net, list(range(population)), [1.0] * population)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 64, generator=gen)
    target = one_hot(torch.randint(0, 10, (population, BATCH), generator=gen), 10)
    steps = torch.full((population,), STEPS)
    gamma = torch.full((population,), GAMMA)
    start = relax(net, params, x, target, 0, 0.0).states
    problem = pc_relax.dense_problem(net, params, x, start)
    if device != "cpu":
        params = Params([w.to(device) for w in params.weights],
                        [b.to(device) for b in params.biases])
        net = net.to(device)
        problem = {k: v.to(device) if torch.is_tensor(v) else v for k, v in problem.items()}
        x, target = x.to(device), target.to(device)
        steps, gamma = steps.to(device), gamma.to(device)
    sync = synchronizer(device)
    row = {"rule": "pc", "population": population, "width": width, "N": 2 * width + 10,
           "device": device}
    row["torch_s"] = timed(lambda: relax(net, params, x, target, steps, gamma), repeats, sync)
    row["dense_s"] = timed(lambda: pc_relax.relax_dense_torch(problem, steps, gamma), repeats,
                           sync)
    try:
        compiled = torch.compile(pc_relax.relax_dense_torch, dynamic=False)
        row["compiled_s"] = timed(lambda: compiled(problem, steps, gamma), repeats, sync)
    except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported backend
        row["compiled_s"], row["compiled_error"] = None, f"{type(exc).__name__}"
    if on_cuda(device) and triton_available() and problem["rows"] <= pc_relax.MAX_ROWS:
        row["triton_s"] = timed(lambda: pc_relax.relax_triton(problem, steps, gamma), repeats,
                                sync)
    else:
        row["triton_s"] = None
    return with_speedups(row)


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


def energy_case(rule: str, population: int, width: int, device: str, repeats: int,
                compile_dense: bool) -> dict:
    net = stack([compile_genome(two_hidden(width))] * population)
    params = init_params(net, list(range(population)), [1.0] * population)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 64, generator=gen)
    target = one_hot(torch.randint(0, 10, (population, BATCH), generator=gen), 10)
    if device != "cpu":
        params, net = params.to(device), net.to(device)
        x, target = x.to(device), target.to(device)
    c = chl.couplings(net, params, 1.0 if rule == "ep" else CHL_GAMMA)
    sync = synchronizer(device)
    row = {"rule": rule, "population": population, "width": width, "N": 2 * width + 10,
           "device": device}
    row["torch_s"] = timed(lambda: energy_phases(rule, net, c, x, target, chl.relax),
                           repeats, sync)

    def dense(*args):
        return energy_relax.relax(*args, solver="dense-torch")
    row["dense_s"] = timed(lambda: energy_phases(rule, net, c, x, target, dense), repeats, sync)
    row["compiled_s"] = None
    if not compile_dense:
        row["compiled_error"] = "skipped (without --compile-energy)"
    else:
        try:
            compiled = torch.compile(energy_relax.relax_dense_torch, dynamic=False)

            def dense_compiled(*args):
                return energy_relax.relax(*args, solver="dense-torch", run=compiled)
            row["compiled_s"] = timed(
                lambda: energy_phases(rule, net, c, x, target, dense_compiled), repeats, sync)
        except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported backend
            row["compiled_error"] = f"{type(exc).__name__}"
    if on_cuda(device) and triton_available() and energy_relax.fits(net):
        row["triton_s"] = timed(
            lambda: energy_phases(rule, net, c, x, target, energy_relax.relax), repeats, sync)
    else:
        row["triton_s"] = None
    return with_speedups(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile-energy", action="store_true",
                        help="also time torch.compile of the ep/chl dense path (slow to compile)")
    args = parser.parse_args()
    try:
        torch.device(args.device)
    except RuntimeError:
        parser.error(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    if not on_cuda(args.device):
        print("no CUDA device: timing the torch paths only (the Triton kernel runs compiled "
              "on CUDA; on the CPU only its interpreter, which is for checking, not speed)")
    torch.manual_seed(0)
    populations = [16] if args.quick else [16, 64]
    widths = [32, 64] if args.quick else [27, 59, 123, 251]  # N = 64, 128, 256, 512
    repeats = 2 if args.quick else 5
    rows = [case(p, w, args.device, repeats) for p in populations for w in widths]
    rows += [energy_case(rule, p, w, args.device, repeats, compile_dense=args.compile_energy)
             for rule in ("ep", "chl") for p in populations for w in widths]

    def cell(v: float | None, scale: float = 1e3) -> str:
        return "-" if v is None else f"{v * scale:.2f}"
    print(f"{'rule':>4} {'P':>4} {'N':>5} | {'torch ms':>9} {'dense ms':>9} {'compiled ms':>12} "
          f"{'triton ms':>10} | {'triton x':>8}")
    for r in rows:
        print(f"{r['rule']:>4} {r['population']:>4} {r['N']:>5} | {cell(r['torch_s']):>9} "
              f"{cell(r['dense_s']):>9} {cell(r['compiled_s']):>12} {cell(r['triton_s']):>10} "
              f"| {cell(r['triton_speedup'], 1.0):>8}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": args.device, "steps": STEPS, "batch": BATCH,
            "sweeps": {"free": FREE_SWEEPS, "nudge": NUDGE_SWEEPS}, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
