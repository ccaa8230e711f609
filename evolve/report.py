"""Looking at runs: :func:`write_report` (one run) and :func:`compare_runs` (several).

A report shows what a search found and how it got there, in four panels drawn to be put in
a paper as they are:

1. every evaluation in the plane of the first two objectives, coloured by generation (with
   its colour bar), and the Pareto front as the staircase it dominates — a front is a set
   of trade-offs, not a curve, and a line between two members would claim points nobody
   found. Cost axes carry their units (energy per inference in J) and are logarithmic; the
   front members' *test* accuracy is drawn as hollow markers beside the validation accuracy
   they were selected on, so selection bias is visible. With one objective: the objective
   against generation;
2. the archive's hypervolume after each generation, against evaluations spent;
3. NEAT's species sizes per generation (stacked) — or, for strategies without species
   (pso, optuna, random), what became of each generation's evaluations (ok, failed,
   infeasible), rather than one meaningless "species";
4. the training curve (validation accuracy per epoch) of every front member, to tell a
   member that converged from one its epoch budget cut short.

Counts (generations, evaluations, epochs, parameters) get integer ticks. A report is
written by its file's suffix: ``.png``, ``.svg``, ``.pdf``, or ``.html`` — the figure, the
run's settings and its front as a table with a picture of every member's genome
(:mod:`evolve.show`), one self-contained file to share. ``compare`` lines runs up side by
side: hypervolume after the same number of evaluations is the fair comparison
(evolve/objectives.py fixes the reference point, which the run records), so runs measured
against different reference points are flagged as not comparable; its figure overlays the
runs' hypervolume curves and fronts.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evolve.objectives import Objective, resolve_objectives
from evolve.records import RecordError, atomic_write
from evolve.run import Architecture, Run, load_run

FIGURE_SUFFIXES = (".png", ".svg", ".pdf")
REPORT_SUFFIXES = (*FIGURE_SUFFIXES, ".html")
#: axis labels of the built-in objectives, with their units
AXIS_LABELS = {
    "accuracy": "validation accuracy",
    "energy": "energy per inference (J)",
    "latency": "latency per inference (s)",
    "params": "parameters",
    "cores": "cores",
    "synapses": "synapses",
}
UNITS = {"energy": " (J)", "latency": " (s)"}
COUNT_OBJECTIVES = ("params", "cores", "synapses")
OUTCOME_COLOURS = {"ok": "#4daf4a", "infeasible": "#ff7f00", "failed": "#e41a1c",
                   "timeout": "#984ea3"}


def _registered(name: str) -> Objective | None:
    """The registered objective of that name (None for a custom one unknown here)."""
    try:
        return resolve_objectives([name])[0]
    except KeyError:
        return None


def _log_scale(run: Run, name: str) -> bool:
    """Whether the run measured ``name`` on a log scale (recorded; registered for old runs)."""
    if run.description is not None:
        return run.description.objective(name).log_scale
    registered = _registered(name)
    return registered is not None and registered.log_scale


def axis_label(name: str) -> str:
    return AXIS_LABELS.get(name, name)


def _integer_axis(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _log_axis(axis: Any) -> None:
    """Labels at 1, 2 and 5 of each decade: a front often spans less than one decade,
    where matplotlib's default labels every minor tick and the labels run into each other."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def label(value: float, _pos: Any) -> str:
        if value <= 0:
            return ""
        exponent = math.floor(math.log10(value) + 1e-9)
        mantissa = round(value / 10 ** exponent)
        power = f"10^{{{exponent}}}"
        return f"${power}$" if mantissa == 1 else f"${mantissa}\\times{power}$"

    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(label))
    axis.set_minor_formatter(NullFormatter())


def staircase(front: Sequence[tuple[float, float]], x_max: bool) -> tuple[list[float],
                                                                           list[float]]:
    """The boundary of what a two-objective front dominates, as a step line's vertices.

    With the points sorted by x, the best y reachable at x is that of the nearest member on
    x's worse side: a minimised x holds each member's y until the next member (steps after
    the point), a maximised x from the previous member (steps before it)."""
    pts = sorted(front)
    xs, ys = [], []
    for i, (x, y) in enumerate(pts):
        if i and not x_max:
            xs.append(x)
            ys.append(pts[i - 1][1])
        if i and x_max:
            xs.append(pts[i - 1][0])
            ys.append(y)
        xs.append(x)
        ys.append(y)
    return xs, ys


def evaluations_title(rows: list[dict[str, Any]], ok: list[dict[str, Any]]) -> str:
    """Every recorded evaluation counted, and how many of them are drawn (scored): the
    hypervolume and population panels beside it count them all."""
    if len(ok) == len(rows):
        return f"{len(rows)} evaluations"
    others = {status: sum(1 for r in rows if r["status"] == status)
              for status in sorted({r["status"] for r in rows} - {"ok"})}
    return (f"{len(rows)} evaluations ({len(ok)} scored, "
            + ", ".join(f"{n} {status}" for status, n in others.items()) + ")")


def _generation_ticks(axis: Any, generations: list[int]) -> None:
    """A tick per generation while they are few (a one-generation run gets one tick, not
    fractions of it around its only value), else integer ticks."""
    if len(generations) <= 12:
        axis.set_ticks(generations)
    else:
        _integer_axis(axis)


def _front_panel(ax: Any, fig: Any, run: Run, rows: list[dict[str, Any]],
                 front: list[Architecture], names: list[str]) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    generations = sorted({r["generation"] for r in rows}) or [0]
    counted = evaluations_title(rows, ok)
    if len(names) < 2:
        ax.scatter([r["generation"] for r in ok], [r[f"objective.{names[0]}"] for r in ok],
                   s=12, alpha=0.6, color="#4c72b0", label="evaluations")
        ax.set(xlabel="generation", ylabel=axis_label(names[0]), title=counted)
        _integer_axis(ax.xaxis)
        ax.legend(fontsize=8, loc="best")
        return
    from matplotlib.colors import BoundaryNorm

    x_name, y_name = names[1], names[0]
    directions = run.objective_directions()
    bounds = [g - 0.5 for g in range(generations[0], generations[-1] + 2)]
    norm = BoundaryNorm(bounds, 256)
    points = ax.scatter([r[f"objective.{x_name}"] for r in ok],
                        [r[f"objective.{y_name}"] for r in ok], s=12,
                        c=[r["generation"] for r in ok], cmap="viridis", norm=norm, alpha=0.7,
                        linewidths=0, label="evaluations", zorder=2)
    bar = fig.colorbar(points, ax=ax, pad=0.02, fraction=0.05)
    bar.set_label("generation")
    _generation_ticks(bar.ax.yaxis, generations)
    members = [a for a in front if x_name in a.objectives and y_name in a.objectives]
    pts = [(a.objectives[x_name], a.objectives[y_name]) for a in members]
    if pts:
        sx, sy = staircase(pts, directions[x_name] == "max")
        ax.plot(sx, sy, "-", color="crimson", lw=1.4, zorder=3, label="Pareto front")
        ax.plot(*zip(*pts, strict=True), "o", color="crimson", ms=5, zorder=4)
        if y_name == "accuracy":
            tests = [(a.objectives[x_name], a.test_accuracy) for a in members
                     if math.isfinite(a.test_accuracy)]
            if tests:
                ax.plot(*zip(*tests, strict=True), "o", mfc="none", mec="black", ms=6,
                        mew=1.1, zorder=5, label="front members' test accuracy")
    if _log_scale(run, x_name):
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
    elif x_name in COUNT_OBJECTIVES:
        _integer_axis(ax.xaxis)
    if _log_scale(run, y_name):
        ax.set_yscale("log")
        _log_axis(ax.yaxis)
    elif y_name in COUNT_OBJECTIVES:
        _integer_axis(ax.yaxis)
    ax.set(xlabel=axis_label(x_name), ylabel=axis_label(y_name),
           title=f"{counted}, front of {len(pts)}")
    ax.grid(True, which="major", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right" if directions[y_name] == "max" else "upper right")


def _population_panel(ax: Any, run: Run, rows: list[dict[str, Any]]) -> None:
    generations = sorted({r["generation"] for r in rows})
    species = sorted({r["species"] for r in rows if r["species"] is not None
                      and r["species"] >= 0})
    if species:
        counts = {(r["generation"], r["species"]): 0 for r in rows}
        for r in rows:
            counts[(r["generation"], r["species"])] += 1
        stacks = [[counts.get((g, s), 0) for g in generations] for s in species]
        if len(generations) > 1:
            ax.stackplot(generations, stacks, edgecolor="white", linewidth=0.4)
        else:  # an area over one generation has no width: stacked bars instead
            bottom = 0
            for stack in stacks:
                ax.bar(generations, stack, bottom=bottom, width=0.6, edgecolor="white")
                bottom += stack[0]
        # the species evaluations were made in: a species left holding only elites (carried,
        # not trained again) counts in the progress line's and generations.parquet's tally
        # of the population, not here
        ax.set(xlabel="generation", ylabel="evaluations per species",
               title=f"evaluations in {len(species)} species over time")
    else:
        outcomes = [o for o in OUTCOME_COLOURS if any(r["status"] == o for r in rows)]
        bottom = [0] * len(generations)
        for outcome in outcomes:
            heights = [sum(1 for r in rows if r["generation"] == g and r["status"] == outcome)
                       for g in generations]
            ax.bar(generations, heights, bottom=bottom, color=OUTCOME_COLOURS[outcome],
                   label=outcome, width=0.8)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        ax.set(xlabel="generation", ylabel="evaluations",
               title=f"no species ({run.config.strategy.name}): evaluations by outcome")
        if outcomes:
            ax.legend(fontsize=8, loc="lower right")
    _generation_ticks(ax.xaxis, generations)
    _integer_axis(ax.yaxis)


def figure(run: Run, rows: list[dict[str, Any]] | None = None) -> Any:
    """The report's matplotlib figure (four panels, see the module docstring). Built
    without pyplot, so a notebook's own plotting backend is left alone. ``rows``: the
    run's evaluation rows, when the caller has read them already."""
    from matplotlib.figure import Figure

    rows = run.evaluations().to_pylist() if rows is None else rows
    names = run.objective_names()
    front = run.pareto_front()
    fig = Figure(figsize=(21, 4.8), layout="constrained")
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1.25, 1, 1, 1]})
    _front_panel(axes[0], fig, run, rows, front, names)

    ax = axes[1]
    curve = run.hypervolume_curve()
    if curve:
        # a step: the hypervolume holds between generations (what compare reads at a budget)
        ax.plot(*zip(*curve, strict=True), "o-", ms=3, drawstyle="steps-post")
        ax.set_xlim(0, curve[-1][0] * 1.05)  # from no evaluations: one point is not a range
    ax.set(xlabel="evaluations", ylabel="hypervolume (fixed reference point)",
           title="hypervolume of the archive")
    _integer_axis(ax.xaxis)
    ax.grid(True, alpha=0.25)

    _population_panel(axes[2], run, rows)

    ax = axes[3]
    for a in front:
        if a.curve:
            ax.plot([p["epoch"] for p in a.curve], [p["valid_accuracy"] for p in a.curve],
                    "-", lw=1.2, label=f"#{a.candidate_id}")
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title="training curves of the front members")
    _integer_axis(ax.xaxis)
    ax.grid(True, alpha=0.25)
    if any(a.curve for a in front) and len(front) <= 12:
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{run.run_id}: {run.config.strategy.name}, rule {run.config.rule.name}, "
                 f"task {run.config.task.name}, hardware {run.config.hardware.profile}")
    return fig


def _figure_bytes(fig: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110 if fmt == "png" else None)
    return buffer.getvalue()


def check_report_path(path: Path, what: str) -> None:
    """The one check of a report's or comparison's file name, made before any work."""
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise ValueError(f"{what} {str(path)!r}: expected a .png, .svg, .pdf or .html "
                         "file name")


def write_report(run: Run, path: str | Path) -> Path:
    """Write the report to ``path`` by its suffix: ``.png``, ``.svg`` or ``.pdf`` (the
    figure), or ``.html`` (figure, settings and the front as a table with a picture of each
    member, one self-contained file)."""
    path = Path(path)
    check_report_path(path, "report path")
    rows = run.evaluations().to_pylist()  # read once: the figure and the page use them
    if not rows:
        raise RecordError(f"{run.path}: no evaluations recorded yet: nothing to report")
    fig = figure(run, rows)
    if path.suffix.lower() in FIGURE_SUFFIXES:
        data = _figure_bytes(fig, path.suffix[1:].lower())
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
    else:
        png = base64.b64encode(_figure_bytes(fig, "png")).decode()
        page = _html(run, png, rows)
        atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


def member_picture(arch: Architecture) -> str:
    """One front member's genome as an inline ``<svg>``, wrapped so a page can find it."""
    from evolve.show import genome_svg

    svg = genome_svg(arch.genome, key=f"c{arch.candidate_id}", scale=0.8)
    return (f"<figure class='genome' data-candidate='{arch.candidate_id}'>{svg}"
            "</figure>")


_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:middle}"
          "figure.genome{margin:0}figure.genome svg{max-width:420px;height:auto}")


def _html(run: Run, png_b64: str, evaluations: list[dict[str, Any]]) -> str:
    names = run.objective_names()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["candidate", *(n + UNITS.get(n, "") for n in names), "test accuracy",
                    "hidden groups", "edges", "genome"])
    body = []
    for a in run.pareto_front():
        cells = [str(a.candidate_id), *(f"{a.objectives.get(n, math.nan):.4g}" for n in names),
                 f"{a.test_accuracy:.4f}", str(len(a.genome.hidden_ids)),
                 str(len(a.genome.enabled_connections(None)))]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                    + f"<td>{member_picture(a)}</td></tr>")
    c = run.config
    settings = {"task": c.task.name, "rule": c.rule.name, "strategy": c.strategy.name,
                "objectives": ", ".join(names), "hardware": c.hardware.profile,
                "generations completed": run.completed_generations(),
                "population": c.population, "seed": c.seed}
    if run.description is not None:
        limits = run.description.rule.limits
        if run.description.rule.defined_in:
            settings["rule defined in"] = run.description.rule.defined_in
        settings["rule options"] = ", ".join(f"{k}={v}" for k, v in
                                             run.description.rule.options.items()) or "-"
        settings["backprop limits removed"] = ", ".join(
            k for k, v in limits.items() if v.get("removed")) or "none"
        settings["backprop limits kept"] = ", ".join(
            k for k, v in limits.items() if not v.get("removed")) or "none"
    history = run.history()
    settings["failed evaluations"] = sum(h["failed"] for h in history)
    settings["infeasible evaluations"] = sum(h.get("infeasible", 0) for h in history)
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in settings.items())
    title = html.escape(run.run_id)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            f"<style>{_STYLE}</style></head>"
            f"<body><h1>{title}</h1><table>{rows}</table>"
            f"<p><img alt='report' src='data:image/png;base64,{png_b64}' width='100%'></p>"
            f"<h2>Pareto front</h2><table><tr>{head}</tr>{''.join(body)}</table>"
            f"{_failures_html(evaluations)}</body></html>\n")


FAILURES_LISTED = 50  # a run whose every candidate fails needs its first few, not thousands


def _failures_html(rows: list[dict[str, Any]]) -> str:
    """The evaluations that failed or timed out, each with its one-line reason (the
    traceback stays in the records: a page of them would bury the table)."""
    failed = [r for r in rows if r["status"] in ("failed", "timeout")]
    if not failed:
        return ""
    head = "".join(f"<th>{h}</th>" for h in ("generation", "candidate", "status", "why"))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in
                                    ("generation", "candidate_id", "status", "error"))
                   + "</tr>" for r in failed[:FAILURES_LISTED])
    more = (f"<p>… and {len(failed) - FAILURES_LISTED} more; every one, with its traceback, "
            "is in the run's evaluation records</p>" if len(failed) > FAILURES_LISTED else "")
    return (f"<h2>Failed evaluations ({len(failed)})</h2><table><tr>{head}</tr>{body}"
            f"</table>{more}")


# -- comparing runs ------------------------------------------------------------------------
def compare_runs(runs: Sequence[Run | str | Path], at: int | None = None
                 ) -> list[dict[str, Any]]:
    """One row per run: settings, evaluations, hypervolume (at ``at`` evaluations, default
    the fewest any run spent, so every run is measured at the same budget), front size, the
    best value of the first run's first objective (None for a run without it), and whether
    its hypervolume is comparable with the first run's (same objectives measured against the
    same recorded reference point, on the same data — by content hash — and the same chip
    and chip budget).

    A run's hypervolume at the budget is None where it is not known: the run's first
    generation alone spent more, or the run stopped before reaching the budget (a final
    value shown as if measured at a budget never reached would flatter the shorter run)."""
    if not runs:
        raise ValueError("compare needs at least one run")
    runs = _loaded(runs)
    curves = [run.hypervolume_curve() for run in runs]
    budget = at if at is not None else min((c[-1][0] for c in curves if c), default=0)
    first_references = runs[0].references()
    first_setting = _setting(runs[0])
    # every row's best is of the first run's first objective: one column, whatever order
    # another run lists the same objectives in
    name = runs[0].objective_names()[0]
    rows = []
    for run, curve in zip(runs, curves, strict=True):
        within = [hv for evals, hv in curve if evals <= budget]
        reached = bool(curve) and curve[-1][0] >= budget
        c = run.config
        front = run.pareto_front()
        best = [a.objectives[name] for a in front if name in a.objectives]
        maximise = run.objective_directions().get(name) == "max"
        references = run.references()
        rows.append({
            "run_id": run.run_id, "path": str(run.store.root.resolve()), "task": c.task.name,
            "rule": c.rule.name,
            "strategy": c.strategy.name, "hardware": c.hardware.profile, "seed": c.seed,
            "evaluations": curve[-1][0] if curve else 0, "budget": budget,
            "hypervolume_at_budget": within[-1] if within and reached else None,
            "hypervolume_final": curve[-1][1] if curve else 0.0,
            "front_size": len(front),
            f"best_{name}": (max(best) if maximise else min(best)) if best else None,
            "references": references,
            "comparable": (bool(references) and references == first_references
                           and _setting(run) == first_setting),
        })
    return rows


def _loaded(runs: Sequence[Run | str | Path]) -> list[Run]:
    """Runs as given, or loaded from their directories."""
    return [run if isinstance(run, Run) else load_run(run) for run in runs]


def _setting(run: Run) -> tuple[Any, ...]:
    """What must be equal for two hypervolumes to be comparable besides the reference
    point: the same data (content hash), split the same way (another validation share scores
    accuracy on another set), on the same chip under the same budget."""
    d = run.description
    task = d.task.content_hash if d is not None else run.config.task.name
    profile = d.profile if d is not None else run.config.hardware.profile
    t = run.config.task
    split = t.valid_fraction, t.test_fraction, t.label_column
    return task, split, profile, run.config.hardware.chips


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def format_comparison(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`compare_runs` as an aligned text table."""
    best_key = next(k for k in rows[0] if k.startswith("best_"))
    head = ["run", "strategy", "rule", "task", "hardware", "evals",
            f"hv@{rows[0]['budget']}", "hv final", "front", best_key.replace("_", " ")]
    lines = [head]
    for r in rows:
        best = r.get(best_key)
        # named by folder: copies of one run share its run_id, and the folder is what to open
        lines.append([Path(r["path"]).name + ("" if r["comparable"] else " *"), r["strategy"],
                      r["rule"],
                      r["task"], r["hardware"], str(r["evaluations"]),
                      _number(r["hypervolume_at_budget"]), f"{r['hypervolume_final']:.4f}",
                      str(r["front_size"]), "-" if best is None else f"{best:.4g}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
            for line in lines]
    if any(r["hypervolume_at_budget"] is None for r in rows):
        text.append(f"n/a: the run's first generation spent more than {rows[0]['budget']} "
                    "evaluations, or the run ended before that many")
    if not all(r["comparable"] for r in rows):
        text.append("* its objectives, reference point, data (or its split), chip or chip "
                    "budget differ from the first run's: its hypervolume is not comparable")
    return "\n".join(text)


def comparison_figure(runs: Sequence[Run | str | Path], at: int | None = None) -> Any:
    """Hypervolume against evaluations for every run (the comparison's budget marked), and
    their fronts as staircases when the runs share their first two objectives. A run whose
    hypervolume is not comparable with the first run's is dashed and starred."""
    from matplotlib.figure import Figure

    runs = _loaded(runs)
    rows = compare_runs(runs, at=at)
    names = [run.objective_names()[:2] for run in runs]
    shared = len(names[0]) == 2 and all(n == names[0] for n in names)
    fig = Figure(figsize=(13 if shared else 6.5, 4.6), layout="constrained")
    axes = fig.subplots(1, 2 if shared else 1, squeeze=False)[0]
    colours = [f"C{i % 10}" for i in range(len(runs))]
    ax = axes[0]
    for run, row, colour in zip(runs, rows, colours, strict=True):
        curve = run.hypervolume_curve()
        label = f"{run.store.root.resolve().name}{'' if row['comparable'] else ' *'} " \
                f"({row['strategy']}, {row['rule']})"
        if curve:
            ax.plot(*zip(*curve, strict=True), "o-" if row["comparable"] else "o--", ms=3,
                    color=colour, label=label, drawstyle="steps-post")
    if rows and rows[0]["budget"]:
        ax.axvline(rows[0]["budget"], color="grey", lw=0.8, ls=":",
                   label=f"compared at {rows[0]['budget']} evaluations")
    ax.set(xlabel="evaluations", ylabel="hypervolume (fixed reference point)",
           title="hypervolume of the archive")
    _integer_axis(ax.xaxis)
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="lower right")
    if shared:
        ax = axes[1]
        y_name, x_name = names[0]
        for run, colour in zip(runs, colours, strict=True):
            pts = [(a.objectives[x_name], a.objectives[y_name]) for a in run.pareto_front()
                   if x_name in a.objectives and y_name in a.objectives]
            if pts:
                x_max = run.objective_directions()[x_name] == "max"
                ax.plot(*staircase(pts, x_max), "-", color=colour, lw=1.3,
                        label=run.store.root.resolve().name)
                ax.plot(*zip(*pts, strict=True), "o", color=colour, ms=4)
        if _log_scale(runs[0], x_name):
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        elif x_name in COUNT_OBJECTIVES:
            _integer_axis(ax.xaxis)
        ax.set(xlabel=axis_label(x_name), ylabel=axis_label(y_name), title="Pareto fronts")
        ax.grid(True, alpha=0.25)
        ax.legend(fontsize=7, loc="best")
    return fig


def write_comparison(runs: Sequence[Run | str | Path], path: str | Path,
                     at: int | None = None) -> Path:
    """Write :func:`comparison_figure` to ``path`` by its suffix (``.png``, ``.svg``,
    ``.pdf``), or ``.html``: the figure and the comparison table in one file."""
    path = Path(path)
    check_report_path(path, "comparison path")
    runs = _loaded(runs)
    fig = comparison_figure(runs, at=at)
    if path.suffix.lower() in FIGURE_SUFFIXES:
        data = _figure_bytes(fig, path.suffix[1:].lower())
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))
        return path
    png = base64.b64encode(_figure_bytes(fig, "png")).decode()
    table = html.escape(format_comparison(compare_runs(runs, at=at)))
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>comparison</title>"
            f"<style>{_STYLE}</style></head><body><h1>Comparison of {len(runs)} runs</h1>"
            f"<pre>{table}</pre>"
            f"<p><img alt='comparison' src='data:image/png;base64,{png}' width='100%'></p>"
            "</body></html>\n")
    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path
