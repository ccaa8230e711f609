"""Reports (PNG, HTML) and comparisons of real runs, through the Python API and the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

import evolve
from evolve.config import SearchConfig, override
from evolve.objectives import resolve_objectives
from evolve.report import (
    compare_runs,
    evaluations_title,
    figure,
    format_comparison,
    write_report,
)

NEUREVO = [sys.executable, "-m", "evolve.cli"]


def small_run(out, seed: int, objectives=("accuracy", "params")) -> evolve.Run:
    return evolve.search(override(SearchConfig(), {
        "generations": 3, "population": 6, "seed": seed, "out": str(out),
        "objectives": list(objectives), "rule": {"name": "bp"},
        "training": {"epochs": 2, "patience": 2}, "executor": {"name": "serial"}}))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return [small_run(out, 0), small_run(out, 1), small_run(out, 2, ("accuracy", "energy"))]


def test_png_and_html_reports(runs, tmp_path):
    run = runs[0]
    png = write_report(run, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    page = write_report(run, tmp_path / "sub" / "r.html").read_text()
    assert "data:image/png;base64," in page and run.run_id in page
    for arch in run.pareto_front():  # the front as a table, every member listed
        assert f"<td>{arch.candidate_id}</td>" in page
    with pytest.raises(ValueError, match=".png, .svg, .pdf or .html"):
        write_report(run, tmp_path / "r.txt")


def test_the_cli_names_a_reports_wrong_file_name_by_its_option(runs, tmp_path, capsys):
    from evolve.cli import main

    assert main(["report", str(runs[0].path), "--out", str(tmp_path / "r.txt")]) == 2
    err = capsys.readouterr().err
    assert f"--out '{tmp_path / 'r.txt'}': expected a .png, .svg, .pdf or .html" in err, err
    assert not (tmp_path / "r.txt").exists()


def test_compare_measures_every_run_at_the_same_budget(runs):
    rows = compare_runs(runs[:2], at=12)
    for run, row in zip(runs[:2], rows, strict=True):
        spent, at_budget = 0, 0.0
        for h in run.history():
            spent += h["evaluations"]
            if spent <= 12:
                at_budget = h["hypervolume"]
        assert row["budget"] == 12 and row["hypervolume_at_budget"] == at_budget
        assert row["hypervolume_final"] == run.history()[-1]["hypervolume"]
        assert row["front_size"] == len(run.pareto_front()) and row["comparable"]
        assert row["best_accuracy"] == max(a.objectives["accuracy"] for a in run.pareto_front())
    default = compare_runs(runs[:2])  # the fewest evaluations any run spent
    assert default[0]["budget"] == min(r["evaluations"] for r in rows)
    # a budget one run's first generation overshoots, and one beyond every run: not known
    first = min(run.history()[0]["evaluations"] for run in runs[:2])
    early = compare_runs(runs[:2], at=first - 1)
    assert [r["hypervolume_at_budget"] for r in early] == [None, None]
    assert "n/a" in format_comparison(early)
    late = compare_runs(runs[:2], at=max(r["evaluations"] for r in rows) + 1)
    assert [r["hypervolume_at_budget"] for r in late] == [None, None]
    mixed = compare_runs(runs)
    assert [r["comparable"] for r in mixed] == [True, True, False]
    text = format_comparison(mixed)
    assert f"{runs[2].run_id} *" in text and "not comparable" in text
    assert compare_runs([str(r.path) for r in runs]) == mixed  # run directories do as well


def test_compare_names_a_run_given_as_dot_by_its_folder(runs, monkeypatch):
    monkeypatch.chdir(runs[0].path)
    rows = compare_runs([".", str(runs[1].path)])
    assert rows[0]["path"] == str(runs[0].path)
    assert format_comparison(rows).splitlines()[1].split()[0] == runs[0].path.name


def test_a_run_split_another_way_is_not_comparable(runs, tmp_path):
    """Another validation share scores accuracy on another set, so its hypervolume is not
    the first run's, though data, chip and references are the same."""
    import shutil

    other = tmp_path / "resplit"
    shutil.copytree(runs[1].path, other)
    config, described = other / "config.toml", other / "run.json"
    config.write_text(config.read_text().replace("valid_fraction = 0.2", "valid_fraction = 0.3"))
    # as a run started with that share records it (config.toml alone edited is refused)
    text = described.read_text()
    assert '"task.valid_fraction": 0.2' in text
    described.write_text(text.replace('"task.valid_fraction": 0.2', '"task.valid_fraction": 0.3'))
    assert evolve.load_run(other).config.task.valid_fraction == 0.3
    assert [r["comparable"] for r in compare_runs([runs[0], runs[1], other])] == \
        [True, True, False]


def test_hypervolume_curves_are_drawn_as_the_steps_compare_reads(runs):
    """The hypervolume holds between generations: the report's and the comparison's curves
    are steps, so the value a plot shows at a budget is the one compare prints."""
    from evolve.report import comparison_figure

    curves = [figure(runs[0]).axes[1].lines[0], comparison_figure(runs[:2]).axes[0].lines[0]]
    assert [line.get_drawstyle() for line in curves] == ["steps-post", "steps-post"]


def test_cli_report_and_compare(runs, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*NEUREVO, "report", str(runs[0].path)], capture_output=True,
                            text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(runs[0].path / "report.html")
    assert (runs[0].path / "report.html").is_file()
    result = subprocess.run([*NEUREVO, "compare", *(str(r.path) for r in runs[:2]), "--json"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    assert [r["run_id"] for r in json.loads(result.stdout)] == [r.run_id for r in runs[:2]]
    result = subprocess.run([*NEUREVO, "compare", *(str(r.path) for r in runs[:2]), "--out",
                             str(tmp_path / "c.jpg")], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 2 and ".html" in result.stderr
    assert result.stdout == ""  # refused before a table is printed
    result = subprocess.run([*NEUREVO, "compare", str(runs[0].path), str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_reports_of_one_objective_and_of_custom_objectives(tmp_path):
    base = override(SearchConfig(), {
        "generations": 2, "population": 5, "seed": 0, "out": str(tmp_path / "runs"),
        "rule": {"name": "bp"}, "training": {"epochs": 2, "patience": 2},
        "executor": {"name": "serial"}})
    single = evolve.search(override(base, {"objectives": ["accuracy"], "run_id": "single"}))
    page = write_report(single, tmp_path / "single.html").read_text()
    assert "<th>accuracy</th>" in page
    # custom objectives: config.objectives still says accuracy+energy, the records do not
    depth = evolve.Objective("hidden_groups", "min", lambda m: len(m.genome.hidden_ids),
                             reference=10)
    custom = evolve.search(override(base, {"run_id": "custom"}),
                           objectives=["accuracy", depth])
    assert custom.objective_names() == ["accuracy", "hidden_groups"]
    page = write_report(custom, tmp_path / "custom.html").read_text()
    assert "<th>hidden_groups</th>" in page
    assert compare_runs([custom])[0]["best_accuracy"] is not None


def test_a_resumed_run_keeps_the_reference_point_it_started_with(tmp_path):
    import json

    import numpy as np

    from evolve.archive import Archive

    # groups of up to 128: the space's costliest net stays under params' fixed reference
    config = override(SearchConfig(), {
        "generations": 1, "population": 5, "seed": 0, "out": str(tmp_path),
        "objectives": ["accuracy", "params"], "rule": {"name": "bp"},
        "space": {"max_hidden_size": 128},
        "training": {"epochs": 2, "patience": 2}, "executor": {"name": "serial"}})
    run = evolve.search(config)
    assert run.references() == {"accuracy": 0.0, "params": 1e6}
    checkpoint = json.loads((run.path / "checkpoint.json").read_text())
    checkpoint["references"]["params"] = 1e7  # as if an older version had computed this
    (run.path / "checkpoint.json").write_text(json.dumps(checkpoint))
    run = evolve.resume(run.path, generations=2)
    assert run.references()["params"] == 1e7
    objectives = [dataclasses.replace(o, reference=run.references()[o.name])
                  for o in resolve_objectives(["accuracy", "params"])]
    archive = Archive(objectives)
    archive.load(json.loads((run.path / "checkpoint.json").read_text())["archive"])
    assert run.history()[-1]["hypervolume"] == pytest.approx(archive.hypervolume())
    smaller = Archive(resolve_objectives(["accuracy", "params"]))
    smaller.load(json.loads((run.path / "checkpoint.json").read_text())["archive"])
    assert not np.isclose(smaller.hypervolume(), archive.hypervolume())




def test_compare_marks_runs_on_other_data_as_not_comparable(tmp_path):
    """Same shapes, so the same reference point, but other data: not comparable."""
    import numpy as np
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    other = x.copy()
    other[0, 0] += 0.1
    base = {"generations": 1, "population": 4, "rule": {"name": "bp"},
            "training": {"epochs": 2}, "executor": {"name": "serial"}}
    runs = []
    for i, features in enumerate((x, x, other)):
        path = tmp_path / f"iris{i}.npz"
        np.savez(path, x=features, y=y)
        runs.append(evolve.search(override(SearchConfig(), {
            **base, "task": {"name": str(path)}, "out": str(tmp_path / f"o{i}")})))
    rows = compare_runs(runs)
    assert rows[0]["references"] == rows[2]["references"]
    assert [r["comparable"] for r in rows] == [True, True, False]


def test_the_front_panel_counts_every_recorded_evaluation():
    rows = [{"status": s} for s in ("ok", "ok", "failed", "infeasible", "failed")]
    assert evaluations_title(rows, rows[:2]) == "5 evaluations (2 scored, 2 failed, 1 infeasible)"
    assert evaluations_title(rows[:2], rows[:2]) == "2 evaluations"


def test_a_one_generation_report_draws_its_species_and_whole_generations(tmp_path):
    run = evolve.search(override(SearchConfig(), {
        "generations": 1, "population": 6, "seed": 0, "out": str(tmp_path),
        "rule": {"name": "bp"}, "training": {"epochs": 1}, "executor": {"name": "serial"}}))
    fig = figure(run)
    species = fig.axes[2]
    assert species.patches, "the species panel is empty"
    assert sum(p.get_height() for p in species.patches) == 6
    assert list(species.get_xticks()) == [0]
    colourbar = fig.axes[-1]
    assert list(colourbar.get_yticks()) == [0]


def test_compare_shows_the_same_objectives_best_in_any_order(runs, tmp_path):
    flipped = small_run(tmp_path, 0, ("params", "accuracy"))
    rows = compare_runs([runs[0], flipped])
    assert [r["best_accuracy"] for r in rows] == [
        max(a.objectives["accuracy"] for a in run.pareto_front()) for run in (runs[0], flipped)]
    assert " - " not in format_comparison(rows).splitlines()[2]


def test_a_suffix_in_capitals_names_the_same_format(runs, tmp_path):
    from evolve.export import export_format

    assert write_report(runs[0], tmp_path / "R.PNG").read_bytes()[:4] == b"\x89PNG"
    assert export_format("member.ONNX") == "onnx"

