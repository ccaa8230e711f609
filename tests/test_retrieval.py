"""Faithful retrieval: what a run recorded is what a user gets back.

For every registered rule (a user's own included), a front member exported with
``neurevo export`` and read back with ``evolve.load_architecture`` scores exactly the
recorded test accuracy; a custom maximised objective orders the front and survives a
resume; a run copied elsewhere and read from another directory still works."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import evolve
import rules
from evolve.cli import main
from evolve.config import SearchConfig, override
from evolve.objectives import Objective
from evolve.records import RecordError
from evolve.tasks import load_task
from rules.bp import Backprop
from search_spaces.compile import compile_genome


@rules.register
class RolledBP(Backprop):
    """A user's rule whose prediction is not the feedforward pass: it learns class ``c`` at
    output ``c + shift`` and reads it back there, so any export that bypassed the rule's
    own ``predict`` would score near chance."""

    name = "test-rolled-bp"
    description = "bp that learns and predicts with rolled class outputs (test rule)"

    def __init__(self, shift: int = 1) -> None:
        self.shift = shift

    def train_step(self, net, params, state, x, y):
        return super().train_step(net, params, state, x, (y + self.shift) % net.n_outputs)

    def predict(self, net, params, x):
        return torch.roll(super().predict(net, params, x), -self.shift, dims=-1)


def tiny_iris(tmp_path, rule_name: str, **extra) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 4, "seed": 1, "out": str(tmp_path / "runs"),
        "task": {"name": "iris"}, "rule": {"name": rule_name},
        "training": {"epochs": 4, "patience": 4}, "executor": {"name": "serial"}, **extra})


def export_with_cli(run: evolve.Run, out, capsys, *extra: str) -> evolve.Architecture:
    capsys.readouterr()
    assert main(["export", str(run.path), "--out", str(out), *extra]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    return evolve.load_architecture(out)


RULES = [*rules.BUILTIN_RULES, RolledBP.name]


@pytest.mark.parametrize("rule", RULES)
def test_every_rules_export_scores_what_the_run_recorded(rule, tmp_path, capsys):
    options = {}
    if rule == RolledBP.name:  # trained long enough that reading it wrongly would show
        options = {"rule": {"name": rule, "options": {"shift": 2}},
                   "training": {"epochs": 40, "patience": 40, "batch_size": 16}}
    run = evolve.search(tiny_iris(tmp_path, rule, **options))
    front = run.pareto_front()
    assert front, "the tiny search found no feasible member"
    arch = export_with_cli(run, tmp_path / "m.safetensors", capsys)
    assert arch.candidate_id == front[0].candidate_id
    assert arch.class_names == ("setosa", "versicolor", "virginica")
    task = load_task("iris", seed=1)
    module = arch.to_module()
    with torch.no_grad():
        scores = module(task.test.x)
        direct = rules.get_rule(rule, arch.rule_options).predict_members(
            compile_genome(arch.genome), arch.params(), task.test.x, [arch.hyperparameters])[0]
    torch.testing.assert_close(scores, direct, atol=1e-6, rtol=0)
    accuracy = (scores.argmax(1) == task.test.y).double().mean().item()
    assert accuracy == arch.test_accuracy  # exactly what the run recorded
    # the validation score too, counted as a user counts it (correct / examples, float64)
    with torch.no_grad():
        valid = int((module(task.valid.x).argmax(1) == task.valid.y).sum())
    assert arch.valid_accuracy == valid / len(task.valid.y)
    assert arch.objectives["accuracy"] == arch.valid_accuracy
    if rule == RolledBP.name:
        assert arch.rule_options == {"shift": 2}
        assert accuracy > 0.6  # learned and read back through the rule, not chance
        with torch.no_grad():  # the feedforward reading a generic export would have used
            plain = rules.get_rule("bp").to_module(arch.genome, arch.params())(task.test.x)
        assert (plain.argmax(1) == task.test.y).double().mean().item() < 0.4


def test_exports_read_ep_with_the_relaxation_genes_its_run_fixed(tmp_path, capsys):
    run = evolve.search(tiny_iris(tmp_path, "ep", rule={
        "name": "ep", "options": {"symmetric": False}, "hyperparameters": {"free_steps": 3}}))
    arch = export_with_cli(run, tmp_path / "ep.safetensors", capsys)
    assert arch.rule_options == {"symmetric": False, "kernel": "auto"}
    assert run.description.rule.options == arch.rule_options
    # free_steps as the config held it, γ and nudge_steps as ep holds them by default
    assert run.description.rule.hyperparameters == {"free_steps": 3, "gamma": 0.1,
                                                    "nudge_steps": 4}
    assert arch.hyperparameters["free_steps"] == 3
    module = arch.to_module()
    assert module.hyper["free_steps"] == 3 and not module.rule.symmetric


def test_a_config_or_record_from_when_relaxation_settings_were_options_still_reads(
        tmp_path, capsys):
    """γ and the sweep counts were ep's/chl's options before they were genes: a config that
    sets them so fixes the gene (recorded as a fixed gene), and an export that holds them
    among its options is read with them."""
    run = evolve.search(tiny_iris(tmp_path, "chl", rule={
        "name": "chl", "options": {"free_steps": 3, "gamma": 0.5}}))
    assert run.description.rule.options == {"kernel": "auto"}
    assert run.description.rule.hyperparameters == {"free_steps": 3, "gamma": 0.5,
                                                    "nudge_steps": 4}
    evaluated = run.evaluations().to_pylist()
    genes = [json.loads(e["hyperparameters"]) for e in evaluated]
    assert {(g["free_steps"], g["gamma"]) for g in genes} == {(3, 0.5)}
    arch = export_with_cli(run, tmp_path / "chl.safetensors", capsys)
    genes = {k: v for k, v in arch.hyperparameters.items()
             if k not in ("free_steps", "gamma", "nudge_steps")}
    old = dataclasses.replace(arch, hyperparameters=genes, rule_options={
        "kernel": "auto", "free_steps": 3, "nudge_steps": 4, "gamma": 0.5})
    x = arch.standardise(load_task("iris", seed=1).test.x)
    with torch.no_grad():
        assert torch.equal(old.to_module()(x), arch.to_module()(x))
    assert old.to_module().hyper["gamma"] == 0.5


def balanced(m) -> float:
    """A custom maximised objective: accuracy less a small price per parameter."""
    return m.valid_accuracy - 1e-4 * m.params


CUSTOM = Objective("lean_accuracy", "max", balanced, reference=-1.0)


def test_custom_maximised_objective_orders_front_exports_and_resumes(tmp_path, capsys):
    config = tiny_iris(tmp_path, "bp", generations=2, population=6)
    run = evolve.search(config, objectives=[CUSTOM, "energy"])
    front = run.pareto_front()
    assert len(front) >= 2
    best = max(a.objectives["lean_accuracy"] for a in front)
    assert front[0].objectives["lean_accuracy"] == best
    assert [a.rank for a in front] == [1] * len(front)
    arch = export_with_cli(run, tmp_path / "best.safetensors", capsys)
    assert arch.candidate_id == front[0].candidate_id
    assert main(["pareto", str(run.path)]) == 0
    table = capsys.readouterr().out
    assert "lean_accuracy" in table and "nan" not in table
    # the CLI cannot rebuild a user's function: exit 2 naming it, nothing changed
    before = (run.path / "checkpoint.json").read_bytes()
    assert main(["resume", str(run.path), "--generations", "3"]) == 2
    assert "lean_accuracy" in capsys.readouterr().err
    assert (run.path / "checkpoint.json").read_bytes() == before
    resumed = evolve.resume(run.path, generations=3, objectives=[CUSTOM, "energy"])
    assert resumed.completed_generations() == 3


def test_a_registered_objective_resumes_without_being_passed_again(tmp_path, monkeypatch):
    from evolve import objectives
    from evolve.config import ConfigError

    monkeypatch.setattr(objectives, "_OBJECTIVES", dict(objectives._OBJECTIVES))
    run = evolve.search(tiny_iris(tmp_path, "bp", generations=1, population=4),
                        objectives=[CUSTOM, "energy"])
    with pytest.raises(ConfigError, match="'lean_accuracy' is a user-defined function: pass "
                                          "it again .* or register it"):
        evolve.resume(run.path, generations=2)
    evolve.register_objective(CUSTOM)
    resumed = evolve.resume(run.path, generations=2)  # by name, as the run records it
    assert resumed.completed_generations() == 2
    assert resumed.objective_names() == ["lean_accuracy", "energy"]
    front = resumed.pareto_front()
    assert front and all(-1.0 < a.objectives["lean_accuracy"] <= 1.0 for a in front)


def test_a_run_copied_under_another_name_keeps_its_run_id_everywhere(tmp_path, capsys,
                                                                     monkeypatch):
    """run_id means one thing: the id the records carry. A copy under another folder name
    answers with it in Python, in `runs --json` and `compare --json` (beside the folder's
    path), in the evaluations and in an export's source and default file name, so every
    output joins the others by it; the tables name the folder, which is what to open."""
    run = evolve.search(tiny_iris(tmp_path, "bp"), reporters=())
    copy = tmp_path / "runs" / "my-copy"
    shutil.copytree(run.path, copy)
    again = evolve.load_run(copy)
    assert again.run_id == run.run_id != "my-copy"
    assert set(again.evaluations().column("run_id").to_pylist()) == {run.run_id}
    summaries = {s.path: s for s in evolve.list_runs(tmp_path / "runs")}
    assert summaries[str(copy)].run_id == run.run_id
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "my-copy" in table and run.path.name in table
    assert main(["compare", str(run.path), str(copy), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["run_id"], r["path"]) for r in rows] == [(run.run_id, str(run.path)),
                                                        (run.run_id, str(copy))]
    monkeypatch.chdir(tmp_path)
    # runs --json gives the folder as compare --json does: absolute, typed relative or not
    assert main(["runs", "runs", "--json"]) == 0
    listed = {r["path"]: r["run_id"] for r in json.loads(capsys.readouterr().out)}
    assert listed == {str(copy.resolve()): run.run_id, str(run.path.resolve()): run.run_id}
    assert main(["export", str(copy)]) == 0
    written = Path(capsys.readouterr().out.strip())
    best = again.pareto_front()[0]
    assert written.name == f"{run.run_id}-{best.candidate_id}.safetensors"
    assert evolve.load_architecture(written).source.run_id == run.run_id


def test_a_copied_run_reads_from_another_directory(tmp_path, capsys, monkeypatch):
    data = tmp_path / "work" / "flowers.csv"
    data.parent.mkdir()
    iris = load_task("iris")
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    names = iris.class_names
    lines = ["a,b,c,d,label"] + [",".join(f"{v:g}" for v in row) + f",{names[t]}"
                                 for row, t in zip(x, y, strict=True)]
    data.write_text("\n".join(lines) + "\n")
    monkeypatch.chdir(data.parent)
    config = tiny_iris(tmp_path, "bp", task={"name": "flowers.csv"}, generations=1)
    run = evolve.search(config)
    assert run.description.task.path == str(data)
    copy = tmp_path / "elsewhere" / run.path.name
    shutil.copytree(run.path, copy)
    shutil.rmtree(run.path)
    monkeypatch.chdir(tmp_path)  # another cwd: "flowers.csv" no longer resolves
    assert main(["pareto", str(copy), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    arch = export_with_cli(evolve.load_run(copy), tmp_path / "f.safetensors", capsys)
    assert arch.class_names == ("setosa", "versicolor", "virginica")
    assert arch.input_mean is not None and arch.input_std is not None
    assert main(["report", str(copy), "--out", str(tmp_path / "r.html")]) == 0
    capsys.readouterr()
    assert main(["resume", str(copy), "--generations", "2"]) == 0  # data still at its path
    assert evolve.load_run(copy).completed_generations() == 2
    capsys.readouterr()
    # a --task that names no copy of the data is refused, even with the data in its place
    for wrong in (str(tmp_path / "nosuch.csv"), "wine"):
        assert main(["resume", str(copy), "--generations", "3", "--task", wrong]) == 2
        assert f"--task {wrong}: no such file" in capsys.readouterr().err
    assert evolve.load_run(copy).completed_generations() == 2
    # the data moved: resume says where it looked; --task with the same content works
    moved = tmp_path / "moved.csv"
    data.rename(moved)
    assert main(["resume", str(copy), "--generations", "3"]) == 2
    assert "--task" in capsys.readouterr().err
    altered = tmp_path / "altered.csv"
    altered.write_text(moved.read_text().replace("5.1,", "5.2,", 1))
    assert main(["resume", str(copy), "--generations", "3", "--task", str(altered)]) == 2
    assert "differs" in capsys.readouterr().err
    assert main(["resume", str(copy), "--generations", "3", "--task", str(moved)]) == 0
    err = capsys.readouterr().err
    assert f"now records its data at {moved}" in err
    # the progress line names the data this resume trains on, not the recorded path
    assert f"resuming {copy} at generation 3 of 3: searching {moved} with rule" in err, err
    assert evolve.load_run(copy).completed_generations() == 3
    assert front[0]["rank"] == 1
    # the run now finds its data where it was last given: no --task for the next resume
    assert evolve.load_run(copy).description.task.path == str(moved)
    assert main(["resume", str(copy), "--generations", "4"]) == 0
    assert evolve.load_run(copy).completed_generations() == 4
    capsys.readouterr()
    assert main(["resume", str(copy)]) == 0  # complete: says so, trains nothing
    assert f"{copy} already has all its 4 generations" in capsys.readouterr().err
    assert evolve.load_run(copy).completed_generations() == 4


def test_pareto_json_keys_and_curves_in_records(tmp_path, capsys):
    run = evolve.search(tiny_iris(tmp_path, "pc", population=5))
    capsys.readouterr()
    assert main(["pareto", str(run.path), "--json"]) == 0
    front = json.loads(capsys.readouterr().out)
    need = {"rank", "objectives", "costs", "violations", "test_accuracy", "valid_accuracy",
            "rule", "rule_limits", "hyperparameters", "generation", "species", "genome"}
    for member in front:
        assert need <= set(member)
        assert member["rank"] == 1
        assert set(member["rule_limits"]) == {"WT", "FL", "BL", "FBD"}
    accs = [m["objectives"]["accuracy"] for m in front]
    assert accs == sorted(accs, reverse=True)  # first objective, its recorded direction
    table = run.evaluations()
    for row in table.to_pylist():
        curve = json.loads(row["curve"])
        if row["status"] == "ok":
            assert [p["epoch"] for p in curve] == list(range(1, row["epochs"] + 1))
            assert max(p["valid_accuracy"] for p in curve) == pytest.approx(
                row["valid_accuracy"])
            assert all(p["train_loss"] >= 0 for p in curve)


def test_a_run_loaded_by_a_relative_path_reads_after_a_change_of_directory(
        tmp_path, monkeypatch):
    """A notebook loads ``runs/<id>``, then changes directory: the run and the members it
    handed out still read their records (the path was relative to where it was loaded)."""
    run = evolve.search(tiny_iris(tmp_path, "bp"))
    monkeypatch.chdir(run.path.parent)
    loaded = evolve.load_run(run.path.name)
    front = loaded.pareto_front()
    monkeypatch.chdir(tmp_path.parent)
    task = load_task("iris", seed=1)
    with torch.no_grad():
        scores = front[0].to_module()(task.test.x)
    assert (scores.argmax(1) == task.test.y).double().mean().item() == front[0].test_accuracy
    assert [a.candidate_id for a in loaded.pareto_front()] == [a.candidate_id for a in front]
    assert loaded.path == Path(run.path.name)  # as given


def test_raw_features_standardise_to_exactly_what_the_run_trained_on(tmp_path):
    """Digits' raw features are whole numbers: an export's ``standardise`` and its ONNX
    graph turn them into the very inputs the run scored its member on, bit for bit, so the
    predictions from raw features are the recorded ones."""
    import numpy as np
    import onnxruntime as ort

    run = evolve.search(tiny_iris(tmp_path, "bp", task={"name": "digits"},
                                  training={"epochs": 2, "patience": 2}))
    task = load_task("digits", seed=1)
    raw = torch.round(task.test.x.double() * torch.from_numpy(task.feature_std)
                      + torch.from_numpy(task.feature_mean))  # the pixel counts, 0 to 16
    arch = evolve.load_architecture(
        evolve.export_architecture(run.pareto_front()[0], tmp_path / "d.safetensors"))
    for given in (raw, raw.numpy(), raw.float(), raw.numpy().astype(np.float32)):
        assert torch.equal(arch.standardise(given), task.test.x)
    assert torch.equal(run.pareto_front()[0].standardise(raw), task.test.x)
    with torch.no_grad():
        recorded = arch.to_module()(task.test.x)
    onnx_path = evolve.export_architecture(arch, tmp_path / "d.onnx")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    scores = torch.from_numpy(session.run(None, {"features": raw.numpy().astype(np.float32)})[0])
    torch.testing.assert_close(scores, recorded, atol=1e-5, rtol=1e-5)
    assert (scores.argmax(1) == task.test.y).double().mean().item() == arch.test_accuracy


def test_python_export_refuses_to_write_over_a_runs_records(tmp_path):
    """``evolve.export_architecture`` into a run's own records (its member's weights, its
    checkpoint) is refused as ``neurevo export --out`` is: the run would no longer read."""
    run = evolve.search(tiny_iris(tmp_path, "bp"))
    arch = run.pareto_front()[0]
    weights = run.path / "weights" / f"{arch.candidate_id}.safetensors"
    before = weights.read_bytes()
    for target in (weights, run.path / "Weights" / "new.safetensors",
                   run.path / "evaluations" / "m.onnx"):
        with pytest.raises(ValueError, match="is one of the records of run"):
            evolve.export_architecture(arch, target)
    assert weights.read_bytes() == before
    assert not (run.path / "evaluations" / "m.onnx").exists()
    evolve.export_architecture(arch, run.path / "best.safetensors")  # a new name is fine
    assert evolve.load_run(run.path).pareto_front()[0].to_module() is not None


@pytest.mark.parametrize("read", [evolve.load_run, evolve.resume])
def test_load_run_and_resume_say_whether_the_path_is_missing_or_not_a_run(read, tmp_path):
    """Python's ``load_run`` and ``resume`` word a missing path as the command line does."""
    from evolve.records import RecordError

    with pytest.raises(RecordError, match=r"run directory '.*nope' does not exist"):
        read(tmp_path / "nope")
    with pytest.raises(RecordError, match=r"not a neurevo run \(no config.toml\)$"):
        read(tmp_path)
    # an output root given where a run is meant: the error says how to list its runs
    (tmp_path / "outs" / "r7").mkdir(parents=True)
    (tmp_path / "outs" / "r7" / "config.toml").write_text("")
    with pytest.raises(RecordError, match=r"outs: not a neurevo run \(no config.toml\); it "
                                          r"holds runs \(r7\): `neurevo runs .*outs` lists"):
        read(tmp_path / "outs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RecordError, match=r"'.*file' is a file, not a run directory$"):
        read(tmp_path / "file")
    # a file named as an export: the error says how to read one, from Python as from the CLI
    (tmp_path / "m.safetensors").write_text("x")
    with pytest.raises(RecordError, match=r"is a file, not a run directory \(an export"):
        read(tmp_path / "m.safetensors")


def test_a_steady_run_recorded_while_gamma_was_an_option_resumes_as_the_old_code_did(
        tmp_path):
    """tests/fixtures/chl-options-era-steady was stopped with two candidates owed, drawn
    before γ and the sweep counts were genes. Resumed, it records what the code that
    recorded it recorded when it resumed a copy: the owed candidates train with the run's
    γ = 0.3, and the swarm's repeat check still matches the checkpoint's keys, which were
    made without those genes (keyed with them, two children of generation 2 were not seen
    as repeats and kept their parents' genes)."""
    fixtures = Path(__file__).parent / "fixtures"
    path = tmp_path / "run"
    shutil.copytree(fixtures / "chl-options-era-steady", path)
    owed = json.loads((path / "checkpoint.json").read_text())["strategy"]["owed"]
    assert owed and all("gamma" not in c["hyperparameters"] for c in owed)
    expected = json.loads((fixtures / "chl-options-era-steady.resumed-by-old-code.json")
                          .read_text())["evaluations"]
    run = evolve.resume(path, reporters=())
    rows = sorted(run.evaluations().to_pylist(), key=lambda r: r["candidate_id"])
    genes = [json.loads(r["hyperparameters"]) for r in rows]
    assert [(r["candidate_id"], r["generation"], r["status"], r["objective.accuracy"],
             r["test_accuracy"], {k: g[k] for k in e["hyperparameters"]})
            for r, g, e in zip(rows, genes, expected, strict=True)] == \
        [(e["candidate_id"], e["generation"], e["status"], e["valid_accuracy"],
          e["test_accuracy"], e["hyperparameters"]) for e in expected]
    # what the old code trained them with, now recorded: the run's γ and default sweeps
    resumed = [g for r, g in zip(rows, genes, strict=True) if r["candidate_id"] >= 6]
    assert resumed and all((g["gamma"], g["free_steps"], g["nudge_steps"]) == (0.3, 8, 4)
                           for g in resumed)


def test_a_run_recorded_while_gamma_was_an_option_resumes_and_exports_as_it_ran(tmp_path):
    """tests/fixtures/chl-options-era was recorded when chl's relaxation settings were
    options (γ = 0.3 for the run; its members' genes hold only lr and init_scale). Resumed,
    its next generation trains with γ = 0.3 and the default sweeps, recorded among the
    genes; every member, old or new, is read with them and scores what the run recorded."""
    path = tmp_path / "chl-options-era"
    shutil.copytree(Path(__file__).parent / "fixtures" / "chl-options-era", path)
    before = evolve.load_run(path)
    assert before.description.rule.options["gamma"] == 0.3
    assert {k for e in before.evaluations().to_pylist()
            for k in json.loads(e["hyperparameters"])} == {"lr", "init_scale"}
    run = evolve.resume(path, generations=2)
    new = [json.loads(e["hyperparameters"]) for e in run.evaluations().to_pylist()
           if e["generation"] == 1]
    assert new and all((g["gamma"], g["free_steps"], g["nudge_steps"]) == (0.3, 8, 4)
                       for g in new)
    task = load_task("iris", seed=3)
    members = [*before.pareto_front(), *run.pareto_front()]  # recorded then, and now
    assert {a.generation for a in members} == {0, 1}
    for arch in members:
        module = arch.to_module()
        assert module.hyper["gamma"] == 0.3
        with torch.no_grad():
            correct = (module(task.test.x).argmax(1) == task.test.y).double().mean().item()
        assert correct == arch.test_accuracy, arch.candidate_id


def test_a_member_read_before_the_run_went_on_says_it_left_the_front(tmp_path):
    """A run keeps weights for its front's members only, and a member reads them lazily: one
    read from the front before a resume, which then pushed it off, cannot load them, and the
    error says so (and how to read the front again) instead of calling them missing."""
    config = override(SearchConfig(), {
        "generations": 1, "population": 6, "seed": 3, "out": str(tmp_path),
        "task": {"name": "iris"}, "rule": {"name": "bp"}, "training": {"epochs": 2},
        "executor": {"name": "serial"}})
    run = evolve.search(config, reporters=())
    early = run.pareto_front()
    run = evolve.resume(run.path, generations=6, reporters=())
    kept = {a.candidate_id for a in run.pareto_front()}
    left = [a for a in early if a.candidate_id not in kept]
    stayed = [a for a in early if a.candidate_id in kept]
    assert left, "every early member is still on the front: choose another seed"
    with pytest.raises(RecordError, match="it has left the run's Pareto front") as info:
        left[0].to_module()
    assert f"weights of candidate {left[0].candidate_id} are missing" in str(info.value)
    for arch in stayed:  # still on the front: still loads
        arch.to_module()


def test_a_runs_task_is_the_split_its_members_were_scored_on(tmp_path):
    """Run.task() and Architecture.task() (also of an export, its run gone) give the splits
    the run scored on: each member's module reproduces its recorded accuracies there."""
    run = evolve.search(tiny_iris(tmp_path, "bp", generations=2, seed=4), reporters=())
    task = run.task()
    kept = evolve.load_architecture(evolve.export_architecture(run.pareto_front()[0],
                                                               tmp_path / "k.safetensors"))
    shutil.rmtree(run.path)
    again = kept.task()
    for split in ("train", "valid", "test"):
        assert torch.equal(getattr(again, split).x, getattr(task, split).x)
    with torch.no_grad():
        scores = kept.to_module()(again.test.x)
    right = int((scores.argmax(1) == again.test.y).sum())
    assert right / len(again.test.y) == kept.test_accuracy  # as the run counts it


def test_an_export_kept_in_a_weights_folder_beside_a_config_is_still_an_export(tmp_path):
    """An export is read by its own data record, wherever it is kept; it is taken for a run's
    member only as that run's own weights file."""
    run = evolve.search(tiny_iris(tmp_path, "bp", seed=4), reporters=())
    project = tmp_path / "project"
    (project / "weights").mkdir(parents=True)
    shutil.copy(run.path / "config.toml", project / "config.toml")
    config = project / "config.toml"
    config.write_text(config.read_text().replace('name = "iris"', 'name = "wine"'))
    arch = run.pareto_front()[0]
    kept = evolve.load_architecture(evolve.export_architecture(
        arch, project / "weights" / "best.safetensors"))
    assert kept.run() is None and kept.task().name == "iris"
    assert arch.run() is not None and arch.run().run_id == run.run_id
    with pytest.raises(ValueError, match="class_names: expected 3 names, one per output"):
        evolve.export_architecture(arch, tmp_path / "bad.safetensors", class_names=("a", "b"))


def test_a_moved_data_file_is_given_again_from_python_as_the_message_says(tmp_path):
    from sklearn.datasets import load_iris

    from evolve.tasks import TaskError

    x, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    np.savez(data, x=x, y=y)
    run = evolve.search(tiny_iris(tmp_path, "bp", task={"name": str(data)}), reporters=())
    moved = data.rename(tmp_path / "moved.npz")
    with pytest.raises(TaskError, match=r"from Python: task_file=FILE") as info:
        run.task()
    assert "data=arch.task(task_file=FILE)" in str(info.value)
    arch = run.pareto_front()[0]
    task = arch.task(task_file=str(moved))  # as the message says
    assert task.content_hash == run.description.task.content_hash


def test_a_tables_export_names_its_features_and_reads_a_table_by_them(tmp_path):
    """A run on a CSV records its feature columns; its exports carry them (safetensors,
    ONNX), and ``standardise`` reads a table by those names, so a table whose columns come
    in another order, or that still holds the label, scores as the run did."""
    import onnx
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    data = tmp_path / "flowers.csv"
    header = ["sepal_len", "sepal_wid", "petal_len", "petal_wid"]
    data.write_text("\n".join([",".join([*header, "label"])] + [
        ",".join(f"{v:g}" for v in row) + f",{t}" for row, t in zip(x, y, strict=True)]) + "\n")
    run = evolve.search(tiny_iris(tmp_path, "bp", task={"name": str(data)}))
    assert run.description.task.feature_names == tuple(header)
    assert load_task("iris").feature_names[0] == "sepal length (cm)"  # scikit-learn's own
    arch = evolve.load_architecture(
        evolve.export_architecture(run.pareto_front()[0], tmp_path / "m.safetensors"))
    assert arch.feature_names == tuple(header)
    props = {p.key: p.value for p in onnx.load(
        evolve.export_architecture(arch, tmp_path / "m.onnx")).metadata_props}
    assert json.loads(props["neurevo.feature_names"]) == header

    table = pa.csv.read_csv(data)
    in_order = np.column_stack([table.column(n).to_numpy() for n in header])
    expected = arch.standardise(in_order)
    shuffled = table.select(["petal_wid", "label", "sepal_len", "petal_len", "sepal_wid"])
    assert torch.equal(arch.standardise(shuffled), expected)
    assert torch.equal(arch.standardise(shuffled.to_pandas()), expected)
    # read by position, the shuffled columns would be other inputs
    positional = shuffled.drop_columns(["label"])
    assert not torch.equal(arch.standardise(np.column_stack(
        [c.to_numpy() for c in positional.columns])), expected)
    with pytest.raises(ValueError, match=r"lacks feature column\(s\) 'petal_len' of the 4"):
        arch.standardise(table.drop_columns(["petal_len"]))
    frame = table.to_pandas()
    with pytest.raises(ValueError, match="the table has 'Petal_Len', not 'petal_len'"):
        arch.standardise(frame.rename(columns={"petal_len": "Petal_Len"}))
    with pytest.raises(ValueError, match="its columns are numbered, not named"):
        arch.standardise(frame.set_axis(range(5), axis=1))
    doubled = frame.set_axis(["sepal_len", "sepal_wid", "petal_len", "petal_wid", "petal_len"],
                             axis=1)
    as_arrow = pa.Table.from_arrays([pa.array(doubled.iloc[:, j]) for j in range(5)],
                                    names=list(doubled.columns))
    for table_kind in (doubled, as_arrow):
        with pytest.raises(ValueError, match="the table has 2 columns named 'petal_len'"):
            arch.standardise(table_kind)
    # what is wrong is named by the column, wherever it is in the table
    text = frame.astype({"sepal_wid": object})
    text.loc[3, "sepal_wid"] = "n/a"
    with pytest.raises(ValueError, match="feature column 'sepal_wid' is not numeric"):
        arch.standardise(text)
    missing = frame.astype({"petal_wid": "Float64"})
    missing.loc[7, "petal_wid"] = pd.NA
    with pytest.raises(ValueError, match=r"row 7, feature 3 \('petal_wid'\) is nan"):
        arch.standardise(missing)
    # a member whose data named no features reads a table by position, as before
    unnamed = dataclasses.replace(arch, feature_names=())
    assert torch.equal(unnamed.standardise(pd.DataFrame(in_order, columns=list("wxyz"))),
                       expected)


def test_a_members_declared_metrics_are_in_the_front_its_json_and_its_export(tmp_path, capsys):
    """A constraint on a validation metric (here an ECE bound) is decided by a value each
    member's record holds; the front, `pareto --json` and an export carry it, so a user can
    see how close each member came to the bound."""
    from evolve.constraints import Constraint
    from evolve.metrics import expected_calibration_error
    from evolve.objectives import Metric

    calibrated = Constraint("ece_at_most_0.9", lambda m: m.metrics["ece"] - 0.9,
                            metrics=(Metric("ece", expected_calibration_error),))
    run = evolve.search(tiny_iris(tmp_path, "bp"), constraints=[calibrated])
    recorded = {r["candidate_id"]: json.loads(r["metrics"])["ece"]
                for r in run.evaluations().to_pylist() if r["status"] == "ok"}
    front = run.pareto_front()
    assert front and all(a.metrics == {"ece": recorded[a.candidate_id]} for a in front)
    capsys.readouterr()
    assert main(["pareto", str(run.path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["metrics"] for m in listed] == [a.metrics for a in front]
    arch = evolve.load_architecture(
        evolve.export_architecture(front[0], tmp_path / "m.safetensors"))
    assert arch.metrics == front[0].metrics and 0 <= arch.metrics["ece"] <= 1


def test_a_run_on_text_labels_in_memory_takes_them_back_read_anew(tmp_path):
    """Text labels read again (new string objects, as pandas makes them on every read) are
    the same data: Run.task(data=...) and a resume take them (their content hash was the
    objects' addresses, so both refused the very data the run started on)."""
    from sklearn.datasets import load_iris

    x, codes = load_iris(return_X_y=True)

    def labels():
        return np.array(["".join(list(n)) for n in np.array(["setosa", "versicolor",
                                                              "virginica"])[codes]],
                        dtype=object)

    run = evolve.search(tiny_iris(tmp_path, "bp"), data=(x, labels()))
    assert run.task(data=(x, labels())).content_hash == run.description.task.content_hash
    again = evolve.resume(run.path, generations=2, data=(x, labels()))
    assert again.completed_generations() == 2
