"""One home for every default: a search built in Python from the domain types, with their own
defaults, is the search ``neurevo search`` runs with no options."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from evolve.cli import build_parser, config_from_args
from evolve.loop import Session
from evolve.records import RunStore
from evolve.strategies import STRATEGIES, Scored, StrategyConfig, make_strategy
from evolve.strategies.layered import LayeredParams
from evolve.strategies.neat import NeatParams
from evolve.strategies.optuna_strategy import OptunaParams
from evolve.strategies.pso import PsoParams, SwarmParams
from rules import Budget
from search_spaces.space import MutationRates, SearchSpace, SpaceSettings


def cli_defaults():
    return config_from_args(build_parser().parse_args(["search"]))


def test_cli_sections_equal_the_domain_types_built_with_their_own_defaults():
    config = cli_defaults()
    assert config.training == Budget()
    assert config.space == SpaceSettings()
    assert SearchSpace(64, 10, config.space) == SearchSpace(64, 10)
    strategy = config.strategy
    assert (strategy.neat, strategy.mutation, strategy.swarm, strategy.layered, strategy.pso,
            strategy.optuna) == (NeatParams(), MutationRates(), SwarmParams(), LayeredParams(),
                                 PsoParams(), OptunaParams())
    assert strategy == StrategyConfig()


def scores(candidates) -> list[Scored]:
    rng = np.random.default_rng(0)
    return [Scored(c, (float(rng.random()), float(c.genome.n_parameters()))) for c in candidates]


def run_two_generations(strategy) -> str:
    state = strategy.init(0)
    for _ in range(2):
        state = strategy.tell(state, scores(strategy.ask(state)))
    return json.dumps(state, sort_keys=True)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_search_wired_from_cli_defaults_runs_as_one_built_from_domain_types(tmp_path, name):
    """``Session.build`` (the CLI's wiring) against a strategy constructed directly: same
    space, same training budget, and the same candidates over two told generations."""
    config = dataclasses.replace(cli_defaults(), population=6, objectives=("accuracy", "params"))
    config = dataclasses.replace(config, strategy=dataclasses.replace(config.strategy, name=name))
    session = Session.build(config, RunStore(tmp_path / "run"), "defaults")
    assert session.config.training == Budget()
    wired = session.strategy
    space = SearchSpace(session.task.n_features, session.task.n_classes)
    direct = STRATEGIES[name](space, wired.problem)  # constructor defaults only
    assert run_two_generations(direct) == run_two_generations(wired)
    assert run_two_generations(make_strategy(space, wired.problem, StrategyConfig(name))) == \
        run_two_generations(wired)


def test_energy_rules_share_one_set_of_relaxation_genes():
    """chl and ep declare gamma and the sweep counts as rules/chl.py's genes, and every
    rule with a ``kernel`` option defaults to the dispatcher's DEFAULT_KERNEL."""
    from rules.chl import CHL, RELAXATION_GENES, EnergyRule
    from rules.ep import EP
    from rules.kernels.dispatch import DEFAULT_KERNEL, KERNELS
    from rules.pc import PredictiveCoding

    for rule in (CHL(), EP()):
        declared = {p.name: p for p in rule.hyperparameters().params}
        assert all(declared[g.name] is g for g in RELAXATION_GENES), rule.name
        assert rule.options()["kernel"] == DEFAULT_KERNEL
    assert EnergyRule.option_defaults() == {"kernel": DEFAULT_KERNEL}
    assert PredictiveCoding.option_defaults()["kernel"] == DEFAULT_KERNEL
    assert DEFAULT_KERNEL in KERNELS


def test_task_split_defaults_are_the_loaders_defaults():
    """TaskConfig's split defaults are the ones load_task and task_from_arrays use when
    called from Python without them."""
    import inspect

    from evolve.config import TaskConfig
    from evolve.tasks import load_task, task_from_arrays

    config = TaskConfig()
    for fn, keys in ((load_task, ("valid_fraction", "test_fraction", "label_column")),
                     (task_from_arrays, ("valid_fraction", "test_fraction"))):
        params = inspect.signature(fn).parameters
        assert {k: params[k].default for k in keys} == {k: getattr(config, k) for k in keys}


def test_spiking_defaults_agree_with_the_nir_conversion():
    """The simulation, the NIR conversion and the CLI's simulate/export options all take
    their defaults from evolve.spiking."""
    import inspect

    from evolve import nir_export, simulate, spiking
    from evolve.cli import build_parser

    assert inspect.signature(simulate.simulate).parameters["timesteps"].default \
        == spiking.TIMESTEPS
    assert inspect.signature(simulate.spiking_module).parameters["reset"].default \
        == spiking.RESET == spiking.RESETS[0]
    assert inspect.signature(nir_export.export_nir).parameters["percentile"].default \
        == spiking.PERCENTILE
    args = build_parser().parse_args(["simulate", "x.nir"])
    assert args.timesteps == spiking.TIMESTEPS
