"""Checkpoints are incremental: what a generation writes does not grow with the run.

The history and neat-pso's record of every candidate asked for only grow; they go to the
append-only ``checkpoint-log.jsonl`` (one line per checkpoint, with what it added), while
``checkpoint.json`` holds only what a generation replaces. Reading a checkpoint puts the
two back together exactly; a crash between the log's append and the checkpoint's rename
leaves a tail that is ignored and cut off; a damaged log is a RecordError naming it.
"""

from __future__ import annotations

import json
import os
import statistics
import zlib
from pathlib import Path

import pytest

import rules
from evolve.archive import Archive, ArchiveEntry
from evolve.evaluate import Outcome
from evolve.objectives import resolve_objectives
from evolve.recording import CHECKPOINT_VERSION, Recorder
from evolve.records import CHECKPOINT_LOG, RecordError, RunStore
from evolve.scoring import Evaluation
from evolve.strategies import Candidate, Problem, StrategyConfig, make_strategy
from search_spaces.space import SearchSpace

NAMES = ("accuracy", "energy")


def evaluation(c: Candidate) -> Evaluation:
    """A cheap, deterministic score (no training) whose accuracy takes few values, so that
    the Pareto front, which the checkpoint holds as it is now, stays about one size."""
    share = (zlib.crc32(c.id.to_bytes(8, "little")) % 1009) / 1009
    accuracy = 0.5 + 0.01 * min(len(c.genome.hidden_ids), 3) + 0.001 * (c.id % 2)
    energy = 1e-7 * sum(n.size for n in c.genome.nodes) * (1 + share)
    outcome = Outcome(c.id, "ok", valid_accuracy=accuracy, test_accuracy=accuracy, epochs=1)
    return Evaluation(c, outcome, (accuracy, energy), {"energy_j": energy})


def written(root: Path, before: dict[str, tuple[int, int]]
            ) -> tuple[dict[str, int], dict[str, tuple[int, int]]]:
    """Bytes written per file since ``before``: a new or replaced file counts whole, a
    file appended to by what it grew."""
    now, out = {}, {}
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            now[path] = (st.st_ino, st.st_size)
            old = before.get(path)
            if old is None or old[0] != st.st_ino:
                out[path] = st.st_size
            elif st.st_size > old[1]:
                out[path] = st.st_size - old[1]
    return out, now


class Driver:
    """neat-pso with the loop's recording (evolve/loop.py), minus training."""

    def __init__(self, root: Path, population: int) -> None:
        hyper = rules.get_rule("pc").hyperparameters()
        problem = Problem(("max", "min"), hyper.defaults(), population, hyper, frozenset())
        self.strategy = make_strategy(SearchSpace(64, 10), problem, StrategyConfig())
        self.store = RunStore(root)
        self.recorder = Recorder(self.store, "r", "pc", NAMES, self.strategy.growing_keys)
        self.archive = Archive(resolve_objectives(NAMES))
        self.state = self.strategy.init(0)
        self.history: list[dict] = []
        self.checkpoint = {"version": CHECKPOINT_VERSION, "run_id": "r",
                           "strategy": self.state, "archive": [], "history": [],
                           "references": {}}
        self.store.write_checkpoint(self.checkpoint, self.strategy.growing_keys)

    def generation(self) -> None:
        gen = self.state["generation"]
        evaluations = [evaluation(c) for c in self.strategy.ask(self.state)]
        self.state = self.strategy.tell(self.state, [ev.scored() for ev in evaluations])
        rows = self.recorder.rows(evaluations)
        added, _ = self.archive.update([
            ArchiveEntry(ev.candidate.id, gen, dict(zip(NAMES, ev.values, strict=True)), row)
            for ev, row in zip(evaluations, rows, strict=True)])
        self.history.append({"generation": gen, "evaluations": len(rows), "failed": 0,
                             "infeasible": 0, "hypervolume": self.archive.hypervolume(),
                             "pareto_size": len(self.archive.entries),
                             "species": len(self.state["species"]),
                             "best": {"accuracy": 1.0, "energy": 0.0}})
        self.checkpoint = {"version": CHECKPOINT_VERSION, "run_id": "r",
                           "strategy": self.state, "archive": self.archive.to_dict(),
                           "history": self.history, "references": {}}
        self.recorder.write_generation(gen, evaluations, rows, self.archive, added,
                                       self.history, self.checkpoint)


def same(a: dict, b: dict) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_bytes_written_per_generation_stay_flat_over_50_generations(tmp_path):
    driver = Driver(tmp_path / "run", population=40)
    _, seen = written(driver.store.root, {})
    per_generation, checkpoint_sizes = [], []
    for _ in range(50):
        driver.generation()
        out, seen = written(driver.store.root, seen)
        per_generation.append(out)
        checkpoint_sizes.append(driver.store.checkpoint_path.stat().st_size)
    log = str(driver.store.root / CHECKPOINT_LOG)
    log_bytes = [out[log] for out in per_generation]
    totals = [sum(out.values()) for out in per_generation]
    # the log gains what a generation added (a population's asked keys, one summary),
    # never the history before it; the rest is replaced, sized by the population
    assert statistics.fmean(log_bytes[-10:]) < 1.2 * statistics.fmean(log_bytes[5:15])
    assert statistics.fmean(totals[-10:]) < 1.3 * statistics.fmean(totals[5:15])
    assert max(checkpoint_sizes[-10:]) < 1.3 * statistics.fmean(checkpoint_sizes[5:15])
    stored = json.loads(driver.store.checkpoint_path.read_text())
    assert "history" not in stored and "asked" not in stored["strategy"]
    assert stored["log"]["lines"] == 51  # the initial checkpoint and one per generation
    assert not (driver.store.root / "generations.parquet").exists()  # written at the end
    # ... and reading puts it all back: the state neat-pso goes on from, the history
    loaded = RunStore(driver.store.root).read_checkpoint()
    assert same(loaded, driver.checkpoint)
    assert loaded["strategy"]["asked"] == driver.state["asked"]
    assert list(loaded["strategy"]["asked"]) == list(driver.state["asked"])  # same order
    assert len(loaded["history"]) == 50


def test_a_resumed_driver_goes_on_exactly_as_an_uninterrupted_one(tmp_path):
    full = Driver(tmp_path / "full", population=30)
    for _ in range(6):
        full.generation()
    cut = Driver(tmp_path / "cut", population=30)
    for _ in range(3):
        cut.generation()
    store = RunStore(cut.store.root)  # a new process: only what is on disk
    checkpoint = store.read_checkpoint()
    resumed = Driver.__new__(Driver)
    resumed.strategy, resumed.store = cut.strategy, store
    resumed.recorder = Recorder(store, "r", "pc", NAMES, cut.strategy.growing_keys)
    resumed.archive = Archive(resolve_objectives(NAMES))
    resumed.archive.load(checkpoint["archive"])
    resumed.state, resumed.history = checkpoint["strategy"], list(checkpoint["history"])
    for _ in range(3):
        resumed.generation()
    assert same(RunStore(resumed.store.root).read_checkpoint(),
                RunStore(full.store.root).read_checkpoint())


def test_a_tail_no_checkpoint_counts_is_ignored_then_cut_off(tmp_path):
    """A crash after the log's append and before the checkpoint's rename."""
    driver = Driver(tmp_path / "run", population=20)
    driver.generation()
    before = RunStore(driver.store.root).read_checkpoint()
    log = driver.store.root / CHECKPOINT_LOG
    with open(log, "ab") as fh:
        fh.write(b'0123456789abcdef {"generation": 9, "added": {"history": [{"half')
    assert same(RunStore(driver.store.root).read_checkpoint(), before)
    driver.store = RunStore(driver.store.root)
    driver.store.read_checkpoint()
    driver.recorder.store = driver.store
    driver.generation()
    assert b"half" not in log.read_bytes()
    assert same(RunStore(driver.store.root).read_checkpoint(), driver.checkpoint)


@pytest.mark.parametrize("damage", ["truncated", "missing", "flipped", "line-dropped"])
def test_a_damaged_log_is_a_record_error_naming_it(tmp_path, damage):
    driver = Driver(tmp_path / "run", population=20)
    for _ in range(3):
        driver.generation()
    log = driver.store.root / CHECKPOINT_LOG
    data = log.read_bytes()
    if damage == "truncated":
        log.write_bytes(data[: len(data) // 2])
    elif damage == "missing":
        log.unlink()
    elif damage == "flipped":  # one character of the second line's JSON
        at = data.index(b"\n") + 30
        log.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    else:  # the second line gone, the bytes made up by repeating the last one
        lines = data.split(b"\n")
        rest = b"\n".join([lines[0], *lines[2:]])
        log.write_bytes(rest + b"x" * (len(data) - len(rest)))
    with pytest.raises(RecordError, match=CHECKPOINT_LOG):
        RunStore(driver.store.root).read_checkpoint()


def test_a_checkpoint_from_before_the_log_is_read_and_then_logged(tmp_path):
    """Runs recorded with the whole history in checkpoint.json still resume; their next
    checkpoint moves what grows into the log."""
    driver = Driver(tmp_path / "run", population=20)
    for _ in range(2):
        driver.generation()
    whole = RunStore(driver.store.root).read_checkpoint()
    (driver.store.root / CHECKPOINT_LOG).unlink()
    driver.store.checkpoint_path.write_text(json.dumps(whole))  # the old format
    old = RunStore(driver.store.root)
    assert same(old.read_checkpoint(), whole)
    driver.store = driver.recorder.store = old
    driver.generation()
    stored = json.loads(driver.store.checkpoint_path.read_text())
    assert "history" not in stored and stored["log"]["lines"] == 1
    assert same(RunStore(driver.store.root).read_checkpoint(), driver.checkpoint)


def test_ask_hands_out_what_a_checkpoint_read_back_would():
    """``ask`` on the state ``tell`` just returned reuses the candidates ``tell`` built; they
    equal what decoding the state (as after a resume) gives."""
    hyper = rules.get_rule("pc").hyperparameters()
    problem = Problem(("max", "min"), hyper.defaults(), 30, hyper, frozenset())
    for name in ("neat-pso", "neat"):
        strategy = make_strategy(SearchSpace(64, 10), problem, StrategyConfig(name=name))
        state = strategy.init(0)
        for _ in range(3):
            state = strategy.tell(state, [evaluation(c).scored() for c in strategy.ask(state)])
        fresh = make_strategy(SearchSpace(64, 10), problem, StrategyConfig(name=name))
        assert strategy.ask(state) == fresh.ask(json.loads(json.dumps(state)))
        assert strategy.ask(state) == strategy.ask(json.loads(json.dumps(state)))


def test_a_key_once_logged_stays_logged(tmp_path):
    """A writer that does not name the growing keys (an older caller) still logs the ones
    the log already holds, rather than leaving a stale copy to be overridden on reading."""
    driver = Driver(tmp_path / "run", population=20)
    driver.recorder.growing_keys = ()
    for _ in range(2):
        driver.generation()
    stored = json.loads(driver.store.checkpoint_path.read_text())
    assert "asked" not in stored["strategy"]
    loaded = RunStore(driver.store.root).read_checkpoint()
    assert loaded["strategy"]["asked"] == driver.state["asked"]
