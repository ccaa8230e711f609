"""Multi-objective ranking under constraint domination: NSGA-II's sorting, as DEAP does it.

Deb et al. 2002 (NSGA-II): sort into non-dominated fronts, break ties inside a front by
crowding distance. Constraints are a separate signal (Deb 2000 constraint
domination): a feasible candidate beats an infeasible one, infeasible ones are ordered by
their total violation, and a failed evaluation ranks after everything.

The sort reproduces DEAP's ``tools.sortNondominated`` followed by
``tools.emo.assignCrowdingDist`` on every front exactly — the same fronts, the same order
inside each front (which decides, among equal values, who sits at a front's edge and gets
an infinite crowding distance), the same floating-point sums — but builds the dominance
relation with numpy instead of DEAP's O(M·N²) pairwise Python loop, which cost seconds per
generation at a population of 1000.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


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
    feasible = np.flatnonzero(ok & (violations <= 0))
    next_rank = 0
    if len(feasible):
        block = np.asarray(values, dtype=float)[feasible].reshape(len(feasible), len(weights))
        rows, lengths = _sort_nondominated(block, weights)
        placed = feasible[rows]
        rank[placed] = np.repeat(np.arange(len(lengths)), lengths)
        if np.isnan(block).any():  # NaN keys: Python's sort order, which numpy's is not
            fits = [tuple(row) for row in block.tolist()]
            fronts = np.split(rows, np.cumsum(lengths)[:-1])
            crowd[placed] = [d for front in fronts
                             for d in _crowding_distance([fits[j] for j in front])]
        else:
            crowd[placed] = _crowding_distances(block, rows, lengths)
        next_rank = len(lengths)
    # by violation, ties in index order (a stable sort of the indices, as sorted() was)
    infeasible = np.flatnonzero(ok & (violations > 0))
    infeasible = infeasible[np.argsort(violations[infeasible], kind="stable")].tolist()
    violation_of = violations.tolist()
    last = None
    for i in infeasible:
        if last is not None and violation_of[i] > last:
            next_rank += 1
        last = violation_of[i]
        rank[i] = next_rank
    if infeasible:
        next_rank += 1
    rank[~ok] = next_rank
    return rank, crowd


def _sort_nondominated(block: np.ndarray, weights: tuple[float, ...]
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Fronts of row positions into ``block[n, k]``, in DEAP's ``sortNondominated`` order,
    as the positions front after front and each front's length.

    DEAP groups equal fitnesses (equal weighted-value tuples, as dict keys) in order of
    first appearance, then: the first front is the undominated groups in that order; a
    later front lists each group when its last dominator in the previous front is visited
    (previous front in its order, each dominator's dominated groups in ascending order),
    i.e. sorted by (position of that last dominator, group index). Members of a group
    follow each other in order of appearance.
    """
    weighted = block * np.array(weights)  # the same products as DEAP's, row by row
    if np.isnan(weighted).any():
        # a NaN key equals only itself: every row with one is its own group, as in DEAP
        groups: dict[tuple[float, ...], list[int]] = {}
        for j, wfit in enumerate(weighted.tolist()):
            groups.setdefault(tuple(wfit), []).append(j)
        members = list(groups.values())
        wvalues = np.array(list(groups), dtype=float).reshape(len(members), len(weights))
        by_group = np.array([j for m in members for j in m], dtype=np.int64)
        sizes = np.array([len(m) for m in members], dtype=np.int64)
    else:
        wvalues, by_group, sizes = _equal_groups(weighted)
    if len(weights) == 1:
        fronts = _single_objective_fronts(wvalues[:, 0])
    else:
        fronts = _multi_objective_fronts(wvalues)
    # the members of each front's groups, in the front's group order
    order = np.concatenate(fronts)
    counts = sizes[order]
    starts = (np.cumsum(sizes) - sizes)[order]
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = by_group[np.repeat(starts, counts) + within]
    groups_per_front = np.array([len(f) for f in fronts])
    lengths = np.add.reduceat(counts, np.cumsum(groups_per_front) - groups_per_front)
    return rows, lengths


def _equal_groups(weighted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DEAP's groups of equal rows (no NaN) on arrays: each group's values, numbered by
    first appearance; the rows group after group, each group's in order of appearance;
    and each group's size. Rows are compared as numbers, so ``-0.0`` and ``0.0`` are one
    key, as in a dict; the group keeps its first row's values, as DEAP's key."""
    n = len(weighted)
    by_value = np.lexsort(weighted.T[::-1])  # stable: equal rows stay in row order
    ranked = weighted[by_value]
    starts_run = np.ones(n, dtype=bool)
    starts_run[1:] = (ranked[1:] != ranked[:-1]).any(axis=1)
    run = np.cumsum(starts_run) - 1
    first_rows = by_value[starts_run]  # each run's first appearance
    group_of_run = np.empty(len(first_rows), dtype=np.int64)
    group_of_run[np.argsort(first_rows, kind="stable")] = np.arange(len(first_rows))
    group = np.empty(n, dtype=np.int64)
    group[by_value] = group_of_run[run]
    by_group = np.argsort(group, kind="stable")
    sizes = np.bincount(group, minlength=len(first_rows))
    wvalues = weighted[np.sort(first_rows)]
    return wvalues, by_group, sizes


def _single_objective_fronts(wvalues: np.ndarray) -> list[np.ndarray]:
    """One objective: the groups hold distinct values, so each front is one group, best
    first — except that NaN groups (never dominating, never dominated) join the first
    front, which DEAP lists in group order."""
    nan = np.isnan(wvalues)
    valued = np.flatnonzero(~nan)
    ranked = valued[np.argsort(-wvalues[valued], kind="stable")]
    first = np.sort(np.concatenate([np.flatnonzero(nan), ranked[:1]]))
    return [first] + [ranked[i:i + 1] for i in range(1, len(ranked))]


def _multi_objective_fronts(wvalues: np.ndarray) -> list[np.ndarray]:
    """Fronts of distinct weighted-value groups (larger is better), each in DEAP's order.

    Which front a group is on is found without the all-pairs dominance matrix, whose
    N² booleans grow to gigabytes at the 20,000 candidates neat-pso ranks at population
    10,000 (``benchmarks/driver.py`` times that driver): a sweep in
    lexicographic order for two objectives, a binary search over the fronts for more (a
    group dominated by a member of front k is dominated by one of every front before k).
    Only the order inside a front needs dominance, and only between consecutive fronts.
    NaN values (which DEAP's comparisons neither count as better nor worse) take the
    matrix path."""
    if np.isnan(wvalues).any():
        return _matrix_fronts(wvalues)
    index = _front_index(wvalues)
    by_front = np.argsort(index, kind="stable")  # each front's groups in group order
    members = np.split(by_front, np.cumsum(np.bincount(index))[:-1])
    fronts = [members[0]]  # the undominated groups, in group order
    for nxt in members[1:]:
        last = _last_dominator(wvalues, fronts[-1], nxt)
        fronts.append(nxt[np.lexsort((nxt, last))])
    return fronts


def _front_index(wvalues: np.ndarray) -> np.ndarray:
    """The front of every group (0 = undominated); the groups' values are distinct."""
    n, k = wvalues.shape
    # lexicographic, best first: every dominator of a group comes before it
    visit = np.lexsort(tuple(-wvalues[:, j] for j in reversed(range(k))))
    index = np.empty(n, dtype=np.int64)
    if k == 2:
        # visited in decreasing first value, a group is dominated by a front iff that front
        # already holds a second value >= its own; the fronts' largest second values
        # (negated here, so that bisect finds the first front that does not dominate it)
        # increase with the front's number
        tops: list[float] = []
        second = (-wvalues[:, 1]).tolist()
        found = [0] * n
        for g in visit.tolist():
            f = bisect.bisect_right(tops, second[g])
            if f == len(tops):
                tops.append(second[g])
            else:
                tops[f] = second[g]
            found[g] = f
        return np.array(found, dtype=np.int64)
    fronts: list[list[int]] = []
    arrays: list[np.ndarray] = []  # each front's values, rebuilt when it grew
    for g in visit.tolist():
        row = wvalues[g]
        lo, hi = 0, len(fronts)
        while lo < hi:  # the first front holding no dominator of g
            mid = (lo + hi) // 2
            if len(arrays[mid]) != len(fronts[mid]):
                arrays[mid] = wvalues[fronts[mid]]
            block = arrays[mid]
            if bool(((block >= row).all(axis=1) & (block > row).any(axis=1)).any()):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(fronts):
            fronts.append([])
            arrays.append(wvalues[:0])
        fronts[lo].append(g)
        index[g] = lo
    return index


def _last_dominator(wvalues: np.ndarray, front: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """For each group of ``nxt``, the position in ``front`` of its last dominator there,
    in blocks so that two large fronts do not build one huge matrix."""
    last = np.empty(len(nxt), dtype=np.int64)
    above = wvalues[front][::-1]  # reversed: argmax finds the last dominator
    step = max(1, 4_000_000 // max(len(front), 1))
    # the groups' values are distinct (and not NaN), so nowhere worse already means
    # somewhere better: dominance is the >= test alone, one objective at a time
    columns = [above[:, k, None] for k in range(wvalues.shape[1])]
    for start in range(0, len(nxt), step):
        below = wvalues[nxt[start:start + step]]
        dominates = columns[0] >= below[None, :, 0]
        for k in range(1, len(columns)):
            dominates &= columns[k] >= below[None, :, k]
        last[start:start + step] = len(front) - 1 - np.argmax(dominates, axis=0)
    return last


def _matrix_fronts(wvalues: np.ndarray) -> list[np.ndarray]:
    """Peel fronts off the all-pairs dominance matrix, ordering each as DEAP's loop does."""
    n_groups = wvalues.shape[0]
    # dominates[p, q]: p is nowhere worse than q and somewhere better (DEAP's comparison
    # order, so a NaN objective counts as neither)
    worse = np.zeros((n_groups, n_groups), dtype=bool)
    better = np.zeros_like(worse)
    for k in range(wvalues.shape[1]):
        column = wvalues[:, k]
        worse |= column[:, None] < column[None, :]
        better |= column[:, None] > column[None, :]
    dominates = better & ~worse
    dominators = dominates.sum(axis=0)
    front = np.flatnonzero(dominators == 0)
    fronts = [front]
    placed = len(front)
    while placed < n_groups:
        block = dominates[front]  # |front| x groups
        dominators = dominators - block.sum(axis=0)
        nxt = np.flatnonzero(block.any(axis=0) & (dominators == 0))
        if len(nxt) == 0:
            raise ValueError("dominance has a cycle (NaN objectives?); cannot sort into fronts")
        last = len(front) - 1 - np.argmax(block[::-1][:, nxt], axis=0)
        front = nxt[np.lexsort((nxt, last))]
        fronts.append(front)
        placed += len(front)
    return fronts


def _crowding_distance(fits: list[tuple[float, ...]]) -> list[float]:
    """DEAP's ``assignCrowdingDist`` for one front (same sort, same sums)."""
    distances = [0.0] * len(fits)
    crowd = [(fit, i) for i, fit in enumerate(fits)]
    nobj = len(fits[0])
    for k in range(nobj):
        crowd.sort(key=lambda element: element[0][k])
        distances[crowd[0][1]] = float("inf")
        distances[crowd[-1][1]] = float("inf")
        if crowd[-1][0][k] == crowd[0][0][k]:
            continue
        norm = nobj * float(crowd[-1][0][k] - crowd[0][0][k])
        for prev, cur, nxt in zip(crowd[:-2], crowd[1:-1], crowd[2:]):
            distances[cur[1]] += (nxt[0][k] - prev[0][k]) / norm
    return distances


def _crowding_distances(block: np.ndarray, rows: np.ndarray, lengths: np.ndarray
                        ) -> np.ndarray:
    """:func:`_crowding_distance` of every front at once, in the fronts' concatenated order,
    for values without NaN: the same sorts (stable, by one objective after another, each
    from the order the previous one left) and the same float operations in the same order,
    on arrays. neat-pso ranks twenty thousand rows in a few hundred fronts per generation at
    population 10,000 (``benchmarks/driver.py``), where the per-front Python loop showed."""
    n, nobj = len(rows), block.shape[1]
    front = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    ends = starts + lengths - 1
    distances = np.zeros(n)
    order = np.arange(n)  # positions in the concatenation, as the last sort left them
    for k in range(nobj):
        column = block[rows, k]
        order = order[np.lexsort((column[order], front[order]))]  # stable within a front
        ranked = column[order]
        low, high = ranked[starts], ranked[ends]
        spread = high != low
        norm = nobj * (high - low)
        middle = np.ones(n, dtype=bool)
        middle[starts] = middle[ends] = False
        middle &= spread[front]
        at = np.flatnonzero(middle)
        distances[order[at]] += (ranked[at + 1] - ranked[at - 1]) / norm[front[at]]
        distances[order[starts]] = np.inf
        distances[order[ends]] = np.inf
    return distances


def order(rank: np.ndarray, crowd: np.ndarray) -> list[int]:
    """Indices best first: lower rank, then larger crowding distance, then index (stable)."""
    return sorted(range(len(rank)), key=lambda i: (rank[i], -crowd[i], i))
