"""Steady-state (asynchronous) evaluation: no generation barrier.

In the generational mode every generation waits for its slowest chunk: with population close
to the number of workers, most workers idle most of each generation (benchmarks/cluster_sim.py
measures it). Here a worker that frees up takes the next chunk at once, and the strategy is
told what has arrived as soon as its quorum is in (``Strategy.steady_quorum``: neat and
neat-pso breed once half a generation is told, random never waits); candidates still in
flight are told at a later step, with whatever arrived by then (``Strategy.tell_arrived``).

A *step* is one tell: its results are recorded as ``evaluations/gen-<step>.parquet`` (rows in
the order they were told; each row's ``generation`` column is the generation its candidate
was bred in), then the checkpoint. The step number is the strategy's generation counter.

The only thing that varies between runs of one config is the order in which chunks finish.
Every decision — when to submit a chunk, when to tell — is a function of that order, the
strategy state and two settings fixed when the run starts (``slots``: chunks in flight, the
executor's parallelism then; ``chunk_size``), which the checkpoint keeps. So each step
journals the order its chunks arrived in (``evaluations/_gen-<step>.partial/order.jsonl``,
append-only, one line per chunk, written after the chunk's results), and a resumed driver
replays it: the same chunks arrive in the same order from the journal's results, the same
tells happen, and the run continues as the killed one would have with those arrivals. Every
asked candidate is trained once and told once: a step tells only what arrived, the rest stays
``owed`` in the strategy state and in flight in the checkpoint.

The last generation (``generations - 1``) is told only once nothing is in flight, so a run
that ends records every candidate it asked for.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolve.archive import Archive
from evolve.chunking import plan_chunks, rule_step_cost
from evolve.evaluate import (
    Outcome,
    RuleSpec,
    evaluate_chunk,
    failed_outcomes,
    outcome_from_row,
    outcome_to_row,
)
from evolve.executors import Executor, Stream, TaskFailure
from evolve.recording import Recorder
from evolve.scoring import Evaluation, Scorer
from evolve.strategies import Candidate

if TYPE_CHECKING:
    from evolve.loop import Session

ROUNDS = 4  # a generation is cut into at least this many chunks per slot
ORDER_FILE = "order.jsonl"
# where an arrival's results come from (Steady._arrival)
REPLAYED, JOURNALED, FRESH = "replayed", "journaled", "fresh"


@dataclass(frozen=True)
class SteadySettings:
    """What a steady run's decisions depend on besides the arrival order; fixed when the run
    starts, whatever executor a resume uses."""

    slots: int  # most chunks in flight
    chunk_size: int  # most candidates per chunk

    def chunk_cap(self, candidates: int) -> int:
        """Chunks small enough that a generation keeps every slot busy ``ROUNDS`` times:
        the last chunks of a generation are then short, and a new generation is asked
        while most of its predecessor's results are in."""
        return max(1, min(self.chunk_size, math.ceil(candidates / (ROUNDS * self.slots))))

    def to_dict(self) -> dict[str, int]:
        return {"slots": self.slots, "chunk_size": self.chunk_size}


@dataclass
class Chunk:
    key: int  # its first candidate's id: candidates are in one chunk each
    candidates: list[Candidate]

    @property
    def ids(self) -> list[int]:
        return [c.id for c in self.candidates]


@dataclass
class Journal:
    """A step's arrival journal as read back: its header (the run's settings) and each
    arrival's chunk ids with the byte offset its line starts at (where a replay that stops
    matching cuts the journal)."""

    step: int
    header: dict[str, Any] | None
    arrivals: list[tuple[list[int], int]]


class SteadyDriver:
    def __init__(self, session: Session, executor: Executor, scorer: Scorer,
                 recorder: Recorder, archive: Archive) -> None:
        self.session, self.executor, self.scorer = session, executor, scorer
        self.recorder, self.archive = recorder, archive
        self.store = session.store
        self.config = session.config

    # -- the journal of a step ---------------------------------------------------------------
    def _order_path(self, step: int) -> Path:
        return self.store.partial_dir(step) / ORDER_FILE

    def _read_order(self, step: int) -> Journal:
        """The step's journal: its header (the run's settings) and the chunks in the order
        they arrived. A torn last line (a crash while it was written) is cut off here, so
        the next arrival does not merge with it into a line that hides every later one; a
        line that cannot be read before the end is said once and cut off with the rest
        (a replay is always a prefix of the arrivals)."""
        path = self._order_path(step)
        if not path.is_file():
            return Journal(step, None, [])
        data = path.read_bytes()
        journal, good = Journal(step, None, []), 0
        lines = data.split(b"\n")
        for number, line in enumerate(lines[:-1], start=1):  # the last has no newline yet
            try:
                entry = json.loads(line.decode("utf-8"))
            except ValueError:  # not UTF-8, or not JSON
                if number < len(lines) - 1:
                    print(f"neurevo: warning: {path}: line {number} cannot be read; "
                          "replaying only the arrivals before it", file=sys.stderr)
                break
            if isinstance(entry, dict) and "slots" in entry:
                journal.header = entry
            elif isinstance(entry, dict) and isinstance(entry.get("ids"), list):
                journal.arrivals.append(([int(i) for i in entry["ids"]], good))
            good += len(line) + 1
        if good < len(data):
            self._cut_order(step, good)
        return journal

    def _cut_order(self, step: int, size: int) -> None:
        """Cut the step's journal to its first ``size`` bytes, durably."""
        with open(self._order_path(step), "r+b") as f:
            f.truncate(size)
            os.fsync(f.fileno())

    def _append_order(self, step: int, entry: dict[str, Any]) -> None:
        path = self._order_path(step)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def _settings(self, checkpoint: dict[str, Any], journal: Journal) -> SteadySettings:
        """The run's settings: its checkpoint's, else its first step's journal's (a crash
        before the first checkpoint), else the executor's now (a new run)."""
        saved = (checkpoint.get("steady") or {}).get("settings") or journal.header
        if saved:
            return SteadySettings(int(saved["slots"]), int(saved["chunk_size"]))
        return SteadySettings(self.executor.parallelism(), self.config.executor.chunk_size)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, checkpoint: dict[str, Any], history: list[dict[str, Any]]) -> None:
        """``history``: the run's summaries so far; each step appends its own."""
        session, config = self.session, self.config
        strategy = session.strategy
        quorum = float(strategy.steady_quorum or 0.0)
        state = checkpoint["strategy"]
        journal = self._read_order(state["generation"])  # read once: it may be cut below
        settings = self._settings(checkpoint, journal)
        owed = {int(c["id"]): session.complete(Candidate.from_dict(c))
                for c in state.get("owed", [])}
        in_flight = [Chunk(ids[0], [owed[i] for i in ids])
                     for ids in (checkpoint.get("steady") or {}).get("in_flight", [])]
        shared = (session.task, RuleSpec.of(session.rule), config.training, config.seed,
                  self.scorer.metrics())
        stream = self.executor.stream(evaluate_chunk, shared)
        sent: set[int] = set()  # keys of chunks handed to the executor, not yet back
        while state["generation"] < config.generations:
            step = state["generation"]
            if journal.step != step:
                journal = self._read_order(step)
            if journal.header is None:
                self._append_order(step, settings.to_dict())
            replay = deque(journal.arrivals)
            candidates = session.ask(state)
            genomes = {c.id: c.genome for chunk in in_flight for c in chunk.candidates}
            genomes.update({c.id: c.genome for c in candidates})
            cached = {row["candidate_id"]: outcome_from_row(row, params)
                      for row, params in self.store.read_partial(step, genomes)
                      if row["candidate_id"] in genomes}
            # what this step may tell: its generation and the chunks still in flight
            total = len(candidates) + sum(len(chunk.candidates) for chunk in in_flight)
            for r in session.reporters:
                r.generation_start(step, total)
            told: list[Evaluation] = []
            feasible = []
            for c in candidates:
                ev = self.scorer.precheck(c)
                if ev is None:
                    feasible.append(c)
                else:
                    told.append(ev)
                    for r in session.reporters:
                        r.evaluation_done(step, len(told), total, ev.outcome)
            queue = deque(Chunk(chunk[0].id, chunk) for chunk in
                          plan_chunks(feasible, settings.chunk_cap(len(feasible)),
                                      step_cost=rule_step_cost(session.rule)))
            last = step == config.generations - 1

            def dispatch(chunk: Chunk) -> None:
                if chunk.key not in sent and not all(i in cached for i in chunk.ids):
                    stream.submit(chunk.key, chunk.candidates, len(chunk.candidates))
                    sent.add(chunk.key)

            def fill() -> None:
                while queue and len(in_flight) < settings.slots:
                    in_flight.append(queue.popleft())
                    dispatch(in_flight[-1])

            def ready() -> bool:
                if not queue and not in_flight:
                    return True
                return (not last and not queue and len(in_flight) < settings.slots
                        and len(told) >= quorum * len(candidates))

            for chunk in in_flight:  # carried over from the last step (or a resume)
                dispatch(chunk)
            fill()
            while not ready():
                chunk, outcomes, source = self._arrival(step, in_flight, sent, cached,
                                                        replay, stream)
                if source == FRESH:
                    self.store.write_partial(step, [outcome_to_row(o) for o in outcomes],
                                             {o.candidate_id: o.params for o in outcomes
                                              if o.params is not None})
                if source != REPLAYED:  # a replayed arrival is in the journal already
                    self._append_order(step, {"ids": chunk.ids})
                in_flight.remove(chunk)
                by_id = {o.candidate_id: o for o in outcomes}
                for c in chunk.candidates:
                    told.append(self.scorer.score(c, by_id[c.id]))
                    for r in session.reporters:
                        r.evaluation_done(step, len(told), total, by_id[c.id])
                fill()
            rows = self.recorder.rows(told)
            state = strategy.tell_arrived(state, [ev.scored() for ev in told])
            extra = {"steady": {"settings": settings.to_dict(),
                                "in_flight": [chunk.ids for chunk in in_flight]}}
            if session.commit(step, told, rows, state, self.recorder, self.archive, history,
                              extra):
                break

    def _arrival(self, step: int, in_flight: list[Chunk], sent: set[int],
                 cached: dict[int, Outcome], replay: deque[tuple[list[int], int]],
                 stream: Stream) -> tuple[Chunk, Sequence[Outcome], str]:
        """The next chunk to arrive, its outcomes, and where they come from: the journal's
        arrivals first, in their order (REPLAYED); then chunks whose results the journal
        holds but whose arrival it did not record, a crash in between (JOURNALED); then
        whatever the executor finishes next (FRESH). An arrival that does not match the
        step's chunks ends the replay and is cut from the journal with every one after it,
        so the arrivals journaled from here on follow the replayed ones, and a later resume
        replays them all."""
        while replay:
            ids, start = replay.popleft()
            chunk = next((ch for ch in in_flight if ch.ids == ids), None)
            if chunk is not None and chunk.key not in sent and all(i in cached for i in ids):
                return chunk, [cached[i] for i in ids], REPLAYED
            print(f"neurevo: warning: the arrival journal of step {step} does not match its "
                  "chunks; going on without replaying the rest of it (cut from the journal)",
                  file=sys.stderr)
            self._cut_order(step, start)
            replay.clear()
        for chunk in in_flight:
            if chunk.key not in sent:
                return chunk, [cached[i] for i in chunk.ids], JOURNALED
        key, result = stream.next()
        sent.discard(key)
        chunk = next(ch for ch in in_flight if ch.key == key)
        if isinstance(result, TaskFailure):
            result = failed_outcomes(chunk.candidates, self.config.seed, result.status,
                                     result.error, result.detail)
        return chunk, result, FRESH
