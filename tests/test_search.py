"""End-to-end searches on real data: determinism, resume, records, the Pareto front."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

import evolve
from evolve.config import ConfigError, override
from evolve.reporters import Reporter
from evolve.tasks import load_task

VOLATILE = ("train_seconds", "worker", "run_id")


def stable_rows(run: evolve.Run) -> list[dict]:
    table = run.evaluations().drop_columns(list(VOLATILE))
    return sorted(table.to_pylist(), key=lambda r: r["candidate_id"])


def test_xor_is_solved_by_neat_with_bp_in_at_least_9_of_10_seeds(xor_config):
    solved_at = []
    for seed in range(10):
        run = evolve.search(override(xor_config, {"seed": seed}))
        rows = run.evaluations().to_pylist()
        perfect = [r["generation"] for r in rows if r["valid_accuracy"] == 1.0]
        solved_at.append(min(perfect) if perfect else None)
        if perfect:
            # all four patterns right, checked again with the exported module
            best = max(run.pareto_front(), key=lambda a: a.objectives["accuracy"])
            task = load_task("xor")
            module = best.to_module()
            predicted = module(task.test.x).argmax(dim=1)
            assert torch.equal(predicted, task.test.y)
            assert best.genome.hidden_ids, "XOR needs a hidden neuron"
    assert sum(g is not None and g < 50 for g in solved_at) >= 9, solved_at


def test_same_seed_gives_identical_records(small_digits_config):
    first = evolve.search(small_digits_config)
    second = evolve.search(small_digits_config)
    assert first.path != second.path
    assert stable_rows(first) == stable_rows(second)
    assert {r["generation"] for r in stable_rows(first)} == {0, 1, 2}


def test_different_seeds_give_different_records(small_digits_config):
    a = evolve.search(small_digits_config)
    b = evolve.search(override(small_digits_config, {"seed": 4}))
    assert [r["genome"] for r in stable_rows(a)] != [r["genome"] for r in stable_rows(b)]


class StopAfter(Reporter):
    """Simulates Ctrl-C right after generation ``k`` was recorded."""

    def __init__(self, k: int) -> None:
        self.k = k

    def generation_end(self, generation: int, summary: dict) -> None:
        if generation == self.k:
            raise KeyboardInterrupt


def test_interrupted_then_resumed_equals_uninterrupted(small_digits_config):
    config = override(small_digits_config, {"generations": 4})
    full = evolve.search(config)
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(config, {"run_id": "interrupted"}), reporters=[StopAfter(1)])
    path = full.path.parent / "interrupted"
    partial = evolve.load_run(path)
    assert partial.completed_generations() == 2
    resumed = evolve.resume(path)
    assert stable_rows(resumed) == stable_rows(full)
    assert [a.candidate_id for a in resumed.pareto_front()] == \
        [a.candidate_id for a in full.pareto_front()]
    assert [h["hypervolume"] for h in resumed.history()] == \
        [h["hypervolume"] for h in full.history()]


class StopInGeneration(Reporter):
    """Simulates Ctrl-C in generation ``k`` once ``n`` results arrived (journaled)."""

    def __init__(self, k: int, n: int) -> None:
        self.k, self.n = k, n

    def evaluation_done(self, generation: int, done: int, total: int, outcome) -> None:
        if generation == self.k and done == self.n:
            raise KeyboardInterrupt


class Seen(Reporter):
    def __init__(self) -> None:
        self.done: dict[int, list[tuple[int, int, int]]] = {}

    def evaluation_done(self, generation: int, done: int, total: int, outcome) -> None:
        self.done.setdefault(generation, []).append((done, total, outcome.candidate_id))


def test_a_resume_reports_the_journals_results_too(small_digits_config):
    """Results a resume reads from the interrupted generation's journal reach the reporters
    (the progress line's best, a user's reporter) as those it trains do."""
    config = override(small_digits_config, {"generations": 2,
                                            "executor": {"name": "serial", "chunk_size": 1}})
    full, seen_full = Seen(), Seen()
    evolve.search(config, reporters=[seen_full])
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(config, {"run_id": "cut"}), reporters=[StopInGeneration(1, 3)])
    evolve.resume(Path(config.out) / "cut", reporters=[full])
    assert sorted(full.done[1]) == sorted(seen_full.done[1])  # every candidate, once
    assert [d for d, _, _ in full.done[1]] == list(range(1, len(full.done[1]) + 1))


def test_records_round_trip(small_digits_config):
    run = evolve.search(small_digits_config)
    reloaded = evolve.load_run(run.path)
    assert reloaded.config == run.config
    table = reloaded.evaluations()
    names = set(table.column_names)
    for column in ("run_id", "generation", "candidate_id", "parent_ids", "species", "genome",
                   "rule", "hyperparameters", "objective.accuracy", "objective.params",
                   "status", "error", "train_seconds", "worker"):
        assert column in names
    ids = table.column("candidate_id").to_pylist()
    assert len(ids) == len(set(ids)), "every candidate is evaluated exactly once"
    files = sorted(p.name for p in (run.path / "evaluations").iterdir())
    assert files == [f"gen-{g:05d}.parquet" for g in range(3)]
    assert not list(run.path.rglob("*.tmp")), "no temporary file is left behind"
    # every generation after the first has parents recorded
    later = [r for r in table.to_pylist() if r["generation"] > 0]
    assert later and all(r["parent_ids"] for r in later)


def test_pareto_front_is_non_dominated_and_has_trained_weights(small_digits_config):
    run = evolve.search(small_digits_config)
    front = run.pareto_front()
    assert front
    rows = [r for r in run.evaluations().to_pylist() if r["status"] == "ok"]
    for arch in front:
        acc, params = arch.objectives["accuracy"], arch.objectives["params"]
        dominated = [r for r in rows if r["objective.accuracy"] >= acc
                     and r["objective.params"] <= params
                     and (r["objective.accuracy"] > acc or r["objective.params"] < params)]
        assert not dominated
        assert arch.objectives["params"] == arch.genome.n_parameters()
    task = load_task("digits", seed=small_digits_config.seed)
    best = max(front, key=lambda a: a.objectives["accuracy"])
    module = best.to_module()
    with torch.no_grad():
        test_acc = (module(task.test.x).argmax(1) == task.test.y).float().mean().item()
    assert math.isclose(test_acc, best.test_accuracy, abs_tol=1e-6)
    assert best.test_accuracy > 0.5  # trained, far above chance (0.1)
    weight_files = {p.stem for p in (run.path / "weights").iterdir()}
    assert weight_files == {str(a.candidate_id) for a in front}
    pareto = pq.read_table(run.path / "pareto.parquet")
    assert pareto.num_rows == len(front)


def test_hypervolume_never_decreases(small_digits_config):
    run = evolve.search(override(small_digits_config, {"generations": 4}))
    hv = [h["hypervolume"] for h in run.history()]
    assert len(hv) == 4 and hv[0] > 0
    assert all(b >= a for a, b in zip(hv, hv[1:]))


def test_a_failing_custom_objective_is_recorded_not_fatal(small_digits_config):
    calls = {"n": 0}

    def flaky(m):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise RuntimeError("flaky objective")
        return m.valid_accuracy

    objective = evolve.Objective("flaky_accuracy", "max", flaky, reference=0.0)
    run = evolve.search(small_digits_config, objectives=[objective, "params"])
    rows = run.evaluations().to_pylist()
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("flaky objective" in r["error"] for r in failed)
    assert all(a.objectives["flaky_accuracy"] > 0 for a in run.pareto_front())


def test_stop_when_ends_the_search_early(tmp_path, xor_config):
    run = evolve.search(override(xor_config, {"seed": 0}))
    gens = {r["generation"] for r in run.evaluations().to_pylist()}
    assert max(gens) < 49
    assert max(r["valid_accuracy"] for r in run.evaluations().to_pylist()) == 1.0


def test_recurrent_genomes_train_without_failures(tmp_path):
    config = override(evolve.SearchConfig(), {
        "generations": 3, "population": 8, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "chl"},
        "training": {"epochs": 3}, "space": {"allow_recurrent": True, "max_hidden_size": 8},
        "strategy": {"mutation": {"add_edge": 0.9, "add_node": 0.5}},
        "executor": {"name": "serial"},
    })
    run = evolve.search(config)
    rows = run.evaluations().to_pylist()
    genomes = [evolve.load_run(run.path).evaluations().column("genome").to_pylist()]
    assert any('true]' in g for g in genomes[0]), "some genome has a recurrent edge"
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]


def test_recurrent_edges_are_refused_for_a_rule_that_does_not_train_them(tmp_path,
                                                                          monkeypatch):
    """A feedforward rule's recurrent weights keep their initial values yet count in params
    and on the chip: refused before a run is written, naming the setting and the rules that
    use them; a user's rule that does not say (trains_recurrent None) is let through."""
    config = override(evolve.SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "bp"}, "space": {"allow_recurrent": True},
        "executor": {"name": "serial"}})
    with pytest.raises(ConfigError, match=r"space.allow_recurrent = true, but rule bp does "
                                          r"not train recurrent edges \(ep and chl"):
        evolve.search(config, reporters=())
    assert not list(tmp_path.iterdir())

    import rules
    from rules import registry
    from rules.bp import Backprop

    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))  # gone after the test
    rules.register(type("Unsaid", (Backprop,), {"name": "unsaid_recurrence",
                                                "trains_recurrent": None}))
    run = evolve.search(override(config, {"rule": {"name": "unsaid_recurrence"}}), reporters=())
    assert run.evaluations().num_rows == 4
