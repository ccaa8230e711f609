"""What a genome would occupy on a neuromorphic chip: cores, chips, energy and latency.

An analytical per-core model (docs/hardware.md), applied per node group
the way nengo-loihi (one block per core), sPyNNaker/PACMAN (one machine vertex per core) and
NxTF (layer partitions) count cores:

* **Inputs occupy no core.** They arrive as spikes from the host / sensor interface (on Loihi
  from an embedded core), so an input group costs one input axon on every core that receives
  it, synaptic ops at its targets, and nothing else; its fan-out is free.
* **Each hidden or output group gets its own cores** (groups never share a core, except on a
  ``shared_cores`` profile, where cores are the pooled bound below). Every neuron of group v
  receives the same F_v presynaptic neurons (a dense block per enabled edge, recurrent ones
  included). A core holding n of its neurons uses::

      neurons n <= C            input axons F_v <= A_in        synapses n*F_v <= S
      memory F_v*axon_bits(n) <= M (profile packing)         output axons n*d_v <= A_out

  where d_v is the destinations of one neuron (cores of each successor that receive it, +1
  for the host readout of an output group). n_v is the largest n meeting every limit and
  ``cores(v) = ceil(N_v / n_v)``; the limit that sets n_v is reported as ``binding``.
* **A single neuron that fits no core** is a violation (limit -> amount over), unless the
  profile can split it: ``fan_in_splitting`` cuts F_v into chunks of the per-neuron
  maximum, each feeding a partial-sum neuron, merged by a tree of merge neurons (TrueNorth,
  Esser 2016); ``fan_out_relays`` serves d_v > fan_out_per_neuron with splitter neurons,
  ceil(d/f) copies per neuron on relay cores (TrueNorth corelets). Each merge or relay level
  is one more stage of delay.
* ``shared_cores`` (Xylo): cores = max(ceil(sum neurons / C), ceil(sum synapses / S),
  ceil(sum memory / M), 1), the reference's closed-form lower bound.

Per inference of T time steps with spike probability ``activity`` per neuron and step::

    synaptic_ops = activity * T * synapses          (every spike reaches each of its synapses)
    spikes       = activity * T * neurons           (neurons on cores; inputs come for free)
    energy  = synaptic_ops*e_sop + spikes*e_spike + T*neurons*e_nu + P_chip*chips*latency
    latency = time_step * (T + D - 1)   pipelined: each stage adds one step of delay
            = time_step * T * D         layered: each stage runs its T steps in turn

with D the most stages on a path into an output. Every quantity is monotone: more neurons,
edges or wider groups never cost less (tested with hypothesis).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from evolve.hardware.profiles import CoreBudget, ProfileError, get_profile
from search_spaces.genome import ConnectionGene, Genome, NodeGene, topological_order
from search_spaces.net import Net

DEFAULT_ACTIVITY = 0.1  # spikes per neuron per time step (an assumption; pass your own)
DEFAULT_TIMESTEPS = 32  # time steps per inference (rate-coded inference needs tens or more)


@dataclass(frozen=True)
class GroupCost:
    """How one hidden or output group maps onto cores."""

    node: int
    size: int  # neurons the genome asks for
    fan_in: int  # presynaptic neurons of each neuron
    fan_out: int  # destinations of each neuron, in the profile's fan_out_unit
    cores: int  # cores of this group, partial/merge/relay stages included
    neurons: int  # hardware neurons: size + partial-sum, merge and splitter neurons
    synapses: int
    memory_bits: int
    neurons_per_core: int  # of the main (first) stage
    binding: str  # the limit that sets neurons_per_core
    input_splits: int = 1  # chunks the fan-in was cut into (1 = not split)
    merge_levels: int = 0
    relay_levels: int = 0
    row_cores: int = 1  # cores of the first stage that one presynaptic neuron reaches

    @property
    def stages(self) -> int:
        return 1 + self.merge_levels + self.relay_levels


@dataclass(frozen=True)
class HardwareCost:
    """Cost of one network on one profile, per inference."""

    profile: str
    cores: int
    chips: int
    neurons: int  # on cores (inputs excluded), partial/merge/relay neurons included
    synapses: int
    synaptic_memory_bits: int
    synaptic_ops: float
    spikes: float
    energy_j: float
    latency_s: float
    depth: int  # stages on the longest path into an output
    violations: Mapping[str, float] = field(default_factory=dict)  # limit -> amount over
    groups: tuple[GroupCost, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.violations

    def as_dict(self) -> dict[str, float]:
        """The scalar costs, e.g. for an evaluation record's ``costs`` column."""
        return {name: getattr(self, name) for name in SCALAR_COSTS}


# What HardwareCost.as_dict() holds: every record's ``costs``, and what a budget may name.
SCALAR_COSTS = ("cores", "chips", "neurons", "synapses", "synaptic_memory_bits",
                "synaptic_ops", "energy_j", "latency_s")


def cost(net_or_genome: Genome | Net, profile: CoreBudget | str, *, chips: int | None = None,
         activity: float | Mapping[int, float] = DEFAULT_ACTIVITY,
         timesteps: int = DEFAULT_TIMESTEPS) -> HardwareCost:
    """Map ``net_or_genome`` onto ``profile`` (a profile or its registered name).

    ``activity``: spike probability per neuron and time step — one number for every group,
    or a measured one per node id (``{node_id: share}``; a trained network's sparse groups
    then cost less than its busy ones).

    ``chips``: a chip budget; needing more cores than ``chips * cores_per_chip`` adds the
    violation ``"chips"`` (cores over). Without it only limits that no mapping can meet are
    violations (e.g. a fan-in beyond every core on a chip that cannot split neurons).

    >>> from search_spaces.genome import Genome, NodeGene, ConnectionGene
    >>> g = Genome((NodeGene(0, "input", 256), NodeGene(1, "output", 256)),
    ...            (ConnectionGene(0, 0, 1),))
    >>> cost(g, "truenorth").cores, cost(g.with_changes(nodes=(NodeGene(0, "input", 257),
    ...      NodeGene(1, "output", 256))), "truenorth").cores
    (1, 4)
    """
    p = get_profile(profile)
    rates = activity.values() if isinstance(activity, Mapping) else [activity]
    if not all(0.0 <= a <= 1.0 for a in rates):
        raise ValueError(f"activity must be in [0, 1], got {activity}")
    if int(timesteps) != timesteps or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, got {timesteps}")
    if chips is not None and (int(chips) != chips or chips < 1):
        raise ValueError(f"chips must be an integer >= 1, got {chips}")
    genome = net_or_genome if isinstance(net_or_genome, Genome) else genome_of(net_or_genome)
    groups = _map_groups(genome, p)
    return _totals(genome, p, groups, chips, activity, int(timesteps))


# -- one core ----------------------------------------------------------------------------
def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _largest(use: Callable[[int], int], cap: int, hi: int) -> int:
    """Largest n in [1, hi] with use(n) <= cap (use is non-decreasing, use(1) <= cap)."""
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if use(mid) <= cap else (lo, mid - 1)
    return lo


def _per_core(p: CoreBudget, fan_in: int, dests: int, private: bool = False
              ) -> tuple[int, str, dict[str, int]]:
    """Neurons per core, the limit that binds, and the limits even one neuron exceeds.

    ``private``: each neuron has its own ``fan_in`` inputs (merge neurons) instead of all
    neurons of the core sharing the same ones."""
    def axons(n: int) -> int:
        return n * fan_in if private else fan_in

    usage: dict[str, tuple[int | None, Callable[[int], int]]] = {
        "axons_per_core": (p.axons_per_core, axons),
        "synapses_per_core": (p.synapses_per_core, lambda n: n * fan_in),
        "synaptic_memory_bits_per_core": (
            p.synaptic_memory_bits_per_core,
            lambda n: axons(n) * p.axon_bits(1 if private else n)),
        "output_axons_per_core": (p.output_axons_per_core, lambda n: n * dests),
    }
    best, binding, over = p.neurons_per_core, "neurons_per_core", {}
    for name, (cap, use) in usage.items():
        if cap is None:
            continue
        if use(1) > cap:  # even one neuron per core breaks it: a violation, and the group
            over[name] = use(1) - cap  # is pinned to one neuron per core (keeps it monotone)
            n = 1
        else:
            n = _largest(use, cap, best)
        if n < best:
            best, binding = n, name
    return best, binding, over


def _memory(p: CoreBudget, size: int, per_core: int, fan_in: int) -> int:
    full, rest = divmod(size, per_core)
    return fan_in * (full * p.axon_bits(per_core) + p.axon_bits(rest))


# -- one group ---------------------------------------------------------------------------
def _map_group(p: CoreBudget, node: int, size: int, fan_in: int, dests: int
               ) -> tuple[GroupCost, dict[str, int]]:
    over: dict[str, int] = {}
    per_neuron = [x for x in (p.axons_per_core, p.fan_in_per_neuron) if x is not None]
    max_in = min(per_neuron) if per_neuron else None
    merge_levels, splits = 0, 1
    if max_in is not None and fan_in > max_in and p.fan_in_splitting:
        # partial sums: chunk j's neurons see max_in inputs and feed one merge input each
        chunks = [max_in] * (fan_in // max_in) + ([fan_in % max_in] if fan_in % max_in else [])
        splits = len(chunks)
        cores = row_cores = memory = 0
        for j, width in enumerate(chunks):
            n, b, o = _per_core(p, width, 1)
            if j == 0:
                per_core, binding = n, b
            over.update(o)
            cores += _ceil(size, n)
            row_cores = max(row_cores, _ceil(size, n))
            memory += _memory(p, size, n, width)
        neurons, synapses = size * splits, size * fan_in
        m = splits
        while m > 1:  # merge tree: each merge neuron adds up to max_in partial sums
            width, m_next = min(m, max_in), _ceil(m, max_in)
            count = size * m_next
            n, _, o = _per_core(p, width, dests if m_next == 1 else 1, private=True)
            over.update(o)
            cores += _ceil(count, n)
            neurons, synapses = neurons + count, synapses + size * m
            memory += size * m * p.axon_bits(1)
            m, merge_levels = m_next, merge_levels + 1
    else:
        if p.fan_in_per_neuron is not None and fan_in > p.fan_in_per_neuron:
            over["fan_in_per_neuron"] = fan_in - p.fan_in_per_neuron
        per_core, binding, o = _per_core(p, fan_in, dests)
        over.update(o)
        cores = row_cores = _ceil(size, per_core)
        neurons, synapses = size, size * fan_in
        memory = _memory(p, size, per_core, fan_in)

    relay_levels = 0
    f_out = p.fan_out_per_neuron
    if f_out is not None and dests > f_out:
        if p.fan_out_relays and p.neurons_per_core >= 2:
            d, cap_c = dests, p.neurons_per_core
            cap_a = p.axons_per_core or cap_c
            while d > f_out:  # each source axon drives `copies` splitter neurons
                copies = _ceil(d, f_out)
                if copies <= cap_c:
                    cores += _ceil(size, min(cap_a, cap_c // copies))
                    d = 1
                else:
                    cores += size * _ceil(copies, cap_c)
                    d = _ceil(copies, cap_c)
                neurons, synapses = neurons + size * copies, synapses + size * copies
                memory += size * p.axon_bits(copies)
                relay_levels += 1
        else:
            over["fan_out_per_neuron"] = dests - f_out
    group = GroupCost(node, size, fan_in, dests, cores, neurons, synapses, memory, per_core,
                      binding, splits, merge_levels, relay_levels, row_cores)
    return group, over


def _map_groups(genome: Genome, p: CoreBudget) -> dict[int, tuple[GroupCost, dict[str, int]]]:
    """Map every hidden/output group. Destinations depend on how successors split, and (via
    output axons) splits depend on destinations, so iterate from one core per group up to
    the least fixed point; every step only adds cores, so it terminates."""
    size = {n.id: n.size for n in genome.nodes}
    mapped = [n.id for n in genome.nodes if n.role != "input"]
    outputs = set(genome.output_ids)
    edges = [(c.src, c.dst) for c in genome.enabled_connections(None)]
    fan_in = {v: 0 for v in mapped}
    for u, v in edges:
        fan_in[v] += size[u]
    row_cores = dict.fromkeys(mapped, 1)
    while True:
        dests = {v: 1 if (v in outputs and p.fan_out_unit == "cores") else 0 for v in mapped}
        for u, v in edges:
            if u in dests:
                dests[u] += row_cores[v] if p.fan_out_unit == "cores" else size[v]
        groups = {v: _map_group(p, v, size[v], fan_in[v], dests[v]) for v in mapped}
        new = {v: 1 if p.shared_cores else g.row_cores for v, (g, _) in groups.items()}
        if new == row_cores:
            return groups
        row_cores = new


# -- totals ------------------------------------------------------------------------------
def _totals(genome: Genome, p: CoreBudget, mapped: dict[int, tuple[GroupCost, dict[str, int]]],
            chips: int | None, activity: float | Mapping[int, float],
            timesteps: int) -> HardwareCost:
    groups = tuple(g for g, _ in mapped.values())
    violations: dict[str, float] = {}
    for _, over in mapped.values():
        for name, amount in over.items():
            violations[name] = max(violations.get(name, 0), amount)
    neurons = sum(g.neurons for g in groups)
    synapses = sum(g.synapses for g in groups)
    memory = sum(g.memory_bits for g in groups)
    if p.shared_cores:
        outputs = set(genome.output_ids) if p.output_channels is not None else set()
        pooled = sum(g.neurons for g in groups if g.node not in outputs)
        bounds = [1, _ceil(pooled, p.neurons_per_core)]
        if p.synapses_per_core:
            bounds.append(_ceil(synapses, p.synapses_per_core))
        if p.synaptic_memory_bits_per_core:
            bounds.append(_ceil(memory, p.synaptic_memory_bits_per_core))
        cores = max(bounds)
    else:
        cores = sum(g.cores for g in groups)
    n_chips = _ceil(cores, p.cores_per_chip)
    for limit, role in (("input_channels", "input"), ("output_channels", "output")):
        cap = getattr(p, limit)
        used = sum(n.size for n in genome.nodes if n.role == role)
        if cap is not None and used > cap:
            violations[limit] = used - cap
    if chips is not None and cores > chips * p.cores_per_chip:
        violations["chips"] = cores - chips * p.cores_per_chip

    depth = _depth(genome, {g.node: g.stages for g in groups})
    steps = timesteps + depth - 1 if p.latency_model == "pipelined" else timesteps * depth
    latency = steps * p.time_step_s
    synapse_rate, neuron_rate = _rates(genome, activity)
    synaptic_ops = synapse_rate * timesteps * synapses
    spikes = neuron_rate * timesteps * neurons
    energy = (synaptic_ops * p.energy_per_synop_j + spikes * p.energy_per_spike_j
              + timesteps * neurons * p.energy_per_neuron_update_j
              + p.chip_power_w * n_chips * latency)
    for name, value, constants in (
            ("latency_s", latency, "time_step_s (s)"),
            ("energy_j", energy, "energy_per_synop_j, energy_per_spike_j, "
                                 "energy_per_neuron_update_j (J), chip_power_w (W), "
                                 "time_step_s (s)")):
        if not math.isfinite(value):  # each constant is finite, but the product is not:
            # name the profile, not the candidate (every network would fail the same way)
            raise ProfileError(f"profile {p.name!r}: {name} of a network of {neurons} "
                               f"neurons and {synapses} synapses overflows to {value}; "
                               f"expected {constants} in those units")
    return HardwareCost(p.name, cores, n_chips, neurons, synapses, memory, synaptic_ops, spikes,
                        energy, latency, depth, violations, groups)


def _rates(genome: Genome, activity: float | Mapping[int, float]) -> tuple[float, float]:
    """Spike probability per step seen by the synapses (each connection block weighted by
    its size, at its *source* group's rate) and by the neurons (non-input groups weighted by
    size). One number for every group (the fixed guess) gives that number twice."""
    if not isinstance(activity, Mapping):
        return float(activity), float(activity)
    sizes = {n.id: n.size for n in genome.nodes}
    conns = genome.enabled_connections(None)
    weight = sum(sizes[c.src] * sizes[c.dst] for c in conns)
    synapse = sum(activity.get(c.src, 0.0) * sizes[c.src] * sizes[c.dst] for c in conns)
    groups = [n for n in genome.nodes if n.role != "input"]
    neurons = sum(n.size for n in groups)
    spiking = sum(activity.get(n.id, 0.0) * n.size for n in groups)
    return synapse / max(weight, 1), spiking / max(neurons, 1)


def _depth(genome: Genome, stages: Mapping[int, int]) -> int:
    """Most stages on a feedforward path ending at an output (inputs count 0)."""
    feedforward = genome.enabled_connections(recurrent=False)
    order = topological_order(genome.nodes, feedforward)
    if order is None:
        raise ValueError("the genome's feedforward edges form a cycle")
    preds: dict[int, list[int]] = {}
    for c in feedforward:
        preds.setdefault(c.dst, []).append(c.src)
    longest: dict[int, int] = {}
    for v in order:
        before = max((longest[u] for u in preds.get(v, ())), default=0)
        longest[v] = before + stages.get(v, 0)
    return max(longest[o] for o in genome.output_ids)


# -- Net -> group graph ------------------------------------------------------------------
def genome_of(net: Net) -> Genome:
    """The group graph of a compiled single Net (population 1), read from its layout:
    level 0 holds inputs, the last level outputs; a non-empty mask block between two
    groups is a (dense) edge."""
    if not isinstance(net, Net):
        raise TypeError(f"cost() takes a Genome or a Net, got {type(net).__name__}")
    if net.population != 1:
        raise ValueError(f"cost() takes a single Net (population 1), got {net.population} "
                         "members; cost each member's genome instead")
    slices = net.members[0].node_slices
    offsets = net.offsets()
    top = len(net.level_sizes) - 1

    def role(level: int) -> str:
        return "input" if level == 0 else "output" if level == top else "hidden"

    def cols(node: int) -> slice:
        level, a, b = slices[node]
        return slice(offsets[level] + a, offsets[level] + b)

    nodes = [NodeGene(i, role(lv), b - a) for i, (lv, a, b) in slices.items()]
    edges: list[tuple[int, int, bool]] = []
    for v, (lv, a, b) in slices.items():
        for u, (lu, _, _) in slices.items():
            if lv >= 1 and lu < lv and net.masks[lv - 1][0, a:b, cols(u)].any():
                edges.append((u, v, False))
            rec = net.recurrent_mask
            if rec is not None and rec[0, cols(v), cols(u)].any():
                edges.append((u, v, True))
    return Genome(tuple(nodes), tuple(ConnectionGene(i, u, v, True, r)
                                      for i, (u, v, r) in enumerate(edges)))
