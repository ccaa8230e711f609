"""Plug-ins from the user's own (uninstalled) module work on every executor, failures are
loud, and objectives see validation predictions but never test-split results."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from plugin_kit import BALANCED, FEW_GROUPS, LEAN, SlowPC, recall_mean
from plugin_metrics import WORST_RECALL
from test_ray import cluster  # noqa: F401  (a fixture that always shuts Ray down; local_ray: conftest)

import evolve
import rules
from evolve.cli import main
from evolve.config import ConfigError, SearchConfig, override
from evolve.loop import GenerationFailed
from evolve.objectives import Measurements, Objective
from evolve.plugins import module_to_ship, modules_to_ship, plugin_objects
from evolve.tasks import load_task

VOLATILE = ["train_seconds", "worker", "run_id"]


def kit_config(tmp_path, name: str, **extra) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 2, "population": 6, "seed": 2, "out": str(tmp_path / name),
        "task": {"name": "iris"}, "rule": {"name": SlowPC.name, "options": {"lr_scale": 2.0}},
        "training": {"epochs": 4, "patience": 4, "batch_size": 16},
        "strategy": {"mutation": {"add_node": 0.6}},
        "executor": {"name": "serial", "chunk_size": 2}, **extra})


def search_with_kit(config: SearchConfig) -> evolve.Run:
    return evolve.search(config, objectives=[BALANCED, LEAN, "energy"],
                         constraints=[FEW_GROUPS])


def records(run: evolve.Run) -> list[dict]:
    """Rows to compare across executors; NaN (a diverged candidate's scores) as None, since
    NaN equals nothing, itself included."""
    rows = run.evaluations().drop_columns(VOLATILE).to_pylist()
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in rows]
    return sorted(rows, key=lambda r: r["candidate_id"])


def test_the_kit_is_a_module_workers_cannot_import_by_name():
    assert module_to_ship(SlowPC).__name__ == "plugin_kit"
    assert module_to_ship(recall_mean).__name__ == "plugin_kit"
    assert module_to_ship(evolve.search) is None  # neurevo's own code goes by reference


def test_a_metrics_module_and_the_modules_it_imports_are_shipped():
    shipped = {m.__name__ for m in modules_to_ship(plugin_objects([WORST_RECALL]))}
    assert shipped == {"plugin_metrics", "plugin_helpers"}


def test_the_modules_a_scripts_plugins_call_into_are_shipped(tmp_path):
    """A metric defined in a script (``__main__``) travels by value by itself; a module of
    the user's that the script imports must be sent along, or workers fail to import it."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "script_helpers.py").write_text(
        "def worst(y, s):\n    return 0.0\n")
    (tmp_path / "script.py").write_text(
        "import sys\nsys.path.insert(0, 'lib')\nimport script_helpers\n"
        "from evolve import Objective\nfrom evolve.plugins import modules_to_ship, "
        "plugin_objects\n\n"
        "def metric(y, s):\n    return script_helpers.worst(y, s)\n\n"
        "WORST = Objective.from_metric('worst', metric, 'max', reference=0.0)\n"
        "print(sorted(m.__name__ for m in modules_to_ship(plugin_objects([WORST]))))\n")
    result = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['script_helpers']"


def test_a_metric_from_a_users_module_runs_on_ray_workers(tmp_path, local_ray):  # noqa: F811
    """No rule of the user's ships the metric's module here: the metric's own function
    must, with the helper module it imports."""
    config = override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "bp"}, "training": {"epochs": 2}, "executor": {"name": "ray"}})
    run = evolve.search(config, objectives=[WORST_RECALL, "energy"])
    rows = run.evaluations().to_pylist()
    assert {r["status"] for r in rows} == {"ok"}, [r["error"] for r in rows]
    assert all(0.0 <= r["objective.worst_recall"] <= 1.0 for r in rows)


LOCK = threading.Lock()


def locked_recall(y: np.ndarray, scores: np.ndarray) -> float:
    with LOCK:  # a lock cannot travel to a worker
        return recall_mean(y, scores)


def test_a_metric_that_cannot_travel_to_ray_workers_is_named_in_one_line(tmp_path,
                                                                         local_ray):  # noqa: F811
    locked = Objective.from_metric("locked", locked_recall, "max", reference=0.0)
    config = override(SearchConfig(), {
        "generations": 1, "population": 2, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "bp"}, "training": {"epochs": 1}, "executor": {"name": "ray"}})
    with pytest.raises(TypeError) as info:
        evolve.search(config, objectives=[locked, "energy"])
    text = str(info.value)
    assert "cannot be sent to them" in text and "_thread.lock" in text, text
    assert "metric 'locked'" in text, text  # which of the user's parts it is
    assert len(text) < 800 and "\n" not in text


def check_kit_run(run: evolve.Run) -> None:
    assert run.config.objectives == ("balanced", "lean", "energy")  # config.toml's, too
    statuses = set(run.evaluations().column("status").to_pylist())
    assert statuses <= {"ok", "infeasible"}, run.evaluations().column("error").to_pylist()
    assert run.pareto_front(), "the front is empty"
    assert run.description.rule.options == {"lr_scale": 2.0}


def test_user_plugins_on_local_ray_match_serial(tmp_path, local_ray):  # noqa: F811
    serial = search_with_kit(kit_config(tmp_path, "serial"))
    distributed = search_with_kit(kit_config(tmp_path, "ray", executor={"name": "ray",
                                                                         "chunk_size": 2}))
    check_kit_run(serial)
    check_kit_run(distributed)
    assert records(distributed) == records(serial)


def test_user_plugins_on_a_two_node_cluster_match_serial(tmp_path, cluster):  # noqa: F811
    c, _ = cluster
    # chunks are cut per worker (evolve/loop.py), and padding a member to another's shape
    # may move a float's last bit: compare with a serial run planned for the cluster's three
    # CPUs, as records are promised equal across executors of equal parallelism
    serial = search_with_kit(kit_config(tmp_path, "serial", executor={
        "name": "serial", "chunk_size": 2, "num_cpus": 3}))
    distributed = search_with_kit(kit_config(tmp_path, "ray", executor={
        "name": "ray", "chunk_size": 2, "address": c.address}))
    check_kit_run(distributed)
    assert records(distributed) == records(serial)
    resumed = evolve.resume(distributed.path, generations=3, objectives=[BALANCED, LEAN, "energy"],
                            constraints=[FEW_GROUPS])
    assert resumed.completed_generations() == 3


def priced_with_io(*args, **kwargs):
    """neurevo's cost model plus a fixed price for the chip's I/O."""
    costs = evolve.hardware.cost(*args, **kwargs)
    return dataclasses.replace(costs, energy_j=costs.energy_j + 1e-6)


def test_a_resume_without_the_runs_constraints_or_cost_function_is_refused(tmp_path):
    """They are the run's scoring rules: going on without them would score the later
    generations differently from the first, in one archive."""
    run = evolve.search(kit_config(tmp_path, "plug", generations=1), constraints=[FEW_GROUPS],
                        cost_fn=priced_with_io)
    before = records(run)
    with pytest.raises(ConfigError, match="constraint 'few_groups' is a user-defined"):
        evolve.resume(run.path, generations=2, cost_fn=priced_with_io)
    with pytest.raises(ConfigError, match="user-defined cost function") as refused:
        evolve.resume(run.path, generations=2, constraints=[FEW_GROUPS])
    # the way it names is one a resume takes (resume --set hardware.cost_fn is refused)
    assert "evolve.resume(RUN, cost_fn=...)" in str(refused.value)
    assert "--set" not in str(refused.value)
    other = dataclasses.replace(FEW_GROUPS, name="other")
    with pytest.raises(ConfigError, match="differ from the run's"):
        evolve.resume(run.path, generations=2, constraints=[FEW_GROUPS, other],
                      cost_fn=priced_with_io)
    assert records(evolve.load_run(run.path)) == before  # nothing was touched
    resumed = evolve.resume(run.path, generations=2, constraints=[FEW_GROUPS],
                            cost_fn=priced_with_io)
    assert resumed.completed_generations() == 2
    energies = [json.loads(r["costs"])["energy_j"] for r in resumed.evaluations().to_pylist()]
    assert min(energies) > 1e-6  # every generation priced by the user's function


@pytest.fixture
def registered_few_groups():
    from evolve import constraints

    evolve.register_constraint(FEW_GROUPS)
    try:
        yield FEW_GROUPS
    finally:
        constraints._CONSTRAINTS.pop(FEW_GROUPS.name, None)


def test_a_registered_constraint_is_found_by_name_by_search_and_resume(
        tmp_path, registered_few_groups):
    config = override(kit_config(tmp_path, "named", generations=1),
                      {"constraints": ["few_groups"]})
    run = evolve.search(config)
    assert run.description.constraints == ("few_groups",)
    assert run.config.constraints == ("few_groups",)
    resumed = evolve.resume(run.path, generations=2)  # found again by its name
    assert resumed.completed_generations() == 2
    violated = [json.loads(r["violations"]) for r in resumed.evaluations().to_pylist()
                if r["status"] == "infeasible"]
    assert all(v.keys() == {"few_groups"} for v in violated)


def test_a_registered_cost_function_is_recorded_by_name_and_found_again_on_resume(tmp_path):
    from evolve import cost_functions

    evolve.register_cost_fn("priced_with_io", priced_with_io)
    try:
        run = evolve.search(kit_config(tmp_path, "cost", generations=1),
                            cost_fn=priced_with_io)
        assert run.config.hardware.cost_fn == "priced_with_io"
        resumed = evolve.resume(run.path, generations=2)  # not passed again: found by name
        energies = [json.loads(r["costs"])["energy_j"]
                    for r in resumed.evaluations().to_pylist()]
        assert resumed.completed_generations() == 2 and min(energies) > 1e-6
        with pytest.raises(ValueError, match="hardware.cost_fn names 'priced_with_io'"):
            evolve.resume(run.path, generations=3, cost_fn=lambda *a, **k: None)
    finally:
        cost_functions._COST_FNS.pop("priced_with_io", None)
    with pytest.raises(KeyError, match="'priced_with_io' is not a registered cost function"):
        evolve.resume(run.path, generations=3)
    assert evolve.load_run(run.path).completed_generations() == 2
    # a process that did not register it passes it again, as the error says
    resumed = evolve.resume(run.path, generations=3, cost_fn=priced_with_io)
    energies = [json.loads(r["costs"])["energy_j"] for r in resumed.evaluations().to_pylist()]
    assert resumed.completed_generations() == 3 and min(energies) > 1e-6
    again = evolve.search(override(run.config, {"run_id": "again", "generations": 1}),
                          cost_fn=priced_with_io)
    assert again.config.hardware.cost_fn == "priced_with_io"


def test_constraints_passed_to_a_search_are_recorded_by_name_in_its_config(tmp_path):
    run = evolve.search(kit_config(tmp_path, "given", generations=1), constraints=[FEW_GROUPS])
    assert evolve.load_run(run.path).config.constraints == ("few_groups",)
    with pytest.raises(KeyError, match="'few_groups' is neither given nor registered"):
        evolve.search(override(run.config, {"run_id": "again"}))  # nothing supplies it now


def test_genome_constraints_are_checked_before_training(tmp_path):
    run = search_with_kit(kit_config(tmp_path, "pre", generations=3))
    rows = run.evaluations().to_pylist()
    infeasible = [r for r in rows if r["status"] == "infeasible"]
    assert infeasible, "the mutation rates should have grown a second hidden group"
    for r in infeasible:
        assert r["epochs"] == 0 and json.loads(r["curve"]) == []
        assert json.loads(r["violations"]).keys() == {"few_groups"}
        assert json.loads(r["costs"])["energy_j"] > 0  # priced, not trained
    assert all(len(a.genome.hidden_ids) <= 1 for a in run.pareto_front())


def test_a_balanced_accuracy_objective_is_computed_from_validation_predictions(tmp_path):
    run = search_with_kit(kit_config(tmp_path, "bal"))
    task = load_task("iris", seed=2)
    for arch in run.pareto_front():
        with torch.no_grad():
            scores = arch.to_module()(task.valid.x).numpy()
        assert arch.objectives["balanced"] == pytest.approx(
            recall_mean(task.valid.y.numpy(), scores), abs=1e-12)


@pytest.mark.parametrize("value, amount", [
    (np.int64(7), 7.0), (np.float32(-1.0), 0.0), (torch.tensor(2.5), 2.5),
    ([np.int64(1), -3, torch.tensor(0.5)], 1.5), (np.array([[1.0, 2.0]]), 3.0), (True, 1.0),
    ((v for v in (1.0, 2.0)), 3.0), ({1.0, -2.0}, 1.0), ({"a": 2.0}.values(), 2.0)])
def test_a_constraint_may_return_any_real_number_or_a_sequence_of_them(value, amount):
    assert evolve.Constraint("c", lambda m: value).violation(None) == amount


@pytest.mark.parametrize("value, error", [
    (None, "returned NoneType None; expected a number"), ("3", "returned str"),
    ({"a": 1}, "returned dict"), (float("nan"), "returned NaN")])
def test_a_constraint_returning_no_number_is_named(value, error):
    with pytest.raises((TypeError, ValueError), match=f"constraint c {error}"):
        evolve.Constraint("c", lambda m: value).violation(None)


def test_the_constraints_of_a_search_each_have_their_own_name(tmp_path):
    config = kit_config(tmp_path, "names", generations=1)
    with pytest.raises(ValueError, match="'few_groups' names two constraints"):
        evolve.search(config, constraints=[FEW_GROUPS, FEW_GROUPS])
    with pytest.raises(TypeError, match=r"constraints\[0\] is a function"):
        evolve.search(config, constraints=[lambda m: 0.0])
    with pytest.raises(ValueError, match="not starting with 'hardware.'"):
        evolve.Constraint("hardware.cores", lambda m: 0.0)
    assert not (tmp_path / "names").exists() or not any((tmp_path / "names").iterdir())


def test_objectives_a_run_could_mix_up_are_refused_before_it_starts(tmp_path):
    config = kit_config(tmp_path, "mixed", generations=1)
    fake = Objective("accuracy", "max", lambda m: 0.1, reference=0.0)
    with pytest.raises(ValueError, match="'accuracy' is a built-in objective's name"):
        evolve.search(config, objectives=[fake, "energy"])
    with pytest.raises(TypeError, match="objectives must be a list .* got 'accuracy,energy'"):
        evolve.search(config, objectives="accuracy,energy")
    assert not (tmp_path / "mixed").exists() or not any((tmp_path / "mixed").iterdir())


def test_a_resume_refuses_another_function_under_an_objectives_name(tmp_path):
    run = evolve.search(kit_config(tmp_path, "swap", generations=1),
                        objectives=[BALANCED, "energy"], reporters=())
    fake = Objective("energy", "min", lambda m: 123.0, reference=1e3)
    with pytest.raises(ConfigError, match="'energy': the run was scored with the built-in"):
        evolve.resume(run.path, generations=2, objectives=[BALANCED, fake], reporters=())
    flipped = dataclasses.replace(BALANCED, direction="min")
    with pytest.raises(ConfigError, match="direction 'min', but the run maximised it"):
        evolve.resume(run.path, generations=2, objectives=[flipped, "energy"], reporters=())
    assert evolve.load_run(run.path).completed_generations() == 1  # nothing written
    resumed = evolve.resume(run.path, generations=2, objectives=[BALANCED, "energy"],
                            reporters=())
    assert resumed.completed_generations() == 2


def test_a_user_objective_recorded_under_a_built_in_name_must_be_passed_to_resume(tmp_path):
    """Runs recorded before the refusal above: the built-in under the same name is not
    the run's function, so a resume naming it is told to pass the run's own."""
    from evolve.metadata import ObjectiveRecord, missing_objectives

    run = evolve.search(kit_config(tmp_path, "old", generations=1),
                        objectives=["accuracy", "energy"])
    own = dataclasses.replace(run.description.objectives[0], builtin=False)
    recorded = dataclasses.replace(run.description,
                                   objectives=(own, *run.description.objectives[1:]))
    assert isinstance(own, ObjectiveRecord)
    assert missing_objectives(run.description, None) == []
    assert missing_objectives(recorded, None) == ["accuracy"]
    assert missing_objectives(recorded, ["accuracy", "energy"]) == ["accuracy"]
    passed = Objective("accuracy", "max", lambda m: 0.1, reference=0.0)
    assert missing_objectives(recorded, [passed, "energy"]) == []


def broken_genome_constraint(m) -> float:
    return m.genome.no_such_attribute


def test_a_genome_constraint_that_raises_fails_its_candidate_untrained(tmp_path):
    broken = evolve.Constraint("broken", broken_genome_constraint, genome_only=True)
    with pytest.raises(GenerationFailed, match="no_such_attribute"):
        evolve.search(kit_config(tmp_path, "raises", generations=1), constraints=[broken])
    run = evolve.load_run(next((tmp_path / "raises").iterdir()))
    rows = run.evaluations().to_pylist()
    assert {r["status"] for r in rows} == {"failed"}
    assert all(r["epochs"] == 0 and "before training" in r["error"] for r in rows)
    assert all("broken_genome_constraint" in r["traceback"] for r in rows)


def test_no_objective_or_constraint_can_read_test_results(tmp_path):
    assert not [f.name for f in dataclasses.fields(Measurements) if "test" in f.name]
    peek = Objective("peek", "max", lambda m: m.test_accuracy, reference=0.0)
    with pytest.raises(GenerationFailed, match="AttributeError"):
        evolve.search(kit_config(tmp_path, "peek", generations=1), objectives=[peek])


def broken_objective(m) -> float:
    return m.costs["energy_joules"]  # a typo'd cost key


def test_a_failing_objective_stops_the_search_with_its_traceback(tmp_path):
    bad = Objective("bad", "min", broken_objective, reference=1.0)
    config = kit_config(tmp_path, "bad")
    with pytest.raises(GenerationFailed) as info:
        evolve.search(config, objectives=["accuracy", bad])
    text = str(info.value)
    assert "broken_objective" in text and "energy_joules" in text  # the user's traceback
    assert "generation 1" in text
    run = evolve.load_run(info.value.run_dir)
    rows = run.evaluations().to_pylist()  # the failing generation is recorded, not lost
    assert len(rows) == 6 and all("broken_objective" in r["traceback"] for r in rows)
    tolerant = override(config, {"tolerate_failures": True, "out": str(tmp_path / "tol")})
    run = evolve.search(tolerant, objectives=["accuracy", bad])
    assert run.completed_generations() == 2 and run.pareto_front() == []
    from evolve.report import write_report

    page = write_report(run, tmp_path / "r.html").read_text()
    failed = len(run.evaluations())  # every one failed
    assert f"Failed evaluations ({failed})" in page and "energy_joules" in page  # with why


def test_cli_exits_1_with_the_traceback_when_every_evaluation_fails(tmp_path, capsys):
    data = tmp_path / "narrow.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.normal(size=(60, 1)), y=np.repeat([0, 1, 2], 20))
    code = main(["search", "--task", str(data), "--rule", "ff", "--executor", "serial",
                 "--generations", "2", "--population", "4", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" in err and "ff embeds the label" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("neurevo: error: generation 1: all 4 evaluations failed")
    assert str(tmp_path / "o") in last


def installed_rule_entry_point(tmp_path, monkeypatch, package: str, line: str):
    """A package whose only entry point is ``line`` in ``neurevo.rules``, installed on the
    path, with the registry made to load entry points afresh; the registry."""
    import rules.registry as registry

    dist = tmp_path / f"{package}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[neurevo.rules]\n{line}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    monkeypatch.setattr(registry, "BROKEN_PLUGINS", {})
    return registry


def test_a_broken_rule_plugin_is_reported_once_and_skipped(tmp_path, monkeypatch, capsys):
    registry = installed_rule_entry_point(tmp_path, monkeypatch, "brokenplugin",
                                          "broken = no_such_module:Rule")
    assert main(["rules"]) == 0
    out, err = capsys.readouterr()
    assert "pc:" in out
    assert err.count("skipping learning-rule plug-in 'broken'") == 1
    assert "no_such_module" in registry.BROKEN_PLUGINS["broken"]
    registry.available()
    assert "skipping" not in capsys.readouterr().err  # once


def test_a_rule_plugin_under_a_taken_name_is_reported_not_dropped(tmp_path, monkeypatch, capsys):
    (tmp_path / "shadow_rules.py").write_text(
        "import rules.fa\n"
        "class ShadowFA(rules.fa.FeedbackAlignment):\n"
        "    pass  # keeps fa's name\n")
    registry = installed_rule_entry_point(tmp_path, monkeypatch, "shadowplugin",
                                          "shadowfa = shadow_rules:ShadowFA")
    assert "fa" in registry.available()
    err = capsys.readouterr().err
    assert "skipping learning-rule plug-in 'shadowfa'" in err
    assert "'fa' is already registered (rules.fa.FeedbackAlignment)" in err
    assert registry.get_rule("fa").__class__.__name__ == "FeedbackAlignment"  # kept
    with pytest.raises(rules.UnknownRuleError, match="'shadowfa': its 'neurevo.rules' entry "
                       "point was skipped: ValueError: a learning rule named 'fa' is already"):
        registry.get_rule("shadowfa")



@rules.register
class FailingPC(SlowPC):
    """A user's rule with a bug: every training step raises."""

    name = "kit-failing-pc"

    def train_step(self, *args, **kwargs):
        raise RuntimeError("boom in the user's train_step")


@rules.register
class ChunkFailingPC(SlowPC):
    """Fails one way trained in a chunk and another trained alone, as a rule that one
    member's genes break would."""

    name = "kit-chunk-failing-pc"

    def train_step(self, net, params, state, x, y):
        raise RuntimeError("alone" if x.shape[0] == 1 else "raised by the whole chunk")


def failed_generation_rows(tmp_path, name: str, rule: str, error: str) -> list[dict]:
    """A one-generation search whose every training fails with ``error``; its records (the
    checkpoint is written before the search stops)."""
    config = override(kit_config(tmp_path, name, generations=1), {"rule": {"name": rule}})
    with pytest.raises(GenerationFailed, match=error):
        evolve.search(config)
    run_dir = next(p for p in (tmp_path / name).iterdir() if p.is_dir())
    return evolve.load_run(run_dir).evaluations().to_pylist()


def test_a_member_retried_alone_records_only_its_own_failure(tmp_path):
    rows = failed_generation_rows(tmp_path, "chunked", ChunkFailingPC.name, "alone")
    assert len(rows) == 6 and all("RuntimeError: alone" in r["traceback"] for r in rows)
    # not chained to the chunk's failure: one exception in each traceback
    assert all(r["traceback"].count("RuntimeError:") == 1 for r in rows)
    assert not any("During handling" in r["traceback"] for r in rows)


def test_a_generation_whose_every_training_fails_stops_with_its_error_recorded(tmp_path):
    rows = failed_generation_rows(tmp_path, "failing", FailingPC.name,
                                  "boom in the user's train_step")
    assert len(rows) == 6 and all(r["status"] == "failed" for r in rows)


def test_a_resume_rewriting_the_config_of_a_run_from_before_it_named_constraints_names_them(
        tmp_path):
    """Runs recorded before config.toml had ``constraints`` keep them in run.json alone; a
    resume that rewrites config.toml (a new --generations) writes the run's own there, not
    ``constraints = []``, so the file, Run.config and a ``--config`` reuse of it name them."""
    run = evolve.search(kit_config(tmp_path, "older", generations=1), constraints=[FEW_GROUPS])
    described = json.loads((run.path / "run.json").read_text())
    for key in ("constraints", "hardware.cost_fn"):  # as such a run's fingerprint reads
        del described["fingerprint"][key]
    (run.path / "run.json").write_text(json.dumps(described))
    config = (run.path / "config.toml").read_text()
    assert 'constraints = ["few_groups"]\n' in config
    (run.path / "config.toml").write_text(config.replace('constraints = ["few_groups"]\n', ""))
    assert evolve.load_run(run.path).config.constraints == ()
    resumed = evolve.resume(run.path, generations=2, constraints=[FEW_GROUPS])
    assert resumed.completed_generations() == 2
    assert evolve.load_run(run.path).config.constraints == ("few_groups",)
    again = evolve.resume(run.path, generations=3, constraints=[FEW_GROUPS])  # still matches
    assert again.completed_generations() == 3
