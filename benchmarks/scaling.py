"""Ray scaling on this machine: evaluations/s with 1 and 2 workers, and Ray's overhead.

One fixed generation of candidates (NEAT-mutated digits genomes at the default search sizes,
default training budget) is evaluated three ways, side by side in one run:

- ``serial``: in-process, one torch thread (the reference for per-evaluation compute);
- ``ray x1``: a local Ray instance with one worker CPU;
- ``ray x2``: a local Ray instance with two worker CPUs.

Reported: evaluations/s, speed-up of ray x2 over ray x1 (target >= 1.7 on evaluation-bound
generations), and Ray's overhead as a fraction of evaluation time,
``(wall(ray x1) - Σ compute in tasks) / Σ compute in tasks`` (target <= 5%), where the
compute inside tasks is what ``evaluate_chunk`` measures around training.

    python benchmarks/scaling.py [--quick] [--json PATH]
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

import numpy as np  # noqa: E402
import ray  # noqa: E402
import torch  # noqa: E402

import rules  # noqa: E402
from evolve.chunking import plan_chunks  # noqa: E402
from evolve.config import SearchConfig  # noqa: E402
from evolve.evaluate import RuleSpec, evaluate_chunk  # noqa: E402
from evolve.executors import SerialExecutor  # noqa: E402
from evolve.ray_executor import RayExecutor  # noqa: E402
from evolve.strategies import Candidate  # noqa: E402
from evolve.tasks import load_task  # noqa: E402
from search_spaces.innovation import InnovationTracker  # noqa: E402
from search_spaces.space import MutationRates, SearchSpace  # noqa: E402


def make_candidates(n: int, seed: int) -> list[Candidate]:
    space = SearchSpace(64, 10, SearchConfig().space)
    tracker, rng = InnovationTracker(), np.random.default_rng(seed)
    rates = MutationRates(add_node=0.6, add_edge=0.3)
    out = []
    for i in range(n):
        genome = space.minimal_genome(tracker)
        for _ in range(3):
            genome = space.mutate(genome, rng, tracker, rates)
        out.append(Candidate(i, 0, genome, {"lr": 3e-3, "init_scale": 1.0}))
    return out


def run(executor, chunks, shared) -> tuple[float, float]:
    """Wall seconds for the whole generation and the compute seconds measured in tasks."""
    started = time.perf_counter()
    compute = 0.0
    for _, outcomes in executor.map(evaluate_chunk, chunks, shared,
                                    sizes=[len(c) for c in chunks]):
        compute += sum(o.train_seconds for o in outcomes)
    return time.perf_counter() - started, compute


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller generation (~2 min)")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args()
    n, repeats = (16, 2) if args.quick else (40, 3)
    torch.set_num_threads(1)
    config = SearchConfig()
    task = load_task("digits", seed=0)
    budget = rules.Budget(config.training.epochs, config.training.batch_size,
                          config.training.patience)
    chunks = plan_chunks(make_candidates(n, seed=0), 2)
    shared = (task, RuleSpec("bp"), budget, 0, ())
    results: dict[str, list[tuple[float, float]]] = {"serial": [], "ray x1": [], "ray x2": []}
    results["serial"] = [run(SerialExecutor(), chunks, shared) for _ in range(repeats)]
    for name, cpus in (("ray x1", 1), ("ray x2", 2)):
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        try:
            executor = RayExecutor()
            run(executor, chunks[:cpus], shared)  # warm the workers (imports, first batch)
            results[name] = [run(executor, chunks, shared) for _ in range(repeats)]
            executor.close()
        finally:
            ray.shutdown()
    summary = {}
    for name, runs in results.items():
        wall = float(np.median([w for w, _ in runs]))
        compute = float(np.median([c for _, c in runs]))
        summary[name] = {"wall_s": wall, "compute_s": compute, "evals_per_s": n / wall}
    speedup = summary["ray x2"]["evals_per_s"] / summary["ray x1"]["evals_per_s"]
    x1 = summary["ray x1"]
    overhead = (x1["wall_s"] - x1["compute_s"]) / x1["compute_s"]
    print(f"{'executor':<10} {'wall s':>8} {'compute s':>10} {'evals/s':>8}")
    for name, s in summary.items():
        print(f"{name:<10} {s['wall_s']:>8.2f} {s['compute_s']:>10.2f} {s['evals_per_s']:>8.2f}")
    print(f"speed-up ray x2 / ray x1: {speedup:.2f} (target >= 1.7)")
    print(f"Ray overhead per evaluation (ray x1): {overhead:.1%} of compute (target <= 5%)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"candidates": n, "chunk_size": 2, "repeats": repeats, "runs": summary,
                       "speedup_2_workers": speedup, "ray_overhead_fraction": overhead}, fh,
                      indent=2)


if __name__ == "__main__":
    main()
