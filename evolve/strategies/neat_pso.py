"""NEAT-PSO: NEAT evolves the structure, a particle swarm moves the rule's hyperparameters.

Structure changes exactly as in ``neat`` (evolve/strategies/neat.py): the same Pareto rank
and crowding under constraint domination, speciation, fitness sharing, elitism, tournament
selection, crossover and mutation — this class only fills NEAT's hooks. Every candidate is
also a particle over its continuous genes (the rule's hyperparameters minus the ones the user
fixed; log-scale ones in ln space, see layered.py) with a position x, a velocity v and a
*lineage best* p: the best position that it or any ancestor reached. A child takes x, v and p
from the parent it inherits its hyperparameters from (the only parent, or the fitter one in a
crossover) and makes one PSO step (Kennedy & Eberhart 1995; Shi & Eberhart 1998),

    v ← w·v + c1·r1 ⊙ (p − x) + c2·r2 ⊙ (ℓ − x),   clipped to ±κ·(hi − lo)
    x ← clip(x + v, lo, hi)

(:func:`evolve.strategies.pso.pso_step`), where ℓ is the position of the best-ranked member of
the species the child is bred in — the species plays the part of a PSO neighbourhood, so each
niche of structures tunes its own hyperparameters. The child's hyperparameters are x applied
(mapped back, clipped, integers rounded).

No candidate is asked for twice. A swarm that has converged stops moving (when x = p = ℓ the
velocity only decays), so a child that kept its parent's structure — or made the same
structural change as a sibling — would repeat a candidate already measured, an evaluation
spent on nothing new. A child whose (genome, hyperparameters) was asked for before in the run
instead restarts its velocity uniformly within ±v_max and moves from the parent's position
(:func:`evolve.strategies.pso.stalled_restart`; the velocity re-initialisation of HPSO-TVAC,
Ratnaweera, Halgamuge & Watson 2004), drawn again up to ``RESTART_TRIES`` times when the bounds
clip it back onto a known point. Only a rule with no movable hyperparameters can repeat.

When a candidate has been evaluated, its lineage best becomes its own position unless the
inherited best ranks before it in NEAT's order (Pareto rank, then crowding distance; ties go
to the newer position) when both are ranked together with the current population. Failed
evaluations rank last, so they never displace a lineage best.

Generation 0: the start genome (the minimal one, or ``space.start_widths``' chain, and the
minimal one too where ``space.start_share`` grows part of generation 0 from it) sits at
the start values (``Problem.hyperparameters``), the others at uniform positions (log-uniform
values for log-scale genes); velocities start at 0.

State (JSON): ``asked`` maps the key of every candidate asked for so far
(:func:`candidate_key`) to its id; ``particles`` holds each live candidate's (pending or
surviving) position, velocity and lineage best as columns (evolve/strategies/particles.py;
:meth:`NeatPsoStrategy.particle` reads one back as a dict).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evolve.selection import rank_and_crowding
from evolve.strategies.base import Candidate, Problem, Scored
from evolve.strategies.layered import apply_hyper, hyper_dimensions
from evolve.strategies.neat import Draft, NeatParams, NeatStrategy, Ranking
from evolve.strategies.particles import Particles
from evolve.strategies.pso import SwarmParams, pso_step, stalled_restart
from search_spaces.genome import Genome
from search_spaces.space import MutationRates, SearchSpace

RESTART_TRIES = 10


def candidate_key(genome: Genome | str, hyperparameters: Mapping[str, float]) -> str:
    """What makes two candidates the same experiment: structure and hyperparameters
    (``genome`` may be given as its JSON, computed once for several positions)."""
    text = genome if isinstance(genome, str) else genome.to_json()
    return hashlib.sha256(f"{text}|{_hyper_json(hyperparameters)}".encode()).hexdigest()[:16]


def _hyper_json(hyperparameters: Mapping[str, float]) -> str:
    """``json.dumps(sorted(hyperparameters.items()))``, written out directly for finite
    floats (``repr`` is how ``json`` writes them): neat-pso keys ten thousand children a
    generation (``benchmarks/driver.py``), where the encoder's per-call cost dominated.
    Anything else (an int, a non-finite value) goes through ``json`` itself."""
    names = tuple(hyperparameters)
    layout = _LAYOUTS.get(names)
    if layout is None:  # every name a moved gene: a %s for each
        layout = _LAYOUTS[names] = _RowJson(dict.fromkeys(names, 0.0), names)
    values = [hyperparameters[n] for n in names]
    for value in values:
        if type(value) is not float or not math.isfinite(value):
            return json.dumps(sorted(hyperparameters.items()))
    return layout.template % tuple(repr(values[i]) for i in layout.order)


# per sequence of hyperparameter names: the JSON template, a %s per value in name order
_LAYOUTS: dict[tuple[str, ...], _RowJson] = {}


class _KeyCache:
    """:func:`candidate_key` for many children, the SHA-256 state after each distinct
    genome's ``"<json>|"`` kept and copied: ten thousand children a generation share a
    few thousand genomes, and hashing a genome's text once per child was a visible share of
    neat-pso's ``tell`` (``benchmarks/driver.py``). The keys are the same strings."""

    def __init__(self) -> None:
        self._prefixes: dict[str, Any] = {}

    def __call__(self, genome_json: str, hyperparameters: Mapping[str, float]) -> str:
        return self.of_text(genome_json, _hyper_json(hyperparameters))

    def of_text(self, genome_json: str, hyper_json: str) -> str:
        """The key from the hyperparameters' JSON as :func:`_hyper_json` writes it."""
        prefix = self._prefixes.get(genome_json)
        if prefix is None:
            prefix = self._prefixes[genome_json] = hashlib.sha256(f"{genome_json}|".encode())
        digest = prefix.copy()
        digest.update(hyper_json.encode())
        return digest.hexdigest()[:16]


class _RowJson:
    """:func:`_hyper_json` of ``start`` with the genes ``names`` set to each child's values,
    from a template that holds the other values already written and one column of
    ``repr``s per moved gene: a generation's children differ only in the moved genes."""

    def __init__(self, start: Mapping[str, float], names: Sequence[str]) -> None:
        at = {name: i for i, name in enumerate(names)}
        parts, self.order = [], []
        self.usable = True
        for name in sorted(start):
            label = json.dumps(name).replace("%", "%%")
            if name in at:
                parts.append(f"[{label}, %s]")
                self.order.append(at[name])
            else:
                value = start[name]
                self.usable &= type(value) is float and math.isfinite(value)
                parts.append(f"[{label}, {repr(value).replace('%', '%%')}]")
        self.template = "[" + ", ".join(parts) + "]"

    def texts(self, columns: Sequence[list[float]], n: int) -> list[str] | None:
        """The JSON texts of ``n`` children from the moved genes' ``columns`` (Python
        floats, in ``names`` order); ``None`` where a value is not finite, or a fixed one is
        not a finite float (then :func:`_hyper_json` decides how ``json`` writes it)."""
        picked = [columns[i] for i in self.order]
        if not self.usable or not all(np.isfinite(c).all() for c in picked):
            return None
        template = self.template
        if not picked:
            return [template % ()] * n
        return [template % row for row in zip(*[list(map(repr, c)) for c in picked])]


class NeatPsoStrategy(NeatStrategy):
    name = "neat-pso"
    tables = ("neat", "mutation", "swarm")
    growing_keys = ("asked",)

    def __init__(self, space: SearchSpace, problem: Problem, neat: NeatParams = NeatParams(),
                 mutation: MutationRates = MutationRates(),
                 swarm: SwarmParams = SwarmParams()) -> None:
        super().__init__(space, problem, neat, mutation)
        self.dims = hyper_dimensions(problem)
        self.swarm = swarm
        self.low = np.array([d.bounds[0] for d in self.dims], dtype=float)
        self.high = np.array([d.bounds[1] for d in self.dims], dtype=float)
        self._start_values = apply_hyper(problem, [], [])  # converted once, not per child

    def _hyper(self, x: Any) -> dict[str, float]:
        """:func:`apply_hyper` (the same dict, in the same order), with the start values
        converted once rather than once per child."""
        hyper = dict(self._start_values)
        for dim, internal in zip(self.dims, x, strict=True):
            hyper[dim.name] = dim.to_value(internal)
        return hyper

    def _asked(self, state: dict[str, Any], child: Candidate, x: list[float],
               genome_json: str | None = None) -> Candidate:
        """The child at position ``x``, recorded as asked for."""
        hyper = self._hyper(x)
        self._record(state, child.id, candidate_key(genome_json or child.genome, hyper))
        return dataclasses.replace(child, hyperparameters=hyper)

    @staticmethod
    def _record(state: dict[str, Any], cid: int, key: str) -> None:
        """Remember ``key`` as asked for, under the first id that asked for it: ``asked``
        only ever gains keys (``growing_keys``), so a checkpoint stores each once."""
        state.setdefault("asked", {}).setdefault(key, cid)

    # -- the swarm's columns -----------------------------------------------------------------
    def particle(self, state: Mapping[str, Any], cid: int) -> dict[str, Any]:
        """Candidate ``cid``'s particle in ``state`` as ``{"x", "v", "best"}`` (``best``:
        ``None`` before its lineage was evaluated, else ``{"x", "values", "violation",
        "ok"}``), for reading a state by hand; positions are internal coordinates."""
        return self._swarm(state).particle(cid)

    def _swarm(self, state: Mapping[str, Any]) -> Particles:
        """The particles of ``state``: the columns ``tell`` is working on, the ones the last
        ``tell`` wrote into this very state (kept, not read back: a state's JSON is never
        changed in place, see evolve/strategies/base.py), or read from its JSON."""
        data = state["particles"]
        if isinstance(data, Particles):
            return data
        kept = self.__dict__.get("_kept_swarm")
        if kept is not None and kept[0] is data:
            return kept[1]
        return Particles.from_state(data, len(self.dims), len(self.problem.directions))

    def _write_swarm(self, state: dict[str, Any], particles: Particles) -> None:
        """Store ``particles`` in ``state`` as JSON, keeping the columns for the next call
        on this state (only a cache: any other state is read from its JSON)."""
        data = particles.to_state()
        state["particles"] = data
        self._kept_swarm = (data, particles)

    # -- NEAT's hooks ------------------------------------------------------------------------
    def _start(self, state: dict[str, Any], children: list[Candidate],
               rng: np.random.Generator) -> list[Candidate]:
        start = [d.to_internal(min(max(self.problem.hyperparameters[d.name], d.low), d.high))
                 for d in self.dims]
        # each start genome (the chain, and the minimal genome where space.start_share < 1
        # grows the rest of generation 0 from it) at the start values
        minimal = self.space.start_count(len(children))
        out, positions = [], []
        for i, child in enumerate(children):
            x = start if i in (0, minimal) else [d.sample(rng) for d in self.dims]
            positions.append(x)
            out.append(self._asked(state, child, x))
        state["genes"] = [d.name for d in self.dims]
        self._write_swarm(state, Particles.start(
            [c.id for c in children],
            np.array(positions, dtype=float).reshape(len(children), len(self.dims)),
            len(self.problem.directions)))
        return out

    def _ranked(self, state: dict[str, Any], population: list[Scored], scored: list[Scored],
                ranking: Ranking, rng: np.random.Generator) -> None:
        """Each new evaluation becomes its lineage best unless the inherited best ranks
        before it, both ranked with the population (module docstring). The population is
        the survivors followed by ``scored``."""
        state["asked"] = dict(state.get("asked", {}))  # _offspring adds to it: our own copy
        particles = self._swarm(state)
        first = len(population) - len(scored)  # the new evaluations' rows in the ranking
        rows = particles.rows([s.candidate.id for s in scored])
        inherited = rows[particles.has_best[rows]]
        rank, crowd = rank_and_crowding(
            np.concatenate([ranking.values, particles.best_values[inherited]]),
            self.problem.directions,
            np.concatenate([ranking.violation, particles.best_violation[inherited]]),
            np.concatenate([ranking.ok, particles.best_ok[inherited]]))
        here = first + np.arange(len(scored))
        own = ~particles.has_best[rows]  # no best yet: its own evaluation is the best
        has = np.flatnonzero(~own)
        theirs = len(population) + np.arange(len(has))  # the inherited bests' rows
        mine = here[has]
        # NEAT's order, (rank, -crowding): the new evaluation wins ties
        own[has] = (rank[mine] < rank[theirs]) | (
            (rank[mine] == rank[theirs]) & (-crowd[mine] <= -crowd[theirs]))
        won = here[own]
        state["particles"] = particles.with_bests(
            rows[own], particles.x[rows[own]], ranking.values[won], ranking.violation[won],
            ranking.ok[won])

    def _offspring(self, state: dict[str, Any], drafts: list[Draft],
                   rng: np.random.Generator) -> list[dict[str, float]]:
        """One swarm step per child from its source parent's particle, toward the leader
        of the species it was bred in, taken for all children at once (one draw of
        ``r1 | r2`` rows, :func:`pso_step` on the stacked particles, each dimension's
        values mapped back as a column); then, child by child in id order, the repeat
        check and its restarts."""
        if not drafts:  # every place went to an elite
            return []
        particles: Particles = state["particles"]
        asked = state.setdefault("asked", {})  # _record adds to this dict
        source = particles.rows([d.source.candidate.id for d in drafts])
        if not particles.has_best[source].all():
            raise RuntimeError("a parent without a lineage best: it was never evaluated")
        n, k = len(drafts), len(self.dims)
        if k:
            r = rng.random((n, 2 * k))
            xs, vs = pso_step(particles.x[source], particles.v[source],
                              particles.best_x[source],
                              particles.x[particles.rows([d.leader.candidate.id
                                                          for d in drafts])],
                              r[:, :k], r[:, k:], self.swarm, self.low, self.high)
            columns = [dim.to_values(xs[:, j]) for j, dim in enumerate(self.dims)]
            rows = list(zip(*columns, strict=True))
        else:
            xs, vs = np.zeros((n, 0)), np.zeros((n, 0))
            columns, rows = [], [()] * n
        names = [dim.name for dim in self.dims]
        texts = _RowJson(self._start_values, names).texts(columns, n)
        key_of = _KeyCache()
        hypers = []
        for j, (draft, values) in enumerate(zip(drafts, rows, strict=True)):
            hyper = dict(self._start_values)
            hyper.update(zip(names, values, strict=True))
            genome_json = draft.genome.to_json()
            key = (key_of(genome_json, hyper) if texts is None
                   else key_of.of_text(genome_json, texts[j]))
            for _ in range(RESTART_TRIES if k else 0):
                if key not in asked:
                    break
                xs[j], vs[j] = stalled_restart(particles.x[source[j]], rng, self.swarm,
                                               self.low, self.high)
                hyper = self._hyper(xs[j].tolist())
                key = key_of(genome_json, hyper)
            self._record(state, draft.id, key)
            hypers.append(hyper)
        # each child at its new position, with its parent's lineage best
        ids = np.array([d.id for d in drafts], dtype=np.int64)
        children = dataclasses.replace(particles.take(source), ids=ids, x=xs, v=vs)
        state["particles"] = Particles.concat([particles, children])
        return hypers

    def _keep_owed(self, old: Mapping[str, Any], new: dict[str, Any], owed: list[int]) -> None:
        if owed:
            before, after = self._swarm(old), self._swarm(new)
            kept = after.take(np.flatnonzero(~np.isin(after.ids, owed)))
            self._write_swarm(new, Particles.concat([kept, before.take(before.rows(owed))]))

    def _finish(self, state: dict[str, Any], survivors: list[Candidate],
                children: list[Candidate]) -> None:
        particles = self._swarm(state)
        live = sorted(c.id for c in (*survivors, *children))
        self._write_swarm(state, particles.take(particles.rows(live)))
