"""Continuous genes and the fixed-depth layered space, shared by pso, optuna, random, neat-pso.

A :class:`Dimension` is one searched number: a rule hyperparameter (``Problem.hyper_space``
minus ``Problem.fixed``) or, in the fixed-depth space, the width of a hidden layer. Swarms
move in *internal* coordinates — ``ln(value)`` for log-scale dimensions, the value itself
otherwise — so that a step multiplies a learning rate instead of adding to it, and a value is
*applied* by mapping back, clipping to the bounds and rounding integers. Internal positions
stay continuous (a particle can sit between two integers); only applied values are rounded.

The fixed-depth layered space is what the non-NEAT strategies (``pso``, ``optuna``) search:
``depth`` hidden groups chained input → h1 → … → h_depth → output, each group's width an
integer in ``[min_hidden_size, max_hidden_size]`` on a log scale, every group using the first
of ``space.hidden_activations``. ``depth`` is :attr:`LayeredParams.depth` (the config's
``strategy.layered.depth``), capped by ``space.max_hidden_nodes`` and by
``space.max_connections`` (a chain of d groups has d + 1 edges). Node and innovation ids
are the same in every layered genome of a run, so genomes of equal depth line up exactly.

Two settings turn the space into a tuner for one hand-designed network, so that a fixed MLP
can get the same tuning budget as an evolved topology (benchmarks/evolved_vs_fixed.py):
``widths`` freezes the structure (no width genes: every candidate is that chain), and
``search_activation`` makes the hidden activation (one for every group) a gene, an index into
``space.hidden_activations``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evolve.strategies.base import Problem, check_ranges
from search_spaces.genome import ConnectionGene, Genome, NodeGene
from search_spaces.settings import check_field_types
from search_spaces.space import SearchSpace


@dataclass(frozen=True)
class LayeredParams:
    """The fixed-depth layered space of ``pso`` and ``optuna`` (``strategy.layered``)."""

    depth: int = 2  # hidden layers, capped by the space's max_hidden_nodes and max_connections
    # fixed hidden widths (depth entries): the structure is frozen, only the rule's
    # hyperparameters (and the activation, below) are searched; empty: widths are genes
    widths: tuple[int, ...] = ()
    search_activation: bool = False  # the hidden activation is a gene (else the first one)

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        check_ranges(self, {
            "depth": (self.depth >= 0, ">= 0"),
            "widths": (all(w >= 1 for w in self.widths), "a list of sizes >= 1"),
        })

    def contradiction(self) -> str | None:
        """``widths`` against ``depth`` (None: they agree). Not checked on construction:
        a config is built one override at a time, and ``--set strategy.layered.widths=8,8,8
        --set strategy.layered.depth=3`` must not be refused for the step in between
        (evolve.config.check reads this on the final config; :meth:`LayeredSpace.of` too)."""
        if self.widths and len(self.widths) != self.depth:
            return (f"widths must have depth ({self.depth}) entries, got {len(self.widths)}: "
                    f"{list(self.widths)}")
        return None


@dataclass(frozen=True)
class Dimension:
    """One searched number: bounds, scale, integrality."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"dimension {self.name}: low {self.low} > high {self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"dimension {self.name}: a log-scale range needs low > 0, "
                             f"got {self.low}")

    @functools.cached_property
    def bounds(self) -> tuple[float, float]:
        """Internal bounds (log-transformed for log dimensions); cached: the driver maps
        every child's position through them, tens of thousands of times a generation."""
        return self.to_internal(self.low), self.to_internal(self.high)

    def to_internal(self, value: float) -> float:
        return math.log(value) if self.log else float(value)

    def to_value(self, internal: float) -> float:
        """Apply an internal coordinate: map back, clip to [low, high], round integers.

        Each clip is ``min(max(t, low), high)`` written as conditionals (they keep the same
        floats, NaN included): neat-pso maps every child's position through this, tens of
        thousands of times a generation (``benchmarks/driver.py``), where two builtin calls
        per clip were a visible share of ``tell``."""
        lo, hi = self.bounds
        internal = float(internal)
        internal = lo if lo > internal else internal
        internal = hi if hi < internal else internal
        value = math.exp(internal) if self.log else internal
        low, high = self.low, self.high  # exp(ln(high)) may overshoot by an ulp
        value = low if low > value else value
        value = high if high < value else value
        if self.integer:
            rounded = round(value)
            first, last = math.ceil(low), math.floor(high)
            rounded = first if first > rounded else rounded
            value = float(last if last < rounded else rounded)
        return value

    def to_values(self, internal: np.ndarray) -> list[float]:
        """:meth:`to_value` of each coordinate of ``internal`` (the same floats: the clips
        and the rounding in numpy, ``exp`` through ``math`` as :meth:`to_value` does it,
        since numpy's ``exp`` may differ from it in the last bit); neat-pso maps a whole
        generation's positions at once."""
        lo, hi = self.bounds
        values = np.clip(np.asarray(internal, dtype=float), lo, hi)
        if self.log:
            values = np.fromiter(map(math.exp, values.tolist()), float, len(values))
        values = np.clip(values, self.low, self.high)
        if self.integer:
            values = np.clip(np.round(values), math.ceil(self.low), math.floor(self.high))
        return values.tolist()

    def sample(self, rng: np.random.Generator) -> float:
        """A uniform internal coordinate (log-uniform value for log dimensions)."""
        lo, hi = self.bounds
        return float(rng.uniform(lo, hi))


# -- the rule's hyperparameters ---------------------------------------------------------------
def hyper_dimensions(problem: Problem) -> list[Dimension]:
    """The rule's hyperparameters a strategy may move (all of ``hyper_space`` but ``fixed``)."""
    if problem.hyper_space is None:
        return []
    return [Dimension(p.name, p.low, p.high, p.log, p.integer)
            for p in problem.hyper_space.params if p.name not in problem.fixed]


def apply_hyper(problem: Problem, dims: Sequence[Dimension],
                internal: Sequence[float]) -> dict[str, float]:
    """The candidate's hyperparameters: start values, with the moved ones at ``internal``."""
    hyper = {k: float(v) for k, v in problem.hyperparameters.items()}
    for dim, x in zip(dims, internal, strict=True):
        hyper[dim.name] = dim.to_value(x)
    return hyper


# -- the fixed-depth layered space --------------------------------------------------------------
def layered_depth(space: SearchSpace, params: LayeredParams) -> int:
    limits = space.settings
    return max(0, min(params.depth, limits.max_hidden_nodes, limits.max_connections - 1))


def width_dimensions(space: SearchSpace, depth: int) -> list[Dimension]:
    limits = space.settings
    return [Dimension(f"width_{i + 1}", limits.min_hidden_size, limits.max_hidden_size,
                      log=True, integer=True) for i in range(depth)]


def layered_genome(space: SearchSpace, widths: Sequence[int],
                   activation: str | None = None) -> Genome:
    """input(0) → hidden(2) → … → hidden(len(widths) + 1) → output(1), one edge per step;
    every hidden group uses ``activation`` (default: the space's first hidden activation)."""
    activation = activation or space.settings.hidden_activations[0]
    nodes = [NodeGene(0, "input", space.n_inputs, "identity"),
             NodeGene(1, "output", space.n_outputs, space.settings.output_activation)]
    nodes += [NodeGene(i + 2, "hidden", int(w), activation) for i, w in enumerate(widths)]
    chain = [0, *range(2, len(widths) + 2), 1]
    conns = [ConnectionGene(k, src, dst) for k, (src, dst) in enumerate(zip(chain, chain[1:]))]
    return Genome(tuple(nodes), tuple(conns))


@dataclass(frozen=True)
class LayeredSpace:
    """Widths, the activation, then hyperparameters, as one vector of :class:`Dimension`
    (widths only when they are not fixed, the activation only when it is searched)."""

    space: SearchSpace
    problem: Problem
    depth: int
    fixed_widths: tuple[int, ...] = ()
    search_activation: bool = False

    @classmethod
    def of(cls, space: SearchSpace, problem: Problem, params: LayeredParams) -> LayeredSpace:
        contradiction = params.contradiction()
        if contradiction:
            raise ValueError(contradiction)
        if params.widths:  # the given structure as is: the space's size limits do not apply
            return cls(space, problem, len(params.widths), tuple(params.widths),
                       params.search_activation)
        return cls(space, problem, layered_depth(space, params),
                   search_activation=params.search_activation)

    @property
    def widths(self) -> list[Dimension]:
        return [] if self.fixed_widths else width_dimensions(self.space, self.depth)

    @property
    def activation(self) -> list[Dimension]:
        n = len(self.space.settings.hidden_activations)
        if not self.search_activation or n < 2:
            return []
        return [Dimension("activation", 0, n - 1, integer=True)]

    @property
    def hypers(self) -> list[Dimension]:
        return hyper_dimensions(self.problem)

    @property
    def dims(self) -> list[Dimension]:
        return self.widths + self.activation + self.hypers

    def decode(self, internal: Sequence[float]) -> tuple[Genome, dict[str, float]]:
        """Genome and hyperparameters of an internal position over :attr:`dims`."""
        internal = list(internal)
        k = len(self.widths)
        widths = list(self.fixed_widths) or [int(d.to_value(x)) for d, x
                                             in zip(self.widths, internal[:k], strict=True)]
        activation = None
        for d, x in zip(self.activation, internal[k:], strict=False):
            activation = self.space.settings.hidden_activations[int(d.to_value(x))]
        k += len(self.activation)
        hyper = apply_hyper(self.problem, self.hypers, internal[k:])
        return layered_genome(self.space, widths, activation), hyper

    def decode_values(self, values: Mapping[str, float]) -> tuple[Genome, dict[str, float]]:
        """Genome and hyperparameters from applied values by name (Optuna's params)."""
        return self.decode([d.to_internal(values[d.name]) for d in self.dims])
