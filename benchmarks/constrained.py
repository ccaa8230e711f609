"""Checking chip budgets before training: training time saved on a budget-bound search.

A search under a tight chip budget (DYNAP-SE, one chip, digits: its 64-synapse fan-in per
neuron and 1,024 neurons per chip rule out part of the space) meets candidates that do not
fit. (TrueNorth with one chip, 4,096 cores, holds every network of the default space: a
probe of 60 grown digits genomes found none over budget, so it cannot show a saving.)
Under constraint domination such a candidate ranks by its violation alone, so training
it is pure waste. The same search (same seed, same strategy) runs twice side by side in
one run:

- ``precheck``: budgets and genome-only constraints checked before training, infeasible
  candidates recorded untrained (what neurevo does);
- ``train-all``: every candidate trained, budgets checked afterwards (how it used to be).

Reported: the infeasible share of evaluations, the summed training seconds of each, their
ratio, and the share of training time saved, which should be at least the infeasible share
(an infeasible network is larger than average, so it costs more than its share). Both runs
must end with the same front (a precheck changes what is trained, never what is found).

    python benchmarks/constrained.py [--quick] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from unittest import mock  # noqa: E402

import torch  # noqa: E402

import evolve  # noqa: E402
from evolve.config import SearchConfig, override  # noqa: E402
from evolve.scoring import Scorer  # noqa: E402


def run_once(config: SearchConfig, precheck: bool) -> dict:
    started = time.perf_counter()
    if precheck:
        run = evolve.search(config, reporters=())
    else:  # the pre-training check disabled: every candidate goes to training
        with mock.patch.object(Scorer, "precheck", lambda self, candidate: None):
            run = evolve.search(config, reporters=())
    wall = time.perf_counter() - started
    rows = run.evaluations().to_pylist()
    infeasible = [r for r in rows if r["violation_total"] > 0]
    return {
        "mode": "precheck" if precheck else "train-all",
        "evaluations": len(rows),
        "infeasible": len(infeasible),
        "trained": sum(r["status"] != "infeasible" for r in rows),
        "train_seconds": sum(r["train_seconds"] for r in rows),
        "train_seconds_infeasible": sum(r["train_seconds"] for r in infeasible),
        "wall_s": wall,
        "front": sorted(a.candidate_id for a in run.pareto_front()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer generations and epochs")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", default="dynapse", help="chip profile (one chip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {"generations": 4 if args.quick else 10, "population": 20, "seed": args.seed,
                "task": {"name": "digits"}, "rule": {"name": "pc"},
                "hardware": {"profile": args.profile, "chips": 1},
                "executor": {"name": "serial"}}
    if args.quick:
        settings["training"] = {"epochs": 5, "patience": 5}
    results = []
    with tempfile.TemporaryDirectory() as out:
        for precheck in (False, True):
            config = override(SearchConfig(), {**settings, "out": f"{out}/{precheck}"})
            results.append(run_once(config, precheck))
    train_all, pre = results
    share = train_all["infeasible"] / max(train_all["evaluations"], 1)
    saved = 1.0 - pre["train_seconds"] / max(train_all["train_seconds"], 1e-9)
    summary = {"infeasible_share": share, "training_time_saved": saved,
               "train_seconds_ratio": train_all["train_seconds"] / max(pre["train_seconds"],
                                                                      1e-9),
               "same_front": train_all["front"] == pre["front"],
               "saved_at_least_infeasible_share": saved >= share}
    print(f"{'mode':<10} {'evals':>6} {'infeasible':>10} {'trained':>8} {'train s':>9} "
          f"{'wall s':>8}")
    for r in results:
        print(f"{r['mode']:<10} {r['evaluations']:>6} {r['infeasible']:>10} {r['trained']:>8} "
              f"{r['train_seconds']:>9.1f} {r['wall_s']:>8.1f}")
    print(f"infeasible share {share:.1%}; training time saved {saved:.1%} "
          f"({summary['train_seconds_ratio']:.2f}x less); same front: {summary['same_front']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"settings": settings, "runs": results,
                                               "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
