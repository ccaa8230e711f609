"""The search space: what genomes may look like, and how they vary.

Operators follow NEAT (Stanley & Miikkulainen 2002): start minimal (inputs wired straight to
outputs; or from a hand-designed chain, ``SpaceSettings.start_widths``) and complexify by
splitting edges (add node) and adding edges; crossover aligns
connection genes on innovation numbers; the compatibility distance
``δ = c_d·D/N + c_a·Ā`` counts disjoint/excess genes D (normalised by the larger genome's
gene count N) plus mean attribute differences Ā of matching genes. Because weights are not
genes, the attribute terms are node size (log2 ratio), activation and enabled flag.

Every operator returns a genome that validates; the feedforward part stays acyclic because
the cycle check runs over disabled edges too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import NamedTuple

import numpy as np

from search_spaces.genome import (
    ConnectionGene,
    CycleCheck,
    Genome,
    NodeGene,
    layered,
    outputs_reachable,
)
from search_spaces.innovation import InnovationTracker
from search_spaces.settings import check_field_types


class SpaceError(ValueError):
    """A search-space setting is out of range; the message names the field."""


# the structural operators, in the order SearchSpace.mutate applies them (each a rate below)
MUTATION_OPERATORS = ("add_node", "add_edge", "toggle_edge", "resize_node", "change_activation")


@dataclass(frozen=True)
class MutationRates:
    """Per-offspring probability of each structural operator (applied independently)."""

    add_node: float = 0.2  # split an enabled edge with a new hidden group
    add_edge: float = 0.2  # connect two unconnected groups
    toggle_edge: float = 0.05  # flip an edge's enabled flag
    resize_node: float = 0.3  # multiply a hidden group's size by 2^N(0, resize_sigma)
    change_activation: float = 0.1  # draw a new activation for a hidden group
    resize_sigma: float = 0.5
    # add-node's rate in generation 0's one mutation pass from the start genome (from the
    # minimal genome, the default start, it is the only operator that can change anything;
    # from a start_widths chain every operator acts); see SearchSpace.initial_genomes. 0.2
    # (add_node's): 1.0, a hidden group in every first child, lowered the front's best
    # validation accuracy (mnist1d bp -3.4 points, digits pc -0.7; benchmarks/search_defaults.py)
    initial_add_node: float = 0.2

    def __post_init__(self) -> None:
        check_field_types(self, SpaceError)  # a wrong type named before any range check
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "resize_sigma":
                if not 0.0 <= value < math.inf:  # inf would draw infinite group sizes
                    raise SpaceError(f"resize_sigma must be >= 0, got {value}")
            elif not 0.0 <= value <= 1.0:
                raise SpaceError(f"{f.name} must lie in [0, 1] (a probability), got {value}")


@dataclass(frozen=True)
class SpaceSettings:
    """Everything about the space that does not depend on the task.

    A search's ``[space]`` config table is this type, and a :class:`SearchSpace` is built
    from it and the task's input and output sizes, so a space built in Python and one built
    from the command line's defaults are the same space.
    """

    hidden_activations: tuple[str, ...] = ("relu", "tanh", "sigmoid", "elu")
    output_activation: str = "identity"
    min_hidden_size: int = 4  # 1 = neuron-level NEAT
    # 256, not 128 (nor 64): the fronts' largest members sat at the cap, and at 20 x 10 with
    # groups of up to 256 the best validation accuracy rose on mnist1d for bp, lra and dfa
    # (+2.3, +2.0, +1.3 points, mean paired over seeds 2-6) and was level on digits with pc
    # (+0.1; its hypervolume -0.07) (benchmarks/search_defaults.py, search_defaults_256.json;
    # docs/science.md "Groups of up to 256 units", which also has the reported seeds)
    max_hidden_size: int = 256
    max_hidden_nodes: int = 6  # most hidden groups in a genome
    max_connections: int = 24  # most connection genes (enabled or not) in a genome
    # a new hidden group's (add-node's) size: log-uniform from this floor (0: min_hidden_size)
    # to max_hidden_size, or with new_group_size = "inherit" the size of the hidden group at
    # an end of the split edge (the larger; drawn when neither end is hidden)
    new_group_min_size: int = 0
    new_group_size: str = "draw"
    allow_recurrent: bool = False  # may add-edge close a cycle
    # the network the searches that grow genomes (neat, neat-pso, random) start from: the
    # widths of a chain of hidden groups input -> h1 -> ... -> output; (): inputs wired
    # straight to outputs, NEAT's minimal start
    start_widths: tuple[int, ...] = ()
    start_activation: str = ""  # the start chain's hidden activation ("": hidden_activations[0])
    # the share of generation 0 grown from the start chain; the rest grows from the minimal
    # genome, so a search seeded with a large hand-designed net still explores the cheap
    # nets of the front (1: all of it, the chain and its one-mutation children)
    start_share: float = 1.0
    # compatibility distance coefficients (NEAT's c1=c2 and c3)
    disjoint_coefficient: float = 1.0
    attribute_coefficient: float = 0.5

    def __post_init__(self) -> None:
        check_field_types(self, SpaceError)  # a wrong type named before any range check
        # messages start with the field's name: the config prefixes its table ("space.")
        if self.min_hidden_size < 1:
            raise SpaceError(f"min_hidden_size must be >= 1, got {self.min_hidden_size}")
        if self.max_hidden_size < self.min_hidden_size:
            raise SpaceError(f"max_hidden_size must be >= min_hidden_size "
                             f"({self.min_hidden_size}), got {self.max_hidden_size}")
        if self.new_group_min_size and not (
                self.min_hidden_size <= self.new_group_min_size <= self.max_hidden_size):
            raise SpaceError(f"new_group_min_size must be 0 (min_hidden_size) or in "
                             f"[min_hidden_size, max_hidden_size] = [{self.min_hidden_size}, "
                             f"{self.max_hidden_size}], got {self.new_group_min_size}")
        if self.new_group_size not in ("draw", "inherit"):
            raise SpaceError(f"new_group_size must be 'draw' or 'inherit', "
                             f"got {self.new_group_size!r}")
        if self.max_hidden_nodes < 0:
            raise SpaceError(f"max_hidden_nodes must be >= 0, got {self.max_hidden_nodes}")
        if self.max_connections < 1:  # the minimal genome has one connection
            raise SpaceError(f"max_connections must be >= 1, got {self.max_connections}")
        for name in ("disjoint_coefficient", "attribute_coefficient"):
            # inf makes every distance inf (or NaN: inf * 0), so speciation would break
            if not 0.0 <= getattr(self, name) < math.inf:
                raise SpaceError(f"{name} must be a finite number >= 0, "
                                 f"got {getattr(self, name)}")
        if not self.hidden_activations:
            raise SpaceError("hidden_activations must name at least one activation")
        self._check_start()
        from search_spaces.activations import NAMES

        for name, acts in (("hidden_activations", self.hidden_activations),
                           ("output_activation", (self.output_activation,))):
            for act in acts:
                if act not in NAMES:
                    raise SpaceError(f"{name}: {act!r} is not one of {list(NAMES)}")

    def _check_start(self) -> None:
        """The start chain must be a member of the space: every width a group size the
        space allows, no more groups or edges than a genome may have, and an activation
        mutation could draw."""
        widths = self.start_widths
        if not isinstance(widths, tuple):
            raise SpaceError(f"start_widths must be a tuple of hidden group sizes, got "
                             f"{widths!r}")
        if any(isinstance(w, bool) or not isinstance(w, int) for w in widths) or any(
                not self.min_hidden_size <= w <= self.max_hidden_size for w in widths):
            raise SpaceError(f"start_widths must be hidden group sizes in [min_hidden_size, "
                             f"max_hidden_size] = [{self.min_hidden_size}, "
                             f"{self.max_hidden_size}], got {list(widths)}")
        if len(widths) > self.max_hidden_nodes:
            raise SpaceError(f"start_widths has {len(widths)} hidden groups, more than "
                             f"max_hidden_nodes ({self.max_hidden_nodes})")
        if len(widths) + 1 > self.max_connections:
            raise SpaceError(f"start_widths needs {len(widths) + 1} connections, more than "
                             f"max_connections ({self.max_connections})")
        share = self.start_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or \
                not 0.0 < share <= 1.0:
            raise SpaceError(f"start_share must be a number in (0, 1] (the share of "
                             f"generation 0 grown from start_widths' chain), got {share!r}")
        if share < 1.0 and not widths:
            raise SpaceError(f"start_share ({share}) is the share of generation 0 grown from "
                             "the start chain, the rest from the minimal genome: give "
                             "start_widths too")
        if self.start_activation and not widths:
            raise SpaceError(f"start_activation ({self.start_activation!r}) applies to the "
                             "start chain's hidden groups: give start_widths too")
        if self.start_activation and self.start_activation not in self.hidden_activations:
            raise SpaceError(f"start_activation must be one of hidden_activations "
                             f"{list(self.hidden_activations)}, got {self.start_activation!r}")


@dataclass(frozen=True)
class SearchSpace:
    """The task's input and output sizes plus the task-independent :class:`SpaceSettings`."""

    n_inputs: int
    n_outputs: int
    settings: SpaceSettings = field(default_factory=SpaceSettings)

    def __post_init__(self) -> None:
        for name in ("n_inputs", "n_outputs"):
            if getattr(self, name) < 1:
                raise SpaceError(f"{name} must be >= 1, got {getattr(self, name)}")

    # -- initial population --------------------------------------------------------------
    def minimal_genome(self, tracker: InnovationTracker) -> Genome:
        """Inputs wired straight to outputs, no hidden node: NEAT's starting point.

        Node ids 0 (input group) and 1 (output group) are the same in every genome of a run.
        """
        if tracker.next_node_id < 2:
            tracker.next_node_id = 2
        nodes = (
            NodeGene(0, "input", self.n_inputs, "identity"),
            NodeGene(1, "output", self.n_outputs, self.settings.output_activation),
        )
        return Genome(nodes, (ConnectionGene(tracker.edge(0, 1), 0, 1),))

    def start_genome(self, tracker: InnovationTracker) -> Genome:
        """The genome a growing search starts from: the minimal genome, or with
        ``start_widths`` the chain input -> h1 -> ... -> output of those widths (a
        hand-designed MLP the search then varies). The chain's hidden groups have node ids 2,
        3, ... in every genome of a run, as the input and output groups have 0 and 1, so its
        descendants line up in crossover."""
        s = self.settings
        if not s.start_widths:
            return self.minimal_genome(tracker)
        chain = layered([self.n_inputs, *s.start_widths, self.n_outputs],
                        s.start_activation or s.hidden_activations[0])
        tracker.next_node_id = max(tracker.next_node_id, 2 + len(s.start_widths))
        nodes = tuple(replace(n, activation=s.output_activation) if n.role == "output" else n
                      for n in chain.nodes)
        return Genome(nodes, tuple(replace(c, innovation=tracker.edge(c.src, c.dst))
                                   for c in chain.connections))

    def initial_genomes(self, count: int, rng: np.random.Generator,
                        tracker: InnovationTracker, rates: MutationRates) -> list[Genome]:
        """Generation 0: the start genome (:meth:`start_genome`), then ``count - 1``
        children of one mutation pass from it with add-node at ``rates.initial_add_node``
        (from the minimal genome the other operators have nothing to act on).

        With ``start_share`` below 1, that holds for the chain's share of ``count`` (at least
        the chain itself), and the rest is the minimal genome and its children the same way,
        so generation 0 holds both ends of the front's energy range."""
        first = replace(rates, add_node=rates.initial_add_node)

        def grown(root: Genome, n: int) -> list[Genome]:  # the root and n - 1 children
            return [root] + [self.mutate(root, rng, tracker, first) for _ in range(n - 1)]

        from_start = self.start_count(count)
        genomes = grown(self.start_genome(tracker), from_start)
        if from_start < count:
            genomes += grown(self.minimal_genome(tracker), count - from_start)
        return genomes

    def start_count(self, count: int) -> int:
        """How many of ``count`` genomes of generation 0 grow from the start genome:
        ``start_share`` of them, rounded half up (0.25 of 10 is 3), at least one."""
        return max(1, min(count, math.floor(self.settings.start_share * count + 0.5)))

    def costliest_genome(self) -> Genome:
        """A bound on every genome of this space, for costs that grow with neurons, edges and
        depth: ``max_hidden_nodes`` groups of ``max_hidden_size`` in a chain, with every
        forward edge between any two groups. It may exceed ``max_connections`` — it bounds
        the space's members rather than being one."""
        s = self.settings
        k = s.max_hidden_nodes
        nodes = [NodeGene(0, "input", self.n_inputs, "identity"),
                 NodeGene(1, "output", self.n_outputs, s.output_activation)]
        nodes += [NodeGene(2 + i, "hidden", s.max_hidden_size, s.hidden_activations[0])
                  for i in range(k)]
        chain = [0, *range(2, 2 + k), 1]  # topological order
        pairs = [(a, b, False) for i, a in enumerate(chain) for b in chain[i + 1:]]
        if s.allow_recurrent:  # every edge add_edge could make that closes a cycle
            pairs += [(a, b, True) for i, a in enumerate(chain) for b in chain[1:i + 1]
                      if a != 1]
        conns = tuple(ConnectionGene(i, a, b, True, rec) for i, (a, b, rec) in enumerate(pairs))
        return Genome(tuple(nodes), conns)

    def random_hidden_size(self, rng: np.random.Generator) -> int:
        """A new group's size, log-uniform in [new_group_min_size (or min_hidden_size),
        max_hidden_size]."""
        s = self.settings
        lo = math.log(s.new_group_min_size or s.min_hidden_size)
        return int(round(math.exp(rng.uniform(lo, math.log(s.max_hidden_size)))))

    def new_group_size(self, genome: Genome, split: ConnectionGene,
                       rng: np.random.Generator) -> int:
        """The size of the group that splits edge ``split`` (see SpaceSettings)."""
        if self.settings.new_group_size == "inherit":
            ends = [genome.node(i) for i in (split.src, split.dst)]
            sizes = [n.size for n in ends if n.role == "hidden"]
            if sizes:
                return max(sizes)
        return self.random_hidden_size(rng)

    def random_activation(self, rng: np.random.Generator) -> str:
        activations = self.settings.hidden_activations
        return activations[rng.integers(len(activations))]

    # -- mutation ------------------------------------------------------------------------
    def mutate(
        self,
        genome: Genome,
        rng: np.random.Generator,
        tracker: InnovationTracker,
        rates: MutationRates,
        decisions: Sequence[float] | None = None,
    ) -> Genome:
        """Each operator of :data:`MUTATION_OPERATORS` in turn, with its rate.

        ``decisions`` (one uniform draw per operator, in that order) lets a caller that
        mutates many genomes draw whether each operator fires for all of them at once
        (neat's ``tell``); without it each decision is drawn from ``rng`` in turn. The
        operators draw their own details from ``rng`` either way."""
        draw = rng.random if decisions is None else iter(decisions).__next__
        if draw() < rates.add_node:
            genome = self.add_node(genome, rng, tracker)
        if draw() < rates.add_edge:
            genome = self.add_edge(genome, rng, tracker)
        if draw() < rates.toggle_edge:
            genome = self.toggle_edge(genome, rng)
        if draw() < rates.resize_node:
            genome = self.resize_node(genome, rng, rates.resize_sigma)
        if draw() < rates.change_activation:
            genome = self.change_activation(genome, rng)
        return genome

    def add_node(self, genome: Genome, rng: np.random.Generator, tracker: InnovationTracker):
        candidates = genome.enabled_connections(recurrent=False)
        if len(genome.hidden_ids) >= self.settings.max_hidden_nodes or not candidates:
            return genome
        if len(genome.connections) + 2 > self.settings.max_connections:
            return genome
        old = candidates[rng.integers(len(candidates))]
        node_id = tracker.split(old.innovation, {n.id for n in genome.nodes})
        activation = self.random_activation(rng)
        node = NodeGene(node_id, "hidden", self.new_group_size(genome, old, rng), activation)
        conns = [c if c is not old else ConnectionGene(c.innovation, c.src, c.dst, False,
                                                       c.recurrent)
                 for c in genome.connections]
        conns.append(ConnectionGene(tracker.edge(old.src, node_id), old.src, node_id))
        conns.append(ConnectionGene(tracker.edge(node_id, old.dst), node_id, old.dst))
        return Genome((*genome.nodes, node), tuple(conns))

    def add_edge(
        self, genome: Genome, rng: np.random.Generator, tracker: InnovationTracker, tries: int = 20
    ) -> Genome:
        if len(genome.connections) >= self.settings.max_connections:
            return genome
        sources = [n.id for n in genome.nodes if n.role != "output"]
        targets = [n.id for n in genome.nodes if n.role != "input"]
        existing = {(c.src, c.dst) for c in genome.connections}
        closes_cycle = CycleCheck(genome)  # the graph is built once for all tries
        # every try's (source, target) drawn at once: on a dense genome most tries hit an
        # existing edge, and one draw per index per try was a visible share of neat's
        # ``tell`` at population 10,000 (benchmarks/driver.py)
        picks = rng.integers((len(sources), len(targets)), size=(tries, 2)).tolist()
        for i, j in picks:
            src, dst = sources[i], targets[j]
            if (src, dst) in existing:
                continue
            recurrent = closes_cycle(src, dst)
            if recurrent and not self.settings.allow_recurrent:
                continue
            conn = ConnectionGene(tracker.edge(src, dst), src, dst, True, recurrent)
            return Genome(genome.nodes, (*genome.connections, conn))
        return genome

    def toggle_edge(self, genome: Genome, rng: np.random.Generator) -> Genome:
        if not genome.connections:
            return genome
        target = genome.connections[rng.integers(len(genome.connections))]
        conns = tuple(
            ConnectionGene(c.innovation, c.src, c.dst, not c.enabled, c.recurrent)
            if c is target else c
            for c in genome.connections
        )
        toggled = Genome(genome.nodes, conns)
        # disabling the last path from the inputs to an output is no mutation but a dead net
        return toggled if target.recurrent or outputs_reachable(toggled) else genome

    def resize_node(self, genome: Genome, rng: np.random.Generator, sigma: float) -> Genome:
        hidden = genome.hidden_ids
        if not hidden:
            return genome
        chosen = hidden[rng.integers(len(hidden))]
        old = genome.node(chosen)
        size = int(round(old.size * 2.0 ** rng.normal(0.0, sigma)))
        size = min(max(size, self.settings.min_hidden_size), self.settings.max_hidden_size)
        if size == old.size:
            return genome  # an equal genome; skip rebuilding it
        nodes = tuple(NodeGene(n.id, n.role, size, n.activation) if n.id == chosen else n
                      for n in genome.nodes)
        return Genome(nodes, genome.connections)

    def change_activation(self, genome: Genome, rng: np.random.Generator) -> Genome:
        hidden = genome.hidden_ids
        if not hidden:
            return genome
        chosen = hidden[rng.integers(len(hidden))]
        activation = self.random_activation(rng)
        nodes = tuple(NodeGene(n.id, n.role, n.size, activation) if n.id == chosen else n
                      for n in genome.nodes)
        return Genome(nodes, genome.connections)

    # -- crossover -----------------------------------------------------------------------
    def crossover(
        self, fitter: Genome, other: Genome, rng: np.random.Generator, disable_rate: float = 0.75
    ) -> Genome:
        """NEAT crossover: the child has the fitter parent's genes (so its structure is the
        fitter parent's, hence acyclic); matching genes take attributes from either parent at
        random, and a gene disabled in either parent stays disabled with ``disable_rate``."""
        other_conns = {c.innovation: c for c in other.connections}
        conns = []
        disabled = flipped = False  # some gene lost its enabled flag / changed its flag
        for c in fitter.connections:
            match = other_conns.get(c.innovation)
            enabled = c.enabled
            if match is not None and (match.src, match.dst) == (c.src, c.dst):
                enabled = (c if rng.random() < 0.5 else match).enabled
                if not (c.enabled and match.enabled):
                    enabled = rng.random() >= disable_rate
            if enabled == c.enabled:
                conns.append(c)  # the parent's own (immutable) gene
            else:
                conns.append(ConnectionGene(c.innovation, c.src, c.dst, enabled, c.recurrent))
                flipped = True
                disabled = disabled or c.enabled
        other_nodes = {n.id: n for n in other.nodes}
        nodes = []
        resized = False
        for n in fitter.nodes:
            match = other_nodes.get(n.id)
            if n.role == "hidden" and match is not None and match.role == "hidden":
                size = (n if rng.random() < 0.5 else match).size
                activation = (n if rng.random() < 0.5 else match).activation
                if (size, activation) != (n.size, n.activation):
                    n = NodeGene(n.id, n.role, size, activation)
                    resized = True
            nodes.append(n)
        if not (flipped or resized):
            return fitter  # an equal genome: the fitter parent's own object
        # only a gene disabled here can cut the fitter parent's (connected) paths; if the
        # inherited flags cut every path to an output, keep the fitter parent's flags
        if disabled and not outputs_reachable(Genome(tuple(nodes), tuple(conns))):
            conns = list(fitter.connections)
        return Genome(tuple(nodes), tuple(conns))

    # -- speciation ----------------------------------------------------------------------
    def distance(self, a: Genome, b: Genome) -> float:
        return self.distance_between(distance_genes(a), distance_genes(b))

    def distance_between(self, a: DistanceGenes, b: DistanceGenes) -> float:
        """:meth:`distance` from :func:`distance_genes` views, so that a genome compared
        many times (a species representative, a child tried against each species) is
        taken apart once.

        Gene sets are bit masks (:func:`_bit`), so the shared and
        disjoint counts are an ``&`` and a popcount; speciation at population 10,000 makes
        tens of thousands of these comparisons a generation (``benchmarks/driver.py``).
        Matching hidden nodes are summed in the order of the set ``na.keys() & nb.keys()``,
        the order the frozenset version summed them in, so the floats are the same."""
        shared = a.innovations & b.innovations
        n_shared = shared.bit_count()
        disjoint = a.n_connections + b.n_connections - 2 * n_shared
        conn_attr = ((a.enabled ^ b.enabled) & shared).bit_count()  # matching, flag differs
        na, nb = a.hidden, b.hidden
        node_attr: float = 0
        n_shared_nodes = 0
        if a.hidden_ids & b.hidden_ids:
            shared_nodes = na.keys() & nb.keys()
            n_shared_nodes = len(shared_nodes)
            node_attr = sum(
                abs(math.log2(na[i][0] / nb[i][0])) + (na[i][1] != nb[i][1])
                for i in shared_nodes
            )
        disjoint += len(na) + len(nb) - 2 * n_shared_nodes
        n_genes = max(a.n_connections + len(na), b.n_connections + len(nb), 1)
        n_shared = max(n_shared + n_shared_nodes, 1)
        return (
            self.settings.disjoint_coefficient * disjoint / n_genes
            + self.settings.attribute_coefficient * (conn_attr + node_attr) / n_shared
        )


class DistanceGenes(NamedTuple):
    """A genome as the compatibility distance sees it: sets of ids as bit masks."""

    innovations: int  # every connection gene's innovation number (bit: see _bit)
    enabled: int  # the enabled ones
    n_connections: int  # bits set in ``innovations``
    hidden: dict[int, tuple[int, str]]  # hidden node id -> (size, activation), gene order
    hidden_ids: int  # the keys of ``hidden``


def distance_genes(genome: Genome) -> DistanceGenes:
    """The genome's :class:`DistanceGenes`, made once per (immutable) genome object: a
    genome cloned into many children, or a representative, is taken apart once."""
    genes = genome._distance_genes
    if genes is None:
        innovations = enabled = hidden_ids = 0
        for c in genome.connections:
            bit = 1 << _bit(c.innovation)
            innovations |= bit
            if c.enabled:
                enabled |= bit
        hidden = {}
        for n in genome.nodes:
            if n.role == "hidden":
                hidden[n.id] = (n.size, n.activation)
                hidden_ids |= 1 << _bit(n.id)
        genes = DistanceGenes(innovations, enabled, innovations.bit_count(), hidden,
                              hidden_ids)
        object.__setattr__(genome, "_distance_genes", genes)  # a cache beside the genes
    return genes


def _bit(i: int) -> int:
    """The bit of id ``i`` in a :class:`DistanceGenes` mask (ids are never negative in a
    genome the operators made; a hand-written one may have them: they take the odd bits)."""
    return i << 1 if i >= 0 else (~i << 1) | 1
