"""Cutting a generation into padded population batches whose padding stays bounded.

Training candidates together as one padded population pays off only while the padding is
small: every member pays for the largest member's level sizes and depth (32 genomes with
hidden groups up to 256 in one batch trained 2.5× slower than one by one). So a chunk grows
only while its padded work — ``P × Σ_l n_l · N_<l`` over the padded level sizes, the
multiply-adds of one example through the level blocks — stays within :data:`MAX_PADDING`
of the work its members would do alone. Candidates are visited in order of depth and size,
so similar shapes (NEAT species are similar by construction) share chunks.

A rule whose step cost differs by member pads in time as well as in shape: pc relaxes
every member of a chunk for the chunk's largest ``steps``, so a member with ``T = 2`` in a
chunk with ``T = 37`` pays 19 times its own relaxation. Given ``step_cost`` (the rule's
:meth:`~rules.LearningRule.step_cost`), the planner weighs each member's work by it and
bounds the padding of that weighted work, so chunks also group similar step costs. The
search plans by shape only: on CPUs, small nets' steps cost mostly per-operation overhead,
and the step-weighted plan's smaller chunks measured slower (benchmarks/throughput.py).

A member's result never depends on its chunk (each member's parameters, batches and
updates are its own), so the plan changes speed only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from evolve.strategies.base import Candidate
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
    """What a chunk costs per example: every member pays the padded level sizes and the
    largest step cost (``costs``: one per member, 1 when not given)."""
    top = max(costs) if costs else 1.0
    return len(shapes) * block_work(padded_sizes(shapes)) * top


def own_work(shapes: Sequence[Shape], costs: Sequence[float] | None = None) -> float:
    """What the members of a chunk would cost alone, per example."""
    weights = costs if costs else [1.0] * len(shapes)
    return sum(s.work * c for s, c in zip(shapes, weights, strict=True))


def padding_ratio(shapes: Sequence[Shape], costs: Sequence[float] | None = None) -> float:
    """Padded work of a chunk over the sum of its members' own work."""
    return padded_work(shapes, costs) / max(own_work(shapes, costs), 1)


def plan_chunks(candidates: Sequence[Candidate], max_size: int,
                max_padding: float = MAX_PADDING,
                step_cost: Callable[[Candidate], float] | None = None) -> list[list[Candidate]]:
    """Chunks of at most ``max_size`` candidates, each padded by at most ``max_padding``,
    largest work first (see :func:`plan`); ``step_cost`` (a rule's per-member cost of one
    step, e.g. pc's relaxation steps) weighs each candidate's work."""
    costs = None if step_cost is None else [float(step_cost(c)) for c in candidates]
    return plan(candidates, [Shape.of(c.genome) for c in candidates], max_size, max_padding,
                costs)


def plan(items: Sequence[T], shapes: Sequence[Shape], max_size: int,
         max_padding: float = MAX_PADDING,
         costs: Sequence[float] | None = None) -> list[list[T]]:
    """Cut ``items`` (with their compiled ``shapes`` and step ``costs``) into chunks: visited
    in order of depth, then work and step cost, a chunk grows while it holds at most
    ``max_size`` items and its padding stays within ``max_padding``. Two visiting orders
    are tried — work first, step cost first — and the plan with fewer chunks (then less
    padded work) kept: with one step cost they agree. Chunks come largest first: started
    first, the longest ones do not finish last (longest-processing-time-first list
    scheduling). The order changes nothing but the wall time; the chunks' composition
    depends only on the candidates and ``max_size``, so equal settings batch equally
    (floating-point sums follow the padded shapes, so this keeps records identical across
    executors of equal parallelism)."""
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    if len(items) != len(shapes):
        raise ValueError("plan() needs one shape per item")
    if costs is not None and len(costs) != len(items):
        raise ValueError("plan() needs one step cost per item")
    if costs is not None and not all(c > 0 for c in costs):
        raise ValueError("step costs must be > 0")
    cost = list(costs) if costs is not None else [1.0] * len(items)

    def greedy(key: Callable[[int], tuple]) -> list[list[int]]:
        chunks: list[list[int]] = []
        current: list[int] = []
        for i in sorted(range(len(items)), key=key):
            trial = [*current, i]
            if current:
                ratio = padding_ratio([shapes[j] for j in trial], [cost[j] for j in trial])
                if len(trial) > max_size or ratio > max_padding:
                    chunks.append(current)
                    trial = [i]
            current = trial
        if current:
            chunks.append(current)
        return chunks

    def total(chunks: list[list[int]]) -> tuple[int, float]:
        return len(chunks), sum(padded_work([shapes[j] for j in c], [cost[j] for j in c])
                                for c in chunks)

    plans = [greedy(lambda i: (len(shapes[i].sizes), shapes[i].work, cost[i],
                               shapes[i].sizes, i)),
             greedy(lambda i: (len(shapes[i].sizes), cost[i], shapes[i].work,
                               shapes[i].sizes, i))]
    chunks = min(plans, key=total)
    chunks.sort(key=lambda c: -padded_work([shapes[j] for j in c], [cost[j] for j in c]))
    return [[items[j] for j in c] for c in chunks]
