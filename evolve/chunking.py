"""Cutting a generation into padded population batches whose padding stays bounded.

Training candidates together as one padded population pays off only while the padding is
small: every member pays for the largest member's level sizes and depth (genomes of very
different sizes in one batch can train slower than one by one). So a chunk grows
only while its padded work — ``P × Σ_l n_l · N_<l`` over the padded level sizes, the
multiply-adds of one example through the level blocks — stays within :data:`MAX_PADDING`
of the work its members would do alone. Candidates are laid out in order of depth and size,
so similar shapes (NEAT species are similar by construction) share chunks, and that order is
cut into the fewest chunks that fit (:func:`plan`): a step's per-operation overhead does not
grow with the chunk, so fewer chunks at bounded padding train faster.

A rule whose step cost differs by member — pc relaxes each member for its own ``steps`` —
can run the costly part of a step on the members still at it, a prefix of the chunk when the
chunk is laid out by that cost, largest first: pc's torch relaxation does wherever that pays
(rules/pc.py, ``SHRINK_WORK``), so a member pays its own steps at the chunk's padded shape,
not the chunk's largest. Given ``step_cost`` (the rule's
:meth:`~rules.LearningRule.step_cost`), the planner weighs each member's work by it (a
member of many steps pays its shape's padding many times) and orders each chunk's members
by it, largest first; the search plans so (:func:`rule_step_cost`). Where the prefix is not
cut (small nets, where a step costs the same for few members as for many, and pc's fused
Triton relaxation on a GPU, which loops to the chunk's largest ``steps``) a chunk still
relaxes for its largest ``steps``; that costs time only.

A member's result never depends on its chunk (each member's parameters, batches and
updates are its own), so the plan changes speed only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from evolve.strategies.base import Candidate
from rules.base import LearningRule
from search_spaces.compile import compile_genome
from search_spaces.genome import Genome

MAX_PADDING = 1.3  # padded work / the members' own work, per chunk
T = TypeVar("T")


@dataclass(frozen=True)
class Shape:
    """A compiled genome's level sizes (inputs first, outputs last)."""

    sizes: tuple[int, ...]

    @classmethod
    def of(cls, genome: Genome) -> Shape:
        return cls(tuple(compile_genome(genome).level_sizes))

    @property
    def work(self) -> int:
        """Multiply-adds of one example through the level blocks."""
        return block_work(self.sizes)


def block_work(sizes: Sequence[int]) -> int:
    total, below = 0, sizes[0]
    for size in sizes[1:]:
        total += size * below
        below += size
    return total


def padded_sizes(shapes: Sequence[Shape]) -> tuple[int, ...]:
    """Level sizes of the padded population (levels aligned by index, outputs last), as
    :func:`search_spaces.compile.stack` lays it out."""
    depth = max(len(s.sizes) for s in shapes) - 1
    sizes = [0] * (depth + 1)
    for s in shapes:
        for own, size in enumerate(s.sizes):
            padded = depth if own == len(s.sizes) - 1 else own
            sizes[padded] = max(sizes[padded], size)
    return tuple(sizes)


def padded_work(shapes: Sequence[Shape], costs: Sequence[float] | None = None) -> float:
    """What a chunk costs per example: every member pays the padded level sizes times its
    own step cost (``costs``: one per member, 1 when not given)."""
    return block_work(padded_sizes(shapes)) * (sum(costs) if costs else len(shapes))


def own_work(shapes: Sequence[Shape], costs: Sequence[float] | None = None) -> float:
    """What the members of a chunk would cost alone, per example."""
    weights = costs if costs else [1.0] * len(shapes)
    return sum(s.work * c for s, c in zip(shapes, weights, strict=True))


def padding_ratio(shapes: Sequence[Shape], costs: Sequence[float] | None = None) -> float:
    """Padded work of a chunk over the sum of its members' own work."""
    return padded_work(shapes, costs) / max(own_work(shapes, costs), 1)


def rule_step_cost(rule: LearningRule) -> Callable[[Candidate], float]:
    """A candidate's step cost under ``rule`` (:meth:`~rules.LearningRule.step_cost` of its
    genes): what the search weighs each member's work by and lays each chunk out by, so a
    member of many steps counts its shape's padding as often as it pays it."""
    return lambda c: rule.step_cost(c.hyperparameters)


def plan_chunks(candidates: Sequence[Candidate], max_size: int,
                max_padding: float = MAX_PADDING,
                step_cost: Callable[[Candidate], float] | None = None) -> list[list[Candidate]]:
    """Chunks of at most ``max_size`` candidates, each padded by at most ``max_padding``,
    largest work first (see :func:`plan`); ``step_cost`` (a rule's per-member cost of one
    step, e.g. pc's relaxation steps) weighs each candidate's work, and each chunk lists its
    candidates costliest first (stable)."""
    costs = None if step_cost is None else [float(step_cost(c)) for c in candidates]
    return plan(candidates, [Shape.of(c.genome) for c in candidates], max_size, max_padding,
                costs)


def plan(items: Sequence[T], shapes: Sequence[Shape], max_size: int,
         max_padding: float = MAX_PADDING,
         costs: Sequence[float] | None = None) -> list[list[T]]:
    """Cut ``items`` (with their compiled ``shapes`` and step ``costs``) into chunks of at
    most ``max_size`` items whose padding stays within ``max_padding``, as few as possible.

    Items are laid out in a visiting order and cut into runs of that order; for each order
    the fewest runs (then the least padded work) is found exactly by dynamic programming
    over where to cut — a greedy pass that closes a chunk as soon as the next item does not
    fit misses plans such as tiny one-level nets joining a chunk of small two-level ones
    (the default quick generation: 3 chunks greedily, 2 here). Orders tried: by depth then
    work then step cost, by depth then step cost then work, and by work then step cost
    across depths (a shallow net padded to a slightly deeper one's shape can be cheap); the
    best plan over them is kept. Per-step costs that do not grow with a chunk (Python and
    operation overhead) are why fewer chunks are faster at equal padding.

    Within a chunk, items come by cost, costliest first (stable), so the members still at
    a step's costly part when the others are done are a prefix of the chunk.

    Chunks come largest first: started first, the longest ones do not finish last
    (longest-processing-time-first list scheduling). The order changes nothing but the wall
    time; the chunks' composition depends only on the candidates and ``max_size``, so equal
    settings batch equally (floating-point sums follow the padded shapes, so this keeps
    records identical across executors of equal parallelism)."""
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    if len(items) != len(shapes):
        raise ValueError("plan() needs one shape per item")
    if costs is not None and len(costs) != len(items):
        raise ValueError("plan() needs one step cost per item")
    if costs is not None and not all(c > 0 for c in costs):
        raise ValueError("step costs must be > 0")
    cost = list(costs) if costs is not None else [1.0] * len(items)

    def weighted(chunk: Sequence[int]) -> float:
        return padded_work([shapes[j] for j in chunk], [cost[j] for j in chunk])

    def fewest(order: list[int]) -> list[list[int]]:
        """The fewest runs of ``order`` (ties: least padded work) that all fit."""
        n = len(order)
        # best[i]: (chunks, padded work, start of the last run) for the first i items
        best: list[tuple[int, float, int]] = [(0, 0.0, 0)] + [(n + 1, 0.0, 0)] * n
        for end in range(1, n + 1):
            # grow the run order[start:end] leftwards, its padded sizes kept as running
            # maxima (hidden levels by index, the output level aligned last)
            hidden: list[int] = []
            inputs = outputs = 0
            own, paid = 0.0, 0.0
            for start in range(end - 1, max(end - max_size, 0) - 1, -1):
                j = order[start]
                sizes = shapes[j].sizes
                inputs, outputs = max(inputs, sizes[0]), max(outputs, sizes[-1])
                for k, size in enumerate(sizes[1:-1]):
                    if k < len(hidden):
                        hidden[k] = max(hidden[k], size)
                    else:
                        hidden.append(size)
                own += shapes[j].work * cost[j]
                paid += cost[j]
                padded = block_work((inputs, *hidden, outputs)) * paid
                # a run that does not fit can fit again once it is longer (a large member
                # pads less when more of its size joins), so shorter runs are no guide
                if end - start > 1 and padded > max_padding * max(own, 1):
                    continue
                chunks, work, _ = best[start]
                if (chunks + 1, work + padded) < best[end][:2]:
                    best[end] = (chunks + 1, work + padded, start)
        runs, end = [], n
        while end:
            start = best[end][2]
            runs.append(order[start:end])
            end = start
        return runs[::-1]

    index = range(len(items))
    depth = [len(s.sizes) for s in shapes]
    keys = [lambda i: (depth[i], shapes[i].work, cost[i], shapes[i].sizes, i),
            lambda i: (depth[i], cost[i], shapes[i].work, shapes[i].sizes, i),
            lambda i: (shapes[i].work, cost[i], depth[i], shapes[i].sizes, i)]
    plans = [fewest(sorted(index, key=key)) for key in keys]
    chunks = min(plans, key=lambda p: (len(p), sum(weighted(c) for c in p)))
    chunks.sort(key=lambda c: -weighted(c))
    # within a chunk, the costliest step first (stable): the members still stepping when
    # the others are done are then a prefix of the chunk
    return [[items[j] for j in sorted(c, key=lambda j: -cost[j])] for c in chunks]
