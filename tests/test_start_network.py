"""``space.start_widths``: a growing search (neat, neat-pso, random) starts from a
hand-designed chain of hidden groups instead of NEAT's minimal genome."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import evolve
from evolve.config import ConfigError, override
from search_spaces.genome import Genome
from search_spaces.innovation import InnovationTracker
from search_spaces.space import MutationRates, SearchSpace, SpaceError, SpaceSettings


def chain_of(genome: Genome) -> tuple[list[int], list[str]]:
    """The hidden widths and activations along the enabled path from input to output, when
    the genome is a plain chain."""
    nxt = {c.src: c.dst for c in genome.connections if c.enabled}
    widths, acts, node = [], [], nxt[0]
    while node != 1:
        n = genome.node(node)
        widths.append(n.size)
        acts.append(n.activation)
        node = nxt[node]
    return widths, acts


def test_the_start_genome_is_the_chain_with_fixed_ids_and_shared_innovations():
    space = SearchSpace(64, 10, SpaceSettings(start_widths=(64, 32), start_activation="tanh"))
    tracker = InnovationTracker()
    first, second = space.start_genome(tracker), space.start_genome(tracker)
    assert first == second  # one generation's two starts line up gene for gene
    assert chain_of(first) == ([64, 32], ["tanh", "tanh"])
    assert [n.id for n in first.nodes] == [0, 1, 2, 3]
    assert [(c.src, c.dst) for c in first.connections] == [(0, 2), (2, 3), (3, 1)]
    # a later add-node takes a fresh id, never one of the chain's
    grown = space.add_node(first, np.random.default_rng(0), tracker)
    assert set(grown.hidden_ids) - {2, 3} and min(set(grown.hidden_ids) - {2, 3}) >= 4


def test_without_start_widths_the_start_is_the_minimal_genome():
    space = SearchSpace(64, 10)
    assert space.start_genome(InnovationTracker()) == \
        space.minimal_genome(InnovationTracker())
    assert SpaceSettings().start_widths == ()


def test_generation_zero_is_the_start_and_its_mutants():
    space = SearchSpace(64, 10, SpaceSettings(start_widths=(48,)))
    genomes = space.initial_genomes(30, np.random.default_rng(1), InnovationTracker(),
                                    MutationRates())
    assert chain_of(genomes[0]) == ([48], ["relu"])  # the first hidden activation
    # every child keeps the start's group (mutation can resize or re-activate it, and adds)
    assert all(2 in g.hidden_ids for g in genomes)
    assert any(g != genomes[0] for g in genomes[1:])


@pytest.mark.parametrize("settings, needle", [
    ({"start_widths": (200,)}, "start_widths must be hidden group sizes in [min_hidden_size, "
                               "max_hidden_size] = [4, 128], got [200]"),
    ({"start_widths": (2,)}, "got [2]"),
    ({"start_widths": (8,) * 7}, "start_widths has 7 hidden groups, more than "
                                 "max_hidden_nodes (6)"),
    ({"start_widths": (8, 8), "max_connections": 2}, "needs 3 connections, more than "
                                                     "max_connections (2)"),
    ({"start_activation": "tanh"}, "give start_widths too"),
    ({"start_widths": (8,), "start_activation": "swish"}, "start_activation must be one of"),
])
def test_a_start_outside_the_space_is_refused_naming_the_field(settings, needle):
    with pytest.raises(SpaceError) as info:
        SpaceSettings(**settings)
    assert needle in str(info.value)


@pytest.mark.parametrize("strategy", ["neat-pso", "random"])
def test_a_search_starts_from_the_chain(small_digits_config, strategy):
    config = override(small_digits_config, {
        "generations": 2, "strategy": {"name": strategy},
        "space": {"start_widths": [24, 12], "start_activation": "tanh"}})
    run = evolve.search(config, reporters=())
    rows = run.evaluations().to_pylist()
    genomes = [Genome.from_json(r["genome"]) for r in rows if r["generation"] == 0]
    if strategy == "neat-pso":
        assert chain_of(genomes[0]) == ([24, 12], ["tanh", "tanh"])
    # random draws k >= 0 mutations from the start: none of its genomes is minimal
    assert all(len(g.hidden_ids) >= 2 for g in genomes)
    assert all({2, 3} <= set(g.hidden_ids) for g in genomes)
    assert run.config.space.start_widths == (24, 12)  # recorded, so resume builds the same


@pytest.mark.parametrize("strategy", ["pso", "optuna"])
def test_a_layered_strategy_refuses_a_start_it_would_not_read(small_digits_config, strategy):
    config = override(small_digits_config, {"strategy": {"name": strategy},
                                            "space": {"start_widths": [16]}})
    with pytest.raises(ConfigError, match=f"strategy {strategy} searches a fixed-depth"):
        evolve.search(config, reporters=())


def test_the_cli_takes_the_start_from_set(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "search", "--rule", "bp", "--executor", "serial",
         "--generations", "1", "--population", "4", "--set", "training.epochs=1",
         "--set", "space.start_widths=32,16", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    run = evolve.load_run(result.stdout.strip().splitlines()[-1])
    first = run.evaluations().to_pylist()[0]
    assert chain_of(Genome.from_json(first["genome"])) == ([32, 16], ["relu", "relu"])
    assert json.loads(first["genome"])["nodes"][2][2] == 32
