"""Multi-objective ranking under constraint domination, with DEAP's NSGA-II machinery.

Deb et al. 2002 (NSGA-II): sort into non-dominated fronts, break ties inside a front by
crowding distance. Constraints are a separate signal (STYLE §7, Deb 2000 constraint
domination): a feasible candidate beats an infeasible one, infeasible ones are ordered by
their total violation, and a failed evaluation ranks after everything.
DEAP's ``sortNondominated`` and ``assignCrowdingDist`` do the sorting; we only wrap the
arrays in the small objects they expect, with a per-call Fitness class (no ``creator``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from deap import base, tools


class _Individual:
    __slots__ = ("fitness", "index")

    def __init__(self, fitness: base.Fitness, index: int) -> None:
        self.fitness = fitness
        self.index = index


def rank_and_crowding(
    values: np.ndarray,
    directions: Sequence[str],
    violations: np.ndarray | None = None,
    ok: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pareto rank (0 = best) and crowding distance of every row of ``values[n, k]``."""
    n = values.shape[0]
    violations = np.zeros(n) if violations is None else np.asarray(violations, dtype=float)
    ok = np.ones(n, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    rank = np.full(n, -1, dtype=np.int64)
    crowd = np.zeros(n)
    weights = tuple(1.0 if d == "max" else -1.0 for d in directions)
    fitness_cls = type("Fitness", (base.Fitness,), {"weights": weights})
    feasible = [i for i in range(n) if ok[i] and violations[i] <= 0]
    next_rank = 0
    if feasible:
        inds = []
        for i in feasible:
            fit = fitness_cls()
            fit.values = tuple(float(v) for v in values[i])
            inds.append(_Individual(fit, i))
        for front in tools.sortNondominated(inds, len(inds)):
            tools.emo.assignCrowdingDist(front)
            for ind in front:
                rank[ind.index] = next_rank
                crowd[ind.index] = ind.fitness.crowding_dist
            next_rank += 1
    infeasible = sorted((i for i in range(n) if ok[i] and violations[i] > 0),
                        key=lambda i: violations[i])
    last = None
    for i in infeasible:
        if last is not None and violations[i] > last:
            next_rank += 1
        if last is None:
            last = violations[i]
        last = violations[i]
        rank[i] = next_rank
    if infeasible:
        next_rank += 1
    rank[~ok] = next_rank
    return rank, crowd


def order(rank: np.ndarray, crowd: np.ndarray) -> list[int]:
    """Indices best first: lower rank, then larger crowding distance, then index (stable)."""
    return sorted(range(len(rank)), key=lambda i: (rank[i], -crowd[i], i))
