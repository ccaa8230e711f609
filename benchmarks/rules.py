"""Learning rules side by side: test accuracy, training time relative to bp, samples/s.

Every rule trains the *same* fixed topology with the *same* epoch budget, batch size and
seeds on a data set, with its default hyperparameters (no per-rule tuning here, so the table
says what a search gets out of the box):

- digits: 64-128-10 (relu), mnist1d: 40-100-100-10 (relu), and any ``--data FILE``
  (.npz/.csv/.parquet) with one hidden group of 128;
- seeds 0, 1, 2 (mean ± sd of test accuracy at the best-validation epoch);
- time: wall seconds per fit, and the ratio to bp's in the same run; samples/s = training
  samples × epochs trained / seconds.

    python benchmarks/rules.py [--quick] [--json PATH] [--data FILE] [--rules pc,bp,...]

``--quick``: digits only, 2 seeds, 15 epochs (a few minutes on 2 cores).
Goals from the issue (not thresholds): digits bp >= 97%, pc >= 96%, fa/dfa >= 95%,
ep/chl/lra >= 94%, dtp/ff >= 92%; mnist1d bp >= 66% and every rule within 10 points of bp.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this script is named like the `rules` package: drop its own folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

import rules  # noqa: E402
from evolve.tasks import load_task  # noqa: E402
from search_spaces.compile import compile_genome  # noqa: E402
from search_spaces.genome import ConnectionGene, Genome, NodeGene  # noqa: E402


def mlp(sizes: list[int], activation: str = "relu") -> Genome:
    ids = [0] + [2 + i for i in range(len(sizes) - 2)] + [1]
    nodes = [NodeGene(0, "input", sizes[0]), NodeGene(1, "output", sizes[-1])]
    nodes += [NodeGene(ids[i], "hidden", s, activation) for i, s in enumerate(sizes[1:-1], 1)]
    return Genome(tuple(nodes), tuple(ConnectionGene(i, ids[i], ids[i + 1])
                                      for i in range(len(ids) - 1)))


def fit_once(rule_name: str, task, genome: Genome, budget: rules.Budget, seed: int) -> dict:
    rule = rules.get_rule(rule_name)
    net = compile_genome(genome)
    started = time.perf_counter()
    fit = rule.fit(net, task, {}, budget, [seed])
    seconds = time.perf_counter() - started
    with torch.no_grad():
        test = float(rules.accuracy(rule.predict(net, fit.params, task.test.x), task.test.y)[0])
    samples = task.train.x.shape[0] * fit.epochs[0]
    return {"test_accuracy": test if fit.status[0] == "ok" else float("nan"),
            "status": fit.status[0], "seconds": seconds, "epochs": fit.epochs[0],
            "samples_per_s": samples / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--data", metavar="FILE", help="also benchmark a user data file")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--rules", help="comma-separated subset (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    names = args.rules.split(",") if args.rules else rules.available()
    if "bp" not in names:
        names = ["bp", *names]
    seeds = [0, 1] if args.quick else [0, 1, 2]
    epochs = 15 if args.quick else 30
    datasets = [("digits", [64, 128, 10])]
    if not args.quick:
        datasets.append(("mnist1d", [40, 100, 100, 10]))
    if args.data:
        datasets.append((args.data, None))
    results: dict[str, dict[str, dict]] = {}
    for data_name, sizes in datasets:
        budget = rules.Budget(epochs=epochs, batch_size=32, patience=epochs)
        results[data_name] = {}
        for rule_name in names:
            runs = []
            for seed in seeds:
                task = load_task(data_name, seed=seed, label_column=args.label_column)
                layout = sizes or [task.n_features, 128, task.n_classes]
                runs.append(fit_once(rule_name, task, mlp(layout), budget, seed))
            accs = [r["test_accuracy"] for r in runs]
            results[data_name][rule_name] = {
                "topology": "-".join(map(str, layout)), "epochs": epochs, "seeds": seeds,
                "runs": runs, "mean": statistics.fmean(accs),
                "sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "seconds": statistics.fmean(r["seconds"] for r in runs),
                "samples_per_s": statistics.fmean(r["samples_per_s"] for r in runs),
            }
            print(f"  {data_name:<10} {rule_name:<4} {results[data_name][rule_name]['mean']:.4f}",
                  flush=True)
    print(f"\n{'data':<10} {'rule':<5} {'topology':<16} {'test acc':>16} {'s/fit':>7} "
          f"{'x bp':>6} {'samples/s':>10}")
    for data_name, by_rule in results.items():
        bp_seconds = by_rule["bp"]["seconds"]
        for rule_name, r in by_rule.items():
            r["time_vs_bp"] = r["seconds"] / bp_seconds
            acc = f"{100 * r['mean']:.1f} ± {100 * r['sd']:.1f}%"
            print(f"{data_name:<10} {rule_name:<5} {r['topology']:<16} {acc:>16} "
                  f"{r['seconds']:>7.2f} {r['time_vs_bp']:>6.2f} {r['samples_per_s']:>10.0f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
