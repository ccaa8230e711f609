"""The pc relaxation: fused Triton kernel vs the torch paths, over population sizes and widths.

One relaxation (T = 20 steps, γ = 0.1, a minibatch of 64) of a padded population of
``P`` two-hidden-level nets ``64-n-n-10`` (``N = 2n + 10`` non-input neurons), timed side by
side in one run:

- ``torch``: rules/pc.py ``relax`` (level blocks, eager; the reference);
- ``dense``: the kernel's own computation in torch (one square block per member, eager);
- ``compiled``: ``torch.compile`` of ``dense`` (skipped where it cannot compile);
- ``triton``: rules/kernels/pc_relax.py, one launch for all T steps — only on a CUDA device.

On a machine without CUDA the table has the torch paths only, and says so. Speed-ups are
ratios to ``torch`` in the same run. GPU figures are only ever measured, never estimated.

    python benchmarks/kernels.py [--quick] [--json PATH] [--device cuda]
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

from rules.kernels import pc_relax, triton_available  # noqa: E402
from rules.local import one_hot  # noqa: E402
from rules.pc import relax  # noqa: E402
from search_spaces.compile import compile_genome, init_params, stack  # noqa: E402
from search_spaces.genome import ConnectionGene, Genome, NodeGene  # noqa: E402
from search_spaces.net import Params  # noqa: E402

STEPS, GAMMA, BATCH = 20, 0.1, 64


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
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    row = {"population": population, "width": width, "N": 2 * width + 10, "device": device}
    row["torch_s"] = timed(lambda: relax(net, params, x, target, steps, gamma), repeats, sync)
    row["dense_s"] = timed(lambda: pc_relax.relax_dense_torch(problem, steps, gamma), repeats,
                           sync)
    try:
        compiled = torch.compile(pc_relax.relax_dense_torch, dynamic=False)
        row["compiled_s"] = timed(lambda: compiled(problem, steps, gamma), repeats, sync)
    except Exception as exc:  # noqa: BLE001 - no compiler toolchain, unsupported backend
        row["compiled_s"], row["compiled_error"] = None, f"{type(exc).__name__}"
    if device == "cuda" and triton_available() and problem["rows"] <= pc_relax.MAX_ROWS:
        row["triton_s"] = timed(lambda: pc_relax.relax_triton(problem, steps, gamma), repeats,
                                sync)
    else:
        row["triton_s"] = None
    for key in ("dense_s", "compiled_s", "triton_s"):
        row[key.replace("_s", "_speedup")] = (row["torch_s"] / row[key]) if row[key] else None
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.device == "cpu":
        print("no CUDA device: timing the torch paths only (the Triton kernel runs compiled "
              "on CUDA; on the CPU only its interpreter, which is for checking, not speed)")
    torch.manual_seed(0)
    populations = [16] if args.quick else [16, 64]
    widths = [32, 64] if args.quick else [27, 59, 123, 251]  # N = 64, 128, 256, 512
    rows = [case(p, w, args.device, 2 if args.quick else 5)
            for p in populations for w in widths]

    def cell(v: float | None, scale: float = 1e3) -> str:
        return "-" if v is None else f"{v * scale:.2f}"
    print(f"{'P':>4} {'N':>5} | {'torch ms':>9} {'dense ms':>9} {'compiled ms':>12} "
          f"{'triton ms':>10} | {'triton x':>8}")
    for r in rows:
        print(f"{r['population']:>4} {r['N']:>5} | {cell(r['torch_s']):>9} "
              f"{cell(r['dense_s']):>9} {cell(r['compiled_s']):>12} {cell(r['triton_s']):>10} "
              f"| {cell(r['triton_speedup'], 1.0):>8}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "steps": STEPS,
                                               "batch": BATCH, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
