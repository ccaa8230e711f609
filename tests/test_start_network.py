"""``space.start_widths``: a growing search (neat, neat-pso, random) starts from a
hand-designed chain of hidden groups instead of NEAT's minimal genome."""

from __future__ import annotations

import dataclasses
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
    ({"start_widths": (300,)}, "start_widths must be hidden group sizes in [min_hidden_size, "
                               "max_hidden_size] = [4, 256], got [300]"),
    ({"start_widths": (2,)}, "got [2]"),
    ({"start_widths": (8,) * 7}, "start_widths has 7 hidden groups, more than "
                                 "max_hidden_nodes (6)"),
    ({"start_widths": (8, 8), "max_connections": 2}, "needs 3 connections, more than "
                                                     "max_connections (2)"),
    ({"start_activation": "tanh"}, "give start_widths too"),
    ({"start_widths": (8,), "start_activation": "swish"}, "start_activation must be one of"),
    ({"start_widths": (8,), "start_share": 0.0}, "start_share must be a number in (0, 1]"),
    ({"start_widths": (8,), "start_share": 1.5}, "got 1.5"),
    ({"start_widths": (8,), "start_share": True}, "got True"),
    ({"start_share": 0.5}, "start_share (0.5) is the share of generation 0 grown from the "
                           "start chain, the rest from the minimal genome: give start_widths"),
])
def test_a_start_outside_the_space_is_refused_naming_the_field(settings, needle):
    with pytest.raises(SpaceError) as info:
        SpaceSettings(**settings)
    assert needle in str(info.value)


def test_start_share_grows_the_rest_of_generation_zero_from_the_minimal_genome():
    space = SearchSpace(64, 10, SpaceSettings(start_widths=(48, 24), start_share=0.25))
    genomes = space.initial_genomes(20, np.random.default_rng(1), InnovationTracker(),
                                    MutationRates())
    from_chain = [g for g in genomes if {2, 3} <= set(g.hidden_ids)]
    assert len(from_chain) == space.start_count(20) == 5
    assert genomes[:5] == from_chain and chain_of(genomes[0]) == ([48, 24], ["relu", "relu"])
    # the rest: the minimal genome, then its children with at most the one new group
    minimal = space.minimal_genome(InnovationTracker())
    assert genomes[5].nodes == minimal.nodes
    assert [(c.src, c.dst) for c in genomes[5].connections] == [(0, 1)]
    assert all(len(g.hidden_ids) <= 1 and not {2, 3} & set(g.hidden_ids)
               for g in genomes[5:])
    # a new group of a minimal child never takes the chain's node ids
    assert any(g.hidden_ids for g in genomes[5:])
    assert [SearchSpace(4, 2, SpaceSettings(start_widths=(8,), start_share=share))
            .start_count(10) for share in (1.0, 0.5, 0.01)] == [10, 5, 1]


def test_the_default_share_leaves_generation_zero_as_it_was():
    """start_share = 1 draws exactly what generation 0 was before the setting existed: the
    start and ``count - 1`` children of one mutation pass from it, on the same stream."""
    space = SearchSpace(64, 10, SpaceSettings(start_widths=(48,)))
    rates = MutationRates()
    genomes = space.initial_genomes(12, np.random.default_rng(3), InnovationTracker(), rates)
    rng, tracker = np.random.default_rng(3), InnovationTracker()
    start = space.start_genome(tracker)
    first = dataclasses.replace(rates, add_node=rates.initial_add_node)
    assert genomes == [start] + [space.mutate(start, rng, tracker, first) for _ in range(11)]
    assert space.start_count(12) == 12
    assert [SearchSpace(4, 2, SpaceSettings(start_widths=(8,), start_share=share))
            .start_count(10) for share in (0.25, 0.15, 0.35)] == [3, 2, 4]  # half up


@pytest.mark.parametrize("strategy", ["neat-pso", "random"])
def test_a_search_with_a_start_share_holds_both_starts(small_digits_config, strategy):
    config = override(small_digits_config, {
        "generations": 1, "strategy": {"name": strategy},
        "space": {"start_widths": [24, 12], "start_share": 0.5}})
    run = evolve.search(config, reporters=())
    rows = [r for r in run.evaluations().to_pylist() if r["generation"] == 0]
    genomes = [Genome.from_json(r["genome"]) for r in rows]
    half = len(genomes) // 2
    assert all({2, 3} <= set(g.hidden_ids) for g in genomes[:half])
    assert not any({2, 3} & set(g.hidden_ids) for g in genomes[half:])
    if strategy == "neat-pso":  # both starts at the start values, the others drawn
        assert chain_of(genomes[0]) == ([24, 12], ["relu", "relu"])
        assert not genomes[half].hidden_ids  # the minimal genome itself
        starts = {rows[0]["hyperparameters"], rows[half]["hyperparameters"]}
        assert len(starts) == 1
        assert all(r["hyperparameters"] not in starts for i, r in enumerate(rows)
                   if i not in (0, half))
    assert run.config.space.start_share == 0.5  # recorded, so resume builds the same


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
