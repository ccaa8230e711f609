"""The fast paths of NEAT's and neat-pso's ``tell`` against plain code that does the same.

``benchmarks/driver.py`` times neat-pso's ``ask`` + ``tell`` at population 10,000; what made
it faster (bit-mask compatibility distances, speciation once per distinct genome, genome JSON
kept on the genome, numpy's scalar draws through the bit generator's ctypes interface,
hand-written keys and hyperparameters, the whole generation's swarm step and hyperparameters
as arrays, the swarm's state as columns, tournaments drawn a species at a time) must not
change a single result. The reference below is plain code, kept here as the oracle: the
frozenset distance, the all-pairs
speciation, ``json.dumps`` keys, :func:`evolve.strategies.layered.apply_hyper`, the swarm step
child by child on lists, point dicts ranked by ``rank_points``, one comparison per tournament
and numpy's own ``random``/``integers``, its particles a dict per candidate as older
checkpoints hold them. A search run both ways from one seed must give equal states,
generation after generation, and the fast strategy must continue the reference's states."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np
import pytest

import evolve.strategies.neat as neat_module
import evolve.strategies.neat_pso as neat_pso_module
from evolve.strategies import Problem, Scored, StrategyConfig, make_strategy
from evolve.strategies.base import Candidate
from evolve.strategies.draws import FastDraws, fast_draws
from evolve.strategies.layered import Dimension, apply_hyper
from evolve.strategies.neat import Draft, Ranking
from evolve.strategies.particles import Particles
from evolve.strategies.pso import SwarmParams, point, rank_points, stalled_restart
from rules.base import Hyperparameter, HyperSpace
from search_spaces.genome import Genome
from search_spaces.space import MutationRates, SearchSpace, distance_genes

SPACE = SearchSpace(16, 4)
HYPER = HyperSpace((
    Hyperparameter("lr", 1e-4, 1e-1, 1e-3, log=True),
    Hyperparameter("steps", 1, 50, 20, integer=True),
    Hyperparameter("scale", 0.25, 4.0, 1.0, log=True),
))
# structure grows fast, so that a few generations make many species and distances
GROWING = MutationRates(add_node=0.5, add_edge=0.5, toggle_edge=0.1)


# -- the reference: the code before the fast paths --------------------------------------------
def reference_distance(space: SearchSpace, a: Genome, b: Genome) -> float:
    """The compatibility distance over frozensets, as it was computed before bit masks."""
    ia = frozenset(c.innovation for c in a.connections)
    ib = frozenset(c.innovation for c in b.connections)
    ea = frozenset(c.innovation for c in a.connections if c.enabled)
    eb = frozenset(c.innovation for c in b.connections if c.enabled)
    na = {n.id: (n.size, n.activation) for n in a.nodes if n.role == "hidden"}
    nb = {n.id: (n.size, n.activation) for n in b.nodes if n.role == "hidden"}
    shared = ia & ib
    disjoint = len(ia) + len(ib) - 2 * len(shared)
    conn_attr = len((ea ^ eb) & shared)
    shared_nodes = na.keys() & nb.keys()
    disjoint += len(na) + len(nb) - 2 * len(shared_nodes)
    node_attr = sum(abs(math.log2(na[i][0] / nb[i][0])) + (na[i][1] != nb[i][1])
                    for i in shared_nodes)
    n_genes = max(len(ia) + len(na), len(ib) + len(nb), 1)
    n_shared = max(len(shared) + len(shared_nodes), 1)
    return (space.settings.disjoint_coefficient * disjoint / n_genes
            + space.settings.attribute_coefficient * (conn_attr + node_attr) / n_shared)


def reference_key(genome: Genome | str, hyperparameters: dict[str, float]) -> str:
    text = genome if isinstance(genome, str) else json.dumps(genome.to_dict(),
                                                             separators=(",", ":"))
    hyper = json.dumps(sorted(hyperparameters.items()))
    return hashlib.sha256(f"{text}|{hyper}".encode()).hexdigest()[:16]


def reference_step(x: list[float], v: list[float], best: list[float], leader: list[float],
                   r1: list[float], r2: list[float], params: SwarmParams,
                   bounds: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """The swarm step with builtin min/max, as pso_step_lists was."""
    w, c1, c2, clamp = params.inertia, params.cognitive, params.social, params.velocity_clamp
    xs, vs = [], []
    for xi, vi, bi, li, a, b, (lo, hi) in zip(x, v, best, leader, r1, r2, bounds, strict=True):
        v_max = clamp * (hi - lo)
        vi = min(max(w * vi + c1 * a * (bi - xi) + c2 * b * (li - xi), -v_max), v_max)
        moved = xi + vi
        x_new = min(max(moved, lo), hi)
        xs.append(x_new)
        vs.append(0.0 if x_new != moved else vi)
    return xs, vs


class ReferenceNeatPso(neat_pso_module.NeatPsoStrategy):
    """neat-pso with the plain speciation, swarm step, hyperparameters and lineage-best
    ranking, its particles a dict per candidate (the layout before the columns of
    evolve/strategies/particles.py, which older checkpoints hold)."""

    def _start(self, state: dict[str, Any], children: list[Candidate],
               rng: np.random.Generator) -> list[Candidate]:
        start = [d.to_internal(min(max(self.problem.hyperparameters[d.name], d.low), d.high))
                 for d in self.dims]
        particles, out = {}, []
        for i, child in enumerate(children):
            x = start if i == 0 else [d.sample(rng) for d in self.dims]
            particles[str(child.id)] = {"x": x, "v": [0.0] * len(self.dims), "best": None}
            out.append(self._asked(state, child, x))
        state["genes"] = [d.name for d in self.dims]
        state["particles"] = particles
        return out

    def _keep_owed(self, old: dict[str, Any], new: dict[str, Any], owed: list[int]) -> None:
        if owed:
            new["particles"] = {**new["particles"],
                                **{str(i): old["particles"][str(i)] for i in owed}}

    def _finish(self, state: dict[str, Any], survivors: list[Candidate],
                children: list[Candidate]) -> None:
        live = {str(c.id) for c in (*survivors, *children)}
        state["particles"] = {k: v for k, v in state["particles"].items() if k in live}

    def _offspring(self, state: dict[str, Any], drafts: list[Draft],
                   rng: np.random.Generator) -> list[dict[str, float]]:
        """Child by child: the swarm step on lists from that child's row of the one block of
        ``r1 | r2`` draws, the hyperparameters by ``apply_hyper``, the key by ``json``."""
        n = len(self.dims)
        block = rng.random((len(drafts), 2 * n)).tolist() if drafts and n else None
        asked = state.setdefault("asked", {})
        hypers = []
        for j, draft in enumerate(drafts):
            parent = state["particles"][str(draft.source.candidate.id)]
            lead = state["particles"][str(draft.leader.candidate.id)]["x"]
            x, v = list(parent["x"]), list(parent["v"])
            if block is not None:
                x, v = reference_step(x, v, parent["best"]["x"], lead, block[j][:n],
                                      block[j][n:], self.swarm,
                                      [d.bounds for d in self.dims])
            genome_json = json.dumps(draft.genome.to_dict(), separators=(",", ":"))
            hyper = self._hyper(x)
            key = reference_key(genome_json, hyper)
            for _ in range(neat_pso_module.RESTART_TRIES if self.dims else 0):
                if key not in asked:
                    break
                xs, vs = stalled_restart(np.array(parent["x"]), rng, self.swarm, self.low,
                                         self.high)
                x, v = xs.tolist(), vs.tolist()
                hyper = self._hyper(x)
                key = reference_key(genome_json, hyper)
            state["particles"][str(draft.id)] = {"x": x, "v": v, "best": parent["best"]}
            asked.setdefault(key, draft.id)
            hypers.append(hyper)
        return hypers

    def _hyper(self, x: Any) -> dict[str, float]:
        return apply_hyper(self.problem, self.dims, list(x))

    def _ranked(self, state: dict[str, Any], population: list[Scored], scored: list[Scored],
                ranking: Ranking, rng: np.random.Generator) -> None:
        state["asked"] = dict(state.get("asked", {}))
        particles = {k: dict(v) for k, v in state["particles"].items()}
        here = [point(particles[str(s.candidate.id)]["x"], s) for s in population]
        new = {s.candidate.id for s in scored}
        inherited = [(i, particles[str(s.candidate.id)]["best"])
                     for i, s in enumerate(population) if s.candidate.id in new]
        inherited = [(i, b) for i, b in inherited if b is not None]
        ranked_u = rank_points(here + [b for _, b in inherited], self.problem.directions)
        rank_u, crowd_u = ranked_u[0].tolist(), ranked_u[1].tolist()
        best_at = {i: len(here) + k for k, (i, _) in enumerate(inherited)}
        for i, s in enumerate(population):
            if s.candidate.id not in new:
                continue
            j = best_at.get(i)
            if j is None or (rank_u[i], -crowd_u[i]) <= (rank_u[j], -crowd_u[j]):
                particles[str(s.candidate.id)]["best"] = here[i]
        state["particles"] = particles

    def _speciate(self, state: dict[str, Any], genomes: list[Genome], generation: int,
                  survivors: list[Candidate], current: list[Scored] | None = None
                  ) -> list[int]:
        def distance(a: Genome, b: Genome) -> float:
            return reference_distance(self.space, a, b)

        reps = {sp["id"]: Genome.from_dict(sp["representative"]) for sp in state["species"]}
        if current is not None:
            pools: dict[int, list[Genome]] = {}
            for s in current:
                pools.setdefault(s.candidate.species, []).append(s.candidate.genome)
            for sp in state["species"]:
                pool = pools.get(sp["id"])
                if pool:
                    old = reps[sp["id"]]
                    reps[sp["id"]] = min(pool, key=lambda g: distance(g, old))
        sp_ids = sorted(reps)
        occupied = {c.species for c in survivors}
        assigned = []
        for genome in genomes:
            near = [(distance(genome, reps[sp_id]), sp_id) for sp_id in sp_ids]
            near = [(d, sp_id) for d, sp_id in near if d < state["threshold"]]
            target = min(near)[1] if near else None  # the closest; a tie to the older one
            if target is None:
                target = state["next_species"]
                state["next_species"] += 1
                reps[target] = genome
                sp_ids.append(target)
                state["species"].append({"id": target, "created": generation,
                                         "last_improved": generation, "best": None})
            occupied.add(target)
            assigned.append(target)
        state["species"] = [{**sp, "representative": reps[sp["id"]].to_dict()}
                            for sp in state["species"] if sp["id"] in occupied]
        return assigned


def scores(candidates: list[Candidate], generation: int, failing: int = 13) -> list[Scored]:
    """Distinct objective values per candidate; one in ``failing`` fails, one in 11 is
    infeasible."""
    out = []
    for c in candidates:
        rng = np.random.default_rng([generation, c.id])
        accuracy = 0.5 + 0.02 * len(c.genome.hidden_ids) + 0.1 * float(rng.random())
        energy = float(c.genome.n_parameters()) * (1.0 + float(rng.random()))
        out.append(Scored(c, (accuracy, energy), 0.5 if c.id % 11 == 5 else 0.0,
                          c.id % failing != failing // 2))
    return out


def canonical(state: dict[str, Any], n_genes: int = len(HYPER.params)) -> str:
    """The state as canonical JSON, its particles in the column layout whichever it holds."""
    particles = Particles.from_state(state["particles"], n_genes, 2).to_state()
    return json.dumps({**state, "particles": particles}, sort_keys=True, allow_nan=False)


def step(strategy: Any, state: dict[str, Any], generation: int, steady: bool,
         failing: int) -> dict[str, Any]:
    """One generation: ask, score, tell (steady: half of it told, with the late ones)."""
    candidates = strategy.ask(state)
    told = scores(candidates, generation, failing)
    if steady:
        owed = [Candidate.from_dict(c) for c in state.get("owed", ())]
        told = told[: len(told) // 2] + scores(owed, generation, failing)
        return strategy.tell_arrived(state, told)
    return strategy.tell(state, told)


def run(strategy: Any, generations: int, steady: bool = False, failing: int = 13
        ) -> list[dict[str, Any]]:
    """The state after each generation, read back from JSON."""
    state = strategy.init(3)
    out = []
    for generation in range(generations):
        state = step(strategy, state, generation, steady, failing)
        out.append(json.loads(json.dumps(state, allow_nan=False)))
    return out


def reference_run(monkeypatch: pytest.MonkeyPatch, problem: Problem, generations: int,
                  steady: bool, failing: int, **neat: Any) -> list[dict[str, Any]]:
    """The reference strategy's states, with numpy's own draws and json-encoded keys."""
    with monkeypatch.context() as patch:
        patch.setattr(neat_module, "fast_draws", lambda rng: rng)
        patch.setattr(neat_pso_module, "candidate_key", reference_key)
        config = StrategyConfig("neat-pso", mutation=GROWING,
                                neat=neat_module.NeatParams(**neat))
        strategy = ReferenceNeatPso(SPACE, problem, config.neat, config.mutation, config.swarm)
        return run(strategy, generations, steady, failing)


@pytest.mark.parametrize(("steady", "failing", "neat"), [
    (False, 13, {}),
    # every member may breed, a third fail: failed ones pass on their lineage bests
    (False, 3, {"target_species": 8, "compatibility_threshold": 0.5, "stagnation": 2,
                "survival_threshold": 1.0}),
    (True, 13, {"target_species": 5}),
])
def test_neat_pso_gives_the_reference_states(monkeypatch, steady, failing, neat):
    problem = Problem(("max", "min"), HYPER.resolve({}), 120, HYPER)
    expected = reference_run(monkeypatch, problem, 6, steady, failing, **neat)
    config = StrategyConfig("neat-pso", mutation=GROWING, neat=neat_module.NeatParams(**neat))
    strategy = make_strategy(SPACE, problem, config)
    got = run(strategy, 6, steady, failing)
    species = [len(s["species"]) for s in got]
    assert max(species) >= 3, species  # the speciation pass had choices to make
    for generation, (a, b) in enumerate(zip(got, expected, strict=True)):
        if canonical(a) != canonical(b):  # (pytest's diff of two long JSON strings would
            pytest.fail(f"state after generation {generation} differs from the reference")
        # a checkpoint in the older layout (the reference's): read, and continued alike
        assert isinstance(b["particles"][str(b["pending"][0]["id"])], dict)
        if generation + 1 < len(expected):
            later = step(strategy, b, generation + 1, steady, failing)
            if canonical(later) != canonical(expected[generation + 1]):
                pytest.fail(f"generation {generation + 1} continued from the older layout "
                            "differs from the reference")


def test_bit_mask_distance_equals_the_frozenset_distance_on_grown_genomes():
    problem = Problem(("max", "min"), HYPER.resolve({}), 80, HYPER)
    strategy = make_strategy(SPACE, problem, StrategyConfig("neat-pso", mutation=GROWING))
    state = strategy.init(5)
    genomes: dict[str, Genome] = {}
    for generation in range(6):
        candidates = strategy.ask(state)
        genomes.update((c.genome.to_json(), c.genome) for c in candidates)
        state = strategy.tell(state, scores(candidates, generation))
    pool = list(genomes.values())
    assert len(pool) > 100 and max(len(g.hidden_ids) for g in pool) >= 3
    for a in pool[::3]:
        for b in pool:
            fast = SPACE.distance_between(distance_genes(a), distance_genes(b))
            assert fast == reference_distance(SPACE, a, b), (a, b)
    # ids that are not the operators' (negative ones) take their own bits
    odd = Genome.from_dict({"schema_version": 1,
                            "nodes": [[0, "input", 2, "identity"], [1, "output", 2, "identity"],
                                      [-3, "hidden", 4, "relu"]],
                            "connections": [[-1, 0, -3, True, False], [1, -3, 1, False, False],
                                            [0, 0, 1, True, False]]})
    for b in pool[:20]:
        assert SPACE.distance_between(distance_genes(odd), distance_genes(b)) == \
            reference_distance(SPACE, odd, b)


def test_fast_draws_give_numpys_numbers_and_state():
    plain = np.random.default_rng(123)
    fast = fast_draws(np.random.default_rng(123))
    assert isinstance(fast, FastDraws)
    for i in range(20_000):
        n = (1, 2, 3, 6, 24, 1000, 2**31 + 1, 2**32 - 1, 2**32, 2**33)[i % 10]
        assert int(plain.integers(n)) == int(fast.integers(n))
        assert plain.random() == fast.random()
        if i % 97 == 0:  # the inherited calls draw from the same state
            assert plain.normal(0.0, 0.5) == fast.normal(0.0, 0.5)
            assert plain.integers(5, size=3).tolist() == fast.integers(5, size=3).tolist()
    assert plain.bit_generator.state == fast.bit_generator.state


def test_fast_draws_leave_other_generators_alone(monkeypatch):
    mt = np.random.Generator(np.random.MT19937(1))
    assert fast_draws(mt) is mt
    monkeypatch.setattr("evolve.strategies.draws._FAST", False)
    pcg = np.random.default_rng(1)
    assert fast_draws(pcg) is pcg


@pytest.mark.parametrize("hyper", [
    {"lr": 0.001234, "steps": 20.0, "scale": 1.5},
    {"lr": 0.001234, "steps": 20, "scale": 1.5},  # an int: json's own way
    {"b": math.inf, "a": -0.0, 'we"ird%s': 1e-300},
])
def test_candidate_key_is_the_json_key(hyper):
    genome = SPACE.minimal_genome(neat_module.InnovationTracker())
    assert neat_pso_module.candidate_key(genome, hyper) == reference_key(genome, hyper)


def reference_tournament(a: int, b: int, rank: list[int], crowd: list[float]) -> int:
    """Binary tournament as a comparison of (rank, -crowding), the first drawn on a tie."""
    return b if (rank[b], -crowd[b], 1) < (rank[a], -crowd[a], 0) else a


def test_tournaments_pick_what_one_comparison_at_a_time_picks():
    rng = np.random.default_rng(4)
    rank = rng.integers(4, size=300).tolist()  # many equal ranks, some equal crowding
    crowd = rng.choice([0.0, 0.5, 1.0, math.inf], size=300).tolist()
    pool = np.array(sorted(rng.choice(300, size=40, replace=False).tolist()))
    order = (np.array(rank, dtype=float), -np.array(crowd))
    drawn = np.random.default_rng(9)
    got = neat_module._tournaments(pool, 500, order, drawn)
    a, b = pool[np.random.default_rng(9).integers(len(pool), size=(2, 500))]
    expected = [reference_tournament(i, j, rank, crowd) for i, j in zip(a, b, strict=True)]
    assert got.tolist() == expected
    assert len(set(expected)) > 10 and any(i != j for i, j in zip(a, b, strict=True))


def test_breeding_draws_every_choice_for_every_child():
    """The stream does not depend on what was drawn: breeding 7 children leaves the
    generator where drawing every choice for 7 children leaves it, crossovers and
    interspecies mates in the shares the settings give."""
    order = (np.zeros(50), np.arange(50.0))  # (rank, -crowding): crowding falls by index
    cfg = neat_module.NeatParams(crossover_rate=0.5, interspecies_rate=0.5)
    plans = neat_module._breeding(list(range(10)), [40, 41], 0, 4000, order, cfg,
                                  np.random.default_rng(2))
    second = np.array([p[1] for p in plans])
    assert 0.45 < np.mean(second >= 0) < 0.55  # crossover_rate
    crossed = second[second >= 0]
    assert 0.45 < np.mean(crossed >= 40) < 0.55  # interspecies_rate of the crossovers
    assert {p[2] for p in plans} == {0}
    # tournaments among 0..9 with crowding falling by index: the lower index wins
    assert np.mean([p[0] for p in plans]) < 4.5
    one, two = np.random.default_rng(2), np.random.default_rng(2)
    neat_module._breeding(list(range(10)), [40], 0, 7, order, cfg, one)
    two.integers(10, size=(2, 7)), two.random(7), two.random(7)
    two.integers(1, size=7), two.integers(10, size=(2, 7))
    assert one.bit_generator.state == two.bit_generator.state


@pytest.mark.parametrize("dim", [
    Dimension("lr", 1e-5, 0.3, log=True),
    Dimension("steps", 1, 50, integer=True),
    Dimension("width", 4, 64, log=True, integer=True),
    Dimension("gamma", -1.0, 2.5),
])
def test_to_values_gives_to_values_floats(dim):
    lo, hi = dim.bounds
    span = hi - lo
    xs = np.concatenate([np.random.default_rng(1).uniform(lo - span, hi + span, 5000),
                         [lo, hi, -0.0, 0.0, math.inf, -math.inf],
                         np.arange(math.floor(lo), math.ceil(hi)) + 0.5])
    assert dim.to_values(xs) == [dim.to_value(x) for x in xs.tolist()]


@pytest.mark.parametrize(("start", "row"), [
    ({"lr": 0.001, "steps": 20.0, "scale": 1.5}, (0.0123, 7.0)),  # scale fixed, written in
    ({"b%s": 2.0, "a": 1e-300, "z": -0.0}, (3.5, 0.25)),
    ({"lr": 0.001, "steps": 20, "scale": 1.5}, (0.0123, 7.0)),  # a fixed int: json's way
    ({"lr": 0.001, "steps": 20.0, "scale": math.inf}, (0.0123, 7.0)),
    ({"lr": 0.001, "steps": 20.0, "scale": 1.5}, (math.nan, 7.0)),
])
def test_row_json_writes_the_hyperparameters_json_key(start, row):
    names = [n for n in start if n not in ("scale", "b%s")][:2]
    if len(names) < 2:
        names = ["a", "z"]
    hyper = {**start, **dict(zip(names, row, strict=True))}
    texts = neat_pso_module._RowJson(start, names).texts([[v] for v in row], 1)
    text = None if texts is None else texts[0]
    expected = json.dumps(sorted(hyper.items()))
    assert text is None or text == expected
    assert (text is None) == (not all(type(v) is float and math.isfinite(v)
                                      for v in hyper.values()))
    assert neat_pso_module._RowJson(hyper, []).texts([], 2) == (
        None if text is None else [expected, expected])  # nothing moves
    genome = SPACE.minimal_genome(neat_module.InnovationTracker())
    keys = neat_pso_module._KeyCache()
    assert keys(genome.to_json(), hyper) == reference_key(genome, hyper)
    if text is not None:
        assert keys.of_text(genome.to_json(), text) == reference_key(genome, hyper)
