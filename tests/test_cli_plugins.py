"""`--plugin`: a CLI user's own rule, objective and constraint, from a .py file beside them,
through search, resume, export and `neurevo rules` — as a subprocess, the way a user runs
it, on the serial executor and on a local Ray instance (where the file's functions must
travel to the workers by value: the file is not installed)."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_cli import run_cli

PLUGIN = '''
import dataclasses

import evolve
import rules
from rules.bp import Backprop

from plugin_helpers_beside import group_limit  # a module beside it, as a script imports


@rules.register
class SlowBackprop(Backprop):
    """bp under another name: a rule only this file registers."""
    name = "slow_bp"


evolve.register_objective(evolve.Objective(
    "hidden_groups", "min", lambda m: float(len(m.genome.hidden_ids)), reference=10.0))
evolve.register_constraint(evolve.Constraint(
    "few_groups", lambda m: len(m.genome.hidden_ids) - group_limit(), genome_only=True))


def priced_io(*args, **kwargs):
    """neurevo's cost model plus a fixed price for the chip's I/O."""
    costs = evolve.hardware.cost(*args, **kwargs)
    return dataclasses.replace(costs, energy_j=costs.energy_j + 1e-3)


evolve.register_cost_fn("priced_io", priced_io)
'''

HELPER = "def group_limit():\n    return 1\n"

SMALL = ["--generations", "1", "--population", "6", "--task", "iris",
         "--set", "training.epochs=2", "--set", "space.max_hidden_size=8"]
USING = ["--rule", "slow_bp", "--objectives", "accuracy,hidden_groups",
         "--constraints", "few_groups", "--set", "hardware.cost_fn=priced_io"]


@pytest.fixture
def plugin(tmp_path) -> Path:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "plugin_helpers_beside.py").write_text(HELPER)
    path = folder / "my_search_plugins.py"
    path.write_text(textwrap.dedent(PLUGIN))
    return path


def ran(result) -> Path:
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("executor", ["serial", "ray"])
def test_a_search_uses_the_rule_objective_and_constraint_a_plugin_file_registers(
        tmp_path, plugin, executor):
    run = ran(run_cli("search", *SMALL, *USING, "--executor", executor, "--plugin",
                      str(plugin), "--out", str(tmp_path / "runs")))
    described = json.loads((run / "run.json").read_text())
    assert described["rule"]["name"] == "slow_bp"
    assert described["constraints"] == ["few_groups"]
    assert [o["name"] for o in described["objectives"]] == ["accuracy", "hidden_groups"]
    rows = pq.read_table(run / "evaluations" / "gen-00000.parquet").to_pylist()
    assert {r["status"] for r in rows} <= {"ok", "infeasible"}
    assert any(r["status"] == "ok" for r in rows), rows
    front = json.loads(ran_json(run))
    assert front and all(a["rule"] == "slow_bp" for a in front)
    assert all(a["objectives"]["hidden_groups"] <= 1 for a in front)  # the constraint held
    assert all(a["costs"]["energy_j"] > 1e-3 for a in front)  # priced by the plug-in


def ran_json(run: Path) -> str:
    result = run_cli("pareto", str(run), "--json")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_resume_and_export_need_the_plugin_again_and_say_so(tmp_path, plugin):
    run = ran(run_cli("search", *SMALL, *USING, "--executor", "serial", "--plugin",
                      str(plugin), "--out", str(tmp_path / "runs")))
    before = sorted(p.name for p in run.rglob("*"))
    refused = run_cli("resume", str(run), "--generations", "2")
    assert refused.returncode == 2
    assert "--plugin" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(p.name for p in run.rglob("*")) == before, "a refused resume wrote"
    ran(run_cli("resume", str(run), "--generations", "2", "--plugin", str(plugin)))
    assert (run / "evaluations" / "gen-00001.parquet").is_file()
    out = tmp_path / "best.onnx"
    ran(run_cli("export", str(run), "--format", "onnx", "--out", str(out), "--plugin",
                str(plugin)))
    assert out.stat().st_size > 0


GENES_RULE = '''
import rules
from rules.bp import Backprop
from rules.base import HyperSpace, Hyperparameter


@rules.register
class Tunable(Backprop):
    """bp whose genes the researcher edits between a search and its resume."""
    name = "tunable_bp"

    def hyperparameters(self):
        return HyperSpace((Hyperparameter("lr", 1e-4, HIGH, 3e-3, log=True),
                           *EXTRA))
'''


@pytest.mark.parametrize("edit, says", [
    ({"EXTRA": "()"}, "gene 'init_scale' ([0.1, 10.0], default 1.0, log) is not one of its "
                      "genes now"),
    ({"HIGH": "0.01"}, "gene 'lr' is [0.0001, 0.01], default 0.003, log now, but the run "
                       "started with [0.0001, 0.1], default 0.003, log"),
    ({"EXTRA": "(Hyperparameter('init_scale', 0.1, 10.0, 1.0, log=True), "
               "Hyperparameter('momentum', 0.0, 0.9, 0.5))"}, "gene 'momentum' ([0.0, 0.9], "
                                                              "default 0.5) is new"),
])
def test_a_resume_refuses_a_rule_whose_genes_changed(tmp_path, edit, says):
    """A plug-in rule edited between a search and its resume (a gene dropped, a range
    narrowed, a gene added) would search another space over the run's records: neat-pso's
    swarm state no longer fits, a gene's value falls outside its range, a held gene's
    default differs. The resume is refused naming the gene, before anything is written;
    with the rule as it was, it goes on."""
    settings = {"HIGH": "0.1", "EXTRA": "(Hyperparameter('init_scale', 0.1, 10.0, 1.0, "
                                        "log=True),)"}
    first, edited = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    edited.mkdir()
    for folder, values in ((first, settings), (edited, {**settings, **edit})):
        text = GENES_RULE
        for key, value in values.items():
            text = text.replace(key, value)
        (folder / "genes_rule.py").write_text(textwrap.dedent(text))
    run = ran(run_cli("search", *SMALL, "--rule", "tunable_bp", "--executor", "serial",
                      "--plugin", str(first / "genes_rule.py"), "--out", str(tmp_path / "r")))
    recorded = json.loads((run / "run.json").read_text())["rule"]["genes"]
    assert sorted(recorded) == ["init_scale", "lr"] and recorded["lr"]["low"] == 1e-4
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    refused = run_cli("resume", str(run), "--generations", "2", "--plugin",
                      str(edited / "genes_rule.py"))
    assert refused.returncode == 2, refused.stderr
    assert "rule tunable_bp's genes are not those this run started with" in refused.stderr
    assert says in refused.stderr and "Traceback" not in refused.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    ran(run_cli("resume", str(run), "--generations", "2", "--plugin",
                str(first / "genes_rule.py")))
    assert (run / "evaluations" / "gen-00001.parquet").is_file()


def test_a_resume_under_another_class_of_the_rules_name_warns_naming_both(tmp_path):
    """run.json records which class trained the run (module.qualname); a resume whose rule
    of that name is another class with the same genes goes on (the same rule imported under
    another module name is legitimate), but says so on stderr naming both classes, and a
    resume under the same class says nothing."""
    text = textwrap.dedent(GENES_RULE.replace("HIGH", "0.1").replace("EXTRA", "()"))
    (tmp_path / "genes_rule.py").write_text(text)
    (tmp_path / "other_rule.py").write_text(text.replace("class Tunable(", "class Renamed("))
    run = ran(run_cli("search", *SMALL, "--rule", "tunable_bp", "--executor", "serial",
                      "--plugin", str(tmp_path / "genes_rule.py"), "--out",
                      str(tmp_path / "r")))
    rule = json.loads((run / "run.json").read_text())["rule"]
    assert rule["defined_in"] == "genes_rule.Tunable"
    same = run_cli("resume", str(run), "--generations", "2", "--plugin",
                   str(tmp_path / "genes_rule.py"))
    assert same.returncode == 0 and "warning" not in same.stderr, same.stderr
    other = run_cli("resume", str(run), "--generations", "3", "--plugin",
                    str(tmp_path / "other_rule.py"))
    assert other.returncode == 0, other.stderr
    assert ("neurevo: warning: rule 'tunable_bp' is other_rule.Renamed here, but the run "
            "started with genes_rule.Tunable") in other.stderr
    assert (run / "evaluations" / "gen-00002.parquet").is_file()
    page = tmp_path / "report.html"
    assert run_cli("report", str(run), "--out", str(page)).returncode == 0
    assert "<th>rule defined in</th><td>genes_rule.Tunable</td>" in page.read_text()


TASK_PLUGIN = """
import evolve
from sklearn.datasets import load_wine


def wine_head():
    x, y = load_wine(return_X_y=True)
    return x[:150], y[:150]


evolve.register_task("wine_head", wine_head)
"""


def test_a_task_a_plugin_registers_is_searched_resumed_and_asked_for_by_name(tmp_path):
    plugin = tmp_path / "my_data.py"
    plugin.write_text(TASK_PLUGIN)
    small = [a if a != "iris" else "wine_head" for a in SMALL]
    run = ran(run_cli("search", *small, "--executor", "serial", "--plugin", str(plugin),
                      "--out", str(tmp_path / "runs")))
    assert json.loads((run / "run.json").read_text())["task"]["name"] == "wine_head"
    refused = run_cli("resume", str(run), "--generations", "2")
    assert refused.returncode == 2 and "unknown task 'wine_head'" in refused.stderr
    assert "--plugin" in refused.stderr
    ran(run_cli("resume", str(run), "--generations", "2", "--plugin", str(plugin)))
    nir = tmp_path / "m.nir"
    ran(run_cli("export", str(run), "--format", "nir", "--out", str(nir), "--plugin",
                str(plugin)))
    refused = run_cli("simulate", str(nir))  # the export names its task; the loader is gone
    assert refused.returncode == 2, refused.stderr
    assert "trained on the registered task 'wine_head', which is not registered here" in \
        refused.stderr and "--plugin" in refused.stderr
    ran(run_cli("simulate", str(nir), "--plugin", str(plugin)))


def test_neurevo_rules_lists_every_rule_and_names_a_broken_one_once(tmp_path):
    half = tmp_path / "half_rule.py"
    half.write_text("import rules\nfrom rules.bp import Backprop\n\n\n@rules.register\n"
                    "class Half(Backprop):\n    name = 'half'\n\n"
                    "    def hyperparameters(self):\n"
                    "        raise NotImplementedError('not yet')\n")
    result = run_cli("rules", "--plugin", str(half))
    assert result.returncode == 2
    assert result.stderr.strip() == ("neurevo: error: rule half: hyperparameters() failed: "
                                     "NotImplementedError: not yet")
    listed = [line.split(":")[0] for line in result.stdout.splitlines()
              if not line.startswith(" ")]
    assert listed == ["bp", "chl", "dfa", "dtp", "ep", "fa", "ff", "lra", "pc"]


def test_neurevo_rules_lists_a_plugins_rule(plugin):
    result = run_cli("rules", "--plugin", str(plugin))
    assert result.returncode == 0, result.stderr
    assert "slow_bp" in result.stdout
    assert "slow_bp" not in run_cli("rules").stdout


PLUGIN_IMPORT_FAILURES = [
    (None, "no_such_file.py", "--plugin no_such_file.py: no such file"),
    (None, "no_such_module_xyz", "--plugin no_such_module_xyz: no module named "
                                 "'no_such_module_xyz'"),
    ("x = 1 / 0\n", "broken.py", "--plugin broken.py: importing it raised ZeroDivisionError "
                                 "(broken.py, line 1): division by zero"),
    # raised inside neurevo, or by the parser: the place named is the user's line
    ("import rules\n\nrules.register(len)\n", "wrong.py",
     "raised TypeError (wrong.py, line 3): rules.register takes a LearningRule subclass"),
    ("x = 1\ndef f(:\n", "typo.py", "raised SyntaxError (typo.py, line 2): "),
    ("import not_installed_dep\n", "needs_dep.py", "raised ModuleNotFoundError (needs_dep.py, "
                                                   "line 1): No module named 'not_installed_dep'"),
    ("", "my-plugin.py", "'my-plugin' is not a valid module name"),
    ("", "notes.txt", "a file plug-in must be a .py file"),
    # in a folder: `python -m` (how these tests run the CLI) puts the working directory
    # first on sys.path, where such a file would shadow the module before --plugin is read
    ("", "mine/onnxruntime.py", "its name 'onnxruntime' is the installed module at "),
]


def test_a_module_plugin_that_fails_is_placed_at_its_own_line(tmp_path):
    """A module plug-in (a name, not a path) whose import fails in a library it calls is
    placed at its own line, not at the library's."""
    (tmp_path / "modplug.py").write_text('import json\n\nx = json.loads("not json")\n')
    result = run_cli("search", *SMALL, "--executor", "serial", "--plugin", "modplug",
                     "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2
    assert "raised JSONDecodeError (modplug.py, line 3)" in result.stderr, result.stderr


@pytest.mark.parametrize("write, spec, says", PLUGIN_IMPORT_FAILURES)
def test_a_plugin_that_cannot_be_imported_is_one_line_exit_2(tmp_path, write, spec, says):
    if write is not None:
        (tmp_path / spec).parent.mkdir(exist_ok=True)
        (tmp_path / spec).write_text(write)
    result = run_cli("search", *SMALL, "--executor", "serial", "--plugin", spec,
                     "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"neurevo: error: {says}"] or \
        (len(result.stderr.strip().splitlines()) == 1
         and result.stderr.startswith("neurevo: error: --plugin "))
    assert says in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("registers, using, says", [
    ("def flaky(genome, profile, **kwargs):\n"
     "    raise RuntimeError('the cost table is missing')\n"
     "evolve.register_cost_fn('flaky', flaky)\n",
     ["--set", "hardware.cost_fn=flaky"],
     "cost_fn flaky failed on the search space's costliest network (which sets the "
     "hypervolume reference of energy): RuntimeError: the cost table is missing"),
    ("def flaky(m):\n"
     "    raise RuntimeError('no table')\n"
     "evolve.register_objective(evolve.Objective('flaky', 'min', flaky, reference=1.0,\n"
     "                                           covers_space=True))\n",
     ["--objectives", "accuracy,flaky"],
     "objective flaky failed on the search space's costliest network (covers_space: its "
     "value there is the hypervolume reference): RuntimeError: no table"),
])
def test_a_plugin_failing_before_any_candidate_is_one_line_exit_2(tmp_path, registers, using,
                                                                   says):
    # called on the space's costliest network (a hypervolume reference) before any
    # candidate: the search's error, one line as the README promises, not a traceback
    (tmp_path / "flaky_plugin.py").write_text("import evolve\n" + registers)
    result = run_cli("search", *SMALL, "--executor", "serial", "--plugin", "flaky_plugin.py",
                     *using, "--out", str(tmp_path / "runs"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [f"neurevo: error: {says}"]
    assert not (tmp_path / "runs").exists()


def test_a_constraint_named_in_the_config_but_never_registered_is_refused(tmp_path):
    result = run_cli("search", *SMALL, "--executor", "serial", "--set",
                     'constraints=["few_groups"]', "--out", str(tmp_path / "runs"))
    assert result.returncode == 2
    assert "'few_groups' is neither given nor registered" in result.stderr
    assert "--plugin" in result.stderr
    assert not (tmp_path / "runs").exists()


INSTALLED = '''
import dataclasses

import evolve
import rules
from sklearn.datasets import load_wine

evolve.register_objective(evolve.Objective(
    "lab_groups", "min", lambda m: float(len(m.genome.hidden_ids)), reference=10.0))
evolve.register_constraint(evolve.Constraint(
    "lab_few_groups", lambda m: len(m.genome.hidden_ids) - 1, genome_only=True))


def lab_priced(*args, **kwargs):
    costs = evolve.hardware.cost(*args, **kwargs)
    return dataclasses.replace(costs, energy_j=costs.energy_j + 1e-3)


evolve.register_cost_fn("lab_priced", lab_priced)


@rules.register
class LabBP(type(rules.get_rule("bp"))):
    """A rule a plug-in module registers (not a 'neurevo.rules' entry point of its own)."""

    name = "lab_bp"


def wine_head():
    x, y = load_wine(return_X_y=True)
    return x[:150], y[:150]


evolve.register_task("lab_wine", wine_head)


def register_more():
    """An entry point naming a function: called once, after its module is imported."""
    evolve.register_constraint(evolve.Constraint("lab_any", lambda m: -1.0, genome_only=True))


def register_then_fail():
    """An entry point that registers, then fails: skipped whole."""
    evolve.register_objective(evolve.Objective("lab_half", "max", lambda m: 0.0,
                                               reference=0.0))
    evolve.register_task("lab_half_task", wine_head)
    raise RuntimeError("the lab's licence server is down")
'''


@pytest.fixture
def installed(tmp_path) -> dict[str, str]:
    """A package installed the way pip leaves one (a module and its dist-info, with
    ``neurevo.plugins`` entry points) in a folder on PYTHONPATH, and the environment that
    sees it. One of its entry points is broken."""
    site = tmp_path / "site"
    (site / "labplugins").mkdir(parents=True)
    (site / "labplugins" / "__init__.py").write_text(textwrap.dedent(INSTALLED))
    dist = site / "labplugins-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labplugins\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[neurevo.plugins]\nlab = labplugins\nmore = labplugins:register_more\n"
        "broken = no_such_lab_module\nhalf = labplugins:register_then_fail\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site),
                                                        os.environ.get("PYTHONPATH")]))}


def run_cli_with(env: dict[str, str], *args: str):
    import subprocess

    from test_cli import NEUREVO

    return subprocess.run([*NEUREVO, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **env})


@pytest.mark.parametrize("executor", ["serial", "ray"])
def test_an_installed_packages_plugins_need_no_plugin_flag(tmp_path, installed, executor):
    """A package's ``neurevo.plugins`` entry points are imported before names resolve: its
    task, objective, constraints (one from an entry point naming a function) and cost
    function work in a search and its resume with no ``--plugin``; a broken entry point is
    named once on stderr and skipped."""
    small = [a if a != "iris" else "lab_wine" for a in SMALL]
    result = run_cli_with(installed, "search", *small, "--executor", executor,
                          "--objectives", "accuracy,lab_groups",
                          "--constraints", "lab_few_groups,lab_any",
                          "--set", "hardware.cost_fn=lab_priced", "--out", str(tmp_path / "r"))
    run = ran(result)
    assert result.stderr.count("skipping installed plug-in 'broken'") == 1
    assert "no_such_lab_module" in result.stderr
    described = json.loads((run / "run.json").read_text())
    assert described["task"]["name"] == "lab_wine"
    assert described["constraints"] == ["lab_few_groups", "lab_any"]
    front = json.loads(ran_json(run))
    assert all(a["objectives"]["lab_groups"] <= 1 for a in front)  # the constraint held
    assert all(a["costs"]["energy_j"] > 1e-3 for a in front)  # priced by the package
    ran(run_cli_with(installed, "resume", str(run), "--generations", "2"))
    assert (run / "evaluations" / "gen-00001.parquet").is_file()
    # without the package, the resume says what it lacks, as for any user function
    refused = run_cli("resume", str(run), "--generations", "3")
    assert refused.returncode == 2 and "lab_groups" in refused.stderr


def test_python_searches_find_an_installed_packages_names_too(tmp_path, installed):
    """From Python, with nothing imported by hand: the first lookup that misses imports the
    installed plug-ins (once), so evolve.search and load_task find their names."""
    import subprocess
    import sys

    code = textwrap.dedent(f'''
        import evolve
        from evolve.config import SearchConfig, override
        from evolve.tasks import load_task

        assert load_task("LAB_WINE").n_classes == 3  # names are case-insensitive
        config = override(SearchConfig(), {{
            "generations": 1, "population": 4, "out": {str(tmp_path / "py")!r},
            "executor": {{"name": "serial"}}, "task": {{"name": "lab_wine"}},
            "training": {{"epochs": 1}}, "constraints": ["lab_any"],
            "objectives": ["accuracy", "lab_groups"], "rule": {{"name": "lab_bp"}}}})
        run = evolve.search(config, reporters=())
        print(list(run.description.constraints), run.objective_names(), run.description.rule.name)
    ''')
    env = {**os.environ, "OMP_NUM_THREADS": "1", **installed}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "['lab_any'] ['accuracy', 'lab_groups'] lab_bp" in result.stdout
    assert result.stderr.count("skipping installed plug-in 'broken'") == 1
    # a fresh process reads the member back with the plug-in module's rule
    read = subprocess.run([sys.executable, "-c", textwrap.dedent(f'''
        import evolve
        [run] = [r for r in evolve.list_runs({str(tmp_path / "py")!r})]
        print(type(evolve.load_run(run.path).pareto_front()[0].to_module()).__name__)
    ''')], capture_output=True, text=True, timeout=600, env=env)
    assert read.returncode == 0 and read.stdout.strip() == "RuleModule", read.stderr[-2000:]


def test_an_installed_plugin_that_fails_keeps_nothing_it_registered(installed, tmp_path):
    """Skipped means skipped: an entry point that registered an objective and a task, then
    raised, leaves neither behind (a search on half a plug-in would run on whatever state it
    failed in), while the package's other entry points keep theirs — also one listed after
    the failing one that names the same module, whose import registered names the rollback
    took back (the module is imported again for it)."""
    import subprocess
    import sys

    site = Path(installed["PYTHONPATH"].split(os.pathsep)[0])
    (site / "labtwo.py").write_text(textwrap.dedent('''
        import evolve

        evolve.register_constraint(evolve.Constraint("labtwo_ok", lambda m: -1.0,
                                                     genome_only=True))


        def fail():
            raise RuntimeError("labtwo is not configured")
    '''))
    dist = site / "labtwo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labtwo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[neurevo.plugins]\ntwo_half = labtwo:fail\ntwo = labtwo\n")

    code = textwrap.dedent('''
        from evolve import constraints, objectives, tasks
        from evolve.plugin_imports import BROKEN_INSTALLED, load_installed_plugins

        load_installed_plugins()
        print(sorted(BROKEN_INSTALLED), "lab_half" in objectives._OBJECTIVES,
              "lab_half_task" in tasks._REGISTERED, "lab_groups" in objectives._OBJECTIVES,
              "lab_wine" in tasks._REGISTERED, "labtwo_ok" in constraints._CONSTRAINTS)
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, **installed})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[0] == \
        "['broken', 'half', 'two_half'] False False True True True"
    assert "skipping installed plug-in 'half'" in result.stderr
    assert "licence server is down" in result.stderr


def test_a_malformed_entry_point_is_skipped_like_a_failing_one(tmp_path):
    """An entry point whose value the entry-point syntax does not match (a hyphen) fails to
    load in its turn, named on stderr; it does not stop a search on a built-in task."""
    site = tmp_path / "site"
    dist = site / "badlab-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: badlab\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[neurevo.plugins]\nbad = my-plugin:register\n")
    result = run_cli_with({"PYTHONPATH": os.pathsep.join(
        filter(None, [str(site), os.environ.get("PYTHONPATH")]))}, "search", *SMALL,
        "--executor", "serial", "--out", str(tmp_path / "r"))
    ran(result)
    assert result.stderr.count("skipping installed plug-in 'bad'") == 1, result.stderr


def test_a_failed_plugin_leaves_the_libraries_it_imported_usable(tmp_path):
    """Forgetting a failed plug-in's modules forgets its own package only: a library it
    imported on the way (scikit-learn, and through it numpy's fft, whose C extension cannot
    be imported twice in a process) stays imported, so a later search that loads a built-in
    scikit-learn task still runs."""
    import subprocess
    import sys

    site = tmp_path / "site"  # the only installed plug-in: nothing imports scikit-learn first
    site.mkdir()
    (site / "labthree.py").write_text(textwrap.dedent('''
        from sklearn.datasets import load_iris

        raise RuntimeError("labthree is broken")
    '''))
    dist = site / "labthree-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: labthree\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[neurevo.plugins]\nthree = labthree\n")
    code = textwrap.dedent('''
        import sys

        from evolve.plugin_imports import BROKEN_INSTALLED, load_installed_plugins
        from evolve.tasks import load_task

        assert "sklearn" not in sys.modules  # the plug-in is what first imports it
        load_installed_plugins()
        print(sorted(BROKEN_INSTALLED), "labthree" in sys.modules, load_task("wine").n_classes)
    ''')
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                filter(None, [str(site), os.environ.get("PYTHONPATH")]))})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[0] == "['three'] False 3"


PARTLY_FAILING = '''
import rules
from rules.bp import Backprop


@rules.register
class DeepFails(Backprop):
    """bp that fails every net with a hidden level: the linear ones still train."""
    name = "deep_fails"

    def train_step(self, net, *args, **kwargs):
        if net.depth > 1:
            raise RuntimeError("boom for a net with a hidden level")
        return super().train_step(net, *args, **kwargs)
'''


def test_the_progress_shows_each_error_that_fails_evaluations_once(tmp_path):
    """Some evaluations failing is not a failed generation, so the search goes on; the
    progress names the error the first generation it fails any, with how many, and not
    again (a failed count alone hid such a bug)."""
    _, line = failing_search(tmp_path, PARTLY_FAILING, 3, "--rule", "deep_fails")
    assert "RuntimeError in rule deep_fails: boom for a net with a hidden level" in line

def failing_search(tmp_path: Path, code: str, generations: int, *args: str
                   ) -> tuple[list[dict], str]:
    """A CLI search with a plug-in ``code`` that fails some evaluations: the failed rows
    (some, not all) and the one progress line that names their error."""
    plugin = tmp_path / "failing_plugin.py"
    plugin.write_text(textwrap.dedent(code))
    small = [a if a != "1" else str(generations) for a in SMALL]
    result = run_cli("search", *small, *args, "--executor", "serial", "--plugin", str(plugin),
                     "--out", str(tmp_path / "runs"))
    run = ran(result)
    rows = [r for f in sorted((run / "evaluations").glob("gen-*.parquet"))
            for r in pq.read_table(f).to_pylist()]
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and len(failed) < len(rows)
    lines = [line for line in result.stderr.splitlines() if "evaluations failed with:" in line]
    assert len(lines) == 1, result.stderr
    first = min(r["generation"] for r in failed)
    in_first = sum(r["generation"] == first for r in failed)
    assert lines[0].startswith(f"neurevo: generation {first + 1}: {in_first} of ")
    return failed, lines[0]


FAILING_OBJECTIVE = '''
import evolve


def groups_or_fail(m):
    if m.genome.hidden_ids:
        raise ValueError("cannot price a net with a hidden level")
    return 0.0


evolve.register_objective(evolve.Objective("deep_fails", "min", groups_or_fail, reference=10.0))
'''


def test_the_progress_names_an_error_that_fails_evaluations_in_scoring(tmp_path):
    """A user objective that raises fails a trained candidate when it is scored, after its
    training arrived: the progress names that error too, not only the count."""
    _, line = failing_search(tmp_path, FAILING_OBJECTIVE, 2, "--objectives",
                             "accuracy,deep_fails")
    assert "cannot price a net with a hidden level" in line


FAILING_COST = '''
import evolve


def priced_or_fail(genome, *args, **kwargs):
    if len(genome.hidden_ids) == 1:  # the costliest net, priced for the references, has 6
        raise ValueError("no price for a net with one hidden group")
    return evolve.hardware.cost(genome, *args, **kwargs)


evolve.register_cost_fn("picky", priced_or_fail)
'''


@pytest.mark.parametrize("mode", ["generational", "steady"])
def test_the_progress_names_an_error_that_fails_evaluations_before_training(tmp_path, mode):
    """A cost function that raises fails the candidate before it trains, so no chunk result
    ever carries it: the reporters see such outcomes too (first, in every mode), and the
    progress names the error, not only the count."""
    failed, line = failing_search(tmp_path, FAILING_COST, 2, "--set", "hardware.cost_fn=picky",
                                  "--set", f"strategy.mode={mode}")
    assert all("(before training)" in r["error"] and r["epochs"] == 0 for r in failed)
    assert "no price for a net with one hidden group" in line and "(before training)" in line
