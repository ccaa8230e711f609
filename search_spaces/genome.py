"""The genome: a graph of neuron groups, with no weights in it.

NEAT (Stanley & Miikkulainen 2002) encodes a network as node genes and connection genes,
each connection carrying a historical *innovation number* so that genomes of different
shapes can be aligned for crossover. neurevo keeps that encoding but lets a node stand for
a *group* of ``size`` neurons with one activation: a connection gene between two groups is a
dense block of ``size_src x size_dst`` synapses. A node of size 1 is a single neuron, so
classic neuron-level NEAT is a special case, and layered MLPs with skip connections are
small genomes.

Weights are not genes: the learning rule under study learns them, so the genome describes
only what evolution decides (structure, sizes, activations).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from operator import attrgetter
from typing import Any

from search_spaces.activations import NAMES as ACTIVATION_NAMES

SCHEMA_VERSION = 1
ROLES = ("input", "hidden", "output")
# Bounds far above anything a search trains (a population of such networks would not fit in
# memory), so that a genome read from a small damaged or hostile file is refused before its
# network is built: a few bytes of JSON can claim terabytes of weights.
MAX_NEURONS = 1_000_000  # in all groups together
MAX_SYNAPSES = 100_000_000  # in the enabled connections (400 MB of float32 weights)
_BY_ID = attrgetter("id")
_BY_INNOVATION = attrgetter("innovation")
_JSON_BOOL = {True: "true", False: "false"}
_JSON_STRINGS: dict[str, str] = {}  # role and activation names as JSON strings


def _json_str(name: str) -> str:
    """``json.dumps(name)``, made once per name."""
    text = _JSON_STRINGS.get(name)
    if text is None:
        text = _JSON_STRINGS[name] = json.dumps(name)
    return text


def _node_json(n: NodeGene) -> str:
    text = f"[{n.id},{_json_str(n.role)},{n.size},{_json_str(n.activation)}]"
    object.__setattr__(n, "_json", text)  # a cache beside the frozen fields
    return text


def _connection_json(c: ConnectionGene) -> str:
    text = (f"[{c.innovation},{c.src},{c.dst},{_JSON_BOOL[c.enabled]},"
            f"{_JSON_BOOL[c.recurrent]}]")
    object.__setattr__(c, "_json", text)
    return text


class GenomeError(ValueError):
    """A genome breaks a structural rule; the message names the gene and the rule."""


# genes are slotted: a generation of ten thousand children holds a few hundred thousand of
# them, each one object for the cyclic collector instead of two (``benchmarks/driver.py``)
@dataclass(frozen=True, slots=True)
class NodeGene:
    id: int
    role: str  # "input" | "hidden" | "output"
    size: int  # neurons in the group
    activation: str = "identity"
    # this gene's part of Genome.to_json, made once: a mutated child shares all but a few
    # genes with its parent, so its JSON is mostly joined from parts already written
    _json: str | None = field(default=None, init=False, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ConnectionGene:
    innovation: int
    src: int
    dst: int
    enabled: bool = True
    # A recurrent edge feeds a state back in time (or within a relaxation); it is left out
    # of the feedforward DAG and so may close a cycle.
    recurrent: bool = False
    _json: str | None = field(default=None, init=False, repr=False, compare=False)  # as NodeGene's


# slotted, with its derived views kept in slots once made (the genome is immutable): a
# generation of ten thousand children is that many genomes, each one object for the cyclic
# collector instead of two (``benchmarks/driver.py``)
@dataclass(frozen=True, slots=True)
class Genome:
    nodes: tuple[NodeGene, ...]
    connections: tuple[ConnectionGene, ...] = field(default=())
    _json: str | None = field(default=None, init=False, repr=False, compare=False)
    _hidden_ids: tuple[int, ...] | None = field(default=None, init=False, repr=False,
                                                compare=False)
    _n_parameters: int | None = field(default=None, init=False, repr=False, compare=False)
    # search_spaces.space.distance_genes's view, kept there
    _distance_genes: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=_BY_ID)))
        object.__setattr__(self, "connections",
                           tuple(sorted(self.connections, key=_BY_INNOVATION)))

    # -- views -------------------------------------------------------------------------
    def node(self, node_id: int) -> NodeGene:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def ids(self, role: str) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes if n.role == role)

    @property
    def input_ids(self) -> tuple[int, ...]:
        return self.ids("input")

    @property
    def output_ids(self) -> tuple[int, ...]:
        return self.ids("output")

    @property
    def input_size(self) -> int:
        """Features the network takes: its input level, as compiled (every input node)."""
        return sum(n.size for n in self.nodes if n.role == "input")

    @property
    def output_size(self) -> int:
        """Class scores the network gives (every output node)."""
        return sum(n.size for n in self.nodes if n.role == "output")

    @property
    def hidden_ids(self) -> tuple[int, ...]:
        # kept on the (immutable) genome: the mutation operators ask for it once each
        ids = self._hidden_ids
        if ids is None:
            ids = self.ids("hidden")
            object.__setattr__(self, "_hidden_ids", ids)
        return ids

    def enabled_connections(self, recurrent: bool | None = False) -> tuple[ConnectionGene, ...]:
        """Enabled connections; ``recurrent=None`` returns both kinds."""
        return tuple(
            c
            for c in self.connections
            if c.enabled and (recurrent is None or c.recurrent == recurrent)
        )

    def n_parameters(self) -> int:
        """Trainable numbers a rule learns: enabled synapses plus a bias per non-input neuron
        (kept on the immutable genome: every record row asks, and clones share a genome)."""
        count = self._n_parameters
        if count is None:
            size = {n.id: n.size for n in self.nodes}
            synapses = sum(size[c.src] * size[c.dst] for c in self.enabled_connections(None))
            biases = sum(n.size for n in self.nodes if n.role != "input")
            count = synapses + biases
            object.__setattr__(self, "_n_parameters", count)
        return count

    def with_changes(self, **changes: Any) -> Genome:
        return replace(self, **changes)

    # -- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "nodes": [[n.id, n.role, n.size, n.activation] for n in self.nodes],
            "connections": [
                [c.innovation, c.src, c.dst, c.enabled, c.recurrent] for c in self.connections
            ],
        }

    def to_json(self) -> str:
        """Canonical JSON: the same genome always gives the same string (and hash), the
        one ``json.dumps(self.to_dict(), separators=(",", ":"))`` writes, written out
        directly (tests/test_genome.py compares them).

        Kept on the (immutable) genome once made: neat-pso keys every child by it, and a
        child cloned without a structural change is its parent's genome object, so a
        generation of ten thousand children makes far fewer strings than it has children
        (``benchmarks/driver.py`` times that generation)."""
        text = self._json
        if text is None:
            nodes = ",".join([n._json or _node_json(n) for n in self.nodes])
            conns = ",".join([c._json or _connection_json(c) for c in self.connections])
            text = (f'{{"schema_version":{SCHEMA_VERSION},"nodes":[{nodes}],'
                    f'"connections":[{conns}]}}')
            object.__setattr__(self, "_json", text)  # a cache beside the genes
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any], validate: bool = True) -> Genome:
        """Parse the JSON form; ``validate=False`` skips the structural checks for genomes
        this process wrote itself (strategy state), which every compile re-checks anyway."""
        if not isinstance(data, dict):
            raise GenomeError(f"genome must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise GenomeError(
                f"genome schema_version is {version!r}; this neurevo reads {SCHEMA_VERSION}"
            )
        try:
            nodes = tuple(
                NodeGene(int(i), str(role), int(size), str(act))
                for i, role, size, act in data["nodes"]
            )
            conns = tuple(
                ConnectionGene(int(inn), int(s), int(d), bool(en), bool(rec))
                for inn, s, d, en, rec in data["connections"]
            )
        except KeyError as exc:
            raise GenomeError(f"genome JSON lacks the field {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise GenomeError(f"genome JSON has a malformed gene: {exc}") from None
        genome = cls(nodes, conns)
        if validate:
            genome.validate()
        return genome

    @classmethod
    def from_json(cls, text: str) -> Genome:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenomeError(f"genome is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def stable_hash(self) -> str:
        return json_hash(self.to_json())

    # -- validation --------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`GenomeError` naming the first broken rule."""
        ids = [n.id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise GenomeError(f"node ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")
        for n in self.nodes:
            if n.role not in ROLES:
                raise GenomeError(f"node {n.id}: role {n.role!r} is not one of {ROLES}")
            if n.size < 1:
                raise GenomeError(f"node {n.id}: size must be >= 1, got {n.size}")
            if n.activation not in ACTIVATION_NAMES:
                raise GenomeError(
                    f"node {n.id}: activation {n.activation!r} is not one of "
                    f"{list(ACTIVATION_NAMES)}"
                )
        if not self.input_ids or not self.output_ids:
            raise GenomeError("a genome needs at least one input node and one output node")
        innovations = [c.innovation for c in self.connections]
        if len(set(innovations)) != len(innovations):
            repeated = sorted({i for i in innovations if innovations.count(i) > 1})
            raise GenomeError(f"connection innovation numbers repeat: {repeated}")
        role = {n.id: n.role for n in self.nodes}
        pairs: set[tuple[int, int]] = set()
        for c in self.connections:
            for end in (c.src, c.dst):
                if end not in role:
                    raise GenomeError(f"connection {c.innovation}: node {end} does not exist")
            if (c.src, c.dst) in pairs:
                raise GenomeError(f"connection {c.innovation}: {c.src}->{c.dst} is a duplicate")
            pairs.add((c.src, c.dst))
            if role[c.dst] == "input":
                raise GenomeError(f"connection {c.innovation}: input node {c.dst} has an input")
            if not c.recurrent and role[c.src] == "output":
                raise GenomeError(
                    f"connection {c.innovation}: feedforward edge leaves output node {c.src}"
                )
        neurons = sum(n.size for n in self.nodes)
        if neurons > MAX_NEURONS:
            raise GenomeError(f"{neurons} neurons, over the limit of {MAX_NEURONS}")
        size = {n.id: n.size for n in self.nodes}
        synapses = sum(size[c.src] * size[c.dst] for c in self.enabled_connections(None))
        if synapses > MAX_SYNAPSES:
            raise GenomeError(f"{synapses} synapses in its enabled connections, over the "
                              f"limit of {MAX_SYNAPSES}")
        order = topological_order(self.nodes, self.connections)
        if order is None:
            cycle = _feedforward_cycle(self.nodes, self.connections)
            path = "->".join(str(c.src) for c in cycle) + f"->{cycle[0].src}"
            raise GenomeError(
                f"the feedforward (non-recurrent) connections form a cycle: connections "
                f"{[c.innovation for c in cycle]} close the loop {path}"
            )


def layered(sizes: Sequence[int], activations: str | Sequence[str] = "relu") -> Genome:
    """A chain of groups: ``sizes[0]`` inputs, one hidden group per inner size (with its own
    activation when ``activations`` is a sequence, one per hidden group), ``sizes[-1]``
    outputs, each group feeding the next. The hand-designed MLPs that tests and benchmarks
    set beside evolved genomes, and the chain a search may start from
    (:meth:`search_spaces.space.SearchSpace.start_genome`): input id 0, output id 1, hidden
    ids from 2 in order."""
    hidden = sizes[1:-1]
    kinds = [activations] * len(hidden) if isinstance(activations, str) else list(activations)
    if len(kinds) != len(hidden):
        raise GenomeError(f"layered: {len(kinds)} activations for {len(hidden)} hidden groups")
    ids = [0, *range(2, 2 + len(hidden)), 1]
    nodes = [NodeGene(0, "input", sizes[0]), NodeGene(1, "output", sizes[-1])]
    nodes += [NodeGene(ids[i], "hidden", size, kind)
              for i, (size, kind) in enumerate(zip(hidden, kinds), 1)]
    return Genome(tuple(nodes), tuple(ConnectionGene(i, a, b)
                                      for i, (a, b) in enumerate(zip(ids, ids[1:]))))


def _feedforward_cycle(
    nodes: Iterable[NodeGene], connections: Iterable[ConnectionGene]
) -> list[ConnectionGene]:
    """The connections of one cycle through non-recurrent edges (call only when one exists)."""
    edges = [c for c in connections if not c.recurrent]
    remaining = {n.id for n in nodes}
    while True:  # peel off nodes without a remaining predecessor; cycles are what is left
        has_pred = {c.dst for c in edges if c.src in remaining and c.dst in remaining}
        if has_pred == remaining:
            break
        remaining = has_pred
    into = {c.dst: c for c in edges if c.src in remaining and c.dst in remaining}
    node, walk = min(remaining), []  # walk back along predecessors until a node repeats
    while node not in walk:
        walk.append(node)
        node = into[node].src
    loop = walk[walk.index(node):]
    return [into[v] for v in reversed(loop)]


def topological_order(
    nodes: Iterable[NodeGene], connections: Iterable[ConnectionGene]
) -> list[int] | None:
    """Kahn's order over *all* non-recurrent edges (disabled ones too, so re-enabling an
    edge can never close a cycle); ``None`` when there is a cycle."""
    ids = [n.id for n in nodes]
    succ: dict[int, list[int]] = {i: [] for i in ids}
    indeg = dict.fromkeys(ids, 0)
    for c in connections:
        if not c.recurrent:
            succ[c.src].append(c.dst)
            indeg[c.dst] += 1
    ready = sorted(i for i in ids if indeg[i] == 0)
    order: list[int] = []
    while ready:
        i = ready.pop(0)
        order.append(i)
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                ready.append(j)
    return order if len(order) == len(ids) else None


class CycleCheck:
    """Would a feedforward edge src->dst close a cycle (through any non-recurrent edge,
    disabled ones too)? The successor lists are built once, for many queries on one genome."""

    def __init__(self, genome: Genome) -> None:
        self.succ: dict[int, list[int]] = {}
        for c in genome.connections:
            if not c.recurrent:
                self.succ.setdefault(c.src, []).append(c.dst)

    def __call__(self, src: int, dst: int) -> bool:
        if src == dst:
            return True
        stack, seen = [dst], set()
        while stack:
            node = stack.pop()
            if node == src:
                return True
            if node not in seen:
                seen.add(node)
                stack.extend(self.succ.get(node, ()))
        return False


def heard_from_inputs(genome: Genome) -> set[int]:
    """The nodes an input's signal reaches through enabled feedforward edges (inputs too)."""
    succ: dict[int, list[int]] = {}
    for c in genome.enabled_connections(recurrent=False):
        succ.setdefault(c.src, []).append(c.dst)
    stack, seen = list(genome.input_ids), set(genome.input_ids)
    while stack:
        for nxt in succ.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def outputs_reachable(genome: Genome) -> bool:
    """Does every output node hear from an input through enabled feedforward edges?

    A genome without such a path computes a constant: it trains to chance accuracy at the
    lowest possible cost, so under any cost objective it would sit on the Pareto front as a
    useless extreme and draw search effort toward itself. The search space therefore never
    makes one (:meth:`search_spaces.space.SearchSpace.toggle_edge`, ``crossover``)."""
    return heard_from_inputs(genome).issuperset(genome.output_ids)


def creates_cycle(genome: Genome, src: int, dst: int) -> bool:
    """Would a feedforward edge src->dst close a cycle (through any non-recurrent edge)?"""
    return CycleCheck(genome)(src, dst)


def json_hash(genome_json: str) -> str:
    """:meth:`Genome.stable_hash` from the genome's :meth:`Genome.to_json`, for a caller
    that already has the JSON (a record row holds both)."""
    return hashlib.sha256(genome_json.encode()).hexdigest()[:16]
