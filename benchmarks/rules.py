"""Learning rules side by side: test and training accuracy, the margin above a net whose
hidden levels never learn, training time relative to bp, samples/s.

Every rule trains the *same* fixed topology with the *same* epoch budget, batch size and
seeds on a data set, with its default hyperparameters (no per-rule tuning here, so the table
says what a search gets out of the box):

- digits: 64-128-10 (relu); mnist1d: 40-256-256-10 (relu, the MNIST-1D paper's MLP) and
  40-100-100-10; any ``--data FILE`` (.npz/.csv/.parquet) with one hidden group of 128;
- seeds 0, 1, 2 (mean ± sd of accuracy at the best-validation epoch; the defaults were
  chosen on seed 7's validation split, see docs/rules.md, so no reported seed chose them);
- "frozen": the frozen-hidden control (rules/ablation.py) — the same net and budget with
  only the output level trained (bp, hidden levels kept at their random init). A rule's
  margin over it is what its hidden-level learning adds;
- train: accuracy on the whole training split with the best-validation parameters;
- time: wall seconds per fit, and the ratio to bp's in the same run; samples/s = training
  samples × epochs trained / seconds.

    python benchmarks/rules.py [--quick] [--json PATH] [--data FILE] [--rules pc,bp,...]
                               [--tasks digits,mnist1d] [--seeds 0,1,2]
                               [--topology 40-256-256-10] [--set fa.lr=1e-3 ...]
                               [--option ep.symmetric=false ...] [--no-baselines] [--epochs N]

For choosing a default on a held-out seed: ``--seeds 7 --set RULE.GENE=VALUE`` trains with a
gene other than its default, ``--option RULE.OPTION=VALUE`` builds the rule with an option
other than its default (ep's ``symmetric``, ff's ``label_value``; ep's and chl's ``gamma``
and sweep counts are genes, given with ``--set``), ``--topology`` keeps one of a
task's nets, ``--no-baselines`` skips the bp and frozen rows, ``--epochs`` changes the
budget of every rule alike (default 30, --quick 15); each row also carries the best
validation accuracy (``valid_mean``), the figure a default is chosen on.

``--quick``: digits only, 2 seeds, 15 epochs (a few minutes on 2 cores).
Goals (not thresholds): digits bp >= 97%, pc >= 96%, fa/dfa >= 95%, ep/chl/lra >= 94%,
dtp/ff >= 92%. The mnist1d 40-256-256-10 goals (bp's accuracy, each rule's largest gap to bp,
every rule's margin over the frozen control) have one home, ``benchmarks/science_tables.py``
(``BP_GOAL``, ``GAP_GOALS``, ``CONTROL_MARGIN``), which judges them per budget in
docs/science.md's fidelity table.
``--epochs 80`` is the MNIST-1D reference MLP's own count of steps: 8,000 at batch 32.
"""

from __future__ import annotations

import sys
from pathlib import Path

# this script is named like the `rules` package: drop its own folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import tomllib  # noqa: E402
import torch  # noqa: E402

import rules  # noqa: E402
from evolve import strict_json  # noqa: E402
from evolve.tasks import load_task  # noqa: E402
from rules.ablation import frozen_hidden_control  # noqa: E402
from search_spaces.compile import compile_genome  # noqa: E402
from search_spaces.genome import Genome, layered  # noqa: E402

# appended once the `rules` package is imported, for this folder's shared helpers
sys.path.append(str(_HERE))
from gene_settings import parse_genes  # noqa: E402


def mlp(sizes: list[int], activation: str = "relu") -> Genome:
    return layered(sizes, activation)


CONTROL = "frozen"  # the frozen-hidden control's row name


def fit_once(rule_name: str, task, genome: Genome, budget: rules.Budget, seed: int,
             hyper: dict[str, float] | None = None,
             options: dict[str, Any] | None = None) -> dict:
    rule = (frozen_hidden_control() if rule_name == CONTROL
            else rules.get_rule(rule_name, options or {}))
    net = compile_genome(genome)
    started = time.perf_counter()
    fit = rule.fit(net, task, hyper or {}, budget, [seed])
    seconds = time.perf_counter() - started
    with torch.no_grad():  # read with the genes it trained with (ep's γ and sweeps too)
        genes = [hyper or {}]
        test = float(rules.accuracy(rule.predict_members(net, fit.params, task.test.x, genes),
                                    task.test.y)[0])
        train = float(rules.accuracy(rule.predict_members(net, fit.params, task.train.x,
                                                          genes), task.train.y)[0])
    ok = fit.status[0] == "ok"
    samples = task.train.x.shape[0] * fit.epochs[0]
    return {"test_accuracy": test if ok else float("nan"),
            "valid_accuracy": fit.valid_accuracy[0] if ok else float("nan"),
            "train_accuracy": train if ok else float("nan"),
            "status": fit.status[0], "seconds": seconds, "epochs": fit.epochs[0],
            "samples_per_s": samples / seconds}


def summary(runs: list[dict], key: str) -> tuple[float, float]:
    values = [r[key] for r in runs]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def parse_options(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["ff.label_value=2", "ep.symmetric=false"]`` -> ``{"ff": {"label_value": 2}, "ep":
    {"symmetric": False}}``: values read as TOML (numbers, booleans, quoted strings), else
    as a bare string, as the config's ``rule.options`` takes them."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        name, sep, text = item.partition("=")
        rule_name, _, key = name.partition(".")
        if not rule_name or not key or not sep:
            raise SystemExit(f"--option {item!r}: expected RULE.OPTION=VALUE, e.g. "
                             "ep.symmetric=false")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        out.setdefault(rule_name, {})[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--data", metavar="FILE", help="also benchmark a user data file")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--rules", help="comma-separated subset (default: all)")
    parser.add_argument("--tasks", help="comma-separated built-in tasks (default: digits, "
                        "and mnist1d unless --quick)")
    parser.add_argument("--seeds", help="comma-separated seeds (default: 0,1,2; --quick 0,1)")
    parser.add_argument("--topology", help="keep only this net of each task, e.g. 40-256-256-10")
    parser.add_argument("--set", action="append", default=[], metavar="RULE.GENE=VALUE",
                        help="train RULE with a gene other than its default (repeatable)")
    parser.add_argument("--option", action="append", default=[], metavar="RULE.OPTION=VALUE",
                        help="build RULE with an option other than its default, e.g. "
                        "ep.symmetric=false (repeatable)")
    parser.add_argument("--no-baselines", action="store_true",
                        help="skip the bp and frozen rows (a held-out sweep of other rules)")
    parser.add_argument("--epochs", type=int, help="epochs for every rule (default: 30; "
                        "--quick 15)")
    args = parser.parse_args()
    if args.epochs is not None and args.epochs < 1:
        raise SystemExit(f"--epochs must be >= 1, got {args.epochs}")
    if args.json and not Path(args.json).absolute().parent.is_dir():  # before any training
        raise SystemExit(f"--json {args.json}: its folder does not exist")
    torch.set_num_threads(1)
    settings = parse_genes(args.set, "--set")
    options = parse_options(args.option)
    names = args.rules.split(",") if args.rules else list(rules.available())
    unknown = [n for n in names if n not in rules.available()]
    if unknown:  # refused before any training, in one line
        parser.error(f"--rules: unknown rule {unknown[0]!r}; expected some of "
                     f"{', '.join(rules.available())}")
    if not args.no_baselines:  # bp and the control first: every row is compared with them
        names = ["bp", CONTROL, *[n for n in names if n not in ("bp", CONTROL)]]
    for rule_name in settings:  # a rule not trained fails before any training
        if rule_name not in names:
            raise SystemExit(f"--set names rule {rule_name!r}, which this run does not train")
    for rule_name, chosen in options.items():
        if rule_name not in names or rule_name == CONTROL:
            raise SystemExit(f"--option names rule {rule_name!r}, which this run does not "
                             "train")
        _, genes = rules.split_options(rule_name, chosen)
        if genes:  # a gene given as an option: name the flag that sets it
            key, value = next(iter(genes.items()))
            raise SystemExit(f"--option {rule_name}.{key}: {key} is a gene of {rule_name}, "
                             f"not an option: give it as --set {rule_name}.{key}={value}")
        try:
            rules.get_rule(rule_name, chosen)
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"--option {rule_name}: {exc}") from None
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else (
        [0, 1] if args.quick else [0, 1, 2])
    epochs = args.epochs or (15 if args.quick else 30)
    nets = {"digits": [[64, 128, 10]], "mnist1d": [[40, 256, 256, 10], [40, 100, 100, 10]]}
    tasks = args.tasks.split(",") if args.tasks else (
        ["digits"] if args.quick else ["digits", "mnist1d"])
    datasets = [(t, sizes) for t in tasks for sizes in nets[t]
                if args.topology in (None, "-".join(map(str, sizes)))]
    if args.topology and not datasets:
        raise SystemExit(f"--topology {args.topology}: no such net in tasks {tasks}; "
                         f"nets: {nets}")
    if args.data:
        datasets.append((args.data, None))
    results: dict[str, dict[str, dict]] = {}
    for data_name, sizes in datasets:
        budget = rules.Budget(epochs=epochs, batch_size=32, patience=epochs)
        key = data_name if sizes is None else f"{data_name} {'-'.join(map(str, sizes))}"
        results[key] = {}
        for rule_name in names:
            runs = []
            for seed in seeds:
                task = load_task(data_name, seed=seed, label_column=args.label_column)
                layout = sizes or [task.n_features, 128, task.n_classes]
                runs.append(fit_once(rule_name, task, mlp(layout), budget, seed,
                                     settings.get(rule_name), options.get(rule_name)))
            mean, sd = summary(runs, "test_accuracy")
            valid_mean, _ = summary(runs, "valid_accuracy")
            train_mean, train_sd = summary(runs, "train_accuracy")
            results[key][rule_name] = {
                "data": data_name, "topology": "-".join(map(str, layout)), "epochs": epochs,
                "seeds": seeds, "hyper": settings.get(rule_name, {}),
                "options": options.get(rule_name, {}), "runs": runs,
                "mean": mean, "sd": sd, "valid_mean": valid_mean,
                "train_mean": train_mean, "train_sd": train_sd,
                "seconds": statistics.fmean(r["seconds"] for r in runs),
                "samples_per_s": statistics.fmean(r["samples_per_s"] for r in runs),
            }
            print(f"  {key:<22} {rule_name:<6} test {mean:.4f} train {train_mean:.4f} "
                  f"valid {valid_mean:.4f} {settings.get(rule_name, '')}", flush=True)
            if args.json:  # written as it goes: a long run that is stopped keeps its rows
                write_json(args.json, results)
    print(f"\n{'data':<9} {'topology':<15} {'rule':<6} {'test acc':>14} {'train acc':>14} "
          f"{'-frozen':>8} {'-bp':>6} {'s/fit':>7} {'x bp':>5} {'samples/s':>10}")
    nan = float("nan")
    for by_rule in results.values():
        bp, frozen = by_rule.get("bp"), by_rule.get(CONTROL)
        for rule_name, r in by_rule.items():
            r["time_vs_bp"] = r["seconds"] / bp["seconds"] if bp else nan
            r["margin_over_frozen"] = r["mean"] - frozen["mean"] if frozen else nan
            r["gap_to_bp"] = r["mean"] - bp["mean"] if bp else nan
            test = f"{100 * r['mean']:.1f} ± {100 * r['sd']:.1f}"
            train = f"{100 * r['train_mean']:.1f} ± {100 * r['train_sd']:.1f}"
            print(f"{r['data']:<9} {r['topology']:<15} {rule_name:<6} {test:>14} {train:>14} "
                  f"{100 * r['margin_over_frozen']:>+8.1f} {100 * r['gap_to_bp']:>+6.1f} "
                  f"{r['seconds']:>7.2f} {r['time_vs_bp']:>5.2f} {r['samples_per_s']:>10.0f}")
    if args.json:
        write_json(args.json, results)


def write_json(path: str, results: dict) -> None:
    with open(path, "w") as fh:
        fh.write(strict_json.dumps(results))


if __name__ == "__main__":
    main()
