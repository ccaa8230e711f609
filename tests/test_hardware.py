"""Hardware profiles and the core/energy/latency model (evolve.hardware).

Every expected number below is computed by hand from the profile's numbers, in the comment
next to it, so a change to a profile or to the model shows up as a readable diff.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evolve.hardware import (
    CoreBudget,
    ProfileError,
    available_profiles,
    cost,
    genome_of,
    get_profile,
    load_profile,
    register_profile,
    to_toml,
)
from evolve.hardware import profiles as profiles_module
from search_spaces.compile import compile_genome, compile_population
from search_spaces.genome import ConnectionGene, Genome, NodeGene, creates_cycle
from search_spaces.innovation import InnovationTracker
from search_spaces.space import MutationRates, SearchSpace, SpaceSettings

BUILTIN = ("akida", "dynapse", "loihi", "loihi2", "spinnaker", "spinnaker2", "truenorth", "xylo")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "hardware.md"


def dense(n_in: int, n_out: int) -> Genome:
    """n_in inputs -> n_out outputs through one dense block."""
    return Genome((NodeGene(0, "input", n_in), NodeGene(1, "output", n_out)),
                  (ConnectionGene(0, 0, 1),))


def chain(*sizes: int) -> Genome:
    """inputs -> hidden ... -> outputs, a dense block between neighbours."""
    roles = ["input"] + ["hidden"] * (len(sizes) - 2) + ["output"]
    nodes = tuple(NodeGene(i, r, s) for i, (r, s) in enumerate(zip(roles, sizes, strict=True)))
    return Genome(nodes, tuple(ConnectionGene(i, i, i + 1) for i in range(len(sizes) - 1)))


@pytest.fixture
def scratch_registry():
    """Restore the profile registry after a test registers its own chips."""
    saved = dict(profiles_module._PROFILES)
    yield
    profiles_module._PROFILES.clear()
    profiles_module._PROFILES.update(saved)


# -- profiles -----------------------------------------------------------------------------
def test_builtin_profiles_are_registered_cited_and_mark_their_estimates():
    assert set(BUILTIN) <= set(available_profiles())
    for name in BUILTIN:
        p = get_profile(name)
        assert p.name == name and p.sources, name
        assert all(e in profiles_module.NUMERIC_FIELDS for e in p.estimates)
    # Loihi 1: the per-core limits are exact public figures, never estimates
    exact = {"neurons_per_core", "axons_per_core", "synaptic_memory_bits_per_core",
             "output_axons_per_core", "cores_per_chip"}
    assert not exact & set(get_profile("loihi").estimates)
    # Loihi 2: per-core limits are not public, so they are labelled estimates
    assert {"neurons_per_core", "synapses_per_core"} <= set(get_profile("loihi2").estimates)
    assert "ESTIMATES" in get_profile("loihi2").notes


def test_describe_lists_the_key_numbers():
    d = get_profile("truenorth").describe()
    assert d["neurons_per_core"] == 256 and d["axons_per_core"] == 256
    assert d["neurons_per_chip"] == 256 * 4096 == 1_048_576  # Merolla 2014: 1 M neurons
    assert d["fan_out_per_neuron"] == 1 and "energy_per_synop_j" in d["estimates"]
    assert get_profile("loihi").describe()["neurons_per_chip"] == 131_072  # WikiChip figure


def test_get_and_register_profile(scratch_registry):
    with pytest.raises(ProfileError, match="unknown hardware profile 'nope'.*loihi"):
        get_profile("nope")
    mine = dataclasses.replace(get_profile("loihi"), name="loihi-4bit", weight_bits=4)
    assert register_profile(mine) is mine and get_profile("loihi-4bit") is mine
    assert register_profile(mine) is mine  # the same profile again is fine
    assert cost(dense(784, 512), "loihi-4bit").cores == 2  # see the 784x512 test
    with pytest.raises(ProfileError, match="overwrite=True"):
        register_profile(dataclasses.replace(mine, weight_bits=2))
    register_profile(dataclasses.replace(mine, weight_bits=2), overwrite=True)
    assert get_profile("loihi-4bit").weight_bits == 2
    with pytest.raises(TypeError):
        register_profile({"name": "dict"})


def test_core_budget_in_python_is_frozen_and_hashable():
    chip = CoreBudget(name="toy", neurons_per_core=8, cores_per_chip=2, weight_bits=1,
                      energy_per_synop_j=1e-12, energy_per_spike_j=0, time_step_s=1e-3,
                      sources=["a list becomes a tuple"], estimates=["time_step_s"])
    assert chip.sources == ("a list becomes a tuple",) and hash(chip)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chip.neurons_per_core = 9
    assert cost(dense(3, 17), chip).cores == 3 and cost(dense(3, 17), chip).chips == 2
    for name in BUILTIN:  # the budgets listing has the same columns for every chip
        assert get_profile(name).describe().keys() == chip.describe().keys()


@pytest.mark.parametrize("field,value,message", [
    ("neurons_per_core", 0, "must be >= 1"),
    ("axons_per_core", -5, "must be >= 1"),
    ("weight_bits", 8.0, "must be an integer"),
    ("cores_per_chip", True, "must be an integer"),
    ("energy_per_synop_j", -1e-12, ">= 0"),
    ("time_step_s", 0.0, "must be > 0"),
    ("packing", "sparse", "one of"),
    ("fan_in_splitting", 1, "true or false"),
    ("estimates", ("name",), "not numbers"),
])
def test_core_budget_rejects_bad_values(field, value, message):
    with pytest.raises(ProfileError, match=rf"'{field}'.*{message}"):
        dataclasses.replace(get_profile("loihi"), **{field: value})


# -- TrueNorth: 256 x 256 crossbar, fan-out 1 --------------------------------------------
def test_truenorth_dense_256_by_256_is_exactly_one_core():
    c = cost(dense(256, 256), "truenorth")
    assert (c.cores, c.chips, c.depth) == (1, 1, 1)
    assert c.violations == {} and c.groups[0].binding == "neurons_per_core"
    # the output's one destination is the host readout: fan-out 1 is met, no splitters
    assert c.groups[0].fan_out == 1 and c.groups[0].relay_levels == 0


def test_truenorth_257_inputs_need_partial_sums_and_a_merge_stage():
    c = cost(dense(257, 256), "truenorth")
    g = c.groups[0]
    # fan-in 257 > 256 axons: chunks of 256 and 1 -> 2 x 256 partial-sum neurons on 2 cores;
    # 256 merge neurons with 2 private axons each: 256 // 2 = 128 per core -> 2 cores
    assert (g.input_splits, g.merge_levels) == (2, 1)
    assert c.cores == 2 + 2 == 4
    assert c.neurons == 2 * 256 + 256
    assert c.synapses == 257 * 256 + 256 * 2
    assert c.depth == 2 and c.violations == {}


def test_truenorth_784_by_512_matches_the_reference_lower_bound():
    # the analytical model: ">= ceil(784/256) * ceil(512/256) = 8 cores plus merging"; here
    # 4 chunks (256, 256, 256, 16) x 2 cores = 8, merge 512 / (256 // 4) = 8 -> 16
    assert cost(dense(784, 512), "truenorth").cores == 16


def test_truenorth_fan_out_above_one_needs_splitter_neurons():
    g = Genome(
        (NodeGene(0, "input", 10), NodeGene(1, "hidden", 10),
         NodeGene(2, "output", 10), NodeGene(3, "output", 10)),
        (ConnectionGene(0, 0, 1), ConnectionGene(1, 1, 2), ConnectionGene(2, 1, 3)),
    )
    c = cost(g, "truenorth")
    hidden = next(x for x in c.groups if x.node == 1)
    # the hidden group reaches 1 core of each output: d = 2 > 1 -> 2 splitter neurons per
    # neuron, 256 // 2 = 128 sources per relay core -> 1 relay core, 20 splitter neurons
    assert (hidden.fan_out, hidden.relay_levels, hidden.cores) == (2, 1, 2)
    assert c.cores == 2 + 1 + 1
    assert c.neurons == 10 + 20 + 10 + 10
    assert c.depth == 3  # hidden (1) + relay (1) + output (1)
    # a chip that allows any fan-out needs no relay
    unlimited = dataclasses.replace(get_profile("truenorth"), fan_out_per_neuron=None)
    assert cost(g, unlimited).cores == 3
    # a chip that cannot relay reports the fan-out as a violation instead
    strict = dataclasses.replace(get_profile("truenorth"), fan_out_relays=False)
    assert cost(g, strict).violations == {"fan_out_per_neuron": 1}


# -- Loihi: 1024 compartments, 4096 axons, 1 Mbit synaptic memory ------------------------
def test_loihi_neuron_limit():
    assert cost(dense(1, 1024), "loihi").cores == 1
    c = cost(dense(1, 1025), "loihi")
    assert c.cores == 2 and c.groups[0].binding == "neurons_per_core"


def test_loihi_wide_fan_in_hits_synaptic_memory_before_the_neuron_limit():
    p = get_profile("loihi")
    # one axon reaching n neurons at 8 bits: 64 * ((8n + 20) // 64 + 1) bits (n < 60)
    assert p.axon_bits(29) == 64 * ((232 + 20) // 64 + 1) == 256
    assert p.axon_bits(30) == 64 * ((240 + 20) // 64 + 1) == 320
    # 4000 axons: 4000 * 256 = 1,024,000 <= 1,048,576 but 4000 * 320 = 1,280,000 > it
    c = cost(dense(4000, 1024), "loihi")
    g = c.groups[0]
    assert (g.neurons_per_core, g.binding) == (29, "synaptic_memory_bits_per_core")
    assert c.cores == math.ceil(1024 / 29) == 36  # the neuron limit alone would give 1
    assert c.violations == {}


def test_loihi_784_by_512_reference_worked_example():
    # the analytical model: 4 cores at 8 bits, 2 at 4 bits, 1 at 1 bit (synaptic-memory bound).
    # 8 bits: 784 * words(n) <= 16384 -> words <= 20 -> n <= 153 -> ceil(512/153) = 4
    loihi = get_profile("loihi")
    for bits, cores in ((8, 4), (4, 2), (1, 1)):
        c = cost(dense(784, 512), dataclasses.replace(loihi, weight_bits=bits))
        assert c.cores == cores, bits
    assert cost(dense(784, 512), loihi).groups[0].neurons_per_core == 153


def test_loihi_fan_in_beyond_4096_axons_is_a_violation():
    c = cost(dense(4097, 10), "loihi")
    assert c.violations == {"axons_per_core": 1}
    assert c.cores >= 1


def test_loihi_chips_and_the_chip_budget():
    c = cost(dense(1, 132_000), "loihi")
    assert c.cores == math.ceil(132_000 / 1024) == 129
    assert c.chips == math.ceil(129 / 128) == 2
    assert c.violations == {}  # no chip budget given, nothing violated
    assert cost(dense(1, 132_000), "loihi", chips=1).violations == {"chips": 129 - 128}
    assert cost(dense(1, 132_000), "loihi", chips=2).violations == {}


def test_loihi_energy_and_latency_by_hand():
    c = cost(dense(10, 10), "loihi", activity=0.5, timesteps=4)
    # 100 synapses; synops = 100 * 0.5 * 4 = 200; spikes = 10 * 0.5 * 4 = 20; updates 40
    assert (c.synapses, c.synaptic_ops, c.spikes) == (100, 200, 20)
    energy = 200 * 35.5e-12 + 20 * 76.8e-12 + 40 * 51.2e-12  # = 10,684 pJ
    assert c.energy_j == pytest.approx(energy) == pytest.approx(10.684e-9)
    step = 1024 * 6.0e-9 + 299e-9  # 6.443 us
    assert c.latency_s == pytest.approx((4 + 1 - 1) * step)  # pipelined, depth 1
    deep = cost(chain(10, 10, 10, 10), "loihi", activity=0.5, timesteps=4)
    assert deep.depth == 3 and deep.latency_s == pytest.approx((4 + 3 - 1) * step)
    layered = dataclasses.replace(get_profile("loihi"), latency_model="layered")
    assert cost(chain(10, 10, 10, 10), layered, timesteps=4).latency_s == pytest.approx(
        4 * 3 * step)


def test_loihi_output_axons_limit_with_recurrence():
    # a self-connected group of 5000: fan-in 5001 > 4096 axons, and each core's n neurons
    # each reach all k cores, so n*k >= 5000 > 4096 output axons whatever the split
    g = Genome((NodeGene(0, "input", 1), NodeGene(1, "output", 5000)),
               (ConnectionGene(0, 0, 1), ConnectionGene(1, 1, 1, recurrent=True)))
    c = cost(g, "loihi")
    assert c.violations == {"axons_per_core": 5001 - 4096, "output_axons_per_core": 5001 - 4096}
    assert c.cores == 5000  # pinned to one neuron per core
    # out-axons binding by hand: 1000 hidden -> 4840 outputs. The output's fan-in 1000 is
    # memory-bound: 1000 * words(n) <= 16384 -> words <= 16 -> 8n + 14*(n//60) + 20 < 1024
    # -> n = 121 -> 40 cores. Each hidden neuron reaches those 40 cores: 4096 // 40 = 102
    # hidden neurons per core (not 1024) -> ceil(1000 / 102) = 10 cores.
    c = cost(chain(1, 1000, 4840), "loihi")
    hidden, out = c.groups
    assert (out.neurons_per_core, out.cores) == (121, 40)
    assert (hidden.fan_out, hidden.neurons_per_core, hidden.binding) == (
        40, 102, "output_axons_per_core")
    assert (hidden.cores, c.cores, c.violations) == (10, 50, {})


# -- the other chips ----------------------------------------------------------------------
def test_loihi2_estimated_synapse_budget_binds_wide_groups():
    # 900,000 synapses per core / 1000 inputs = 900 neurons (< 8192) -> 2 cores
    c = cost(dense(1000, 1000), "loihi2")
    assert (c.groups[0].neurons_per_core, c.groups[0].binding) == (900, "synapses_per_core")
    assert c.cores == 2
    assert cost(dense(1, 8193), "loihi2").cores == 2


def test_spinnaker_neurons_per_core_and_sdram_share():
    assert cost(dense(1, 255), "spinnaker").cores == 1
    assert cost(dense(1, 256), "spinnaker").cores == 2
    c = cost(dense(1, 16 * 255 + 1), "spinnaker")
    assert (c.cores, c.chips) == (17, 2)  # 16 application cores per chip
    # 8 MiB per core / 32-bit synapses = 2,097,152 synapses: 10,000 inputs -> 209 per core
    g = cost(dense(10_000, 255), "spinnaker").groups[0]
    assert (g.neurons_per_core, g.binding) == (209, "synaptic_memory_bits_per_core")


def test_spinnaker2_sram_per_pe():
    # 128 kB = 1,048,576 bits / 32 bits = 32,768 synapses: 1000 inputs -> 32 neurons/PE
    c = cost(dense(1000, 256), "spinnaker2")
    assert c.groups[0].neurons_per_core == 32 and c.cores == 8
    assert cost(dense(1, 152 * 256 + 1), "spinnaker2").chips == 2


def test_akida_npus():
    # 838,860 bits / 4 bits = 209,715 synapses: 1000 inputs -> 209 neurons per NPU
    g = cost(dense(1000, 1000), "akida").groups[0]
    assert (g.neurons_per_core, g.binding) == (209, "synaptic_memory_bits_per_core")
    c = cost(dense(1, 15_000 * 81), "akida")
    assert (c.cores, c.chips) == (81, 2)  # 80 NPUs per chip
    # energy is 30 mW x chips x latency only
    assert c.energy_j == pytest.approx(0.030 * 2 * c.latency_s)


def test_xylo_pools_one_core_and_checks_its_interface():
    ok = cost(chain(16, 100, 8), "xylo")
    assert (ok.cores, ok.chips, ok.violations) == (1, 1, {})
    # hidden 1 feeds 100 neurons: fan-out 100 synapses > 64
    assert cost(chain(16, 100, 100, 8), "xylo").violations == {"fan_out_per_neuron": 36}
    assert cost(chain(17, 100, 8), "xylo").violations == {"input_channels": 1}
    assert cost(chain(16, 10, 9), "xylo").violations == {"output_channels": 1}
    # 600 + 401 = 1001 hidden neurons pooled on 1000-neuron cores -> 2 cores, 2 chips
    big = Genome((NodeGene(0, "input", 16), NodeGene(1, "hidden", 600),
                  NodeGene(2, "hidden", 401), NodeGene(3, "output", 8)),
                 (ConnectionGene(0, 0, 1), ConnectionGene(1, 0, 2),
                  ConnectionGene(2, 1, 3), ConnectionGene(3, 2, 3)))
    c = cost(big, "xylo", chips=1)
    assert (c.cores, c.chips, c.violations) == (2, 2, {"chips": 1})


def test_dynapse_fan_in_cannot_be_split():
    assert cost(dense(64, 10), "dynapse").violations == {}
    assert cost(dense(65, 10), "dynapse").violations == {"fan_in_per_neuron": 1}
    c = cost(dense(1, 5 * 256), "dynapse")
    assert (c.cores, c.chips) == (5, 2)  # 4 cores per chip


# -- inputs and compiled nets -------------------------------------------------------------
def test_inputs_use_axons_but_no_cores_or_spikes():
    c = cost(dense(100, 1), "loihi", activity=1.0, timesteps=1)
    assert (c.cores, c.neurons, c.spikes) == (1, 1, 1)  # only the output neuron
    assert c.synaptic_ops == 100  # the input spikes still reach their synapses


def test_a_compiled_net_costs_the_same_as_its_genome():
    g = Genome(
        (NodeGene(0, "input", 300), NodeGene(1, "hidden", 40, "relu"),
         NodeGene(2, "hidden", 30, "tanh"), NodeGene(3, "output", 5)),
        (ConnectionGene(0, 0, 1), ConnectionGene(1, 1, 2), ConnectionGene(2, 0, 3),
         ConnectionGene(3, 2, 3), ConnectionGene(4, 2, 1, recurrent=True),
         ConnectionGene(5, 1, 3, enabled=False)),
    )
    net = compile_genome(g)
    for name in BUILTIN:
        a, b = cost(g, name), cost(net, name)
        assert (a.as_dict(), a.depth, a.violations) == (b.as_dict(), b.depth, b.violations)
    assert len(genome_of(net).enabled_connections(None)) == 5
    with pytest.raises(ValueError, match="population 1"):
        cost(compile_population([g, g]), "loihi")
    with pytest.raises(TypeError):
        cost("not a net", "loihi")


def test_cost_rejects_bad_arguments():
    g = dense(2, 2)
    for profile in (None, ["loihi"], {"name": "loihi"}):  # the dict was "unhashable type"
        with pytest.raises(TypeError, match="a hardware profile is a registered name or a "
                                            f"CoreBudget, got {type(profile).__name__}"):
            cost(g, profile)
    for kwargs in ({"activity": 1.5}, {"timesteps": 0}, {"chips": 0}):
        (name,) = kwargs
        with pytest.raises(ValueError, match=name):
            cost(g, "loihi", **kwargs)



@pytest.mark.parametrize("changes,field,total", [
    # per-event energies are capped far below (1 mJ), so the energy that overflows is a
    # chip power over a latency
    ({"chip_power_w": 1e308, "time_step_s": 1.0}, "chip_power_w", "energy_j"),
    ({"time_step_s": 1e308}, "time_step_s", "latency_s"),
])
def test_a_profile_whose_costs_overflow_is_named_not_priced_infinite(changes, field, total):
    # each constant is finite, so the profile is valid, but the product is not: the
    # search then failed with "cost_fn cost returned energy_j = inf" and a traceback
    chip = dataclasses.replace(get_profile("loihi"), name="huge", **changes)
    with pytest.raises(ProfileError, match=f"profile 'huge': {total} .* overflows to inf; "
                                           f"expected .*{field}"):
        cost(dense(4, 3), chip)

# -- monotone: more never costs less ------------------------------------------------------
MONOTONE = ("cores", "chips", "neurons", "synapses", "synaptic_ops", "spikes", "energy_j",
            "latency_s", "depth")
SIZES = st.one_of(st.integers(1, 40), st.integers(1, 3000))


@st.composite
def genomes(draw):
    n_in, n_hid, n_out = draw(st.integers(1, 2)), draw(st.integers(0, 3)), draw(st.integers(1, 2))
    roles = ["input"] * n_in + ["hidden"] * n_hid + ["output"] * n_out
    nodes = [NodeGene(i, r, draw(SIZES)) for i, r in enumerate(roles)]
    conns: list[ConnectionGene] = []
    for u in range(len(nodes)):  # feedforward edges go up the index order: acyclic
        for v in range(u + 1, len(nodes)):
            if roles[u] != "output" and roles[v] != "input" and draw(st.booleans()):
                conns.append(ConnectionGene(len(conns), u, v, enabled=draw(st.booleans())))
    for u in range(len(nodes)):  # a few recurrent edges, back or onto themselves
        v = draw(st.integers(0, u))
        if roles[v] != "input" and draw(st.integers(0, 3)) == 0 and \
                all((c.src, c.dst) != (u, v) for c in conns):
            conns.append(ConnectionGene(len(conns), u, v, recurrent=True))
    genome = Genome(tuple(nodes), tuple(conns))
    genome.validate()
    return genome


@st.composite
def grown(draw):
    """(genome, the same genome with one more neuron, edge or node)."""
    g = draw(genomes())
    kind = draw(st.sampled_from(["grow", "edge", "enable", "node"]))
    nodes, conns = list(g.nodes), list(g.connections)
    innovation = max((c.innovation for c in conns), default=-1) + 1
    if kind == "grow":
        i = draw(st.integers(0, len(nodes) - 1))
        nodes[i] = dataclasses.replace(nodes[i], size=nodes[i].size + draw(st.integers(1, 300)))
    elif kind == "enable" and any(not c.enabled for c in conns):
        i = draw(st.sampled_from([k for k, c in enumerate(conns) if not c.enabled]))
        conns[i] = dataclasses.replace(conns[i], enabled=True)
    elif kind == "edge":
        used = {(c.src, c.dst) for c in conns}
        free = [(u.id, v.id) for u in nodes for v in nodes
                if v.role != "input" and (u.id, v.id) not in used]
        if free:
            u, v = draw(st.sampled_from(free))
            recurrent = u == v or g.node(u).role == "output" or creates_cycle(g, u, v)
            conns.append(ConnectionGene(innovation, u, v, recurrent=recurrent))
    else:  # a new hidden node fed by some node, feeding an output
        h = max(n.id for n in nodes) + 1
        nodes.append(NodeGene(h, "hidden", draw(SIZES)))
        src = draw(st.sampled_from([n.id for n in g.nodes if n.role != "output"]))
        dst = draw(st.sampled_from(g.output_ids))
        conns += [ConnectionGene(innovation, src, h), ConnectionGene(innovation + 1, h, dst)]
    bigger = Genome(tuple(nodes), tuple(conns))
    bigger.validate()
    return g, bigger


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grown(), st.integers(1, 3))
def test_cost_is_monotone(pair, chip_budget):
    small, big = pair
    for name in BUILTIN:
        a, b = cost(small, name), cost(big, name)
        for key in MONOTONE:
            assert getattr(b, key) >= getattr(a, key), (name, key, small, big)
        # a chip budget never makes the cost itself change, only the violations
        assert cost(big, name, chips=chip_budget).as_dict() == b.as_dict()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.integers(0, 40), st.booleans())
def test_the_costliest_genome_bounds_every_genome_of_its_space(seed, steps, recurrent):
    """What hypervolume references rest on (objectives.covering_references)."""
    space = SearchSpace(70, 3, SpaceSettings(max_hidden_size=300, max_hidden_nodes=4,
                                             max_connections=14, allow_recurrent=recurrent))
    rng, tracker = np.random.default_rng(seed), InnovationTracker()
    genome = space.minimal_genome(tracker)
    rates = MutationRates(add_node=0.5, add_edge=0.8, toggle_edge=0.2, resize_node=0.8,
                          resize_sigma=2.0)
    for _ in range(steps):
        genome = space.mutate(genome, rng, tracker, rates)
    top = space.costliest_genome()
    top.validate()
    assert genome.n_parameters() <= top.n_parameters()
    for name in BUILTIN:
        mine, bound = cost(genome, name), cost(top, name)
        for key in MONOTONE:
            assert getattr(mine, key) <= getattr(bound, key), (name, key, genome)


# -- TOML profiles ------------------------------------------------------------------------
@pytest.mark.parametrize("name", BUILTIN)
def test_toml_round_trip(tmp_path, name):
    path = tmp_path / f"{name}.toml"
    path.write_text(to_toml(get_profile(name)))
    assert load_profile(path) == get_profile(name)


@pytest.mark.parametrize("text", ["fast chip \U0001f680", "\u00b5J per event",
                                  'a "quoted" \\ path', "tab\tnew\nline\x00\x7f"])
def test_toml_round_trip_of_any_text(tmp_path, text):
    # an emoji was written as a JSON surrogate pair, which TOML refuses: a run's
    # profile.toml then did not read back and the run could not be resumed
    chip = CoreBudget(name=text, neurons_per_core=1, cores_per_chip=1, weight_bits=1,
                      energy_per_synop_j=0.0, energy_per_spike_j=0.0, time_step_s=1.0,
                      sources=(text,), notes=text)
    path = tmp_path / "chip.toml"
    path.write_bytes(to_toml(chip).encode("ascii"))  # read back whatever encoding wrote it
    assert load_profile(path) == chip


@pytest.mark.parametrize("field,index", [("name", "name"), ("notes", "notes"),
                                         ("sources", "sources[1]")])
def test_a_lone_surrogate_is_refused_naming_the_field(field, index):
    # "\ud800" was accepted and written to a run's profile.toml as a \ud800 escape, which
    # no TOML reader takes back: the run could not be resumed
    value = ("fine", "bad \ud800") if field == "sources" else "bad \ud800"
    with pytest.raises(ProfileError, match=rf"field '{re.escape(index)}' holds the lone "
                                           r"surrogate '\\ud800' at character 4.*UTF-8"):
        dataclasses.replace(get_profile("loihi"), **{field: value})


def test_numpy_numbers_in_a_profile_are_written_as_toml_numbers(tmp_path):
    # np.float64 was kept and written by repr() as "np.float64(1e-11)": a run's
    # profile.toml did not read back; np.int64 and np.float32 were refused as not numbers
    chip = CoreBudget(name="np", neurons_per_core=np.int64(512), cores_per_chip=np.int32(4),
                      weight_bits=8, energy_per_synop_j=np.float64(1e-11),
                      energy_per_spike_j=np.float32(2e-11), time_step_s=np.float64(1e-3),
                      axons_per_core=np.uint16(1024))
    assert type(chip.neurons_per_core) is int and type(chip.energy_per_synop_j) is float
    assert type(chip.energy_per_spike_j) is float
    path = tmp_path / "np.toml"
    path.write_text(to_toml(chip))
    assert load_profile(path) == chip


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "chip.toml"
    path.write_text(text)
    return path


MINIMAL = """name = "chip"
neurons_per_core = 256
cores_per_chip = 4
weight_bits = 8
energy_per_synop_j = 1e-12
energy_per_spike_j = 2e-12
time_step_s = 1e-3
"""


@pytest.mark.parametrize("text,field", [
    (MINIMAL + "neurons_per_cores = 3\n", "neurons_per_cores"),  # unknown key
    (MINIMAL.replace("weight_bits = 8\n", ""), "weight_bits"),  # missing
    (MINIMAL + "axons_per_core = -4\n", "axons_per_core"),  # negative
    (MINIMAL.replace("energy_per_spike_j = 2e-12", "energy_per_spike_j = -2e-12"),
     "energy_per_spike_j"),
    (MINIMAL.replace("cores_per_chip = 4", 'cores_per_chip = "4"'), "cores_per_chip"),
    (MINIMAL + 'estimates = ["speed"]\n', "estimates"),
    (MINIMAL + 'latency_model = "warp"\n', "latency_model"),
])
def test_toml_errors_name_the_field_and_the_file(tmp_path, text, field):
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError, match=re.escape(field)) as info:
        load_profile(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("field", ["energy_per_synop_j", "energy_per_spike_j",
                                   "energy_per_neuron_update_j"])
def test_an_energy_given_in_picojoules_is_refused_naming_field_value_and_unit(tmp_path,
                                                                              field):
    # 35.5 (meant as pJ) was taken as 35.5 J: every energy 10^12 times too high, silently
    text = re.sub(rf"^{field} = .*$", "", MINIMAL, flags=re.M) + f"{field} = 35.5\n"
    with pytest.raises(ProfileError, match=rf"{field}' is in joules per event and must be "
                                           r"<= 0\.001 .*35\.5 pJ, write 3\.55e-11\), "
                                           r"got 35\.5$") as info:
        load_profile(_write(tmp_path, text))
    assert str(tmp_path) in str(info.value)
    # the costliest real figure (SpiNNaker's 5.9 uJ per event, system-wide) still loads
    text = re.sub(rf"^{field} = .*$", f"{field} = 5.9e-6", text, flags=re.M)
    assert getattr(load_profile(_write(tmp_path, text)), field) == 5.9e-6


def test_toml_minimal_file_and_broken_files(tmp_path):
    p = load_profile(_write(tmp_path, MINIMAL))
    assert (p.name, p.axons_per_core, p.packing, p.sources) == ("chip", None, "dense", ())
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(_write(tmp_path, "name = \n"))
    with pytest.raises(ProfileError, match="does not exist"):
        load_profile(tmp_path / "absent.toml")
    upper = tmp_path / "CHIP.TOML"  # a profile file, but not named *.toml: say why it is
    upper.write_text(MINIMAL)  # not read, rather than only that no such profile exists
    with pytest.raises(ProfileError, match="a profile file is read only if its name ends in "
                                           r"\.toml"):
        get_profile(str(upper))
    with pytest.raises(ProfileError, match=r"read a profile file with load_profile\(path\)"):
        cost(dense(2, 2), str(_write(tmp_path, MINIMAL)))
    (tmp_path / "chips.toml").mkdir()
    with pytest.raises(ProfileError, match="'.*chips.toml' is a directory, not a TOML file"):
        load_profile(tmp_path / "chips.toml")


# -- the documentation's examples run ----------------------------------------------------
def test_docs_examples_run(tmp_path, scratch_registry, monkeypatch):
    # the examples' tempfile.mkdtemp() runs land in this test's folder, which pytest prunes
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), {})
    assert "mychip" in available_profiles()
    toml = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert len(toml) == 1
    loaded = load_profile(_write(tmp_path, toml[0]))
    assert dataclasses.replace(loaded, fan_out_per_neuron=None, fan_out_relays=False) == \
        get_profile("mychip")
