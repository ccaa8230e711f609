"""NEAT (Stanley & Miikkulainen 2002) over group genomes, with NSGA-II selection.

Per generation, ``tell`` does what NEAT's reproduction does, made multi-objective:

1. rank everyone (survivors carried over + new evaluations) by Pareto front and crowding
   under constraint domination (evolve/selection.py); NEAT's scalar fitness becomes
   ``f_i = R - rank_i`` (R = number of fronts), so fitness sharing still works;
2. stagnation: a species whose best first-objective value has not improved for
   ``stagnation`` generations is dropped, except the ``species_elitism`` best species;
3. offspring shares proportional to each species' mean fitness (explicit fitness sharing),
   at least ``min_species_size``;
4. within a species: the ``elitism`` best survive unchanged (and are *not* re-evaluated),
   parents are the best ``survival_threshold`` share, chosen by binary tournament; a child
   is a crossover (rarely with another species) or a clone, then mutated;
5. each child joins the species whose representative is closest, if within δ_t (else it
   founds one), and δ_t moves by ``threshold_step`` toward ``target_species`` species.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from evolve.selection import rank_and_crowding
from evolve.strategies.base import Candidate, Problem, Scored, Strategy, check_ranges
from evolve.strategies.draws import fast_draws
from search_spaces.genome import Genome
from search_spaces.innovation import InnovationTracker
from search_spaces.settings import check_field_types
from search_spaces.space import (
    MUTATION_OPERATORS,
    MutationRates,
    SearchSpace,
    distance_genes,
)


@dataclass(frozen=True)
class NeatParams:
    """Speciation and reproduction (``strategy.neat``), read by ``neat`` and ``neat-pso``."""

    compatibility_threshold: float = 1.0  # δ_t of generation 0, adapted each generation
    target_species: int = 3  # the threshold moves to keep about this many species
    threshold_step: float = 0.1  # how far δ_t moves per generation
    stagnation: int = 10  # generations without improvement before a species is dropped
    # this many best species are never dropped for stagnation; 0 acts as 1: the best species
    # always stays, or a population whose every species stagnated would die out
    species_elitism: int = 2
    elitism: int = 1  # members per species carried over unchanged (not re-evaluated)
    survival_threshold: float = 0.4  # share of a species allowed to reproduce
    crossover_rate: float = 0.3  # share of children bred by crossover rather than cloned
    interspecies_rate: float = 0.05  # share of crossovers whose second parent is elsewhere
    min_species_size: int = 2  # smallest offspring share of a surviving species

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        check_ranges(self, {
            "compatibility_threshold": (self.compatibility_threshold >= 0, ">= 0"),
            "target_species": (self.target_species >= 1, ">= 1"),
            "threshold_step": (self.threshold_step >= 0, ">= 0"),
            "stagnation": (self.stagnation >= 1, ">= 1"),
            "species_elitism": (self.species_elitism >= 0, ">= 0"),
            "elitism": (self.elitism >= 0, ">= 0"),
            "survival_threshold": (0 < self.survival_threshold <= 1, "in (0, 1]"),
            "crossover_rate": (0 <= self.crossover_rate <= 1, "in [0, 1]"),
            "interspecies_rate": (0 <= self.interspecies_rate <= 1, "in [0, 1]"),
            # >= 1: a species' share must be able to hold more than its elites (elitism
            # >= 0 must be below it), or no generation could breed a new candidate
            "min_species_size": (self.min_species_size >= 1, ">= 1"),
        })


class NeatStrategy(Strategy):
    name = "neat"
    tables = ("neat", "mutation")
    # steady mode: breed once half a generation is in; the rest joins the next ranking
    steady_quorum = 0.5
    grows_from_start = True

    def __init__(self, space: SearchSpace, problem: Problem, neat: NeatParams = NeatParams(),
                 mutation: MutationRates = MutationRates()) -> None:
        self.space = space
        self.problem = problem
        self.neat = neat
        self.rates = mutation

    # -- generation 0 ----------------------------------------------------------------------
    def _init(self, rng: np.random.Generator) -> dict[str, Any]:
        tracker = InnovationTracker()
        genomes = self.space.initial_genomes(self.problem.population, rng, tracker, self.rates)
        hyper = dict(self.problem.hyperparameters)
        children = [Candidate(i, 0, g, hyper) for i, g in enumerate(genomes)]
        state: dict[str, Any] = {
            "generation": 0,
            "next_id": len(children),
            "threshold": self.neat.compatibility_threshold,
            "species": [],
            "next_species": 0,
            "survivors": [],
        }
        children = self._start(state, children, rng)
        found = self._speciate(state, genomes, 0, [])
        state["pending"] = [dataclasses.replace(c, species=sp).to_dict()
                            for c, sp in zip(children, found, strict=True)]
        state["tracker"] = tracker.to_dict()
        return state

    # -- one generation --------------------------------------------------------------------
    def _tell(self, state: dict[str, Any], scored: list[Scored],
              rng: np.random.Generator) -> dict[str, Any]:
        cfg = self.neat
        rng = fast_draws(rng)  # the same draws from the same state, cheaper per call
        generation = state["generation"]
        population = [Scored.from_dict(s) for s in state["survivors"]] + scored
        values = np.array([s.values for s in population], dtype=float)
        violation = np.array([s.violation for s in population], dtype=float)
        finite = np.isfinite(values).all(axis=1)
        # Scored.rankable, row by row
        ok = np.array([s.ok for s in population], dtype=bool) & ((violation > 0) | finite)
        # only a feasible row's values are ranked, and those are finite
        values[~(ok & finite)] = 0.0
        ranks, crowds = rank_and_crowding(values, self.problem.directions, violation, ok)
        self._ranked(state, population, scored, Ranking(values, violation, ok, ranks, crowds),
                     rng)
        # plain lists for the sorts, which index them per candidate (numpy's scalar
        # indexing is slow); the tournaments compare the arrays
        rank, crowd = ranks.tolist(), crowds.tolist()
        fitness = (ranks.max() + 1 - ranks).astype(float)
        primary = np.where(ok, values[:, 0] if self.problem.directions[0] == "max"
                           else -values[:, 0], -np.inf)

        members: dict[int, list[int]] = {}
        for i, s in enumerate(population):
            members.setdefault(s.candidate.species, []).append(i)
        species = [dict(sp) for sp in state["species"] if sp["id"] in members]  # own copies
        for sp in species:
            best = float(primary[members[sp["id"]]].max())
            if best > _species_best(sp) + 1e-12:
                sp["best"], sp["last_improved"] = best, generation
        by_best = sorted(species, key=lambda sp: -_species_best(sp))
        protected = {sp["id"] for sp in by_best[: max(cfg.species_elitism, 1)]}
        species = [sp for sp in species
                   if sp["id"] in protected or generation - sp["last_improved"] < cfg.stagnation]

        adjusted = np.array([fitness[members[sp["id"]]].mean() for sp in species])
        shares = _allocate(self.problem.population, adjusted, cfg.min_species_size)

        tracker = InnovationTracker.from_dict(state["tracker"])
        tracker.new_generation()
        survivors: list[Scored] = []
        ranked = {}  # each species' members in NEAT's order: rank, crowding, index
        for sp in species:
            rows = np.array(members[sp["id"]])
            ranked[sp["id"]] = rows[np.lexsort((rows, -crowds[rows], ranks[rows]))].tolist()
        # who breeds whom, drawn a species at a time as arrays; then one row of five
        # operator draws per child for the mutation: at population 10,000 the per-child
        # scalar draws and comparisons were a large share of ``tell`` (benchmarks/driver.py)
        order = (ranks.astype(float), -crowds)  # NEAT's order: rank, then crowding
        plans: list[tuple[int, int, int]] = []  # (first parent, second or -1, leader)
        for sp, share in zip(species, shares, strict=True):
            ordered = ranked[sp["id"]]
            n_elite = min(cfg.elitism, share, len(ordered))
            survivors.extend(population[i] for i in ordered[:n_elite] if ok[i])
            n_parents = max(1, math.ceil(cfg.survival_threshold * len(ordered)))
            others = [ranked[o["id"]][0] for o in species if o["id"] != sp["id"]]
            plans.extend(_breeding(ordered[:n_parents], others, ordered[0],
                                   share - n_elite, order, cfg, rng))
        decisions = rng.random((len(plans), N_OPERATORS)).tolist()

        drafts: list[Draft] = []
        next_id = state["next_id"]
        for (first, second, leader), decide in zip(plans, decisions, strict=True):
            source = first  # the parent whose continuous genes the child inherits
            lineage: tuple[int, ...] = (population[first].candidate.id,)
            genome = population[first].candidate.genome
            if second >= 0 and second != first:
                fitter, other = sorted((first, second), key=lambda i: (rank[i], -crowd[i], i))
                genome = self.space.crossover(population[fitter].candidate.genome,
                                              population[other].candidate.genome, rng)
                source = fitter
                lineage = (population[fitter].candidate.id, population[other].candidate.id)
            genome = self.space.mutate(genome, rng, tracker, self.rates, decide)
            drafts.append(Draft(next_id, genome, lineage, population[source],
                                population[leader]))
            next_id += 1
        hypers = self._offspring(state, drafts, rng)

        state["species"] = species
        survivor_members = [s.candidate for s in survivors]
        found = self._speciate(state, [d.genome for d in drafts], generation + 1,
                               survivor_members, current=population)
        children = [Candidate(d.id, generation + 1, d.genome, hyper, d.parents, sp)
                    for d, hyper, sp in zip(drafts, hypers, found, strict=True)]
        n_species = len(state["species"])
        if n_species > cfg.target_species:
            state["threshold"] += cfg.threshold_step
        elif n_species < cfg.target_species:
            state["threshold"] = max(cfg.threshold_step, state["threshold"] - cfg.threshold_step)
        pending = [c.to_dict() for c in children]
        self._remember(pending, children)
        state.update(
            generation=generation + 1,
            next_id=next_id,
            survivors=[s.to_dict() for s in survivors],
            pending=pending,
            tracker=tracker.to_dict(),
        )
        self._finish(state, survivor_members, children)
        return state

    # -- hooks for strategies that also move continuous genes (neat-pso); NEAT's own
    # -- do nothing and draw no random numbers, so NEAT's stream stays as it is
    def _start(self, state: dict[str, Any], children: list[Candidate],
               rng: np.random.Generator) -> list[Candidate]:
        """Generation 0's candidates, after their genomes were drawn (NEAT: start values)."""
        return children

    def _ranked(self, state: dict[str, Any], population: list[Scored], scored: list[Scored],
                ranking: Ranking, rng: np.random.Generator) -> None:
        """Called once per ``tell`` with the ranking of survivors + new evaluations."""

    def _offspring(self, state: dict[str, Any], drafts: list[Draft],
                   rng: np.random.Generator) -> list[dict[str, float]]:
        """The hyperparameters of the children ``drafts`` (bred and mutated, in id order),
        called once per ``tell`` right after the last mutation (NEAT: each child keeps its
        source parent's)."""
        return [dict(d.source.candidate.hyperparameters) for d in drafts]

    def _finish(self, state: dict[str, Any], survivors: list[Candidate],
                children: list[Candidate]) -> None:
        """Called at the end of ``tell`` with the next generation (survivors + children)."""

    def _speciate(self, state: dict[str, Any], genomes: list[Genome], generation: int,
                  survivors: list[Candidate], current: list[Scored] | None = None
                  ) -> list[int]:
        """The species of each new genome (of ``generation``); refreshes representatives
        and drops empty species.

        Equal genomes (a clone without a structural change is its parent's genome object)
        are compared once: the species a genome found is kept per genome JSON (which
        :meth:`Genome.to_json` keeps on the genome), and a species' pool of candidate
        representatives holds each genome once. Which species a child joins and which
        member becomes a representative are as if every pair were compared: the species
        whose representative is closest, if within δ_t (a tie to the older species), the
        first member at the smallest distance (tests/test_neat_reference.py runs the
        all-pairs version beside it).

        Closest, as neat-python assigns, not the first species within δ_t in id order:
        with the first, a species kept only by its elite still counts toward
        ``target_species`` while its own children join an older species, so δ_t grows
        and every child ends up in the oldest species (tests/test_strategies.py has the
        case; docs/benchmarks.md, "Speciation joins the closest species", the runs)."""
        distance = self.space.distance_between
        reps = {sp["id"]: Genome.from_dict(sp["representative"]) for sp in state["species"]}
        if current is not None:  # new representative: the current member closest to the old
            pools: dict[int, dict[str, Genome]] = {}
            for s in current:
                genome = s.candidate.genome
                # the first member with each genome: a later equal one is never closer
                pools.setdefault(s.candidate.species, {}).setdefault(genome.to_json(), genome)
            for sp in state["species"]:
                pool = pools.get(sp["id"])
                if pool:
                    old = distance_genes(reps[sp["id"]])
                    reps[sp["id"]] = min(pool.values(),
                                         key=lambda g: distance(distance_genes(g), old))
        rep_genes = {sp_id: distance_genes(rep) for sp_id, rep in reps.items()}
        sp_ids = sorted(reps)  # new species get ever larger ids, so appending keeps it sorted
        occupied = {c.species for c in survivors}
        assigned = []
        threshold = state["threshold"]
        # per genome JSON: the species an equal genome went to, its distance, and how many
        # species it was compared with: a later equal genome only needs the species founded
        # since (one may be closer: no genome equal to it, yet nearer than its species)
        found: dict[str, tuple[int, float, int]] = {}
        for genome in genomes:
            key = genome.to_json()
            target, closest, checked = found.get(key, (None, threshold, 0))
            for sp_id in sp_ids[checked:]:  # strictly closer: a tie goes to the older species
                d = distance(distance_genes(genome), rep_genes[sp_id])  # made once per genome
                if d < closest:
                    target, closest = sp_id, d
            if target is None:
                target, closest = state["next_species"], 0.0
                state["next_species"] += 1
                reps[target] = genome
                rep_genes[target] = distance_genes(genome)
                sp_ids.append(target)
                state["species"].append({"id": target, "created": generation,
                                         "last_improved": generation,
                                         "best": None})  # strict JSON: no -Infinity
            found[key] = (target, closest, len(sp_ids))
            occupied.add(target)
            assigned.append(target)
        state["species"] = [
            {**sp, "representative": reps[sp["id"]].to_dict()}
            for sp in state["species"] if sp["id"] in occupied
        ]
        return assigned


# the structural operators SearchSpace.mutate decides on, one draw each
N_OPERATORS = len(MUTATION_OPERATORS)


class Ranking(NamedTuple):
    """Survivors + new evaluations as ranked, row by row (a row that is not ``ok``, or not
    feasible with finite values, holds zeros)."""

    values: np.ndarray  # (n, objectives)
    violation: np.ndarray
    ok: np.ndarray  # Scored.rankable
    rank: np.ndarray  # Pareto rank under constraint domination, 0 = best
    crowd: np.ndarray  # crowding distance within the rank


class Draft(NamedTuple):
    """A child bred and mutated, before its hyperparameters and species are known."""

    id: int
    genome: Genome
    parents: tuple[int, ...]  # the one parent, or (fitter, other) after a crossover
    source: Scored  # the parent whose continuous genes it inherits
    leader: Scored  # the best-ranked member of the species it was bred in


def _breeding(parents: list[int], others: list[int], leader: int, n: int,
              order: tuple[np.ndarray, np.ndarray], cfg: NeatParams,
              rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """``n`` children's ``(first parent, second parent or -1, leader)`` in one species.

    Each draw is made for all ``n`` children at once: the first parent by binary
    tournament among ``parents``; whether the child is a crossover; whether its second
    parent comes from another species (a best member of one of ``others``) or from a
    second tournament. Draws a child does not use are drawn all the same, so the stream
    does not depend on the outcomes."""
    if n <= 0:
        return []
    pool = np.asarray(parents)
    first = _tournaments(pool, n, order, rng)
    crossing = rng.random(n) < cfg.crossover_rate
    elsewhere = rng.random(n) < cfg.interspecies_rate
    abroad = np.asarray(others)[rng.integers(len(others), size=n)] if others else None
    second = _tournaments(pool, n, order, rng)
    if abroad is not None:
        second = np.where(elsewhere, abroad, second)
    second = np.where(crossing, second, -1)
    return list(zip(first.tolist(), second.tolist(), [leader] * n, strict=True))


def _tournaments(pool: np.ndarray, n: int, order: tuple[np.ndarray, np.ndarray],
                 rng: np.random.Generator) -> np.ndarray:
    """``n`` binary tournaments in ``pool``: of two members drawn with replacement, the one
    first in NEAT's order (rank, then crowding; the first drawn on a tie)."""
    a, b = pool[rng.integers(len(pool), size=(2, n))]
    rank, neg_crowd = order
    b_wins = (rank[b] < rank[a]) | ((rank[b] == rank[a]) & (neg_crowd[b] < neg_crowd[a]))
    return np.where(b_wins, b, a)


def _species_best(species: dict[str, Any]) -> float:
    """A species' best first-objective value so far (-inf before it has one)."""
    return -math.inf if species["best"] is None else species["best"]


def _allocate(total: int, weights: np.ndarray, minimum: int) -> list[int]:
    """Integer shares of ``total`` proportional to ``weights`` (largest remainders), then
    raised to ``minimum`` by taking from the largest shares while they stay above it."""
    if len(weights) == 0:
        return []
    if weights.sum() <= 0:
        weights = np.ones(len(weights))
    raw = weights / weights.sum() * total
    shares = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - shares), kind="stable")[: total - shares.sum()]:
        shares[i] += 1
    for i in np.argsort(shares, kind="stable"):
        while shares[i] < minimum:
            donor = int(np.argmax(shares))
            if shares[donor] <= minimum:
                break
            shares[donor] -= 1
            shares[i] += 1
    return shares.tolist()
