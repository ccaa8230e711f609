"""Chunk planning: every chunk's padded work stays within 1.3x its members' own, chunks never
exceed their size cap, every candidate is planned once, and the work model is the stacked
population's real layout."""

from __future__ import annotations

import numpy as np
import pytest
from netkit import mlp

import rules
from evolve.chunking import (
    MAX_PADDING,
    Shape,
    block_work,
    padded_sizes,
    padding_ratio,
    plan_chunks,
)
from evolve.strategies.base import Candidate
from search_spaces.compile import compile_genome, stack
from search_spaces.innovation import InnovationTracker
from search_spaces.space import SearchSpace, SpaceSettings


def grown(n: int, seed: int, max_hidden: int = 256) -> list[Candidate]:
    """Genomes grown by the search space's own mutations (sizes up to ``max_hidden``)."""
    space = SearchSpace(64, 10, SpaceSettings(max_hidden_size=max_hidden))
    tracker, rng = InnovationTracker(), np.random.default_rng(seed)
    from evolve.strategies import StrategyConfig

    rates = StrategyConfig().mutation
    out = []
    for i in range(n):
        genome = space.minimal_genome(tracker)
        for _ in range(int(rng.integers(0, 8))):
            genome = space.mutate(genome, rng, tracker, rates)
        out.append(Candidate(i, 0, genome, {}))
    return out


def test_the_work_model_is_the_stacked_layout():
    cands = grown(12, seed=1)
    shapes = [Shape.of(c.genome) for c in cands]
    net = stack([compile_genome(c.genome) for c in cands])
    assert padded_sizes(shapes) == tuple(net.level_sizes)
    assert block_work((64, 128, 10)) == 64 * 128 + 10 * (64 + 128)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_chunks_bound_padding_and_size_and_cover_every_candidate(seed):
    cands = grown(40, seed)
    chunks = plan_chunks(cands, max_size=16)
    assert sorted(c.id for ch in chunks for c in ch) == [c.id for c in cands]
    for chunk in chunks:
        assert 1 <= len(chunk) <= 16
        shapes = [Shape.of(c.genome) for c in chunk]
        net = stack([compile_genome(c.genome) for c in chunk])
        padded = len(chunk) * block_work(net.level_sizes)  # measured on the real stack
        assert padded <= MAX_PADDING * sum(s.work for s in shapes) + 1e-9


def test_identical_nets_share_one_chunk_and_outliers_do_not_join():
    same = [Candidate(i, 0, mlp([64, 32, 10]), {}) for i in range(8)]
    huge = Candidate(8, 0, mlp([64, 256, 256, 10]), {})
    chunks = plan_chunks([*same, huge], max_size=16)
    assert sorted(len(c) for c in chunks) == [1, 8]
    with pytest.raises(ValueError, match="max_size"):
        plan_chunks(same, max_size=0)


def test_the_plan_has_the_fewest_chunks_that_fit():
    """One-level nets padded to small two-level ones stay within the bound, so they share a
    chunk — which a greedy pass in order of depth (closing a chunk at the first member that
    does not fit) misses: it would cut 6 one-level, 4 small and 6 larger nets into 3."""
    nets = [mlp([64, 10])] * 6 + [mlp([64, 5, 10])] * 4 + [mlp([64, 35, 10])] * 6
    cands = [Candidate(i, 0, g, {}) for i, g in enumerate(nets)]
    chunks = plan_chunks(cands, max_size=16)
    assert sorted(sorted(c.id for c in ch) for ch in chunks) == [list(range(10)),
                                                                  list(range(10, 16))]
    for chunk in chunks:
        assert padding_ratio([Shape.of(c.genome) for c in chunk]) <= MAX_PADDING
    # the size cap still cuts
    assert sorted(len(ch) for ch in plan_chunks(cands, max_size=8)) == [4, 6, 6]


def test_step_costs_weigh_padding_and_order_each_chunk():
    """pc relaxes each member for its own ``steps`` on a prefix of a chunk laid out by T, so
    members of one shape share a chunk whatever their T, each chunk comes costliest first,
    and a member's cost weighs the padding its shape gets: a net padded to a larger one
    pays that padding once per step of its own."""
    pc = rules.get_rule("pc")

    def cost(c: Candidate) -> float:
        return pc.step_cost(c.hyperparameters)
    steps = [2, 3, 2, 40, 38, 39, 20, 21]
    cands = [Candidate(i, 0, mlp([64, 32, 10]), {"steps": float(t)})
             for i, t in enumerate(steps)]
    chunks = plan_chunks(cands, max_size=16, step_cost=cost)
    assert [[int(c.hyperparameters["steps"]) for c in ch] for ch in chunks] == [
        sorted(steps, reverse=True)]
    # a [64, 16] net padded to a [64, 32] one: 1.25x their own work at one step each (one
    # chunk), 1.58x when the small net relaxes 40 steps and the large one 2 (two chunks)
    small = Candidate(8, 0, mlp([64, 16, 10]), {"steps": 40.0})
    large = Candidate(9, 0, mlp([64, 32, 10]), {"steps": 2.0})
    shapes = [Shape.of(c.genome) for c in (small, large)]
    assert padding_ratio(shapes) == pytest.approx(2 * 3008 / (1824 + 3008))
    assert padding_ratio(shapes, [41.0, 3.0]) == pytest.approx(
        3008 * 44 / (1824 * 41 + 3008 * 3))
    assert len(plan_chunks([small, large], max_size=16)) == 1
    assert len(plan_chunks([small, large], max_size=16, step_cost=cost)) == 2
    assert pc.step_cost({"steps": 20.0}) > rules.get_rule("bp").step_cost({}) == 1.0
    with pytest.raises(ValueError, match="step costs"):
        plan_chunks(cands, max_size=16, step_cost=lambda c: 0.0)
