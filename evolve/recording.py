"""Writing a generation down: evaluation rows, the Pareto archive, the weights of new front
members, and last the checkpoint that names them all (with the generation's summary, which
goes to the checkpoint's append-only log).

The order is what makes a crash harmless: every file a checkpoint refers to is on disk
before the checkpoint is replaced, and each file is replaced atomically (evolve.records).
Nothing written per generation grows with the run's history: ``generations.parquet``, the
history as a table, is written once when the loop stops (:meth:`Recorder.write_summaries`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from evolve.archive import Archive
from evolve.collector import collector_paused
from evolve.records import OBJECTIVE_PREFIX, RunStore, evaluation_schema, write_table
from evolve.scoring import Evaluation
from search_spaces.genome import json_hash

CHECKPOINT_VERSION = 1
# json.dumps(..., sort_keys=True) with one encoder made once: ``dumps`` builds a new encoder
# on every call that passes an option, and three calls a row were a visible share of
# recording a generation of ten thousand (benchmarks/driver.py)
_SORTED_JSON = json.JSONEncoder(sort_keys=True).encode


@dataclass
class Recorder:
    store: RunStore
    run_id: str
    rule_name: str
    objective_names: tuple[str, ...]
    growing_keys: tuple[str, ...] = ()  # the strategy's (Strategy.growing_keys)
    recorded: int = 0  # summaries covered by the last checkpoint (read or written)
    wrote_generation: bool = False  # whether this loop recorded a generation

    def row(self, ev: Evaluation) -> dict[str, Any]:
        """The evaluation as one record row (columns: docs/records.md)."""
        cand, out = ev.candidate, ev.outcome
        genome_json = cand.genome.to_json()
        row = {
            "run_id": self.run_id, "generation": cand.generation, "candidate_id": cand.id,
            "parent_ids": list(cand.parents), "species": cand.species,
            "genome": genome_json, "genome_hash": json_hash(genome_json),
            "rule": self.rule_name,
            "hyperparameters": _SORTED_JSON(dict(cand.hyperparameters)),
            "valid_accuracy": out.valid_accuracy, "test_accuracy": out.test_accuracy,
            "params": cand.genome.n_parameters(), "status": out.status, "error": out.error,
            "epochs": out.epochs, "train_seconds": out.train_seconds, "worker": out.worker,
            "seed": out.seed, "costs": _SORTED_JSON(ev.costs),
            "violations": _SORTED_JSON(ev.violations),
            "violation_total": ev.violation_total,
            "curve": out.curve, "traceback": out.traceback, "metrics": out.metrics,
            "activity": out.activity, "activity_used": ev.activity_used,
        }
        for name, value in zip(self.objective_names, ev.values, strict=True):
            row[OBJECTIVE_PREFIX + name] = value
        return row

    def rows(self, evaluations: Sequence[Evaluation]) -> list[dict[str, Any]]:
        """:meth:`row` of each evaluation, built with the cyclic collector paused
        (evolve.collector: a population's rows at once)."""
        with collector_paused():
            return [self.row(ev) for ev in evaluations]

    def write_generation(self, generation: int, evaluations: Sequence[Evaluation],
                         rows: Sequence[dict[str, Any]], archive: Archive, added: Sequence[int],
                         history: list[dict[str, Any]], checkpoint: dict[str, Any]) -> None:
        with collector_paused():
            self._write_generation(generation, evaluations, rows, archive, added, history,
                                   checkpoint)

    def _write_generation(self, generation: int, evaluations: Sequence[Evaluation],
                          rows: Sequence[dict[str, Any]], archive: Archive,
                          added: Sequence[int], history: list[dict[str, Any]],
                          checkpoint: dict[str, Any]) -> None:
        names = list(self.objective_names)
        self.store.write_generation(generation, list(rows), names)
        params = {ev.candidate.id: ev.outcome.params for ev in evaluations}
        for cid in added:
            if params.get(cid) is not None:
                self.store.write_weights(cid, params[cid])
        self.write_front(archive)
        self.store.write_checkpoint(checkpoint, self.growing_keys)
        self.recorded = len(history)
        self.wrote_generation = True

    def write_front(self, archive: Archive) -> None:
        """``pareto.parquet``: each generation's, and once more by a loop that recorded none
        (a resume of a finished run), so that any resume repairs it from the checkpoint."""
        pareto = pa.Table.from_pylist([m.record for m in archive.entries],
                                      schema=evaluation_schema(list(self.objective_names)))
        write_table(self.store.pareto_path, pareto)

    def write_summaries(self, history: Sequence[dict[str, Any]]) -> None:
        """``generations.parquet`` from the summaries the checkpoints hold, when the loop
        stops (also on an error, which it must not hide: a failure to write this table is a
        warning, since the checkpoint holds the same history and the next resume writes
        it again). Written once rather than per generation, whose cost would grow with the
        run."""
        if self.recorded == 0:
            return
        flat = [{"generation": h["generation"], "evaluations": h["evaluations"],
                 "failed": h["failed"], "infeasible": h.get("infeasible", 0),
                 "hypervolume": h["hypervolume"],
                 "pareto_size": h["pareto_size"], "species": h["species"],
                 **{f"best.{k}": v for k, v in h["best"].items()}}
                for h in history[:self.recorded]]
        try:
            write_table(self.store.generations_path, pa.Table.from_pylist(flat))
        except OSError as exc:
            print(f"neurevo: warning: {self.store.generations_path} not written "
                  f"({exc}); the checkpoint holds the same history", file=sys.stderr)
