"""Tests for the genome encoding, its JSON form, the innovation tracker and the NEAT operators
(search_spaces.genome, search_spaces.innovation, search_spaces.space)."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from search_spaces.compile import compile_genome, init_params, node_levels
from search_spaces.genome import (
    SCHEMA_VERSION,
    ConnectionGene,
    Genome,
    GenomeError,
    NodeGene,
    creates_cycle,
    outputs_reachable,
    topological_order,
)
from search_spaces.innovation import InnovationTracker
from search_spaces.net import forward
from search_spaces.space import MUTATION_OPERATORS, MutationRates, SearchSpace, SpaceSettings

HIGH_RATES = MutationRates(add_node=0.6, add_edge=0.8, toggle_edge=0.3, resize_node=0.7,
                           change_activation=0.6, resize_sigma=1.0)
OPERATORS = MUTATION_OPERATORS


def apply_operator(space: SearchSpace, name: str, genome: Genome, rng: np.random.Generator,
                   tracker: InnovationTracker, rates: MutationRates = HIGH_RATES) -> Genome:
    if name == "mutate":
        return space.mutate(genome, rng, tracker, rates)
    if name in ("add_node", "add_edge"):
        return getattr(space, name)(genome, rng, tracker)
    if name == "resize_node":
        return space.resize_node(genome, rng, rates.resize_sigma)
    return getattr(space, name)(genome, rng)


def evolve_lineage(space: SearchSpace, tracker: InnovationTracker, seed: int, steps: int,
                   start: Genome | None = None) -> Genome:
    """A genome reached by ``steps`` random operator applications from ``start``."""
    rng = np.random.default_rng(seed)
    genome = space.minimal_genome(tracker) if start is None else start
    for _ in range(steps):
        op = ("mutate", *OPERATORS)[rng.integers(len(OPERATORS) + 1)]
        genome = apply_operator(space, op, genome, rng, tracker)
    return genome


spaces = st.builds(
    SearchSpace,
    n_inputs=st.integers(1, 6),
    n_outputs=st.integers(1, 4),
    settings=st.builds(
        SpaceSettings,
        min_hidden_size=st.integers(1, 4),
        max_hidden_size=st.integers(4, 24),
        max_hidden_nodes=st.integers(0, 6),
        max_connections=st.integers(1, 14),  # small, so that the limits are often reached
        allow_recurrent=st.booleans(),
    ),
)


@st.composite
def genomes(draw: st.DrawFn) -> Genome:
    space = draw(spaces)
    tracker = InnovationTracker()
    a = evolve_lineage(space, tracker, draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 30)))
    if draw(st.booleans()):  # sometimes a crossover child of two lineages
        b = evolve_lineage(space, tracker, draw(st.integers(0, 2**32 - 1)),
                           draw(st.integers(0, 30)))
        a = space.crossover(a, b, np.random.default_rng(draw(st.integers(0, 2**32 - 1))))
    return a


# ============================================================== 1. JSON round trip and errors


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=genomes())
def test_json_round_trip(genome: Genome) -> None:
    text = genome.to_json()
    # the string written out by hand is json's own for the genome's dict
    assert text == json.dumps(genome.to_dict(), separators=(",", ":"))
    back = Genome.from_json(text)
    assert back == genome
    assert back.stable_hash() == genome.stable_hash()
    assert back.to_json() == text
    # canonical: gene order in the input does not matter
    shuffled = Genome(tuple(reversed(genome.nodes)), tuple(reversed(genome.connections)))
    assert shuffled.to_json() == text
    # and the JSON is plain data
    data = json.loads(text)
    assert data["schema_version"] == SCHEMA_VERSION
    assert len(data["nodes"]) == len(genome.nodes)
    assert Genome.from_dict(data) == genome


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=genomes(), seed=st.integers(0, 2**31 - 1))
def test_json_of_a_changed_gene_is_its_own(genome: Genome, seed: int) -> None:
    """Each gene keeps its part of the JSON once written; a gene changed from it (``replace``,
    or the operators' new genes) must write its own, not inherit its source's."""
    genome.to_json()  # every gene's part written, and the genome's views kept
    genome.n_parameters(), genome.hidden_ids  # noqa: B018
    if genome.connections:  # a genome changed from it keeps none of them
        fewer = genome.with_changes(connections=genome.connections[:-1])
        assert fewer.to_json() == json.dumps(fewer.to_dict(), separators=(",", ":"))
        assert fewer.n_parameters() == Genome(fewer.nodes, fewer.connections).n_parameters()
    for gene in (*genome.nodes, *genome.connections):
        changed = (replace(gene, size=gene.size + 1) if isinstance(gene, NodeGene)
                   else replace(gene, enabled=not gene.enabled))
        assert changed._json is None
    space = SearchSpace(3, 2, SpaceSettings(max_connections=64, max_hidden_nodes=8))
    rng, tracker = np.random.default_rng(seed), InnovationTracker()
    tracker.next_node_id = max(n.id for n in genome.nodes) + 1
    tracker.next_innovation = max((c.innovation for c in genome.connections), default=0) + 1
    rates = MutationRates(1.0, 1.0, 1.0, 1.0, 1.0)
    child = genome
    for _ in range(6):
        child = space.mutate(child, rng, tracker, rates)
        assert child.to_json() == json.dumps(child.to_dict(), separators=(",", ":"))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(genome=genomes(), which=st.integers(0, 1000))
def test_stable_hash_changes_with_any_gene(genome: Genome, which: int) -> None:
    """A hash that ignored some field would let two different genomes collide."""
    node = genome.nodes[which % len(genome.nodes)]
    bigger = NodeGene(node.id, node.role, node.size + 1, node.activation)
    changed = Genome(tuple(bigger if n is node else n for n in genome.nodes), genome.connections)
    assert changed.stable_hash() != genome.stable_hash()
    if genome.connections:
        conn = genome.connections[which % len(genome.connections)]
        flipped = ConnectionGene(conn.innovation, conn.src, conn.dst, not conn.enabled,
                                 conn.recurrent)
        changed = Genome(genome.nodes,
                         tuple(flipped if c is conn else c for c in genome.connections))
        assert changed.stable_hash() != genome.stable_hash()
        assert Genome.from_json(changed.to_json()) != genome


def _valid_dict() -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "nodes": [[0, "input", 3, "identity"], [1, "output", 2, "identity"],
                  [2, "hidden", 4, "relu"], [3, "hidden", 5, "tanh"]],
        "connections": [[0, 0, 1, False, False], [1, 0, 2, True, False],
                        [2, 2, 1, True, False], [3, 2, 3, True, False],
                        [4, 3, 1, True, False]],
    }


def _with(nodes=None, connections=None, **top) -> dict:
    data = _valid_dict()
    if nodes is not None:
        data["nodes"] = nodes(data["nodes"])
    if connections is not None:
        data["connections"] = connections(data["connections"])
    data.update(top)
    return data


INVALID = {
    "duplicate node id": (
        _with(nodes=lambda ns: [*ns, [2, "hidden", 7, "elu"]]), ["node ids repeat", "2"]),
    "unknown activation": (
        _with(nodes=lambda ns: [*ns[:3], [3, "hidden", 5, "swish"]]),
        ["node 3", "activation", "'swish'"]),
    "size 0": (
        _with(nodes=lambda ns: [*ns[:2], [2, "hidden", 0, "relu"], ns[3]]),
        ["node 2", "size", "got 0"]),
    "negative size": (
        _with(nodes=lambda ns: [*ns[:2], [2, "hidden", -3, "relu"], ns[3]]),
        ["node 2", "size", "got -3"]),
    "unknown role": (
        _with(nodes=lambda ns: [*ns[:3], [3, "bias", 5, "tanh"]]), ["node 3", "role", "'bias'"]),
    "no output node": (
        _with(nodes=lambda ns: [ns[0], [1, "hidden", 2, "relu"], *ns[2:]]), ["output node"]),
    "edge to an input node": (
        _with(connections=lambda cs: [*cs, [7, 3, 0, True, False]]),
        ["connection 7", "input node 0"]),
    "recurrent edge to an input node": (
        _with(connections=lambda cs: [*cs, [7, 3, 0, True, True]]),
        ["connection 7", "input node 0"]),
    "feedforward edge leaving an output": (
        _with(connections=lambda cs: [*cs, [7, 1, 3, True, False]]),
        ["connection 7", "leaves output node 1"]),
    "feedforward cycle": (
        _with(connections=lambda cs: [*cs, [7, 3, 2, True, False]]), ["cycle", "7", "3->2"]),
    "cycle closed by a disabled edge": (
        _with(connections=lambda cs: [*cs, [9, 3, 2, False, False]]), ["cycle", "9", "3->2"]),
    "dangling connection source": (
        _with(connections=lambda cs: [*cs, [7, 42, 1, True, False]]),
        ["connection 7", "node 42", "does not exist"]),
    "dangling connection target": (
        _with(connections=lambda cs: [*cs, [7, 0, 99, True, True]]),
        ["connection 7", "node 99", "does not exist"]),
    "duplicate edge": (
        _with(connections=lambda cs: [*cs, [7, 0, 2, True, False]]),
        ["connection 7", "0->2", "duplicate"]),
    "repeated innovation": (
        _with(connections=lambda cs: [*cs, [4, 0, 3, True, False]]), ["innovation", "4"]),
    "wrong schema_version": (_with(schema_version=SCHEMA_VERSION + 1),
                             ["schema_version", str(SCHEMA_VERSION + 1)]),
    "missing schema_version": (
        {k: v for k, v in _valid_dict().items() if k != "schema_version"},
        ["schema_version", "None"]),
    "missing connections field": (
        {k: v for k, v in _valid_dict().items() if k != "connections"}, ["'connections'"]),
    "node gene with a missing field": (
        _with(nodes=lambda ns: [*ns[:3], [3, "hidden", 5]]), ["malformed gene"]),
    "non-numeric size": (
        _with(nodes=lambda ns: [*ns[:3], [3, "hidden", "big", "tanh"]]), ["malformed gene"]),
    "not an object": ([1, 2, 3], ["JSON object", "list"]),
}


def test_valid_base_genome_parses() -> None:
    """The invalid cases below are each one edit away from this genome."""
    genome = Genome.from_dict(_valid_dict())
    assert genome.hidden_ids == (2, 3)
    # the edge that is rejected as feedforward is fine as a recurrent one
    Genome.from_dict(_with(connections=lambda cs: [*cs, [7, 1, 3, True, True]]))
    Genome.from_dict(_with(connections=lambda cs: [*cs, [7, 3, 2, True, True]]))


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_genome_is_rejected_with_a_named_reason(case: str) -> None:
    data, fragments = INVALID[case]
    with pytest.raises(GenomeError) as info:
        Genome.from_json(json.dumps(data))
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{case}: {fragment!r} not in {message!r}"


@pytest.mark.parametrize("case", [c for c in sorted(INVALID) if "schema" not in c
                                  and "field" not in c and "object" not in c
                                  and "non-numeric" not in c])
def test_validate_rejects_hand_built_genomes(case: str) -> None:
    """The same rules hold for genomes built in Python (no JSON involved)."""
    data, fragments = INVALID[case]
    nodes = tuple(NodeGene(*n) for n in data["nodes"])
    conns = tuple(ConnectionGene(*c) for c in data["connections"])
    with pytest.raises(GenomeError) as info:
        Genome(nodes, conns).validate()
    for fragment in fragments:
        assert fragment in str(info.value)


def test_cycle_message_names_exactly_the_cycle() -> None:
    """A 3-edge loop with a feeder edge and a downstream edge: only the loop is reported."""
    nodes = (NodeGene(0, "input", 2), NodeGene(1, "output", 2), NodeGene(2, "hidden", 3),
             NodeGene(3, "hidden", 3), NodeGene(4, "hidden", 3), NodeGene(5, "hidden", 3))
    conns = (ConnectionGene(1, 0, 2), ConnectionGene(2, 2, 3), ConnectionGene(10, 3, 4),
             ConnectionGene(11, 4, 5), ConnectionGene(12, 5, 3, enabled=False),
             ConnectionGene(13, 5, 1), ConnectionGene(14, 2, 1, recurrent=True))
    with pytest.raises(GenomeError, match="cycle") as info:
        Genome(nodes, conns).validate()
    listed = re.search(r"connections \[([\d, ]+)\]", str(info.value))
    assert listed is not None, str(info.value)
    assert sorted(int(i) for i in listed.group(1).split(",")) == [10, 11, 12]
    # marking the closing edge recurrent makes the same graph valid
    fixed = tuple(ConnectionGene(12, 5, 3, False, True) if c.innovation == 12 else c
                  for c in conns)
    Genome(nodes, fixed).validate()


@pytest.mark.parametrize("text", ["{not json", "", '{"schema_version": 1, "nodes": [}'])
def test_malformed_json_is_a_genome_error(text: str) -> None:
    with pytest.raises(GenomeError, match="not valid JSON"):
        Genome.from_json(text)


# ================================ 2. every operator result validates, compiles and stays acyclic


def check_invariants(space: SearchSpace, genome: Genome) -> None:
    genome.validate()
    assert genome.input_ids == (0,) and genome.output_ids == (1,)
    assert genome.node(0).size == space.n_inputs and genome.node(1).size == space.n_outputs
    hidden = [genome.node(i) for i in genome.hidden_ids]
    limits = space.settings
    assert len(hidden) <= limits.max_hidden_nodes
    assert len(genome.connections) <= limits.max_connections
    for n in hidden:
        assert limits.min_hidden_size <= n.size <= limits.max_hidden_size, n
        assert n.activation in limits.hidden_activations
    if not limits.allow_recurrent:
        assert not any(c.recurrent for c in genome.connections)
    assert outputs_reachable(genome)  # the operators never cut the output off the input
    # acyclic over enabled feedforward edges, and over disabled ones too (re-enabling is safe)
    assert topological_order(genome.nodes, genome.enabled_connections(recurrent=False))
    assert topological_order(genome.nodes, [c for c in genome.connections if not c.recurrent])
    levels = node_levels(genome)
    assert set(levels) == {n.id for n in genome.nodes}
    top = max(levels.values())
    assert levels[0] == 0 and levels[1] == top
    for i in genome.hidden_ids:
        assert 1 <= levels[i] < top
    for c in genome.enabled_connections(recurrent=False):
        assert levels[c.src] < levels[c.dst], c
    net = compile_genome(genome)
    assert (net.n_inputs, net.n_outputs) == (space.n_inputs, space.n_outputs)
    assert net.depth == top
    # the masks hold exactly the genome's synapses
    synapses = sum(int(m.sum()) for m in net.masks)
    if net.recurrent_mask is not None:
        synapses += int(net.recurrent_mask.sum())
    assert synapses + sum(net.level_sizes[1:]) == genome.n_parameters()
    params = init_params(net, [0])
    out, _ = forward(net, params, torch.randn(3, space.n_inputs))
    assert out.shape == (1, 3, space.n_outputs) and torch.isfinite(out).all()


ACTIONS = st.one_of(
    st.tuples(st.sampled_from(("mutate", *OPERATORS)), st.integers(0, 1)),
    st.tuples(st.just("crossover"), st.integers(0, 1)),
    st.tuples(st.just("new_generation"), st.just(0)),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces, seed=st.integers(0, 2**32 - 1),
       actions=st.lists(ACTIONS, min_size=5, max_size=60))
def test_operators_keep_genomes_valid(space: SearchSpace, seed: int, actions: list) -> None:
    rng = np.random.default_rng(seed)
    tracker = InnovationTracker()
    lineages = [space.minimal_genome(tracker), space.minimal_genome(tracker)]
    for name, who in actions:
        if name == "new_generation":
            tracker.new_generation()
            continue
        if name == "crossover":
            fitter, other = lineages[who], lineages[1 - who]
            child = space.crossover(fitter, other, rng)
            check_invariants(space, child)
            lineages[int(rng.integers(2))] = child
            continue
        lineages[who] = apply_operator(space, name, lineages[who], rng, tracker)
        check_invariants(space, lineages[who])


def _genome(nodes: list[tuple], conns: list[tuple]) -> Genome:
    genome = Genome(tuple(NodeGene(*n) for n in nodes), tuple(ConnectionGene(*c) for c in conns))
    genome.validate()
    return genome


def test_add_edge_never_closes_a_cycle_through_a_disabled_edge() -> None:
    """The only free pair 3->2 closes 2->3 (disabled): re-enabling it later must stay safe."""
    genome = _genome(
        [(0, "input", 2), (1, "output", 2), (2, "hidden", 3, "relu"), (3, "hidden", 3, "relu")],
        [(0, 0, 1), (1, 0, 2), (2, 2, 3, False), (3, 3, 1), (4, 2, 1), (5, 0, 3)])
    assert creates_cycle(genome, 3, 2) and not creates_cycle(genome, 0, 1)
    assert creates_cycle(genome, 2, 2)
    feedforward = SearchSpace(2, 2, SpaceSettings(allow_recurrent=False))
    for seed in range(5):
        same = feedforward.add_edge(genome, np.random.default_rng(seed), InnovationTracker(10),
                                    tries=200)
        assert same == genome
    recurrent = SearchSpace(2, 2, SpaceSettings(allow_recurrent=True))
    grown = recurrent.add_edge(genome, np.random.default_rng(0), InnovationTracker(10),
                               tries=200)
    (new,) = set(grown.connections) - set(genome.connections)
    assert new.recurrent and new.enabled
    assert (new.src, new.dst) in {(3, 2), (2, 2), (3, 3)}
    # and re-enabling every edge keeps the feedforward part acyclic
    _set_enabled(grown, lambda c: True).validate()


@pytest.mark.parametrize("n_connections", [1, 2, 3])
def test_add_node_respects_max_connections(n_connections: int) -> None:
    """A split adds two connections, so it needs two free places under max_connections."""
    conns = [(0, 0, 1), (1, 0, 2), (2, 2, 1)][:n_connections]
    nodes = [(0, "input", 2), (1, "output", 2)] + ([(2, "hidden", 4, "relu")]
                                                   if n_connections > 1 else [])
    genome = _genome(nodes, conns)
    space = SearchSpace(2, 2, SpaceSettings(max_connections=4, max_hidden_nodes=5))
    child = space.add_node(genome, np.random.default_rng(0), InnovationTracker(10, 10))
    if n_connections <= 2:
        assert len(child.connections) == n_connections + 2
    else:
        assert child == genome
    space = SearchSpace(2, 2, SpaceSettings(max_connections=8,
                                            max_hidden_nodes=len(genome.hidden_ids)))
    assert space.add_node(genome, np.random.default_rng(0), InnovationTracker(10, 10)) == genome


def test_initial_genomes_give_a_hidden_group_at_the_initial_add_node_rate() -> None:
    """Generation 0 is the minimal genome plus one mutation pass from it per child, with
    add-node at ``initial_add_node`` rather than ``add_node``."""
    space = SearchSpace(5, 3)
    for initial, linear in ((1.0, 1), (0.0, 30)):
        rates = MutationRates(add_node=1.0 - initial, initial_add_node=initial)
        genomes = space.initial_genomes(30, np.random.default_rng(0), InnovationTracker(), rates)
        assert len(genomes) == 30 and not genomes[0].hidden_ids
        assert sum(not g.hidden_ids for g in genomes) == linear
        assert all(len(g.hidden_ids) <= 1 for g in genomes)


def test_new_group_size_draws_from_its_floor_or_inherits_the_split_edges_group() -> None:
    space = SearchSpace(5, 3, SpaceSettings(new_group_min_size=40, max_hidden_size=64))
    sizes = {space.random_hidden_size(np.random.default_rng(seed)) for seed in range(200)}
    assert min(sizes) >= 40 and max(sizes) <= 64 and len(sizes) > 10
    # 0 -> 2 (37 units) -> 1: each enabled edge has the hidden group at one end
    genome = _genome([(0, "input", 5), (1, "output", 3), (2, "hidden", 37, "relu")],
                     [(0, 0, 2), (1, 2, 1)])
    inherit = SearchSpace(5, 3, SpaceSettings(new_group_size="inherit"))
    for seed in range(10):
        child = inherit.add_node(genome, np.random.default_rng(seed), InnovationTracker(10, 10))
        new = [n for n in child.nodes if n.role == "hidden" and n.id != 2]
        assert [n.size for n in new] == [37]
    with pytest.raises(ValueError, match="new_group_min_size"):
        SpaceSettings(new_group_min_size=65, max_hidden_size=64)
    with pytest.raises(ValueError, match="new_group_size"):
        SpaceSettings(new_group_size="wide")


def test_operator_sequences_reach_interesting_genomes() -> None:
    """The random sequences above do exercise deep nets, limits, recurrent and disabled edges
    (otherwise the property test would pass vacuously)."""
    space = SearchSpace(3, 2, SpaceSettings(max_hidden_nodes=4, max_connections=14,
                                            allow_recurrent=True, min_hidden_size=2,
                                            max_hidden_size=16))
    seen = {"depth>=3": False, "recurrent": False, "disabled": False, "full hidden": False,
            "full connections": False, "matching hidden crossover": False}
    for seed in range(20):
        rng = np.random.default_rng(seed)
        tracker = InnovationTracker()
        a = evolve_lineage(space, tracker, seed, 25)
        b = evolve_lineage(space, tracker, seed + 1000, 25)
        child = space.crossover(a, b, rng)
        for g in (a, b, child):
            check_invariants(space, g)
            seen["depth>=3"] |= max(node_levels(g).values()) >= 3
            seen["recurrent"] |= any(c.recurrent for c in g.connections)
            seen["disabled"] |= any(not c.enabled for c in g.connections)
            seen["full hidden"] |= len(g.hidden_ids) == space.settings.max_hidden_nodes
            seen["full connections"] |= len(g.connections) == space.settings.max_connections
        seen["matching hidden crossover"] |= bool(set(a.hidden_ids) & set(b.hidden_ids))
    assert all(seen.values()), seen


def test_mutation_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="add_edge"):
        MutationRates(add_edge=1.5)


# ==================================================================== 3. innovation tracker


def _set_enabled(genome: Genome, enabled) -> Genome:
    """``genome`` with each connection's enabled flag set to ``enabled(connection)``."""
    return Genome(genome.nodes, tuple(
        ConnectionGene(c.innovation, c.src, c.dst, bool(enabled(c)), c.recurrent)
        for c in genome.connections))


def _two_hidden_chain(space: SearchSpace, tracker: InnovationTracker, size: int) -> Genome:
    """0 -> 2 -> 3 -> 1 (0->1 and 2->1 disabled): the one free feedforward pair is 0->3."""
    g = space.add_node(space.minimal_genome(tracker), np.random.default_rng(0), tracker)
    assert g.hidden_ids == (2,)
    # split 2->1: with 0->2 disabled for a moment, it is the only candidate
    g = space.add_node(_set_enabled(g, lambda c: (c.src, c.dst) == (2, 1)),
                       np.random.default_rng(0), tracker)
    g = _set_enabled(g, lambda c: c.enabled or (c.src, c.dst) == (0, 2))
    return Genome(tuple(NodeGene(n.id, n.role, size, n.activation) if n.role == "hidden" else n
                        for n in g.nodes), g.connections)


def test_same_invention_in_one_generation_gets_the_same_numbers() -> None:
    space = SearchSpace(4, 3, SpaceSettings(allow_recurrent=False))
    tracker = InnovationTracker()
    a = _two_hidden_chain(space, tracker, size=8)
    b = _two_hidden_chain(space, tracker, size=32)
    assert a != b
    assert a.hidden_ids == b.hidden_ids == (2, 3)
    assert [c.innovation for c in a.connections] == [c.innovation for c in b.connections]
    # the only new feedforward pair is 0->3: both genomes invent it, with one number
    a2 = space.add_edge(a, np.random.default_rng(1), tracker, tries=1000)
    b2 = space.add_edge(b, np.random.default_rng(2), tracker, tries=1000)
    new_a = set(a2.connections) - set(a.connections)
    new_b = set(b2.connections) - set(b.connections)
    assert len(new_a) == len(new_b) == 1
    (ea,), (eb,) = new_a, new_b
    assert (ea.src, ea.dst) == (eb.src, eb.dst) == (0, 3)
    assert ea.innovation == eb.innovation == tracker.edges[(0, 3)]
    # splitting the same edge in two genomes: same node id and same two innovations
    only_a = _set_enabled(a2, lambda c: c == ea)
    only_b = _set_enabled(b2, lambda c: c == eb)
    sa = space.add_node(only_a, np.random.default_rng(3), tracker)
    sb = space.add_node(only_b, np.random.default_rng(4), tracker)
    (node_a,) = set(sa.hidden_ids) - set(a2.hidden_ids)
    (node_b,) = set(sb.hidden_ids) - set(b2.hidden_ids)
    assert node_a == node_b == tracker.splits[ea.innovation]
    inn_a = {(c.src, c.dst): c.innovation for c in sa.connections}
    inn_b = {(c.src, c.dst): c.innovation for c in sb.connections}
    assert inn_a == inn_b
    assert inn_a[(0, node_a)] != inn_a[(node_a, 3)]
    # and the numbers are new ones, not reused
    assert len(set(inn_a.values())) == len(inn_a)


def test_new_generation_gives_new_numbers_and_never_reuses_old_ones() -> None:
    tracker = InnovationTracker()
    tracker.reserve_nodes(2)
    first_edge = tracker.edge(0, 5)
    assert tracker.edge(0, 5) == first_edge  # same generation: same number
    first_split = tracker.split(first_edge, taken={0, 1})
    assert tracker.split(first_edge, taken={0, 1}) == first_split
    used_innovations, used_nodes = tracker.next_innovation, tracker.next_node_id
    tracker.new_generation()
    assert tracker.edges == {} and tracker.splits == {}
    again_edge = tracker.edge(0, 5)
    again_split = tracker.split(first_edge, taken={0, 1})
    assert again_edge != first_edge and again_edge >= used_innovations
    assert again_split != first_split and again_split >= used_nodes
    # counters only move forward
    assert tracker.next_innovation == used_innovations + 1
    assert tracker.next_node_id == used_nodes + 1


def test_split_of_an_edge_the_genome_already_split_gets_a_fresh_node() -> None:
    """A genome that re-enabled and re-split an edge must not get a node id it already has."""
    tracker = InnovationTracker()
    tracker.reserve_nodes(2)
    node = tracker.split(0, taken={0, 1})
    fresh = tracker.split(0, taken={0, 1, node})
    assert fresh != node and fresh not in {0, 1}
    assert tracker.split(0, taken={0, 1}) == node  # others still get the first invention

    space = SearchSpace(2, 2, SpaceSettings(max_hidden_nodes=5, max_connections=20))
    tracker = InnovationTracker()
    g = space.minimal_genome(tracker)
    g = space.add_node(g, np.random.default_rng(0), tracker)
    (first,) = g.hidden_ids
    reenabled = _set_enabled(g, lambda c: (c.src, c.dst) == (0, 1))
    again = space.add_node(reenabled, np.random.default_rng(0), tracker)
    assert len(again.hidden_ids) == 2 and first in again.hidden_ids
    again.validate()


def test_tracker_round_trips_through_json() -> None:
    space = SearchSpace(3, 2, SpaceSettings(allow_recurrent=True))
    tracker = InnovationTracker()
    evolve_lineage(space, tracker, 3, 30)
    assert tracker.edges and tracker.splits
    data = json.loads(json.dumps(tracker.to_dict()))
    back = InnovationTracker.from_dict(data)
    assert back == tracker
    # the restored tracker carries on exactly like the original
    twin = copy.deepcopy(tracker)
    key = next(iter(tracker.edges))
    assert back.edge(*key) == twin.edge(*key)
    assert back.edge(1000, 1001) == twin.edge(1000, 1001)
    split = next(iter(tracker.splits))
    assert back.split(split, set()) == twin.split(split, set())
    assert back.split(10_000, set()) == twin.split(10_000, set())
    assert back == twin


# ============================================================================ 4. crossover


def _diverged_parents() -> tuple[SearchSpace, Genome, Genome, int]:
    """Two parents sharing hidden node 2 with different size/activation, each with genes the
    other lacks."""
    space = SearchSpace(3, 2, SpaceSettings(hidden_activations=("relu", "tanh"),
                                            max_connections=20))
    tracker = InnovationTracker()
    g = space.add_node(space.minimal_genome(tracker), np.random.default_rng(0), tracker)
    (h,) = g.hidden_ids
    a = Genome(tuple(NodeGene(h, "hidden", 8, "relu") if n.id == h else n for n in g.nodes),
               g.connections)
    b = Genome(tuple(NodeGene(h, "hidden", 16, "tanh") if n.id == h else n for n in g.nodes),
               g.connections)
    a = space.add_node(a, np.random.default_rng(1), tracker)
    b = space.add_node(b, np.random.default_rng(5), tracker)
    b = space.add_node(b, np.random.default_rng(6), tracker)
    return space, a, b, h


def test_crossover_aligns_on_innovation_numbers() -> None:
    space, a, b, h = _diverged_parents()
    assert {c.innovation for c in a.connections} != {c.innovation for c in b.connections}
    shared_hidden = set(a.hidden_ids) & set(b.hidden_ids)
    assert shared_hidden
    sizes, acts = set(), set()
    for seed in range(64):
        for fitter, other in ((a, b), (b, a)):
            child = space.crossover(fitter, other, np.random.default_rng(seed))
            child.validate()
            assert [c.innovation for c in child.connections] == \
                [c.innovation for c in fitter.connections]
            assert [(c.src, c.dst, c.recurrent) for c in child.connections] == \
                [(c.src, c.dst, c.recurrent) for c in fitter.connections]
            assert [n.id for n in child.nodes] == [n.id for n in fitter.nodes]
            other_nodes = {n.id: n for n in other.nodes}
            for n, f in zip(child.nodes, fitter.nodes, strict=True):
                o = other_nodes.get(n.id)
                if n.role == "hidden" and o is not None:
                    assert n.size in (f.size, o.size) and n.activation in (f.activation,
                                                                           o.activation)
                    if n.id == h and fitter is a:
                        sizes.add(n.size)
                        acts.add(n.activation)
                else:
                    assert n == f
            other_conns = {c.innovation: c for c in other.connections}
            for c, f in zip(child.connections, fitter.connections, strict=True):
                o = other_conns.get(c.innovation)
                if o is None or (f.enabled and o.enabled):
                    assert c.enabled == f.enabled
    # matching genes really are inherited from either parent (with ``a`` as the fitter one)
    assert sizes == {8, 16} and acts == {"relu", "tanh"}


def test_toggle_never_cuts_the_last_path_to_an_output() -> None:
    """The minimal genome's one edge can't be disabled; once a split offers a second path,
    either path may go, but not both."""
    space = SearchSpace(3, 2, SpaceSettings(max_connections=20))
    tracker = InnovationTracker()
    minimal = space.minimal_genome(tracker)
    for seed in range(20):
        assert space.toggle_edge(minimal, np.random.default_rng(seed)) == minimal
    split = space.add_node(minimal, np.random.default_rng(0), tracker)  # 0->h->1, 0->1 off
    for seed in range(40):  # only 0->1 may flip: either split edge is the last path
        toggled = space.toggle_edge(split, np.random.default_rng(seed))
        assert toggled == split or all(c.enabled for c in toggled.connections)
    both = split.with_changes(connections=tuple(replace(c, enabled=True)
                                                for c in split.connections))
    seen = set()
    for seed in range(60):  # two paths: any one edge may go, and the output still hears
        toggled = space.toggle_edge(both, np.random.default_rng(seed))
        assert outputs_reachable(toggled)
        seen.add(frozenset(c.innovation for c in toggled.connections if not c.enabled))
    assert len(seen) == 3  # each of the three edges was disabled by some seed


def test_outputs_reachable() -> None:
    both = _genome([(0, "input", 2), (1, "output", 2), (2, "hidden", 3, "relu")],
                   [(0, 0, 2), (1, 2, 1), (2, 0, 1, False)])
    assert outputs_reachable(both)
    cut = both.with_changes(connections=(*both.connections[:1],
                                         ConnectionGene(1, 2, 1, False), both.connections[2]))
    assert not outputs_reachable(cut)  # the hidden node hears the input but tells no one
    dangling = _genome([(0, "input", 2), (1, "output", 2), (2, "hidden", 3, "relu")],
                       [(0, 2, 1), (1, 0, 1, False)])
    assert not outputs_reachable(dangling)  # the output hears only a node nobody feeds


def test_crossover_repairs_a_child_with_no_path_to_the_output() -> None:
    """Both parents are connected, each through a path the other disabled: mixing the
    disabled flags can cut both, and the child then keeps the fitter parent's flags."""
    nodes = [(0, "input", 2), (1, "output", 2), (2, "hidden", 3, "relu")]
    a = _genome(nodes, [(0, 0, 1, True), (1, 0, 2, False), (2, 2, 1, False)])
    b = _genome(nodes, [(0, 0, 1, False), (1, 0, 2, True), (2, 2, 1, True)])
    space = SearchSpace(2, 2, SpaceSettings(hidden_activations=("relu",)))
    for seed in range(20):
        # rate 1: every gene disabled in either parent stays off -> all three off -> repaired
        child = space.crossover(a, b, np.random.default_rng(seed), disable_rate=1.0)
        assert [c.enabled for c in child.connections] == [True, False, False]
        # rate 0: all three on, connected, left alone
        child = space.crossover(a, b, np.random.default_rng(seed), disable_rate=0.0)
        assert [c.enabled for c in child.connections] == [True, True, True]


def test_crossover_disable_rate() -> None:
    space, a, b, _ = _diverged_parents()
    # both keep 0->1 on, so any mix of the other flags leaves a path (no repair interferes)
    a, b = (g.with_changes(connections=tuple(
        replace(c, enabled=c.enabled or c.innovation == 0)
        for c in g.connections)) for g in (a, b))
    mixed = [c.innovation for c in a.connections
             if any(o.innovation == c.innovation and o.enabled != c.enabled
                    for o in b.connections)]
    assert mixed  # an edge enabled in one parent and disabled in the other
    for rate, expected in ((1.0, {False}), (0.0, {True})):
        flags = {next(c.enabled for c in space.crossover(a, b, np.random.default_rng(s), rate)
                      .connections if c.innovation == inn)
                 for s in range(20) for inn in mixed}
        assert flags == expected
    flags = [next(c.enabled for c in space.crossover(a, b, np.random.default_rng(s)).connections
                  if c.innovation == mixed[0]) for s in range(400)]
    assert 0.6 < 1 - np.mean(flags) < 0.9  # disabled with about disable_rate=0.75


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space=spaces, seeds=st.tuples(*[st.integers(0, 2**32 - 1)] * 3),
       steps=st.tuples(st.integers(0, 30), st.integers(0, 30)))
def test_crossover_of_random_lineages(space: SearchSpace, seeds: tuple, steps: tuple) -> None:
    tracker = InnovationTracker()
    base = evolve_lineage(space, tracker, seeds[0], 3)
    a = evolve_lineage(space, tracker, seeds[1], steps[0], base)
    tracker.new_generation()
    b = evolve_lineage(space, tracker, seeds[2], steps[1], base)
    for fitter, other in ((a, b), (b, a)):
        child = space.crossover(fitter, other, np.random.default_rng(seeds[0]))
        check_invariants(space, child)
        assert [c.innovation for c in child.connections] == \
            [c.innovation for c in fitter.connections]
        other_nodes = {n.id: n for n in other.nodes}
        for n, f in zip(child.nodes, fitter.nodes, strict=True):
            o = other_nodes.get(n.id, f)
            assert n.id == f.id and n.role == f.role
            assert n.size in (f.size, o.size) and n.activation in (f.activation, o.activation)


# ================================================================ 5. compatibility distance


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=genomes(), b=genomes())
def test_distance_is_a_symmetric_dissimilarity(a: Genome, b: Genome) -> None:
    space = SearchSpace(1, 1)
    assert space.distance(a, a) == 0.0
    assert space.distance(b, b) == 0.0
    assert space.distance(a, b) == pytest.approx(space.distance(b, a))
    assert space.distance(a, b) >= 0.0
    if space.distance(a, b) == 0.0:  # zero only for genomes that agree on every compared gene
        assert [(c.innovation, c.enabled) for c in a.connections] == \
            [(c.innovation, c.enabled) for c in b.connections]
        assert [n for n in a.nodes if n.role == "hidden"] == \
            [n for n in b.nodes if n.role == "hidden"]


def test_distance_values() -> None:
    space = SearchSpace(3, 2, SpaceSettings(disjoint_coefficient=1.0, attribute_coefficient=0.5))
    tracker = InnovationTracker()
    g0 = space.minimal_genome(tracker)
    g1 = space.add_node(g0, np.random.default_rng(0), tracker)
    # 3 disjoint genes (2 edges, 1 node) of N = 4; the one shared edge differs in enabled
    assert space.distance(g0, g1) == pytest.approx(3 / 4 + 0.5 * 1 / 1)
    (h,) = g1.hidden_ids
    node = g1.node(h)
    resized = Genome(tuple(NodeGene(h, "hidden", node.size * 4, node.activation)
                           if n.id == h else n for n in g1.nodes), g1.connections)
    # 4 shared genes, the node differs by log2(4) = 2
    assert space.distance(g1, resized) == pytest.approx(0.5 * 2 / 4)
    other_act = next(a for a in space.settings.hidden_activations if a != node.activation)
    recoloured = Genome(tuple(NodeGene(h, "hidden", node.size, other_act)
                              if n.id == h else n for n in g1.nodes), g1.connections)
    assert space.distance(g1, recoloured) == pytest.approx(0.5 * 1 / 4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=genomes(), seed=st.integers(0, 2**32 - 1))
def test_distance_grows_with_added_structure(start: Genome, seed: int) -> None:
    assume(start.enabled_connections(recurrent=False))  # so add_node always has an edge to split
    space = SearchSpace(start.node(0).size, start.node(1).size,
                        SpaceSettings(max_hidden_nodes=30, max_connections=200,
                                      allow_recurrent=True))
    tracker = InnovationTracker(next_innovation=10_000, next_node_id=10_000)
    rng = np.random.default_rng(seed)
    genome, last = start, 0.0
    grown = 0
    for step in range(20):
        op = space.add_node if step % 2 else space.add_edge
        bigger = op(genome, rng, tracker)
        if bigger == genome:
            continue
        d = space.distance(start, bigger)
        assert d > last, (step, d, last)
        genome, last, grown = bigger, d, grown + 1
    assert grown >= 10  # every add_node step grows the genome
    assert math.isfinite(last)


def test_layered_builds_a_chain_with_one_activation_per_hidden_group():
    from search_spaces.genome import GenomeError, layered

    genome = layered([64, 8, 6, 10], ["tanh", "relu"])
    assert [(n.id, n.role, n.size, n.activation) for n in genome.nodes] == [
        (0, "input", 64, "identity"), (1, "output", 10, "identity"), (2, "hidden", 8, "tanh"),
        (3, "hidden", 6, "relu")]
    assert [(c.innovation, c.src, c.dst) for c in genome.connections] == [
        (0, 0, 2), (1, 2, 3), (2, 3, 1)]
    assert layered([4, 3], "tanh").connections[0].dst == 1  # no hidden group: in -> out
    with pytest.raises(GenomeError, match="1 activations for 2 hidden groups"):
        layered([64, 8, 6, 10], ["tanh"])
