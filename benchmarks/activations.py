"""Mixed-activation levels in the pc relaxation: masked vs row-grouped evaluation.

An evolved level mixes activation functions (relu, tanh, sigmoid, elu per node group, and
per member in a padded population). Predictive coding evaluates f(z) and f'(z) of every
hidden level at every inference step, so how a mixed level is activated dominates its
training time on the CPU. Two ways, side by side in one run:

- ``masked``: every function on every neuron, selected with ``torch.where`` (value and
  derivative computed separately: ``activations.apply`` + ``activations.derivative``);
- ``grouped``: each function on its own neurons only, value and derivative together
  (``activations.RowActivations``, what ``rules.pc`` uses).

Cases: one mixed level (P=20 members, 64 neurons, batch 64), and pc training of a padded
population of 20 random digits genomes (2 epochs) with each variant patched into the rule.
Reported: seconds per call / per fit (median of repeats, process time), and masked/grouped.

    python benchmarks/activations.py [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import rules  # noqa: E402
from evolve.strategies.random_search import BROAD_RATES  # noqa: E402
from evolve.tasks import load_task  # noqa: E402
from rules import pc  # noqa: E402
from search_spaces import activations  # noqa: E402
from search_spaces.compile import compile_genome, stack  # noqa: E402
from search_spaces.innovation import InnovationTracker  # noqa: E402
from search_spaces.space import SearchSpace, SpaceSettings  # noqa: E402

MIXED = tuple(activations.CODES[a] for a in ("relu", "tanh", "sigmoid", "elu"))


class MaskedActivations:
    """The ``torch.where`` evaluation, with RowActivations' interface."""

    def __init__(self, codes: torch.Tensor, present: tuple[int, ...]) -> None:
        self.codes, self.present = codes.unsqueeze(2), present
        self.single = None  # never the one-activation fast path: the masks are what is timed

    def value_and_derivative(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (activations.apply(z, self.codes, self.present),
                activations.derivative(z, self.codes, self.present))


def seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return statistics.median(times)


def level_case(repeats: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    codes = torch.tensor(MIXED)[torch.randint(0, len(MIXED), (20, 64), generator=gen)]
    z = torch.randn(20, 64, 64, generator=gen)
    out = {}
    for name, cls in (("masked", MaskedActivations), ("grouped", activations.RowActivations)):
        plan = cls(codes, MIXED)
        out[name] = seconds(lambda plan=plan: [plan.value_and_derivative(z) for _ in range(100)],
                            repeats) / 100
    return {"case": "one mixed level (20x64x64)", **out}


def pc_case(repeats: int, epochs: int) -> dict:
    task = load_task("digits", seed=0)
    space = SearchSpace(task.n_features, task.n_classes,
                        SpaceSettings(max_hidden_size=64, max_hidden_nodes=6, max_connections=24))
    rng, tracker = np.random.default_rng(0), InnovationTracker()
    genomes = []
    for _ in range(20):
        g = space.minimal_genome(tracker)
        for _ in range(int(rng.integers(2, 13))):
            g = space.mutate(g, rng, tracker, BROAD_RATES)
        genomes.append(g)
    net = stack([compile_genome(g) for g in genomes])
    rule = rules.get_rule("pc")
    hyper = [rule.hyperparameters().resolve({})] * len(genomes)
    budget = rules.Budget(epochs=epochs, batch_size=64, patience=epochs)
    seeds = list(range(len(genomes)))
    out, accuracy = {}, {}
    for name, cls in (("masked", MaskedActivations), ("grouped", activations.RowActivations)):
        def plan(net, level, cls=cls):
            present = net.present_codes[level - 1]
            if present == (activations.CODES["identity"],):
                return None
            return cls(net.activation_codes[level - 1], present)

        with mock.patch.object(pc, "_plan", plan):
            out[name] = seconds(lambda: rule.fit(net, task, hyper, budget, seeds), repeats)
            fit = rule.fit(net, task, hyper, budget, seeds)
        accuracy[name] = float(np.mean(fit.valid_accuracy))
    return {"case": f"pc fit, 20 random genomes, {epochs} epochs", **out,
            "valid_accuracy": accuracy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, 1 epoch")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    rows = [level_case(repeats), pc_case(1 if args.quick else 3, 1 if args.quick else 2)]
    print(f"{'case':<44} {'masked s':>10} {'grouped s':>10} {'masked/grouped':>15}")
    for r in rows:
        r["ratio"] = r["masked"] / r["grouped"]
        print(f"{r['case']:<44} {r['masked']:>10.4g} {r['grouped']:>10.4g} {r['ratio']:>15.2f}")
    if "valid_accuracy" in rows[1]:
        print("pc mean valid accuracy (masked, grouped):",
              ", ".join(f"{v:.4f}" for v in rows[1]["valid_accuracy"].values()))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"benchmark": "activations", "quick": args.quick,
                                         "clock": "process_time", "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
