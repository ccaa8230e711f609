"""Looking at runs: :func:`write_report` (one run, PNG or HTML) and :func:`compare_runs`.

A report shows what a search found and how it got there, in four panels:

1. every evaluation in the plane of the first two objectives (cost objectives on a log axis),
   the Pareto front drawn over them — with one objective, the objective against generation;
2. the archive's hypervolume after each generation, against evaluations spent;
3. species sizes per generation (stacked), NEAT's view of the population's diversity;
4. the training curve (validation accuracy per epoch) of every front member, to tell a
   member that converged from one its epoch budget cut short.

The HTML report embeds the same figure and adds the run's settings and its front as a table,
one self-contained file to share. ``compare`` lines runs up side by side: hypervolume after
the same number of evaluations is the fair comparison (evolve/objectives.py fixes the
reference point, which the run records), so runs measured against different reference points
are flagged as not comparable.
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
from evolve.records import atomic_write
from evolve.run import Run


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


def figure(run: Run) -> Any:
    """The report's matplotlib figure (four panels, see the module docstring). Built
    without pyplot, so a notebook's own plotting backend is left alone."""
    from matplotlib.figure import Figure

    rows = run.evaluations().to_pylist()
    names = run.objective_names()
    front = run.pareto_front()
    fig = Figure(figsize=(21, 4.6))
    axes = fig.subplots(1, 4)

    ax = axes[0]
    ok = [r for r in rows if r["status"] == "ok"]
    if len(names) >= 2:
        x_name, y_name = names[1], names[0]
        ax.scatter([r[f"objective.{x_name}"] for r in ok], [r[f"objective.{y_name}"] for r in ok],
                   s=10, c=[r["generation"] for r in ok], cmap="viridis", alpha=0.6,
                   label="evaluations (colour: generation)")
        pts = sorted((a.objectives[x_name], a.objectives[y_name]) for a in front
                     if x_name in a.objectives and y_name in a.objectives)
        if pts:
            ax.plot(*zip(*pts, strict=True), "o-", color="crimson", ms=5, label="Pareto front")
        if _log_scale(run, x_name):
            ax.set_xscale("log")
        ax.set(xlabel=x_name, ylabel=y_name, title=f"{len(ok)} evaluations, front of {len(pts)}")
    else:
        ax.scatter([r["generation"] for r in ok], [r[f"objective.{names[0]}"] for r in ok],
                   s=10, alpha=0.6, label="evaluations")
        ax.set(xlabel="generation", ylabel=names[0], title=f"{len(ok)} evaluations")
    ax.legend(fontsize=8, loc="lower right")

    ax = axes[1]
    curve = run.hypervolume_curve()
    if curve:
        ax.plot(*zip(*curve, strict=True), "o-", ms=3)
    ax.set(xlabel="evaluations", ylabel="hypervolume (fixed reference)",
           title="hypervolume of the archive")

    ax = axes[2]
    generations = sorted({r["generation"] for r in rows})
    species = sorted({r["species"] for r in rows})
    counts = {(r["generation"], r["species"]): 0 for r in rows}
    for r in rows:
        counts[(r["generation"], r["species"])] += 1
    if generations:
        stacks = [[counts.get((g, s), 0) for g in generations] for s in species]
        ax.stackplot(generations, stacks)
    ax.set(xlabel="generation", ylabel="evaluations per species",
           title=f"{len(species)} species over time")

    ax = axes[3]
    for a in front:
        if a.curve:
            ax.plot([p["epoch"] for p in a.curve], [p["valid_accuracy"] for p in a.curve],
                    "-", lw=1.2, label=f"#{a.candidate_id}")
    ax.set(xlabel="epoch", ylabel="validation accuracy",
           title="training curves of the front members")
    if any(a.curve for a in front) and len(front) <= 12:
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{run.run_id}: {run.config.strategy.name}, rule {run.config.rule.name}, "
                 f"task {run.config.task.name}, hardware {run.config.hardware.profile}")
    fig.tight_layout()
    return fig


def write_report(run: Run, path: str | Path) -> Path:
    """Write the report to ``path``: ``.png`` (the figure) or ``.html`` (figure, settings
    and the front as a table, one self-contained file)."""
    path = Path(path)
    if path.suffix not in (".png", ".html"):
        raise ValueError(f"report path {str(path)!r}: expected a .png or .html file name")
    buffer = io.BytesIO()
    figure(run).savefig(buffer, format="png", dpi=110)
    png = buffer.getvalue()
    if path.suffix == ".png":
        atomic_write(path, lambda tmp: Path(tmp).write_bytes(png))
    else:
        page = _html(run, base64.b64encode(png).decode())
        atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path


def _html(run: Run, png_b64: str) -> str:
    names = run.objective_names()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["candidate", *names, "test accuracy", "hidden groups", "edges"])
    body = []
    for a in run.pareto_front():
        cells = [str(a.candidate_id), *(f"{a.objectives.get(n, math.nan):.4g}" for n in names),
                 f"{a.test_accuracy:.4f}", str(len(a.genome.hidden_ids)),
                 str(len(a.genome.enabled_connections(None)))]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    c = run.config
    settings = {"task": c.task.name, "rule": c.rule.name, "strategy": c.strategy.name,
                "objectives": ", ".join(names), "hardware": c.hardware.profile,
                "generations completed": run.completed_generations(),
                "population": c.population, "seed": c.seed}
    if run.description is not None:
        limits = run.description.rule.limits
        settings["rule options"] = ", ".join(f"{k}={v}" for k, v in
                                             run.description.rule.options.items()) or "-"
        settings["backprop limits removed"] = ", ".join(
            k for k, v in limits.items() if v.get("removed")) or "none"
        settings["backprop limits kept"] = ", ".join(
            k for k, v in limits.items() if not v.get("removed")) or "none"
        settings["failed evaluations"] = sum(h["failed"] for h in run.history())
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in settings.items())
    title = html.escape(run.run_id)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head>"
            f"<body><h1>{title}</h1><table>{rows}</table>"
            f"<p><img alt='report' src='data:image/png;base64,{png_b64}' width='100%'></p>"
            f"<h2>Pareto front</h2><table><tr>{head}</tr>{''.join(body)}</table>"
            "</body></html>\n")


# -- comparing runs ------------------------------------------------------------------------
def compare_runs(runs: Sequence[Run], at: int | None = None) -> list[dict[str, Any]]:
    """One row per run: settings, evaluations, hypervolume (at ``at`` evaluations, default
    the fewest any run spent, so every run is measured at the same budget), front size, the
    best value of the first objective, and whether its hypervolume is comparable with the
    first run's (same objectives measured against the same recorded reference point, on the
    same data — by content hash — and the same chip and chip budget)."""
    if not runs:
        raise ValueError("compare needs at least one run")
    curves = [run.hypervolume_curve() for run in runs]
    budget = at if at is not None else min((c[-1][0] for c in curves if c), default=0)
    first_references = runs[0].references()
    first_setting = _setting(runs[0])
    rows = []
    for run, curve in zip(runs, curves, strict=True):
        within = [hv for evals, hv in curve if evals <= budget]
        c = run.config
        name = run.objective_names()[0]
        best = [a.objectives[name] for a in run.pareto_front() if name in a.objectives]
        maximise = run.objective_directions()[name] == "max"
        references = run.references()
        rows.append({
            "run_id": run.run_id, "task": c.task.name, "rule": c.rule.name,
            "strategy": c.strategy.name, "hardware": c.hardware.profile, "seed": c.seed,
            "evaluations": curve[-1][0] if curve else 0, "budget": budget,
            "hypervolume_at_budget": within[-1] if within else 0.0,
            "hypervolume_final": curve[-1][1] if curve else 0.0,
            "front_size": len(best),
            f"best_{name}": (max(best) if maximise else min(best)) if best else None,
            "references": references,
            "comparable": (bool(references) and references == first_references
                           and _setting(run) == first_setting),
        })
    return rows


def _setting(run: Run) -> tuple[Any, ...]:
    """What must be equal for two hypervolumes to be comparable besides the reference
    point: the same data (content hash) on the same chip under the same budget."""
    d = run.description
    task = d.task.content_hash if d is not None else run.config.task.name
    profile = d.profile if d is not None else run.config.hardware.profile
    return task, profile, run.config.hardware.chips


def format_comparison(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`compare_runs` as an aligned text table."""
    best_key = next(k for k in rows[0] if k.startswith("best_"))
    head = ["run", "strategy", "rule", "task", "hardware", "evals",
            f"hv@{rows[0]['budget']}", "hv final", "front", best_key.replace("_", " ")]
    lines = [head]
    for r in rows:
        best = r.get(best_key)
        lines.append([r["run_id"] + ("" if r["comparable"] else " *"), r["strategy"], r["rule"],
                      r["task"], r["hardware"], str(r["evaluations"]),
                      f"{r['hypervolume_at_budget']:.4f}", f"{r['hypervolume_final']:.4f}",
                      str(r["front_size"]), "-" if best is None else f"{best:.4g}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    text = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
            for line in lines]
    if not all(r["comparable"] for r in rows):
        text.append("* its objectives, reference point, data, chip or chip budget differ from "
                    "the first run's: its hypervolume is not comparable")
    return "\n".join(text)
