"""Search quality of every strategy at equal evaluation budgets.

Each strategy (``neat``, ``neat-pso``, ``pso``, ``optuna``, ``random``, and ``optuna-tpe``: the
optuna strategy with ``strategy.optuna.sampler = "tpe"``; on request ``neat-pso-steady`` and
``random-steady``: those strategies in steady-state mode, ``strategy.mode = "steady"``, with
the serial executor holding ``--workers`` chunks in flight as that many workers would,
evaluated in the order submitted) searches each task with several seeds
through the ordinary loop (``evolve.search``, serial executor: no Ray here) until it has spent
the largest budget. A strategy's budget counts *evaluations* (trained candidates), not
generations: NEAT's elites are carried over without being re-evaluated, so its generations are
cheaper than a swarm's.
From ``run.history()`` (per generation: evaluations, hypervolume of the archive) it reports:

- the hypervolume at each budget — that of the last generation that ended within the budget
  — as mean ± sd over seeds. The reference point is fixed by the objectives (accuracy 0;
  energy 10^-3 J, or params 10^6 without --hardware, on a log10 axis; evolve/objectives.py),
  so every run is measured alike;
- evaluations to reach 95% of the best final hypervolume: the target is 0.95 × the largest
  hypervolume any strategy and seed reached at the largest budget on that task; a run counts
  the evaluations after which its hypervolume first reached it (mean over the runs that did,
  and how many did).

It writes JSON (settings, every run's curve, the summary), a PNG of hypervolume against
evaluations (mean over seeds, ± sd band, one panel per task), and prints a table.

    python benchmarks/search_quality.py [--quick] [--json PATH] [--png PATH]

Full run: tasks digits and mnist1d, budgets 200 and 600, seeds 0 1 2, population 20,
objectives accuracy + energy on ``--hardware loihi`` (the default), the default rule
(``--rule`` to change it), training budget (the config default: 15 epochs, patience 5) and
search space. Many hours on 2 cores (a random-search run of 600 pc evaluations alone takes
about half an hour). ``--tasks``/``--budgets``/``--strategies`` select a part of it.

``--quick`` (under 10 minutes on 2 cores) changes exactly this: task digits only, budget 200
only, seeds 0 1, training 3 epochs with patience 2 (``training.epochs = 3``,
``training.patience = 2``), and rule ``bp`` unless ``--rule`` is given (the default rule, pc,
costs about twice as much per evaluation). Population, search space, strategies and the rest
are unchanged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/rules.py would shadow the `rules` package that evolve imports: look in the
# repository root before this script's folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

import evolve
from evolve.config import SearchConfig, override
from evolve.reporters import Reporter

STRATEGIES = ["neat", "neat-pso", "pso", "optuna", "random", "optuna-tpe"]
STEADY = "-steady"  # a strategy name with this suffix runs in steady-state mode


class BudgetSpent(Exception):
    """Raised by :class:`StopAtBudget` to end a search once its evaluations are spent."""


class StopAtBudget(Reporter):
    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.spent = 0

    def generation_end(self, generation: int, summary: dict) -> None:
        self.spent += summary["evaluations"]
        if self.spent >= self.budget:
            raise BudgetSpent


# -- what a run searches ----------------------------------------------------------------------
def objectives(args: argparse.Namespace) -> list[str]:
    """accuracy and energy on ``--hardware PROFILE`` (the issue's setting), else params."""
    return ["accuracy", "energy"] if args.hardware else ["accuracy", "params"]


def hardware_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"hardware": {"profile": args.hardware}} if args.hardware else {}


def run_config(args: argparse.Namespace, task: str, strategy: str, seed: int,
               out: Path) -> SearchConfig:
    name, extra, executor = strategy, {}, {"name": "serial"}
    if strategy == "optuna-tpe":
        name, extra = "optuna", {"optuna": {"sampler": "tpe"}}
    if strategy.endswith(STEADY):
        name, extra = strategy[: -len(STEADY)], {"mode": "steady"}
        executor["num_cpus"] = args.workers
    settings: dict[str, Any] = {
        "generations": max(args.budgets),  # a generation evaluates >= 1; the budget stops it
        "population": args.population, "seed": seed, "out": str(out),
        "run_id": f"{task}-{strategy}-s{seed}", "objectives": objectives(args),
        "task": {"name": task}, "rule": {"name": args.rule},
        "strategy": {"name": name, **extra},
        "executor": executor, **hardware_settings(args),
    }
    if args.quick:
        settings["training"] = {"epochs": 3, "patience": 2}
    return override(SearchConfig(), settings)


def one_run(args: argparse.Namespace, task: str, strategy: str, seed: int,
            out: Path) -> dict[str, Any]:
    config = run_config(args, task, strategy, seed, out)
    started = time.perf_counter()
    with contextlib.suppress(BudgetSpent):
        evolve.search(config, reporters=[StopAtBudget(max(args.budgets))])
    wall = time.perf_counter() - started
    curve = [list(point) for point in evolve.load_run(out / config.run_id).hypervolume_curve()]
    return {"task": task, "strategy": strategy, "seed": seed, "wall_s": wall, "curve": curve}


# -- summaries --------------------------------------------------------------------------------
def hv_at(curve: list[list[float]], budget: int) -> float:
    """Hypervolume of the last generation that ended within ``budget`` evaluations."""
    within = [hv for evals, hv in curve if evals <= budget]
    return within[-1] if within else 0.0


def evals_to(curve: list[list[float]], target: float) -> int | None:
    return next((int(evals) for evals, hv in curve if hv >= target), None)


def summarise(runs: list[dict[str, Any]], budgets: list[int]) -> list[dict[str, Any]]:
    rows = []
    for task in dict.fromkeys(r["task"] for r in runs):
        mine = [r for r in runs if r["task"] == task]
        target = 0.95 * max(hv_at(r["curve"], max(budgets)) for r in mine)
        for budget in budgets:
            for strategy in dict.fromkeys(r["strategy"] for r in mine):
                group = [r for r in mine if r["strategy"] == strategy]
                hvs = [hv_at(r["curve"], budget) for r in group]
                reached = [e for r in group
                           if (e := evals_to(r["curve"], target)) is not None and e <= budget]
                rows.append({
                    "task": task, "budget": budget, "strategy": strategy, "seeds": len(group),
                    "hv_mean": statistics.fmean(hvs),
                    "hv_sd": statistics.stdev(hvs) if len(hvs) > 1 else 0.0,
                    "target_hv": target, "reached": len(reached),
                    "evals_to_95_mean": statistics.fmean(reached) if reached else None,
                    "wall_s_mean": statistics.fmean(r["wall_s"] for r in group),
                })
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'task':<8} {'budget':>6} {'strategy':<11} {'hypervolume':>17} "
            f"{'evals to 95%':>14} {'wall s':>7}")
    lines = [head, "-" * len(head)]
    for r in rows:
        hv = f"{r['hv_mean']:.4f} ± {r['hv_sd']:.4f}"
        to95 = (f"{r['evals_to_95_mean']:.0f} ({r['reached']}/{r['seeds']})"
                if r["evals_to_95_mean"] is not None else f"— (0/{r['seeds']})")
        lines.append(f"{r['task']:<8} {r['budget']:>6} {r['strategy']:<11} {hv:>17} "
                     f"{to95:>14} {r['wall_s_mean']:>7.0f}")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], budgets: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    tasks = list(dict.fromkeys(r["task"] for r in runs))
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.2), squeeze=False)
    grid = np.arange(1, max(budgets) + 1)
    for ax, task in zip(axes[0], tasks, strict=True):
        lowest = math.inf
        for strategy in dict.fromkeys(r["strategy"] for r in runs):
            group = [r for r in runs if r["task"] == task and r["strategy"] == strategy]
            if not group:
                continue
            ys = np.array([[hv_at(r["curve"], int(e)) for e in grid] for r in group])
            mean, sd = ys.mean(axis=0), ys.std(axis=0)
            shown = mean > 0  # from the first generation on
            ax.plot(grid[shown], mean[shown], label=strategy)
            ax.fill_between(grid[shown], (mean - sd)[shown], (mean + sd)[shown], alpha=0.15)
            lowest = min(lowest, float(mean[shown].min(initial=math.inf)))
        for b in budgets:
            ax.axvline(b, color="grey", lw=0.6, ls=":")
        if math.isfinite(lowest):
            ax.set_ylim(bottom=0.95 * lowest)
        ax.set(title=task, xlabel="evaluations",
               ylabel="hypervolume (fixed reference point)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="digits, budget 200, seeds 0 1, 3 epochs, rule bp (< 10 min)")
    parser.add_argument("--json", type=Path, default=Path("bench-out") / "search_quality.json",
                        help="where the figures go (default: %(default)s)")
    parser.add_argument("--png", type=Path, default=None,
                        help="plot path (default: the JSON path with .png)")
    parser.add_argument("--strategies", nargs="+", default=STRATEGIES)
    parser.add_argument("--rule", default=None,
                        help="learning rule (default: the config's; bp with --quick)")
    parser.add_argument("--population", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4,
                        help="workers emulated by the *-steady strategies (default 4)")
    parser.add_argument("--hardware", default="loihi",
                        help="price candidates on this chip; objectives accuracy + energy "
                        "(default: loihi; '' for accuracy + params)")
    parser.add_argument("--budgets", type=int, nargs="+", default=None,
                        help="evaluation budgets (default: 200 600; 200 with --quick)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds (default: 0 1 2; 0 1 with --quick)")
    parser.add_argument("--tasks", nargs="+", default=None,
                        help="tasks (default: digits mnist1d; digits with --quick)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args()
    args.json.parent.mkdir(parents=True, exist_ok=True)  # before the runs, not after
    unknown = [s for s in args.strategies if s.removesuffix(STEADY) not in STRATEGIES]
    if unknown:  # refused before any run, in one line
        parser.error(f"--strategies: unknown strategy {unknown[0]!r}; expected some of "
                     f"{', '.join(STRATEGIES)} (each also with {STEADY})")
    args.tasks = args.tasks or (["digits"] if args.quick else ["digits", "mnist1d"])
    args.budgets = args.budgets or ([200] if args.quick else [200, 600])
    args.seeds = args.seeds or ([0, 1] if args.quick else [0, 1, 2])
    args.rule = args.rule or ("bp" if args.quick else SearchConfig().rule.name)
    torch.set_num_threads(1)

    out = args.out or Path(tempfile.mkdtemp(prefix="search_quality-"))
    runs = []
    try:
        for task in args.tasks:
            for strategy in args.strategies:
                for seed in args.seeds:
                    run = one_run(args, task, strategy, seed, out)
                    runs.append(run)
                    final = run["curve"][-1] if run["curve"] else [0, math.nan]
                    print(f"{task} {strategy} seed {seed}: {final[0]} evaluations, "
                          f"hypervolume {final[1]:.4f}, {run['wall_s']:.0f} s", flush=True)
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)
    rows = summarise(runs, args.budgets)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.json.write_text(json.dumps({"settings": settings, "objectives": objectives(args),
                                     "summary": rows, "runs": runs}, indent=1))
    png = args.png or args.json.with_suffix(".png")
    plot(runs, args.budgets, png)
    print()
    print(table(rows))
    print(f"\nwrote {args.json} and {png}")


if __name__ == "__main__":
    main()
