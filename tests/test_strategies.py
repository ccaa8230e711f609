"""Search strategies: the PSO update by hand, bounds and log scale, neat-pso inheritance,
Optuna round trips, and every registered strategy through a real, interrupted search."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_search import StopAfter  # Ctrl-C right after generation (step) k

import evolve
import rules
from evolve.config import SearchConfig, override
from evolve.selection import order, rank_and_crowding
from evolve.strategies import (
    STRATEGIES,
    Candidate,
    Problem,
    Scored,
    StrategyConfig,
    make_strategy,
    unread_tables_warning,
)
from evolve.strategies.layered import Dimension, LayeredParams, LayeredSpace, layered_genome
from evolve.strategies.neat import Ranking
from evolve.strategies.neat_pso import candidate_key
from evolve.strategies.optuna_strategy import OptunaStrategy
from evolve.strategies.particles import Particles
from evolve.strategies.pso import SwarmParams, pso_step, roulette, update_archive
from rules.base import Hyperparameter, HyperSpace
from search_spaces.space import MutationRates, SearchSpace, SpaceSettings

SPACE = SearchSpace(8, 3, SpaceSettings(max_hidden_size=32, max_hidden_nodes=4,
                                        max_connections=12))
HYPER = HyperSpace((
    Hyperparameter("lr", 1e-4, 1e-1, 3e-3, log=True),
    Hyperparameter("momentum", 0.0, 0.99, 0.9),
    Hyperparameter("steps", 1, 50, 20, integer=True),
    Hyperparameter("scale", 0.25, 4.0, 1.0, log=True),
))


def problem(population: int = 10, fixed: dict[str, float] | None = None) -> Problem:
    return Problem(("max", "min"), HYPER.resolve(fixed), population, HYPER,
                   frozenset(fixed or {}))


def config(name: str, **tables: dict) -> StrategyConfig:
    """Strategy ``name``'s settings with some fields of some tables changed, e.g.
    ``config("neat-pso", swarm={"inertia": 0.5})``; structure grows faster than by default."""
    base = StrategyConfig(name, mutation=MutationRates(add_node=0.5, add_edge=0.4))
    return dataclasses.replace(base, **{table: dataclasses.replace(getattr(base, table), **changes)
                                        for table, changes in tables.items()})


def fake_scores(candidates, seed: int = 0) -> list[Scored]:
    """Deterministic synthetic scores; every 7th candidate fails, every 5th is infeasible."""
    out = []
    for c in candidates:
        rng = np.random.default_rng([seed, c.id])
        acc = float(rng.random()) * (1.0 - abs(math.log10(c.hyperparameters.get("lr", 1e-2)) + 2)
                                     / 4)
        out.append(Scored(c, (acc, float(c.genome.n_parameters())),
                          1.5 if c.id % 5 == 4 else 0.0, c.id % 7 != 6))
    return out


def roundtrip(state: dict) -> dict:
    """Through strict JSON: no NaN/Infinity anywhere in a strategy's state."""
    return json.loads(json.dumps(state, allow_nan=False))


def swarm(strategy, state: dict) -> Particles:
    """neat-pso's particles in ``state``, as columns."""
    return Particles.from_state(state["particles"], len(strategy.dims),
                                len(strategy.problem.directions))


# -- the PSO update ---------------------------------------------------------------------------
def test_pso_step_matches_a_hand_computed_step():
    rng = np.random.default_rng(42)
    r1, r2 = rng.random(3), rng.random(3)
    assert np.allclose(r1, [0.77395605, 0.43887844, 0.85859792])
    assert np.allclose(r2, [0.69736803, 0.09417735, 0.97562235])
    params = SwarmParams(inertia=0.5, cognitive=1.5, social=2.0, velocity_clamp=0.1)
    x = np.array([5.0, 2.0, 9.8])
    v = np.array([0.2, 0.0, 0.5])
    best = np.array([5.2, 4.0, 9.9])
    leader = np.array([5.1, 6.0, 9.9])
    low, high = np.zeros(3), np.full(3, 10.0)  # v_max = 0.1 * 10 = 1
    x_new, v_new = pso_step(x, v, best, leader, r1, r2, params, low, high)
    # dim 0, a free move: 0.5*0.2 + 1.5*0.77395605*0.2 + 2*0.69736803*0.1
    #                   = 0.1 + 0.232186815 + 0.139473606 = 0.471660421
    # dim 1, clamped:    1.5*0.43887844*2 + 2*0.09417735*4 = 2.07005412 -> 1.0
    # dim 2, at a bound: 0.25 + 1.5*0.85859792*0.1 + 2*0.97562235*0.1 = 0.573914158,
    #                    9.8 + 0.573914158 > 10 -> x = 10, its velocity stops
    assert v_new == pytest.approx([0.471660421, 1.0, 0.0], abs=1e-9)
    assert x_new == pytest.approx([5.471660421, 3.0, 10.0], abs=1e-9)


dims = st.builds(
    lambda lo, span, log, integer: Dimension("d", lo, lo + span, log, integer),
    st.floats(0.01, 100.0), st.floats(0.0, 1000.0), st.booleans(), st.booleans(),
).filter(lambda d: not d.integer or math.floor(d.high) >= math.ceil(d.low))


@settings(max_examples=200, deadline=None)
@given(dim=dims, internal=st.floats(-1e3, 1e3))
def test_applied_values_stay_in_bounds_and_integers_stay_integers(dim, internal):
    value = dim.to_value(internal)
    assert dim.low <= value <= dim.high
    if dim.integer:
        assert value == int(value)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 5),
       w=st.floats(0.0, 1.2), c1=st.floats(0.0, 3.0), c2=st.floats(0.0, 3.0),
       kappa=st.floats(0.01, 1.0))
def test_pso_positions_stay_in_bounds(data, n, w, c1, c2, kappa):
    low = np.array(data.draw(st.lists(st.floats(-100, 100), min_size=n, max_size=n)))
    high = low + np.array(data.draw(st.lists(st.floats(0, 100), min_size=n, max_size=n)))
    inside = [st.lists(st.floats(0, 1), min_size=n, max_size=n) for _ in range(5)]
    x, best, leader, r1, r2 = (np.array(data.draw(s)) for s in inside)
    x, best, leader = (low + u * (high - low) for u in (x, best, leader))
    v = np.array(data.draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n)))
    params = SwarmParams(w, c1, c2, kappa)
    x_new, v_new = pso_step(x, v, best, leader, r1, r2, params, low, high)
    assert np.all(low <= x_new) and np.all(x_new <= high)
    assert np.all(np.abs(v_new) <= kappa * (high - low) + 1e-12)


def test_log_scale_dimensions_move_multiplicatively():
    lr = Dimension("lr", 1e-4, 1e-1, log=True)
    lo, hi = lr.bounds
    assert (lo, hi) == pytest.approx((math.log(1e-4), math.log(1e-1)))
    assert lr.to_value((lo + hi) / 2) == pytest.approx(10 ** -2.5)  # geometric mean
    params = SwarmParams(inertia=1.0, cognitive=0.0, social=0.0, velocity_clamp=0.25)
    x, v = np.array([lr.to_internal(1e-3)]), np.array([math.log(2.0)])
    x_new, _ = pso_step(x, v, x, x, np.ones(1), np.ones(1), params, np.array([lo]), np.array([hi]))
    assert lr.to_value(x_new[0]) == pytest.approx(2e-3)  # a step doubles the learning rate
    # a clamped step is a quarter of the *log* range: x10^0.75 at most
    x_new, _ = pso_step(x, np.array([100.0]), x, x, np.ones(1), np.ones(1), params,
                        np.array([lo]), np.array([hi]))
    assert lr.to_value(x_new[0]) == pytest.approx(1e-3 * 10 ** 0.75)
    # generation 0 of neat-pso and pso draws log-uniform values: half below the geometric mean
    for name in ("neat-pso", "pso"):
        strategy = make_strategy(SPACE, problem(population=400), config(name))
        lrs = np.array([c.hyperparameters["lr"] for c in strategy.ask(strategy.init(0))[1:]])
        assert 0.4 < np.mean(lrs < 10 ** -2.5) < 0.6, name
    # Optuna gets the same scale for lr and for layer widths
    dists = OptunaStrategy(SPACE, problem()).distributions
    assert dists["lr"].log and dists["width_1"].log and not dists["momentum"].log


# -- neat-pso ---------------------------------------------------------------------------------
def test_neat_pso_offspring_inherit_velocity_and_lineage_best():
    prob = problem(population=32)
    one_species = {"compatibility_threshold": 100.0, "target_species": 1}  # big tournaments
    strategy = make_strategy(SPACE, prob, config("neat-pso", neat=one_species))
    state = strategy.init(3)
    assert not swarm(strategy, state).v.any()  # v starts at 0
    state = strategy.tell(state, fake_scores(strategy.ask(state)))
    assert swarm(strategy, state).v.any(), "generation 1 moved"

    # give every particle its own position and velocity, and a lineage best that any
    # feasible evaluation dominates (accuracy 0, 10^9 parameters) or, for odd ids, one that
    # dominates any evaluation (accuracy 1, 1 parameter)
    damped = make_strategy(SPACE, prob, config(
        "neat-pso", neat=one_species,
        swarm={"inertia": 0.5, "cognitive": 0.0, "social": 0.0, "velocity_clamp": 1.0}))
    low = np.array([d.bounds[0] for d in damped.dims])
    high = np.array([d.bounds[1] for d in damped.dims])
    rng = np.random.default_rng(7)
    ids = swarm(strategy, state).ids
    n, k = len(ids), len(low)
    state["particles"] = Particles(
        ids, low + rng.random((n, k)) * (high - low),
        (rng.random((n, k)) - 0.5) * 0.3 * (high - low), np.ones(n, dtype=bool),
        low + rng.random((n, k)) * (high - low),
        np.where(ids[:, None] % 2 == 1, [1.0, 1.0], [0.0, 1e9]), np.zeros(n),
        np.ones(n, dtype=bool)).to_state()
    before = {int(i): damped.particle(state, int(i)) for i in ids}
    scored = {s.candidate.id: s for s in fake_scores(damped.ask(state), seed=1)}
    after = damped.tell(state, list(scored.values()))

    # with w = 0.5 and c1 = c2 = 0, a child's velocity is exactly half its parent's, its
    # position the parent's plus that velocity, its best the parent's updated lineage best
    children = [c for c in damped.ask(after) if c.generation == after["generation"]]
    assert len({c.parents[0] for c in children}) > 3
    kinds, clones = set(), set()
    for child in sorted(children, key=lambda c: c.id):
        mine = damped.particle(after, child.id)
        parent = before[child.parents[0]]  # the one parent, or the fitter in a crossover
        if (child.parents[0], child.genome.to_json()) in clones:
            # a later clone of the same parent would repeat its sibling: it restarted
            assert child.hyperparameters != next(
                c.hyperparameters for c in children
                if c.parents[0] == child.parents[0] and c.genome == child.genome)
            continue
        clones.add((child.parents[0], child.genome.to_json()))
        v = 0.5 * np.array(parent["v"])
        x = np.clip(np.array(parent["x"]) + v, low, high)
        v = np.where(x != np.array(parent["x"]) + v, 0.0, v)
        assert mine["v"] == pytest.approx(v.tolist())
        assert mine["x"] == pytest.approx(x.tolist())
        hyper = {d.name: d.to_value(xi) for d, xi in zip(damped.dims, mine["x"], strict=True)}
        assert dict(child.hyperparameters) == pytest.approx(hyper)
        s = scored.get(child.parents[0])
        if s is not None and s.ok and s.violation == 0 and s.candidate.id % 2 == 0:
            # the parent's evaluation beat its lineage best
            assert mine["best"]["x"] == parent["x"]
            assert mine["best"]["values"] == list(s.values)
            kinds.add("own")
        else:  # it did not (or it is an elite evaluated earlier): the inherited best
            assert mine["best"] == parent["best"]
            kinds.add("inherited")
    assert kinds == {"own", "inherited"}

    # the social term pulls toward the species leader: with w = c1 = 0 and c2 = 1, every
    # child's velocity is r2 ⊙ (ℓ − x) with r2 in [0, 1] and ℓ the best-ranked member
    social = make_strategy(SPACE, prob, config(
        "neat-pso", neat=one_species,
        swarm={"inertia": 0.0, "cognitive": 0.0, "social": 1.0, "velocity_clamp": 1.0}))
    population = [Scored.from_dict(d) for d in state["survivors"]] + list(scored.values())
    values = np.array([s.values if s.ok else (0.0, 0.0) for s in population])
    rank, crowd = rank_and_crowding(values, prob.directions,
                                    np.array([s.violation for s in population]),
                                    np.array([s.ok for s in population]))
    leader = np.array(before[population[order(rank, crowd)[0]].candidate.id]["x"])
    pulled = social.tell(state, list(scored.values()))
    assert len(pulled["species"]) == 1
    for child in social.ask(pulled):
        if child.generation != pulled["generation"]:
            continue
        x = np.array(before[child.parents[0]]["x"])
        v = np.array(social.particle(pulled, child.id)["v"])
        free = (v != 0) & (np.abs(leader - x) > 1e-9)
        assert np.all((v[free] / (leader - x)[free] >= 0) & (v[free] / (leader - x)[free] <= 1))


def test_neat_pso_lineage_best_goes_to_the_new_evaluation_on_a_tie():
    """Ranked together with the population, a new evaluation that ties its inherited best
    in (rank, crowding) becomes the lineage best: here both are the ends of the one front
    (crowding infinite), and a lineage without a best takes its own evaluation."""
    strategy = make_strategy(SPACE, problem(population=2), config("neat-pso"))
    state = strategy.init(0)
    first, second = strategy.ask(state)
    particles = swarm(strategy, state)
    row = int(particles.rows([first.id])[0])
    has_best = particles.has_best.copy()
    best_values = particles.best_values.copy()
    best_ok = particles.best_ok.copy()
    has_best[row], best_values[row], best_ok[row] = True, [1.0, 1.0], True
    state["particles"] = dataclasses.replace(particles, has_best=has_best,
                                             best_values=best_values, best_ok=best_ok)
    scored = [Scored(first, (0.0, 0.0)), Scored(second, (0.5, 0.5))]
    values = np.array([s.values for s in scored])
    rank, crowd = rank_and_crowding(values, ("max", "min"))
    strategy._ranked(state, scored, scored,
                     Ranking(values, np.zeros(2), np.ones(2, dtype=bool), rank, crowd),
                     np.random.default_rng(0))
    after = state["particles"]
    assert after.best_values[after.rows([first.id, second.id])].tolist() == [[0.0, 0.0],
                                                                            [0.5, 0.5]]
    assert after.best_x[row].tolist() == particles.x[row].tolist()


def test_neat_pso_changes_structure_like_neat_and_keeps_fixed_genes():
    prob = problem(population=10, fixed={"lr": 0.05})
    neat = make_strategy(SPACE, prob, config("neat"))
    both = make_strategy(SPACE, prob, config("neat-pso"))
    a, b = neat.init(0), both.init(0)
    # generation 0 draws the same genomes (positions are drawn after them)
    assert [c.genome for c in neat.ask(a)] == [c.genome for c in both.ask(b)]
    for _ in range(3):
        b = both.tell(b, fake_scores(both.ask(b)))
    assert all(c.hyperparameters["lr"] == 0.05 for c in both.ask(b))
    assert "lr" not in b["genes"]
    assert len({c.hyperparameters["momentum"] for c in both.ask(b)}) > 1


@pytest.mark.parametrize("name", ["neat", "neat-pso"])
def test_a_child_joins_the_closest_species_within_the_threshold(name):
    """With the first species within δ_t, a species kept alive by its elite counts toward
    ``target_species`` while its children join an older species; δ_t then grows and the
    oldest species absorbs every child (seen in 20 × 20 searches). A child goes to the
    species it is closest to."""
    from search_spaces.genome import ConnectionGene, Genome, NodeGene
    from search_spaces.space import distance_genes

    nodes = (NodeGene(0, "input", 8), NodeGene(1, "output", 3))
    linear = Genome(nodes, (ConnectionGene(0, 0, 1),))
    hidden = Genome((*nodes, NodeGene(2, "hidden", 16, "relu")),
                    (ConnectionGene(0, 0, 1), ConnectionGene(1, 0, 2), ConnectionGene(2, 2, 1)))
    apart = SPACE.distance_between(distance_genes(linear), distance_genes(hidden))
    assert apart > 0

    def state(threshold: float) -> dict:
        return {"threshold": threshold, "next_species": 2, "species": [
            {"id": i, "representative": g.to_dict(), "created": 0, "last_improved": 0,
             "best": None} for i, g in enumerate((linear, hidden))]}
    strategy = make_strategy(SPACE, problem(), config(name))
    wide = state(apart + 1.0)  # both species are within reach of either genome
    assert strategy._speciate(wide, [hidden, linear, hidden], 1, []) == [1, 0, 1]
    narrow = state(apart / 2)
    assert strategy._speciate(narrow, [hidden, linear], 1, []) == [1, 0]
    tight = state(0.0)  # nothing is within a zero threshold: each genome founds a species,
    # and an equal genome later joins the one its twin founded
    assert strategy._speciate(tight, [hidden, hidden, linear], 1, []) == [2, 2, 3]


def test_neat_pso_never_asks_for_a_candidate_twice():
    """A frozen swarm (w = c1 = c2 = 0) over frozen structure (no structural mutation) would
    clone every parent; a repeat instead restarts its velocity within ±v_max."""
    frozen = config("neat-pso", swarm={"inertia": 0.0, "cognitive": 0.0, "social": 0.0},
                    mutation={"add_node": 0.0, "add_edge": 0.0, "toggle_edge": 0.0,
                              "resize_node": 0.0, "change_activation": 0.0},
                    neat={"crossover_rate": 0.0})
    strategy = make_strategy(SPACE, problem(population=12), frozen)
    state = strategy.init(0)
    keys, restarted = set(), 0
    for generation in range(6):
        candidates = [c for c in strategy.ask(state) if c.generation == generation]
        for c in candidates:
            key = candidate_key(c.genome, c.hyperparameters)
            assert key not in keys, f"candidate {c.id} repeats an earlier one"
            keys.add(key)
        state = roundtrip(strategy.tell(state, fake_scores(candidates, seed=generation)))
        v_max = strategy.swarm.velocity_clamp * (strategy.high - strategy.low)
        moved = [np.abs(v) for v in swarm(strategy, state).v if v.any()]
        assert all(np.all(v <= v_max + 1e-12) for v in moved)
        restarted += len(moved)
    assert restarted > 0
    # with every hyperparameter fixed nothing can move: repeats are allowed, not an error
    fixed = {p.name: p.default for p in HYPER.params}
    still = make_strategy(SPACE, problem(population=6, fixed=fixed), frozen)
    state = still.init(0)
    for generation in range(2):
        candidates = [c for c in still.ask(state) if c.generation == generation]
        state = still.tell(state, fake_scores(candidates, seed=generation))
    children = [c for c in still.ask(state) if c.generation == 2]
    assert children and all(c.hyperparameters == fixed for c in children)


# -- pso (MOPSO) ------------------------------------------------------------------------------
def test_mopso_archive_keeps_the_first_front_within_capacity():
    def pt(acc, params, ok=True, violation=0.0):
        return {"x": [acc], "values": [acc, params], "violation": violation, "ok": ok}

    front = update_archive([pt(0.5, 10)], [pt(0.6, 10), pt(0.9, 50), pt(0.4, 5), pt(0.3, 20),
                                           pt(1.0, 1, ok=False), pt(1.0, 1, violation=1.0)],
                           ("max", "min"), capacity=10)
    assert sorted(p["values"] for p in front) == [[0.4, 5], [0.6, 10], [0.9, 50]]
    many = [pt(i / 10, i) for i in range(10)]
    kept = update_archive([], many, ("max", "min"), capacity=4)
    assert len(kept) == 4 and {p["values"][1] for p in kept} >= {0, 9}  # extremes stay
    rng = np.random.default_rng(0)
    draws = [roulette(np.array([0.0, 1.0, 3.0]), rng) for _ in range(2000)]
    assert 0 not in draws and 0.2 < np.mean(np.array(draws) == 1) < 0.3


def test_pso_and_optuna_search_the_fixed_depth_layered_space():
    for name in ("pso", "optuna"):
        strategy = make_strategy(SPACE, problem(), config(name))
        for c in strategy.ask(strategy.init(0)):
            widths = [n.size for n in c.genome.nodes if n.role == "hidden"]
            assert len(widths) == 2 and all(4 <= w <= 32 for w in widths)
            assert c.genome == layered_genome(SPACE, widths)
            c.genome.validate()
    shallow = LayeredSpace.of(SPACE, problem(), LayeredParams(depth=9))
    assert shallow.depth == SPACE.settings.max_hidden_nodes  # the space caps the depth


@pytest.mark.parametrize("name", ["pso", "optuna"])
def test_fixed_widths_freeze_the_structure_and_the_activation_is_a_gene(name):
    """strategy.layered.widths: every candidate is that chain (widths outside the space's
    size limits included), only hyperparameters and, with search_activation, the activation
    vary; every activation the space allows is reached."""
    layered = {"depth": 3, "widths": (64, 2, 40), "search_activation": True}
    strategy = make_strategy(SPACE, problem(population=40), config(name, layered=layered))
    candidates = strategy.ask(strategy.init(0))
    seen = set()
    for c in candidates:
        hidden = [n for n in c.genome.nodes if n.role == "hidden"]
        assert [n.size for n in hidden] == [64, 2, 40]
        assert len({n.activation for n in hidden}) == 1
        seen.add(hidden[0].activation)
        assert c.genome == layered_genome(SPACE, [64, 2, 40], hidden[0].activation)
        c.genome.validate()
        assert set(c.hyperparameters) == set(HYPER.names())
    assert seen == set(SPACE.settings.hidden_activations)
    assert len({json.dumps(c.hyperparameters, sort_keys=True) for c in candidates}) == 40
    frozen = LayeredSpace.of(SPACE, problem(), LayeredParams(depth=1, widths=(16,)))
    assert [d.name for d in frozen.dims] == [p.name for p in HYPER.params]
    assert {n.activation for n in frozen.decode([0.0] * 4)[0].nodes
            if n.role == "hidden"} == {SPACE.settings.hidden_activations[0]}


def test_fixed_widths_are_checked():
    # widths against depth on the final config and where the space is built, not on
    # construction (a config is built one --set at a time)
    with pytest.raises(ValueError, match=r"widths must have depth \(2\) entries, got 1"):
        LayeredSpace.of(SPACE, problem(), LayeredParams(depth=2, widths=(8,)))
    with pytest.raises(ValueError, match="widths must be a list of sizes >= 1"):
        LayeredParams(depth=2, widths=(8, 0))
    with pytest.raises(evolve.config.ConfigError, match="strategy.layered.widths"):
        evolve.config.check(override(SearchConfig(), {"strategy": {"layered": {"widths": [8]}}}))


# -- optuna -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["nsga2", "tpe"])
def test_optuna_ask_tell_round_trip_and_resume(sampler):
    strategy = make_strategy(SPACE, problem(population=6),
                             config("optuna", optuna={"sampler": sampler}))
    state = strategy.init(5)
    assert [c.to_dict() for c in strategy.ask(roundtrip(state))] == \
        [c.to_dict() for c in strategy.ask(state)]
    for generation in range(3):
        scored = fake_scores(strategy.ask(state), seed=generation)
        direct = strategy.tell(state, scored)
        resumed = strategy.tell(roundtrip(state), scored)  # as after a resume
        assert roundtrip(direct) == roundtrip(resumed)
        state = roundtrip(direct)
    assert len(state["trials"]) == 18
    assert {t["state"] for t in state["trials"]} == {"COMPLETE", "FAIL"}
    # the rebuilt study carries the constraint values the samplers read
    study = strategy._study(state["trials"], seed=0)
    infeasible = [t for t in study.trials if t.user_attrs["violation"] > 0 and t.values]
    assert infeasible and all(t.constraints == {"violation": 1.5} for t in infeasible)
    other = make_strategy(SPACE, problem(population=6),
                          config("optuna", optuna={"sampler": sampler}))
    assert [c.to_dict() for c in other.ask(other.init(6))] != \
        [c.to_dict() for c in strategy.ask(strategy.init(5))]


# -- the contract every registered strategy keeps ---------------------------------------------
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_strategy_contract(name):
    prob = problem(population=8, fixed={"momentum": 0.5})
    strategy = make_strategy(SPACE, prob, config(name))
    through_json = roundtrip

    state = strategy.init(0)
    assert through_json(strategy.init(0)) == through_json(state), "init is deterministic"
    seen: set[int] = set()
    for generation in range(3):
        candidates = strategy.ask(state)
        assert 1 <= len(candidates) <= prob.population
        assert [c.to_dict() for c in strategy.ask(through_json(state))] == \
            [c.to_dict() for c in candidates]
        ids = [c.id for c in candidates]
        assert len(set(ids)) == len(ids) and not seen & set(ids)
        seen |= set(ids)
        for c in candidates:
            assert c.generation == generation
            c.genome.validate()
            assert set(c.hyperparameters) == set(HYPER.names())
            assert c.hyperparameters["momentum"] == 0.5
            for p in HYPER.params:
                assert p.low <= c.hyperparameters[p.name] <= p.high
            assert c.hyperparameters["steps"] == int(c.hyperparameters["steps"])
        with pytest.raises(ValueError, match=r"ask\(\) handed out"):
            strategy.tell(state, fake_scores(candidates)[1:])
        before = json.dumps(state, sort_keys=True)
        told = strategy.tell(state, fake_scores(candidates, seed=generation))
        assert json.dumps(state, sort_keys=True) == before, "tell changed its input state"
        again = strategy.tell(state, fake_scores(candidates, seed=generation))
        assert through_json(again) == through_json(told), "telling the same state twice"
        state = through_json(told)
        assert state["generation"] == generation + 1


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_a_strategy_is_built_from_the_tables_it_names_and_no_other(name):
    """``from_config`` passes the tables a strategy names to its constructor in that order:
    the names must be the constructor's own, and a table it does not name must not be
    touched (here: set to None, which any use would trip on)."""
    cls = STRATEGIES[name]
    assert list(inspect.signature(cls.__init__).parameters)[3:] == list(cls.tables)
    tables = [f.name for f in dataclasses.fields(StrategyConfig)
              if f.name not in ("name", "mode")]
    config = StrategyConfig(name)
    for table in tables:
        if table not in cls.tables:  # past the type check, as only a broken caller could
            object.__setattr__(config, table, None)
    strategy = make_strategy(SPACE, problem(), config)
    strategy.ask(strategy.init(0))


def test_settings_the_chosen_strategy_ignores_are_named():
    layered = LayeredParams(depth=2, widths=(16, 16))
    for name in ("neat", "neat-pso", "random"):
        ignored = StrategyConfig(name, layered=layered)
        assert ignored.unread_tables() == ["layered"]
        assert "strategy.layered (read by optuna, pso)" in unread_tables_warning(ignored)
    assert StrategyConfig("pso", layered=layered).unread_tables() == []
    assert StrategyConfig("optuna", layered=layered).unread_tables() == []
    assert unread_tables_warning(StrategyConfig("neat")) is None  # defaults say nothing
    assert StrategyConfig("random", mutation=MutationRates(add_node=0.5)).unread_tables() \
        == ["mutation"]


def test_a_search_warns_of_settings_its_strategy_ignores(tmp_path, capsys):
    config = override(SearchConfig(), {
        "task": {"name": "iris"}, "rule": {"name": "bp"}, "out": str(tmp_path),
        "generations": 1, "population": 2, "executor": {"name": "serial"},
        "training": {"epochs": 1},
        "strategy": {"name": "neat", "layered": {"depth": 1, "widths": [8]}}})
    evolve.search(config, reporters=())
    err = capsys.readouterr().err
    assert "warning: strategy 'neat' does not read strategy.layered" in err, err


# -- a real search, interrupted and resumed, for every strategy ------------------------------
def stable_rows(run: evolve.Run) -> list[dict]:
    table = run.evaluations().drop_columns(["train_seconds", "worker", "run_id"])
    return sorted(table.to_pylist(), key=lambda r: r["candidate_id"])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_real_search_resumes_to_identical_records(tmp_path, name):
    cfg = override(SearchConfig(), {
        "generations": 2, "population": 5, "seed": 1, "out": str(tmp_path),
        "objectives": ["accuracy", "params"], "task": {"name": "iris"},
        "training": {"epochs": 2, "patience": 2}, "space": {"max_hidden_size": 8},
        "strategy": {"name": name, "mutation": {"add_node": 0.5}},
        "executor": {"name": "serial"},
    })
    full = evolve.search(override(cfg, {"run_id": "full"}))
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(cfg, {"run_id": "cut"}), reporters=[StopAfter(0)])
    assert evolve.load_run(tmp_path / "cut").completed_generations() == 1
    resumed = evolve.resume(tmp_path / "cut")
    rows = stable_rows(full)
    assert rows == stable_rows(resumed)
    assert {r["generation"] for r in rows} == {0, 1}
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert [h["hypervolume"] for h in full.history()] == \
        [h["hypervolume"] for h in resumed.history()]
    rule = rules.get_rule(cfg.rule.name).hyperparameters()
    for r in rows:
        hyper = json.loads(r["hyperparameters"])
        assert all(p.low <= hyper[p.name] <= p.high for p in rule.params)


# -- steady-state telling ----------------------------------------------------------------------
STEADY = sorted(n for n, cls in STRATEGIES.items() if cls.steady_quorum is not None)


def test_steady_mode_covers_neat_pso_and_random():
    assert {"neat-pso", "random"} <= set(STEADY)


@pytest.mark.parametrize("name", STEADY)
def test_tell_arrived_tells_every_candidate_exactly_once(name):
    """Half of each generation told at once, the rest a generation later (late arrivals):
    each asked candidate is owed until told, told once, and states stay strict JSON and
    deterministic; an unknown or repeated candidate is refused."""
    prob = problem(population=8, fixed={"momentum": 0.5})
    strategy = make_strategy(SPACE, prob, config(name))
    state = strategy.init(0)
    asked: list[int] = []
    told: list[int] = []
    for generation in range(4):
        candidates = strategy.ask(state)
        asked += [c.id for c in candidates]
        late = [Candidate.from_dict(c) for c in state.get("owed", [])]
        now = candidates[: len(candidates) // 2] + late  # the rest of this one is late
        scores = fake_scores(now, seed=generation)
        with pytest.raises(ValueError, match="owed a result"):
            strategy.tell_arrived(state, scores + scores[:1])
        with pytest.raises(ValueError, match="owed a result"):
            strategy.tell_arrived(state, fake_scores([dataclasses.replace(
                candidates[0], id=10_000)]))
        before = json.dumps(state, sort_keys=True)
        new = strategy.tell_arrived(state, scores)
        assert json.dumps(state, sort_keys=True) == before, "tell_arrived changed its input"
        assert roundtrip(strategy.tell_arrived(state, scores)) == roundtrip(new)
        told += [s.candidate.id for s in scores]
        state = roundtrip(new)
        assert [c["id"] for c in state["owed"]] == [c.id for c in candidates[len(candidates)
                                                                             // 2:]]
        assert state["generation"] == generation + 1
        if name == "neat-pso":  # an owed candidate keeps its particle for its late ranking
            assert {c["id"] for c in state["owed"]} <= set(swarm(strategy, state).ids.tolist())
        for c in strategy.ask(state):
            assert c.generation == generation + 1 and c.id not in asked
    # the last late ones alone: the generation just asked is then owed in full
    final = strategy.tell_arrived(state, fake_scores(
        [Candidate.from_dict(c) for c in state["owed"]]))
    told += [c["id"] for c in state["owed"]]
    assert [c["id"] for c in final["owed"]] == [c.id for c in strategy.ask(state)]
    assert sorted(told) == sorted(asked) and len(set(told)) == len(told)


def test_strategies_that_need_whole_generations_refuse_steady_mode():
    from evolve.config import ConfigError

    for name in sorted(set(STRATEGIES) - set(STEADY)):
        steady = override(SearchConfig(), {"strategy": {"name": name, "mode": "steady"}})
        with pytest.raises(ConfigError, match="strategy.mode 'steady' needs a strategy"):
            evolve.config.check(steady)
        with pytest.raises(ValueError, match="mode 'steady' needs a strategy"):
            make_strategy(SPACE, problem(), steady.strategy)


def test_a_candidate_keeps_its_genome_as_json_text_and_reads_the_older_object_form():
    strategy = make_strategy(SPACE, problem(population=8), config("neat-pso"))
    candidate = strategy.ask(strategy.init(0))[3]
    data = candidate.to_dict()
    assert data["genome"] == candidate.genome.to_json()  # text, shared with the genome
    older = {**data, "genome": candidate.genome.to_dict()}  # checkpoints before the change
    assert Candidate.from_dict(older) == Candidate.from_dict(data) == candidate


def test_neat_pso_breeds_a_generation_whose_places_all_go_to_elites():
    """δ_t = 0 puts every genome in a species of its own, and with population 4 each keeps
    its elite: a generation with no child at all must still tell (found by the fuzz test)."""
    strategy = make_strategy(SPACE, problem(population=4), config(
        "neat-pso", neat={"compatibility_threshold": 0.0, "threshold_step": 0.0,
                          "min_species_size": 1}))
    state = strategy.init(0)
    sizes = []
    for generation in range(4):
        candidates = strategy.ask(state)
        sizes.append(len(candidates))
        state = strategy.tell(state, fake_scores(candidates, seed=generation))
    assert 0 in sizes, sizes
