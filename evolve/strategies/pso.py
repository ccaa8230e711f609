"""Multi-objective particle swarm (MOPSO) over the fixed-depth layered space.

Particle swarm optimisation (Kennedy & Eberhart 1995, inertia weight of Shi & Eberhart 1998):
particle i has a position x_i, a velocity v_i and a personal best p_i, and moves toward p_i
and toward a leader g_i,

    v_i ← w·v_i + c1·r1 ⊙ (p_i − x_i) + c2·r2 ⊙ (g_i − x_i),     r1, r2 ~ U(0, 1)^d
    v_i ← clip(v_i, −v_max, v_max),      v_max = κ·(hi − lo)
    x_i ← clip(x_i + v_i, lo, hi)        (a coordinate stopped at a bound loses its velocity)

with w = 0.7298 and c1 = c2 = 1.49618, the constriction-equivalent values of Clerc & Kennedy
(2002). Positions live in internal coordinates (ln for log-scale dimensions, see layered.py);
:func:`pso_step` is the whole update, pure, so it can be checked by hand.

Multi-objective leaders follow MOPSO (Coello Coello, Pulido & Lechuga 2004, "Handling multiple
objectives with particle swarm optimization", IEEE TEC 8(3)): non-dominated positions go to an
external archive, and each particle draws its leader g_i from it by roulette. Coello's roulette
favours sparse cells of an adaptive grid; we weight by crowding distance instead (MOPSO-CD,
Raquel & Naval 2005), the same crowding measure NSGA-II selection uses (evolve/selection.py),
and truncate an over-full archive by dropping its most crowded member. A personal best is
replaced by a new position that dominates it, kept when it dominates the new one, and replaced
with probability 1/2 when neither dominates (Coello 2004). All comparisons use constraint
domination (feasible first, then smaller violation, failed evaluations last). Velocities
start at zero (Engelbrecht 2012, "Particle swarm optimization: velocity initialization").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evolve.selection import rank_and_crowding
from evolve.strategies.base import Candidate, Problem, Scored, Strategy, check_ranges
from evolve.strategies.layered import LayeredParams, LayeredSpace
from search_spaces.settings import check_field_types
from search_spaces.space import SearchSpace


@dataclass(frozen=True)
class SwarmParams:
    """The swarm update's coefficients (``strategy.swarm``), shared by ``pso`` and
    ``neat-pso`` so that both swarms move alike."""

    inertia: float = 0.7298  # w (Clerc & Kennedy 2002)
    cognitive: float = 1.49618  # c1, pull toward the personal (lineage) best
    social: float = 1.49618  # c2, pull toward the leader
    velocity_clamp: float = 0.25  # κ: v_max = κ·(hi − lo) per dimension (internal coordinates)

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        check_ranges(self, {
            "inertia": (self.inertia >= 0, ">= 0"),
            "cognitive": (self.cognitive >= 0, ">= 0"),
            "social": (self.social >= 0, ">= 0"),
            "velocity_clamp": (self.velocity_clamp > 0, "> 0"),
        })


@dataclass(frozen=True)
class PsoParams:
    """What only the ``pso`` strategy reads (``strategy.pso``)."""

    archive_size: int = 0  # most non-dominated leaders kept (0 = 2 × population)

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        check_ranges(self, {"archive_size": (self.archive_size >= 0, ">= 0")})


def pso_step(x: np.ndarray, v: np.ndarray, best: np.ndarray, leader: np.ndarray,
             r1: np.ndarray, r2: np.ndarray, params: SwarmParams,
             low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One velocity and position update (module docstring); returns ``(x', v')``.

    >>> p = SwarmParams(inertia=0.5, cognitive=1.0, social=1.0, velocity_clamp=1.0)
    >>> one = np.ones(1)
    >>> pso_step(0 * one, one, 2 * one, 4 * one, 0.5 * one, 0.25 * one, p, -10 * one, 10 * one)
    (array([2.5]), array([2.5]))
    """
    x, v = np.asarray(x, dtype=float), np.asarray(v, dtype=float)
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    v_max = params.velocity_clamp * (high - low)
    v = params.inertia * v + params.cognitive * r1 * (best - x) + params.social * r2 * (leader - x)
    return _move(x, np.clip(v, -v_max, v_max), low, high)


def _move(x: np.ndarray, v: np.ndarray, low: np.ndarray, high: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """``x + v`` clipped to the bounds; a coordinate stopped at a bound loses its velocity."""
    moved = x + v
    x_new = np.clip(moved, low, high)
    return x_new, np.where(x_new != moved, 0.0, v)


def stalled_restart(x: np.ndarray, rng: np.random.Generator, params: SwarmParams,
                    low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stalled particle's restart: velocity uniform in ±v_max, one move from ``x``
    (clipped like :func:`pso_step`); returns ``(x', v')``."""
    low, high = np.asarray(low, dtype=float), np.asarray(high, dtype=float)
    v = rng.uniform(-1.0, 1.0, size=len(low)) * params.velocity_clamp * (high - low)
    return _move(np.asarray(x, dtype=float), v, low, high)


# -- evaluated positions as JSON, compared under constraint domination ----------------------------
def point(x: Sequence[float], s: Scored) -> dict[str, Any]:
    """An evaluated position as JSON (non-finite objective values become ``None``)."""
    ok = s.rankable
    return {"x": [float(c) for c in x],
            "values": [float(v) if math.isfinite(v) else None for v in s.values],
            "violation": float(s.violation), "ok": ok}


def row_arrays(rows: Sequence[tuple[Sequence[float | None], float, bool]], n_objectives: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values, violation, ok)`` arrays of ``(values, violation, ok)`` rows, as ranking
    reads them: a missing or non-finite value counts as 0, and so do all of a row that is
    not ok."""
    ok = np.array([r[2] for r in rows], dtype=bool)
    # None becomes NaN in a float array; then every non-finite value becomes 0
    values = np.array([r[0] for r in rows], dtype=float).reshape(len(rows), n_objectives)
    values[~(np.isfinite(values) & ok[:, None])] = 0.0
    violation = np.array([r[1] for r in rows], dtype=float)
    return values, violation, ok


def rank_rows(rows: Sequence[tuple[Sequence[float | None], float, bool]],
              directions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Pareto rank and crowding (evolve/selection.py's order) of ``(values, violation, ok)``
    rows (:func:`row_arrays`)."""
    values, violation, ok = row_arrays(rows, len(directions))
    return rank_and_crowding(values, directions, violation, ok)


def rank_points(points: Sequence[dict[str, Any]], directions: Sequence[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Pareto rank and crowding of :func:`point` dicts (evolve/selection.py's order)."""
    return rank_rows([(p["values"], p["violation"], p["ok"]) for p in points], directions)


def roulette(weights: np.ndarray, rng: np.random.Generator) -> int:
    """An index drawn with probability proportional to ``weights`` (infinite weights count
    as twice the largest finite one; all-zero weights draw uniformly)."""
    w = np.asarray(weights, dtype=float)
    finite = w[np.isfinite(w)]
    w = np.where(np.isfinite(w), w, 2.0 * finite.max() if finite.size and finite.max() > 0
                 else 1.0)
    if w.sum() <= 0:
        w = np.ones_like(w)
    return int(rng.choice(len(w), p=w / w.sum()))


def update_archive(archive: list[dict[str, Any]], new: Sequence[dict[str, Any]],
                   directions: Sequence[str], capacity: int) -> list[dict[str, Any]]:
    """The first front (constraint domination) of ``archive + new``, successful evaluations
    only, one point per objective vector (the older one), truncated by crowding distance."""
    pool: list[dict[str, Any]] = []
    seen: set[tuple[Any, ...]] = set()
    for p in [*archive, *new]:
        key = (*p["values"], p["violation"])
        if p["ok"] and key not in seen:
            seen.add(key)
            pool.append(p)
    if not pool:
        return []
    rank, _ = rank_points(pool, directions)
    front = [p for p, r in zip(pool, rank, strict=True) if r == 0]
    while len(front) > capacity:
        _, crowd = rank_points(front, directions)
        del front[int(np.lexsort((-np.arange(len(front)), crowd))[0])]  # most crowded, newest
    return front


def better_best(best: dict[str, Any] | None, new: dict[str, Any], directions: Sequence[str],
                rng: np.random.Generator) -> dict[str, Any]:
    """Coello's personal-best rule: the dominating one; a coin flip when neither dominates."""
    if best is None:
        return new
    rank, _ = rank_points([best, new], directions)
    if rank[0] != rank[1]:
        return new if rank[1] < rank[0] else best
    return new if rng.random() < 0.5 else best


# -- the strategy ---------------------------------------------------------------------------------
class PsoStrategy(Strategy):
    name = "pso"
    tables = ("layered", "swarm", "pso")

    def __init__(self, space: SearchSpace, problem: Problem,
                 layered: LayeredParams = LayeredParams(), swarm: SwarmParams = SwarmParams(),
                 pso: PsoParams = PsoParams()) -> None:
        self.layered = LayeredSpace.of(space, problem, layered)
        self.problem = problem
        self.swarm = swarm
        self.capacity = pso.archive_size if pso.archive_size > 0 else 2 * problem.population

    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        bounds = [d.bounds for d in self.layered.dims]
        return (np.array([b[0] for b in bounds], dtype=float),
                np.array([b[1] for b in bounds], dtype=float))

    def _candidate(self, cid: int, generation: int, x: Sequence[float],
                   parents: tuple[int, ...] = ()) -> Candidate:
        genome, hyper = self.layered.decode(x)
        return Candidate(cid, generation, genome, hyper, parents)

    def _init(self, rng: np.random.Generator) -> dict[str, Any]:
        dims = self.layered.dims
        particles, pending = [], []
        for i in range(self.problem.population):
            x = [d.sample(rng) for d in dims]
            particles.append({"id": i, "x": x, "v": [0.0] * len(dims), "best": None})
            pending.append(self._candidate(i, 0, x).to_dict())
        return {"generation": 0, "next_id": len(particles),
                "dimensions": [d.name for d in dims], "particles": particles,
                "archive": [], "pending": pending}

    def _tell(self, state: dict[str, Any], scored: list[Scored],
              rng: np.random.Generator) -> dict[str, Any]:
        directions = self.problem.directions
        by_id = {s.candidate.id: s for s in scored}
        particles = [dict(p) for p in state["particles"]]
        evaluated = []
        for p in particles:  # personal bests, in particle order
            here = point(p["x"], by_id[p["id"]])
            evaluated.append(here)
            p["best"] = better_best(p["best"], here, directions, rng)
        archive = update_archive(state["archive"], evaluated, directions, self.capacity)
        crowd = rank_points(archive, directions)[1] if archive else np.zeros(0)
        low, high = self._bounds()
        generation, next_id = state["generation"] + 1, state["next_id"]
        pending = []
        for p in particles:
            leader = archive[roulette(crowd, rng)]["x"] if archive else p["best"]["x"]
            r1, r2 = rng.random(len(low)), rng.random(len(low))
            x, v = pso_step(np.array(p["x"]), np.array(p["v"]), np.array(p["best"]["x"]),
                            np.array(leader), r1, r2, self.swarm, low, high)
            pending.append(self._candidate(next_id, generation, x.tolist(), (p["id"],)).to_dict())
            p.update(id=next_id, x=x.tolist(), v=v.tolist())
            next_id += 1
        state.update(generation=generation, next_id=next_id, particles=particles,
                     archive=archive, pending=pending)
        return state
