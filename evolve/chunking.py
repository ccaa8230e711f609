"""Cutting a generation into padded population batches whose padding stays bounded.

Training candidates together as one padded population pays off only while the padding is
small: every member pays for the largest member's level sizes and depth (32 genomes with
hidden groups up to 256 in one batch trained 2.5× slower than one by one). So a chunk grows
only while its padded work — ``P × Σ_l n_l · N_<l`` over the padded level sizes, the
multiply-adds of one example through the level blocks — stays within :data:`MAX_PADDING`
of the work its members would do alone. Candidates are visited in order of depth and size,
so similar shapes (NEAT species are similar by construction) share chunks.

A member's result never depends on its chunk (each member's parameters, batches and
updates are its own), so the plan changes speed only.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def padding_ratio(shapes: Sequence[Shape]) -> float:
    """Padded work of a chunk over the sum of its members' own work."""
    own = sum(s.work for s in shapes)
    return len(shapes) * block_work(padded_sizes(shapes)) / max(own, 1)


def plan_chunks(candidates: Sequence[Candidate], max_size: int,
                max_padding: float = MAX_PADDING) -> list[list[Candidate]]:
    """Chunks of at most ``max_size`` candidates, each padded by at most ``max_padding``,
    largest work first (see :func:`plan`)."""
    return plan(candidates, [Shape.of(c.genome) for c in candidates], max_size, max_padding)


def plan(items: Sequence[T], shapes: Sequence[Shape], max_size: int,
         max_padding: float = MAX_PADDING) -> list[list[T]]:
    """Cut ``items`` (with their compiled ``shapes``) into chunks: visited in order of depth
    and work, a chunk grows while it holds at most ``max_size`` items and its padding stays
    within ``max_padding``. Chunks come largest first: started first, the longest ones do
    not finish last (longest-processing-time-first list scheduling). The order changes
    nothing but the wall time; the chunks' composition depends only on the candidates and
    ``max_size``, so equal settings batch equally (floating-point sums follow the padded
    shapes, so this keeps records identical across executors of equal parallelism)."""
    if max_size < 1:
        raise ValueError(f"max_size must be >= 1, got {max_size}")
    if len(items) != len(shapes):
        raise ValueError("plan() needs one shape per item")
    order = sorted(range(len(items)), key=lambda i: (len(shapes[i].sizes), shapes[i].work,
                                                     shapes[i].sizes, i))
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in order:
        trial = [*current, i]
        if current:
            trial_shapes = [shapes[j] for j in trial]
            padded = len(trial) * block_work(padded_sizes(trial_shapes))
            own = sum(s.work for s in trial_shapes)
            if len(trial) > max_size or padded > max_padding * own:
                chunks.append(current)
                trial = [i]
        current = trial
    if current:
        chunks.append(current)
    chunks.sort(key=lambda c: -len(c) * block_work(padded_sizes([shapes[j] for j in c])))
    return [[items[j] for j in c] for c in chunks]
