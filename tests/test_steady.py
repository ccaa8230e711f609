"""Steady-state (asynchronous) evaluation end to end, on real data: every candidate evaluated
and recorded exactly once although results arrive late, and a run stopped (Ctrl-C, or the
driver SIGKILLed mid-step) resumes to the records of an uninterrupted run.

The serial executor with ``executor.num_cpus = 3`` holds three chunks in flight as three
workers would and finishes them in the order submitted, so the arrival order — the one
thing that varies between steady runs — is fixed, and records can be compared exactly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_search import StopAfter  # Ctrl-C right after generation (step) k

import evolve
from evolve.config import override

VOLATILE = ["train_seconds", "worker", "run_id"]
STEADY = {"strategy": {"mode": "steady"}, "executor": {"num_cpus": 3}}


def records(run: evolve.Run) -> list[dict]:
    rows = run.evaluations().drop_columns(VOLATILE).to_pylist()
    return sorted(rows, key=lambda r: r["candidate_id"])


def told_late(run: evolve.Run) -> list[tuple[int, int]]:
    """(step, candidate id) of every candidate told at a later step than it was bred in."""
    late = []
    for path in sorted((run.path / "evaluations").glob("gen-*.parquet")):
        step = int(path.stem[4:])
        for row in pq.read_table(path, columns=["generation", "candidate_id"]).to_pylist():
            if row["generation"] < step:
                late.append((step, row["candidate_id"]))
    return late


def test_steady_run_evaluates_and_records_every_candidate_exactly_once(small_digits_config):
    run = evolve.search(override(small_digits_config, STEADY))
    rows = records(run)
    ids = [r["candidate_id"] for r in rows]
    assert ids == list(range(len(ids))), "every asked candidate recorded once, none skipped"
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert {r["generation"] for r in rows} == {0, 1, 2}
    assert told_late(run), "some results arrived after their generation's successor was asked"
    assert sum(h["evaluations"] for h in run.history()) == len(rows)
    checkpoint = json.loads((run.path / "checkpoint.json").read_text())
    assert checkpoint["strategy"]["owed"] == [] and checkpoint["steady"]["in_flight"] == []
    assert checkpoint["steady"]["settings"] == {"slots": 3, "chunk_size": 16}
    assert not list((run.path / "evaluations").glob("*.partial")), "journals cleared"
    generational = evolve.search(override(small_digits_config, {"executor": {"num_cpus": 3}}))
    assert not told_late(generational)


def test_steady_interrupted_then_resumed_equals_uninterrupted(small_digits_config):
    config = override(small_digits_config, {"generations": 4, **STEADY})
    full = evolve.search(config)
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(config, {"run_id": "interrupted"}), reporters=[StopAfter(1)])
    path = full.path.parent / "interrupted"
    checkpoint = json.loads((path / "checkpoint.json").read_text())
    assert checkpoint["steady"]["in_flight"], "the stop left chunks in flight to resume"
    resumed = evolve.resume(path)
    assert records(resumed) == records(full)
    assert [a.candidate_id for a in resumed.pareto_front()] == \
        [a.candidate_id for a in full.pareto_front()]
    assert [h["hypervolume"] for h in resumed.history()] == \
        [h["hypervolume"] for h in full.history()]
    assert [h["evaluations"] for h in resumed.history()] == \
        [h["evaluations"] for h in full.history()]


def test_steady_driver_sigkill_then_resume_replays_the_arrival_order(small_digits_config,
                                                                    tmp_path):
    config = override(small_digits_config, STEADY)
    reference = evolve.search(config)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "evolve.cli", "search", "--generations", "3",
           "--population", "8", "--seed", str(config.seed), "--out", str(out),
           "--rule", config.rule.name, "--objectives", ",".join(config.objectives),
           "--executor", "serial",
           "--set", "training.epochs=4", "--set", "training.patience=3",
           "--set", "space.max_hidden_size=32", "--set", "strategy.mutation.add_node=0.5",
           "--set", "strategy.mutation.add_edge=0.3", "--set", "strategy.mode=steady",
           "--set", "executor.num_cpus=3", "--set", "run_id=killed"]
    # one torch thread, as in this process (conftest): sums in another order would round
    # differently
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, env=env)
    journal = out / "killed" / "evaluations" / "_gen-00001.partial"

    def arrival_journaled() -> bool:
        # a chunk's rows are written before its arrival is appended to order.jsonl: waiting
        # for the rows alone could kill between the two (a state a resume handles, but not
        # the one this test replays)
        try:
            return b'"ids"' in (journal / "order.jsonl").read_bytes()
        except OSError:
            return False
    deadline = time.time() + 300
    while time.time() < deadline and not arrival_journaled():
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert list(journal.glob("chunk-*.parquet")), "step 1 never started recording"
    assert not (out / "killed" / "evaluations" / "gen-00001.parquet").exists()
    arrived = [json.loads(line) for line in (journal / "order.jsonl").read_text().splitlines()]
    assert arrived[0] == {"slots": 3, "chunk_size": 16}
    assert [a for a in arrived if "ids" in a], "the journal holds the arrivals to replay"
    result = subprocess.run([sys.executable, "-m", "evolve.cli", "resume",
                             str(out / "killed")], capture_output=True, text=True, timeout=600,
                            env=env)
    assert result.returncode == 0, result.stderr
    resumed = evolve.load_run(out / "killed")
    rows = records(resumed)
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids))
    expected = records(reference)
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert got == want, {k: (got[k], want[k]) for k in got if got[k] != want[k]}
    assert [h["evaluations"] for h in resumed.history()] == \
        [h["evaluations"] for h in reference.history()]
    assert not journal.exists()


class StopInStep(evolve.Reporter):  # every other hook does nothing
    """Ctrl-C once ``count`` candidates of ``step`` were told (replayed ones included)."""

    def __init__(self, step: int, count: int) -> None:
        self.step, self.count = step, count

    def evaluation_done(self, generation: int, done: int, total: int, outcome: object) -> None:
        if generation == self.step and done == self.count:
            raise KeyboardInterrupt


def test_steady_interrupted_twice_keeps_one_arrival_journal(small_digits_config, capsys):
    """A resume replays the journal's arrivals without writing them again, and cuts off a
    torn last line before it appends: after a second interruption the journal still holds
    each arrival once, in order, so the second resume replays all of them."""
    config = override(small_digits_config, {"generations": 3, **STEADY})
    full = evolve.search(config)
    path = full.path.parent / "twice"
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(config, {"run_id": "twice"}), reporters=[StopInStep(1, 1)])
    order = path / "evaluations" / "_gen-00001.partial" / "order.jsonl"
    first = order.read_text().splitlines()
    assert len(first) == 2 and "slots" in first[0], first
    with open(order, "a") as f:  # a crash in the middle of writing the next arrival
        f.write('{"ids": [4')
    told_first = len(json.loads(first[1])["ids"])
    with pytest.raises(KeyboardInterrupt):
        evolve.resume(path, reporters=[StopInStep(1, told_first + 1)])
    second = order.read_text().splitlines()
    assert second[:2] == first and len(second) == 3, second
    assert all(isinstance(json.loads(line), dict) for line in second)
    ids = [i for line in second[1:] for i in json.loads(line)["ids"]]
    assert len(ids) == len(set(ids)), "an arrival journaled twice"
    capsys.readouterr()
    resumed = evolve.resume(path, reporters=())
    assert "does not match" not in capsys.readouterr().err
    assert records(resumed) == records(full)


def test_a_journal_that_stops_matching_is_cut_where_it_stops(small_digits_config, capsys):
    """An arrival the step's chunks do not match (a journal edited or mixed up) ends the
    replay once: it is cut from the journal with what follows, so the arrivals journaled
    after it are the ones a later resume replays, without the warning again."""
    config = override(small_digits_config, {"generations": 3, **STEADY})
    path = Path(config.out) / "stale"
    with pytest.raises(KeyboardInterrupt):
        evolve.search(override(config, {"run_id": "stale"}), reporters=[StopInStep(1, 1)])
    order = path / "evaluations" / "_gen-00001.partial" / "order.jsonl"
    first = order.read_text().splitlines()
    assert len(first) == 2, first
    stale = ['{"ids": [99999]}', first[1]]  # no chunk has id 99999; the real one after it
    order.write_text("\n".join([first[0], *stale]) + "\n")
    told_first = len(json.loads(first[1])["ids"])
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        evolve.resume(path, reporters=[StopInStep(1, told_first + 1)])
    assert "does not match its chunks" in capsys.readouterr().err
    kept = order.read_text().splitlines()
    assert kept[0] == first[0] and '{"ids": [99999]}' not in kept, kept
    ids = [i for line in kept[1:] for i in json.loads(line)["ids"]]
    assert ids and len(ids) == len(set(ids)), kept
    resumed = evolve.resume(path, reporters=())
    assert "does not match" not in capsys.readouterr().err
    assert resumed.completed_generations() == 3
