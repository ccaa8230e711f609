"""Ranking, archive and hypervolume against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from evolve.archive import Archive, ArchiveEntry
from evolve.objectives import Objective, resolve_objectives
from evolve.selection import order, rank_and_crowding


def test_ranks_follow_pareto_fronts():
    # (accuracy max, params min)
    values = np.array([[0.9, 100], [0.8, 50], [0.85, 200], [0.7, 60], [0.95, 300]])
    rank, crowd = rank_and_crowding(values, ["max", "min"])
    assert rank.tolist() == [0, 0, 1, 1, 0]
    # extremes of a front get infinite crowding distance
    assert np.isinf(crowd[1]) and np.isinf(crowd[4]) and np.isfinite(crowd[0])


def test_constraint_domination_and_failures():
    values = np.array([[0.5, 10], [0.99, 5], [0.9, 5], [0.8, 5], [0.0, 0]])
    violation = np.array([0.0, 2.0, 1.0, 1.0, 0.0])
    ok = np.array([True, True, True, True, False])
    rank, _ = rank_and_crowding(values, ["max", "min"], violation, ok)
    # the feasible one beats every infeasible one, however good their objectives;
    # among infeasible ones the smaller violation wins; the failed one is last
    assert rank[0] == 0
    assert rank[2] == rank[3] < rank[1]
    assert rank[4] > rank[1]
    assert order(rank, np.zeros(5))[0] == 0


def test_single_objective_is_a_sequence_of_one():
    rank, _ = rank_and_crowding(np.array([[0.1], [0.3], [0.2]]), ["max"])
    assert rank.tolist() == [2, 0, 1]


def objectives():
    return resolve_objectives(["accuracy", "params"])


def test_archive_keeps_only_non_dominated_and_reports_changes():
    archive = Archive(objectives())
    added, removed = archive.update([
        ArchiveEntry(0, 0, {"accuracy": 0.8, "params": 1000}),
        ArchiveEntry(1, 0, {"accuracy": 0.9, "params": 10_000}),
        ArchiveEntry(2, 0, {"accuracy": 0.7, "params": 5000}),  # dominated by 0
    ])
    assert added == [0, 1] and removed == []
    added, removed = archive.update([ArchiveEntry(3, 1, {"accuracy": 0.95, "params": 1000})])
    assert added == [3] and sorted(removed) == [0, 1]
    assert [e.candidate_id for e in archive.entries] == [3]
    # an equal point does not displace the older member
    added, _ = archive.update([ArchiveEntry(4, 2, {"accuracy": 0.95, "params": 1000})])
    assert added == [] and [e.candidate_id for e in archive.entries] == [3]


def test_hypervolume_matches_hand_computation():
    # accuracy (ref 0) x log10(params) (ref 6): one point (0.5, 100) covers 0.5 * (6 - 2)
    archive = Archive(objectives())
    archive.update([ArchiveEntry(0, 0, {"accuracy": 0.5, "params": 100})])
    assert archive.hypervolume() == pytest.approx(2.0)
    # adding (0.8, 10_000) adds the rectangle 0.3 * (6 - 4)
    archive.update([ArchiveEntry(1, 0, {"accuracy": 0.8, "params": 10_000})])
    assert archive.hypervolume() == pytest.approx(2.0 + 0.6)
    # points beyond the reference contribute nothing
    archive.update([ArchiveEntry(2, 0, {"accuracy": 0.9, "params": 10**7})])
    assert archive.hypervolume() == pytest.approx(2.6)


def test_custom_objective_direction_is_validated():
    with pytest.raises(ValueError, match="direction"):
        Objective("x", "up", lambda m: 0.0, reference=0.0)
    with pytest.raises(KeyError, match="unknown objective"):
        resolve_objectives(["accuracy", "bogus"])


def deap_rank_and_crowding(values, directions):
    """The oracle: DEAP's own sortNondominated + assignCrowdingDist (feasible, ok rows)."""
    from deap import base, tools

    weights = tuple(1.0 if d == "max" else -1.0 for d in directions)
    fitness_cls = type("Fitness", (base.Fitness,), {"weights": weights})

    class Ind:
        def __init__(self, i, row):
            self.index, self.fitness = i, fitness_cls()
            self.fitness.values = tuple(float(v) for v in row)

    inds = [Ind(i, row) for i, row in enumerate(values)]
    rank, crowd = np.zeros(len(inds), dtype=int), np.zeros(len(inds))
    for r, front in enumerate(tools.sortNondominated(inds, len(inds))):
        tools.emo.assignCrowdingDist(front)
        for ind in front:
            rank[ind.index], crowd[ind.index] = r, ind.fitness.crowding_dist
    return rank, crowd


@pytest.mark.parametrize("seed", range(40))
def test_numpy_sort_reproduces_deap_exactly(seed):
    """evolve.selection re-implements DEAP's sort in numpy for speed (DEAP's pairwise Python
    loop takes ~1.4 s at 1000 candidates); DEAP stays the oracle, ties and edges included."""
    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(1, 80)), int(rng.integers(1, 4))
    ties = rng.integers(-3, 4, size=(n, k)).astype(float)
    values = ties if seed % 2 else rng.normal(size=(n, k))
    directions = [("max", "min")[int(b)] for b in rng.integers(0, 2, k)]
    rank, crowd = rank_and_crowding(values, directions)
    oracle_rank, oracle_crowd = deap_rank_and_crowding(values, directions)
    assert rank.tolist() == oracle_rank.tolist()
    np.testing.assert_array_equal(crowd, oracle_crowd)


@pytest.mark.parametrize("seed", range(12))
def test_signed_zeros_and_nan_group_as_deap_does(seed):
    """Equal rows are grouped on arrays; ``-0.0`` and ``0.0`` are one key there as in DEAP's
    dict, and a NaN row (DEAP: a key equal only to itself) takes the dict path."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    values = rng.choice([-0.0, 0.0, 1.0, -1.0, 2.0], size=(n, 2))
    if seed % 3 == 2:
        values[rng.integers(n, size=2), rng.integers(2, size=2)] = np.nan
    directions = [("max", "min")[int(b)] for b in rng.integers(0, 2, 2)]
    rank, crowd = rank_and_crowding(values, directions)
    oracle_rank, oracle_crowd = deap_rank_and_crowding(values, directions)
    assert rank.tolist() == oracle_rank.tolist()
    np.testing.assert_array_equal(crowd, oracle_crowd)


@pytest.mark.parametrize("seed", range(12))
def test_front_sweep_matches_the_dominance_matrix_on_large_populations(seed):
    """Fronts are found by a sweep (two objectives) or a binary search over fronts (more)
    rather than the all-pairs matrix; on thousands of rows, ties included, both give the
    same fronts in the same order, and DEAP agrees on a few hundred."""
    from evolve.selection import _matrix_fronts, _multi_objective_fronts

    rng = np.random.default_rng(seed)
    n, k = int(rng.integers(500, 3000)), 2 + seed % 3
    values = rng.integers(-6, 7, size=(n, k)).astype(float) if seed % 2 else \
        rng.normal(size=(n, k))
    groups = np.unique(values, axis=0)
    rng.shuffle(groups)
    fast, matrix = _multi_objective_fronts(groups), _matrix_fronts(groups)
    assert [f.tolist() for f in fast] == [f.tolist() for f in matrix]
    directions = [("max", "min")[int(b)] for b in rng.integers(0, 2, k)]
    rank, crowd = rank_and_crowding(values[:300], directions)
    oracle_rank, oracle_crowd = deap_rank_and_crowding(values[:300], directions)
    assert rank.tolist() == oracle_rank.tolist()
    np.testing.assert_array_equal(crowd, oracle_crowd)
