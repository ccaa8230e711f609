"""Typed config: TOML and --set override defaults; unknown keys and bad types are errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from evolve.cli import build_parser, config_from_args
from evolve.config import (
    ConfigError,
    SearchConfig,
    check,
    flat_items,
    from_toml,
    override,
    parse_assignments,
    to_toml,
)


def test_toml_round_trip_of_the_resolved_config(tmp_path):
    config = override(SearchConfig(), {
        "population": 7, "stop_when": {"accuracy": 0.99},
        "rule": {"hyperparameters": {"lr": 0.01},
                 "options": {"free_steps": 20, "beta": 0.5, "clamp": True, "mode": "fast",
                             "digits": "20", "odd key": 'a "quoted"\nline\\'}},
        "training": {"epochs": 3},
        "space": {"hidden_activations": ["relu"], "disjoint_coefficient": 2.0},
        "strategy": {"name": "optuna", "neat": {"target_species": 5},
                     "mutation": {"add_node": 0.5}, "swarm": {"inertia": 0.5},
                     "layered": {"depth": 3}, "pso": {"archive_size": 9},
                     "optuna": {"sampler": "tpe"}},
    })
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert from_toml(path) == config
    assert from_toml(path).rule.options["digits"] == "20"  # a file's string stays a string


def test_set_assignments_are_coerced_to_field_types():
    config = override(SearchConfig(), parse_assignments([
        "generations=3", "strategy.neat.crossover_rate=0.5", "space.allow_recurrent=true",
        "space.hidden_activations=relu,tanh", "rule.hyperparameters={lr = 0.02}",
        'objectives=["accuracy", "params"]']))
    assert config.objectives == ("accuracy", "params")
    assert config.generations == 3 and config.strategy.neat.crossover_rate == 0.5
    assert config.space.allow_recurrent is True
    assert config.space.hidden_activations == ("relu", "tanh")
    assert config.rule.hyperparameters == {"lr": 0.02}


@pytest.mark.parametrize("updates, needle", [
    ({"nope": 1}, "nope"),
    ({"strategy": {"nope": 1}}, "strategy.nope"),
    ({"strategy": {"target_species": 5}}, "strategy.target_species"),  # now strategy.neat.*
    ({"population": "x"}, "population"),
    ({"population": 1}, "population"),
    ({"space": {"allow_recurrent": "maybe"}}, "space.allow_recurrent"),
    ({"task": 3}, "task"),
    # the domain types' own range checks, named by their dotted key
    ({"training": {"epochs": 0}}, "training.epochs"),
    ({"training": {"patience": 0}}, "training.patience"),
    ({"space": {"max_hidden_size": 2}}, "space.max_hidden_size"),
    ({"space": {"hidden_activations": ["nope"]}}, "space.hidden_activations"),
    ({"strategy": {"name": "nope"}}, "strategy.name"),
    ({"strategy": {"neat": {"target_species": 0}}}, "strategy.neat.target_species"),
    ({"strategy": {"mutation": {"add_node": 1.5}}}, "strategy.mutation.add_node"),
    ({"strategy": {"swarm": {"velocity_clamp": 0}}}, "strategy.swarm.velocity_clamp"),
    ({"strategy": {"layered": {"depth": -1}}}, "strategy.layered.depth"),
    ({"strategy": {"pso": {"archive_size": -1}}}, "strategy.pso.archive_size"),
    ({"strategy": {"optuna": {"sampler": "cmaes"}}}, "strategy.optuna.sampler"),
    ({"rule": {"options": {"steps": [1, 2]}}}, "rule.options.steps"),
])
def test_errors_name_the_key(updates, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        override(SearchConfig(), updates)


def test_bad_toml_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("population = = 3")
    with pytest.raises(ConfigError, match="bad.toml"):
        from_toml(path)


@pytest.mark.parametrize(("toml", "key"), [
    ('[strategi]\nname = "neat"\n', "unknown config key 'strategi'"),
    ('[strategy.neat]\ntarget_species = "five"\n',
     "strategy.neat.target_species: expected an integer, got 'five'"),
    ("[strategy.neat]\nsurvival_threshold = 2.0\n", "strategy.neat.survival_threshold must be"),
    # in TOML's words: a list, not Python's tuple
    ("[space]\nstart_widths = 64\n",
     "space.start_widths: expected a list of integers (TOML [a, b] or --set KEY=a,b), got 64"),
    ('[space]\nallow_recurrent = "sometimes"\n',
     "space.allow_recurrent: expected true or false, got 'sometimes'"),
])
def test_a_config_file_error_names_the_file_and_the_key(tmp_path, toml, key):
    path = tmp_path / "mine.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        from_toml(path)
    assert str(err.value).startswith(f"config file {str(path)!r}: ")
    assert key in str(err.value)


def cli(tmp_path, toml: str, *sets: str) -> SearchConfig:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    argv = ["search", "--config", str(path)]
    for pair in sets:
        argv += ["--set", pair]
    return config_from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize(("toml", "sets", "expected"), [
    ('[strategy]\nmode = "steady"\n', ["strategy.name=pso", "strategy.mode=generational"],
     ("pso", "generational", ())),
    ("", ["strategy.name=pso", "strategy.mode=steady", "strategy.name=neat"],
     ("neat", "steady", ())),
    ("", ["strategy.name=pso", "strategy.layered.widths=8,8,8", "strategy.layered.depth=3"],
     ("pso", "generational", (8, 8, 8))),
    ('[strategy]\nname = "pso"\n[strategy.layered]\ndepth = 1\nwidths = [8]\n',
     ["strategy.layered.depth=2", "strategy.layered.widths=8,8"],
     ("pso", "generational", (8, 8))),
])
def test_settings_that_contradict_are_judged_on_the_final_config(tmp_path, toml, sets, expected):
    """Whatever the order of --set: a step in between may contradict, the result does not."""
    config = cli(tmp_path, toml, *sets)
    check(config)
    s = config.strategy
    assert (s.name, s.mode, s.layered.widths) == expected


def test_the_order_of_set_does_not_decide_what_a_settings_type_refuses(tmp_path):
    """A type's own check (min_hidden_size <= max_hidden_size) is made on the result."""
    config = cli(tmp_path, "", "space.min_hidden_size=200", "space.max_hidden_size=256")
    assert (config.space.min_hidden_size, config.space.max_hidden_size) == (200, 256)
    with pytest.raises(ConfigError, match=r"space.max_hidden_size must be >= min_hidden_size "
                                          r"\(200\), got 100"):
        cli(tmp_path, "", "space.min_hidden_size=200", "space.max_hidden_size=256",
            "space.max_hidden_size=100")
    with pytest.raises(ConfigError, match="space.min_hidden_size: expected an integer, got 'x'"):
        cli(tmp_path, "", "space.min_hidden_size=x", "space.max_hidden_size=256")


@pytest.mark.parametrize(("sets", "needle"), [
    (["strategy.name=pso", "strategy.mode=steady"], "strategy.mode 'steady' needs"),
    (["strategy.layered.widths=8,8,8"], r"strategy.layered.widths must have depth \(2\)"),
])
def test_settings_that_still_contradict_at_the_end_are_refused(tmp_path, sets, needle):
    with pytest.raises(ConfigError, match=needle):
        check(cli(tmp_path, "", *sets))


def test_set_on_a_table_merges_into_what_the_file_set(tmp_path):
    toml = '[rule]\nhyperparameters = {lr = 0.01}\noptions = {free_steps = 20}\n'
    config = cli(tmp_path, toml, "rule.hyperparameters={steps=10}", "rule.hyperparameters.beta=2",
                 "rule.options.mode=fast", "rule.options={clamp = true}",
                 "rule.options.free_steps=30", "rule.options.beta=0.5",
                 "rule.options.label=\"30\"")
    assert config.rule.hyperparameters == {"lr": 0.01, "steps": 10.0, "beta": 2.0}
    assert config.rule.options == {"free_steps": 30, "mode": "fast", "clamp": True,
                                   "beta": 0.5, "label": "30"}
    assert cli(tmp_path, toml, "rule.hyperparameters.lr=0.5").rule.hyperparameters == {"lr": 0.5}
    with pytest.raises(ConfigError, match=r"rule\.hyperparameters\.lr"):
        cli(tmp_path, toml, "rule.hyperparameters.lr=fast")


def test_set_reaches_every_nested_strategy_table():
    config = override(SearchConfig(), parse_assignments([
        "strategy.name=pso", "strategy.neat.target_species=5", "strategy.mutation.add_node=0.5",
        "strategy.swarm.inertia=0.5", "strategy.layered.depth=3", "strategy.pso.archive_size=7",
        "strategy.optuna.sampler=tpe", "space.disjoint_coefficient=2"]))
    s = config.strategy
    assert (s.name, s.neat.target_species, s.mutation.add_node, s.swarm.inertia,
            s.layered.depth, s.pso.archive_size, s.optuna.sampler) == \
        ("pso", 5, 0.5, 0.5, 3, 7, "tpe")
    assert s.neat.elitism == 1 and s.mutation.add_edge == 0.2  # the rest of a table stays
    assert config.space.disjoint_coefficient == 2.0


def test_set_takes_a_settings_table_as_an_inline_table():
    config = override(SearchConfig(), parse_assignments([
        "strategy.neat={target_species = 5, elitism = 1}", "training={epochs = 3}"]))
    assert config.strategy.neat.target_species == 5 and config.training.epochs == 3
    assert config.strategy.neat.stagnation == 10  # the rest of the table stays
    with pytest.raises(ConfigError, match="strategy.neat.target_species: expected an integer"):
        override(SearchConfig(), parse_assignments(['strategy.neat={target_species = "x"}']))
    with pytest.raises(ConfigError, match="strategy.neat: expected a table of settings"):
        override(SearchConfig(), parse_assignments(["strategy.neat=5"]))
    # text that opens a table or an array but is no TOML gets TOML's reason, not "expected
    # a table", and where in the text as typed
    for setting, says in (
            ("strategy.neat={target_species = five}", r"strategy.neat: '\{target_species = "
             r"five\}' is not a valid TOML inline table: Invalid value \(at character 19 "
             r"of it\); text values need quotes"),
            ("rule.hyperparameters={lr = 0.01", r"rule.hyperparameters: '\{lr = 0.01' is not a "
             r"valid TOML inline table: Unclosed inline table"),
            ("space.hidden_activations=[relu, tanh]", r"space.hidden_activations: '\[relu, "
             r"tanh\]' is not a valid TOML array")):
        with pytest.raises(ConfigError, match=says):
            override(SearchConfig(), parse_assignments([setting]))


@pytest.mark.parametrize(("sets", "meant"), [
    (["strategy=neat"], "did you mean --set strategy.name=neat? (strategy has the keys name, "
                        "mode, neat,"),
    (['strategy="neat"'], "did you mean --set strategy.name=neat?"),
    (["hardware=truenorth"], "did you mean --set hardware.profile=truenorth? (hardware has "
                             "the keys profile, chips,"),
    (["strategy.neat=5"], "got 5 (strategy.neat has the keys compatibility_threshold,"),
])
def test_a_table_set_to_one_value_names_the_key_meant_and_its_keys(tmp_path, sets, meant):
    # `--set strategy=neat` said only "strategy: expected a table of settings, got 'neat'",
    # not that the strategy is chosen by strategy.name
    with pytest.raises(ConfigError) as err:
        cli(tmp_path, "", *sets)
    assert meant in str(err.value)


def test_a_table_given_one_value_in_a_config_file_is_told_as_toml(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('strategy = "neat"\n')
    with pytest.raises(ConfigError, match='did you mean strategy.name = "neat"\\?'):
        from_toml(path)


def as_typed(value) -> str:
    """A value as one would type it after ``--set key=``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return ",".join(value)
    if isinstance(value, dict):
        return "{}"
    return str(value)


def test_every_field_can_be_set_from_the_command_line():
    defaults = SearchConfig()
    for key, value in flat_items(defaults):
        assert override(defaults, parse_assignments([f"{key}={as_typed(value)}"])) == defaults, key


@pytest.mark.parametrize("name", ["neat", "neat-pso", "pso", "optuna", "random"])
def test_neat_table_is_checked_for_exactly_the_strategies_that_read_it(name):
    """An elitism that leaves nothing to breed is refused for a strategy that reads
    [strategy.neat] and ignored (the table is unread) for one that does not."""
    from evolve.config import check
    from evolve.strategies import STRATEGIES

    config = override(SearchConfig(), {"population": 4, "executor": {"name": "serial"},
                                       "strategy": {"name": name, "neat": {"elitism": 4}}})
    if "neat" in STRATEGIES[name].tables:
        with pytest.raises(ConfigError, match=r"strategy\.neat\.elitism \(4\) must be below "
                                              r"population"):
            check(config)
    else:
        check(config)
    assert ("neat" in STRATEGIES[name].tables) == (name in ("neat", "neat-pso"))


@pytest.mark.parametrize(("task", "refused"), [
    ("digits", True), ("Digits", True), ("mnist1d", True), ("data.npz", True),
    ("data.NPZ", True), ("data.csv", False), ("data.parquet", False),
    ("digitz", False),  # the loader's "unknown task", with the names it knows, comes first
    ("arrays", True),  # in-memory data: evolve.search(config, data=(X, y))
    # another suffix is refused when the task loads, naming the suffixes it takes; dropping
    # --label-column, which this check would have advised first, would not help there
    ("data.tsv", False), ("data.txt", False),
])
def test_a_label_column_is_refused_only_for_a_task_known_to_have_none(task, refused):
    config = override(SearchConfig(), {"task": {"name": task, "label_column": "target"}})
    if refused:
        with pytest.raises(ConfigError, match=r"task.label_column .* drop it \(--label-column\)"):
            check(config)
    else:
        check(config)


def test_a_label_column_is_refused_for_a_registered_task_whatever_its_name(monkeypatch):
    import evolve.tasks

    monkeypatch.setitem(evolve.tasks._REGISTERED, "lab.v2", lambda: ([[0.0]], [0]))
    config = override(SearchConfig(), {"task": {"name": "Lab.v2", "label_column": "target"}})
    with pytest.raises(ConfigError, match=r"task.label_column .* drop it \(--label-column\)"):
        check(config)


def test_settings_built_in_python_name_a_field_of_the_wrong_type():
    """A config built through override coerces each value; one built in Python does not, and
    a wrong type used to surface as a comparison error inside the range checks, or as an
    AttributeError once a search read the table: each names its field instead."""
    import dataclasses

    from evolve.strategies import StrategyConfig
    from evolve.strategies.neat import NeatParams
    from rules.base import Budget

    for build, says in (
            (lambda: NeatParams(target_species="5"), "target_species must be an integer, got '5'"),
            (lambda: StrategyConfig("neat", neat={"target_species": 5}),
             "neat must be a NeatParams (from evolve.strategies.neat), got {'target_species'"),
            (lambda: dataclasses.replace(SearchConfig(), training={"epochs": 2}),
             "training must be a Budget (from rules.base)"),
            (lambda: SearchConfig(population=10.0), "population must be an integer, got 10.0"),
            (lambda: Budget(epochs=True), "epochs must be an integer, got True")):
        # a TypeError, or the type's own error where it has one (ConfigError, SpaceError, ...)
        with pytest.raises((TypeError, ValueError), match=re.escape(says)):
            build()
    # what is plainly meant is taken as the plain value a config file holds, so the run's
    # config.toml can be written: a list as a tuple, numpy scalars and paths as Python's
    config = SearchConfig(objectives=["accuracy", "energy"], seed=np.int64(3),
                          out=Path("runs_here"), training=Budget(epochs=np.int64(2)))
    assert config.objectives == ("accuracy", "energy") and type(config.seed) is int
    assert config.out == "runs_here" and type(config.training.epochs) is int
    assert NeatParams(compatibility_threshold=2).compatibility_threshold == 2
    assert to_toml(config)  # each of these once failed only here, at the run's start
    # numpy's float64 is a float, written to TOML as np.float64(...): made plain too, and so
    # are the values of tables (their numbers checked as such)
    from evolve.config import RuleConfig, TaskConfig

    config = SearchConfig(task=TaskConfig(name="iris", valid_fraction=np.float64(0.2)),
                          stop_when={"accuracy": np.float64(0.99)},
                          rule=RuleConfig(name="bp", hyperparameters={"lr": np.float32(0.5)},
                                          options={"kernel": np.str_("torch")}))
    assert type(config.task.valid_fraction) is float and type(config.stop_when["accuracy"]) \
        is float and config.rule.hyperparameters == {"lr": 0.5}
    assert from_toml_text(to_toml(config)) == config
    with pytest.raises(ConfigError, match=r"stop_when must be a table of numbers, got "
                                          r"\{'accuracy': 'x'\}"):
        SearchConfig(stop_when={"accuracy": "x"})


def from_toml_text(text: str) -> SearchConfig:
    from evolve.config import parse_toml

    return override(SearchConfig(), parse_toml(text, "test"))


def test_an_explicit_triton_kernel_on_this_cpu_is_refused_before_the_run(monkeypatch):
    """kernel = 'triton' on a run that trains on this machine's CPU would fail every
    candidate; it is refused by check(), naming the option, unless the interpreter is on
    (checking the kernels) or a cluster's workers, which may have GPUs, train it."""
    import torch

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    triton = {"rule": {"name": "pc", "options": {"kernel": "triton"}}}
    for executor in ({"name": "serial"}, {"name": "ray"}):
        for device in ("cpu", "auto"):
            config = override(SearchConfig(), {**triton, "executor": executor,
                                               "training": {"device": device}})
            with pytest.raises(ConfigError, match=r"^rule.options.kernel is 'triton', but "
                                                  rf"training.device '{device}' trains on"):
                check(config)
    check(override(SearchConfig(), {"rule": {"name": "pc", "options": {"kernel": "auto"}}}))
    check(override(SearchConfig(), {**triton, "executor": {"name": "ray",
                                                           "address": "10.0.0.1:6379"}}))
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    check(override(SearchConfig(), triton))
