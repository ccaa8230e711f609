"""Stability of each learning rule across its hyperparameter box, from search records.

Reads every run directory under ``--runs`` (the records any ``neurevo search`` writes; the
full figures in docs/science.md come from benchmarks/evolved_vs_fixed.py's runs) and reports,
per rule:

- **divergence**: the share of evaluations that failed with ``diverged: non-finite ...``
  (the records' ``error`` column), over all evaluations, and over the *box
  samples* alone — generation 0 of ``optuna`` runs, whose trials are drawn independently
  and uniformly (log-uniformly on log-scale genes) in the box because no trial has completed
  when they are asked. Searches concentrate on good regions, so the box samples are the
  unbiased estimate; all evaluations show what a search actually runs into;
- **where it diverges**: the divergence share in the lower, middle and upper third of each
  gene's range (on the log scale for log-scale genes), over all evaluations;
- **sensitivity**: per gene and task, Spearman's rank correlation between the gene (log for
  log-scale genes) and validation accuracy over the evaluations that trained, and the spread
  of mean accuracy across the gene's thirds. The genes are the rule's hyperparameters and
  ``hidden_neurons`` (the genome's hidden units, log). These are marginal associations in
  search records, not a designed experiment: genes the search moved together are confounded.

It writes JSON, one PNG (rows: rules; columns: genes; validation accuracy against the gene,
diverged evaluations as red crosses below 0), and prints tables.

    python benchmarks/stability.py --runs DIR [--json PATH] [--png PATH]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy.stats import spearmanr

import evolve
import rules
from search_spaces.genome import Genome

HIDDEN = "hidden_neurons"


def run_dirs(roots: list[Path]) -> list[Path]:
    return sorted(p.parent for root in roots for p in root.glob("*/config.toml"))


def gene_axes(rule: str) -> dict[str, tuple[float, float, bool]]:
    """gene -> (low, high, log) for the rule's hyperparameters."""
    space = rules.get_rule(rule).hyperparameters()
    return {p.name: (float(p.low), float(p.high), bool(p.log)) for p in space.params}


def load(roots: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """rule -> one dict per evaluation: task, strategy, generation, status, diverged,
    accuracy (validation), genes."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in run_dirs(roots):
        run = evolve.load_run(path)
        rule, task = run.config.rule.name, Path(run.config.task.name).stem
        strategy = run.config.strategy.name
        for r in run.evaluations().to_pylist():
            if r["status"] == "infeasible":  # refused before training (a constraint): no
                continue  # evidence about the rule either way
            genes = {k: float(v) for k, v in json.loads(r["hyperparameters"] or "{}").items()}
            genome = Genome.from_json(r["genome"])
            genes[HIDDEN] = float(sum(n.size for n in genome.nodes if n.role == "hidden"))
            out.setdefault(rule, []).append({
                "task": task, "strategy": strategy, "generation": int(r["generation"]),
                "ok": r["status"] == "ok", "accuracy": r["valid_accuracy"],
                "diverged": (r["error"] or "").startswith("diverged"), "genes": genes})
    return out


def share(rows: list[dict[str, Any]]) -> float | None:
    return sum(r["diverged"] for r in rows) / len(rows) if rows else None


def thirds(rows: list[dict[str, Any]], gene: str, axis: tuple[float, float, bool]
           ) -> list[list[dict[str, Any]]]:
    low, high, log = axis
    f = math.log if log else float
    lo, hi = f(low), f(high)
    out: list[list[dict[str, Any]]] = [[], [], []]
    for r in rows:
        x = r["genes"].get(gene)
        if x is None:
            continue
        t = 0.0  # no hidden unit (below any log range), or a range of one value
        if hi > lo and not (log and x <= 0):
            t = (f(x) - lo) / (hi - lo)
        out[min(2, max(0, int(t * 3)))].append(r)
    return out


def study(rule: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    axes = gene_axes(rule)
    hidden = [r["genes"][HIDDEN] for r in rows if r["genes"][HIDDEN] > 0]
    if hidden:  # the structural gene, over the range the records span (0 falls in the first)
        axes[HIDDEN] = (min(hidden), max(hidden), True)
    box = [r for r in rows if r["strategy"] == "optuna" and r["generation"] == 0]
    result: dict[str, Any] = {
        "rule": rule, "evaluations": len(rows), "failed": sum(not r["ok"] for r in rows),
        "diverged_all": share(rows), "box_samples": len(box), "diverged_box": share(box),
        "limits": {k: v["removed"] for k, v in rules.get_rule(rule).rule_limits().items()},
        "genes": {}}
    tasks = sorted({r["task"] for r in rows})
    for gene, axis in axes.items():
        parts = thirds(rows, gene, axis)
        entry: dict[str, Any] = {"range": list(axis[:2]), "log": axis[2],
                                 "diverged_by_third": [share(p) for p in parts], "tasks": {}}
        for task in tasks:
            trained = [r for r in rows if r["task"] == task and r["ok"]
                       and r["genes"].get(gene) is not None
                       and math.isfinite(r["accuracy"])]
            xs = np.array([r["genes"][gene] for r in trained])
            ys = np.array([r["accuracy"] for r in trained])
            rho = None
            if len(trained) >= 5 and np.ptp(xs) > 0 and np.ptp(ys) > 0:
                rho = float(spearmanr(xs, ys).statistic)  # ranks: the log changes nothing
            means = [float(np.mean([r["accuracy"] for r in p])) if p else None
                     for p in thirds(trained, gene, axis)]
            known = [m for m in means if m is not None]
            entry["tasks"][task] = {"n": len(trained), "spearman": rho,
                                    "mean_accuracy_by_third": means,
                                    "spread": max(known) - min(known) if len(known) > 1
                                    else None}
        result["genes"][gene] = entry
    return result


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def print_tables(studies: list[dict[str, Any]]) -> None:
    print(f"{'rule':5} {'evals':>6} {'failed':>6} {'diverged (all)':>14} "
          f"{'diverged (box)':>14} {'box n':>6}")
    for s in studies:
        print(f"{s['rule']:5} {s['evaluations']:6d} {s['failed']:6d} "
              f"{fmt(s['diverged_all'], '.1%'):>14} {fmt(s['diverged_box'], '.1%'):>14} "
              f"{s['box_samples']:6d}")
    print()
    print(f"{'rule':5} {'gene':15} {'diverged by third (low/mid/high)':34} "
          f"task: spearman rho, accuracy spread across thirds")
    for s in studies:
        for gene, g in s["genes"].items():
            by_third = "/".join(fmt(x, ".0%") for x in g["diverged_by_third"])
            per_task = "; ".join(f"{t}: {fmt(v['spearman'], '+.2f')}, {fmt(v['spread'])}"
                                 for t, v in g["tasks"].items())
            print(f"{s['rule']:5} {gene:15} {by_third:34} {per_task}")


def plot(data: dict[str, list[dict[str, Any]]], studies: list[dict[str, Any]],
         path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    ncols = max(len(s["genes"]) for s in studies)
    fig, axes = plt.subplots(len(studies), ncols, squeeze=False,
                             figsize=(2.6 * ncols, 2.2 * len(studies)))
    for i, s in enumerate(studies):
        rows = data[s["rule"]]
        tasks = sorted({r["task"] for r in rows})
        for j, (gene, g) in enumerate(s["genes"].items()):
            ax = axes[i][j]
            for k, task in enumerate(tasks):
                ok = [r for r in rows if r["task"] == task and r["ok"]]
                ax.scatter([r["genes"][gene] for r in ok], [r["accuracy"] for r in ok],
                           s=3, alpha=0.4, color=f"C{k}", label=task)
            bad = [r for r in rows if r["diverged"] and gene in r["genes"]]
            ax.scatter([r["genes"][gene] for r in bad], [-0.05] * len(bad), marker="x", s=8,
                       color="red", label="diverged")
            if g["log"]:
                ax.set_xscale("symlog" if gene == HIDDEN else "log")
                ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{s['rule']}: {gene}", fontsize=8)
            ax.set_ylim(-0.1, 1.02)
            ax.tick_params(labelsize=6)
        for j in range(len(s["genes"]), ncols):
            axes[i][j].axis("off")
        axes[i][0].set_ylabel("validation accuracy", fontsize=7)
    axes[0][0].legend(fontsize=5, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=Path, nargs="+", required=True,
                   help="folders holding run directories")
    p.add_argument("--json", type=Path, default=Path("bench-out") / "stability.json",
                   help="where the figures go (default: %(default)s)")
    p.add_argument("--png", type=Path, help="the plot (default: the JSON path with .png)")
    args = p.parse_args(argv)
    data = load(args.runs)
    if not data:
        print(f"no run directories under {[str(r) for r in args.runs]}", file=sys.stderr)
        return 2
    studies = [study(rule, rows) for rule, rows in data.items()]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"runs": [str(r) for r in args.runs],
                                     "rules": studies}, indent=1))
    plot(data, studies, args.png or args.json.with_suffix(".png"))
    print_tables(studies)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
