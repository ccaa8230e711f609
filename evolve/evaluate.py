"""Evaluate a chunk of candidates: compile, train as one padded batch, measure.

This is the function an executor ships to a worker. It is pure given its arguments: the
training seed of each candidate derives from (run seed, generation, candidate id), so a
retried or resumed evaluation gives the same numbers. Failures are data: a
genome that does not compile, a rule that raises or a member that diverges becomes an
:class:`Outcome` with status ``failed`` and the reason, never an exception that stops a
search. If a whole batch raises, its members are retried one by one so that one bad
candidate cannot fail its neighbours.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import rules
from evolve.strategies.base import Candidate
from evolve.tasks import Task
from search_spaces.compile import compile_genome, member_params, stack
from search_spaces.net import Params


@dataclass
class Outcome:
    candidate_id: int
    status: str  # "ok" | "failed" | "timeout"
    valid_accuracy: float = float("nan")
    test_accuracy: float = float("nan")
    epochs: int = 0
    train_seconds: float = 0.0
    error: str = ""
    worker: str = ""
    seed: int = 0
    # per epoch: {"epoch", "train_loss", "valid_accuracy"}, as JSON (how it converged)
    curve: str = "[]"
    traceback: str = ""  # the full traceback when the evaluation raised
    params: Params | None = field(default=None, repr=False)  # own layout, for the archive


JOURNAL_FIELDS = ("candidate_id", "status", "valid_accuracy", "test_accuracy", "epochs",
                  "train_seconds", "error", "worker", "seed", "curve", "traceback")


def outcome_to_row(outcome: Outcome) -> dict:
    return {f: getattr(outcome, f) for f in JOURNAL_FIELDS}


def outcome_from_row(row: dict, params: Params | None) -> Outcome:
    return Outcome(**{f: row[f] for f in JOURNAL_FIELDS if f in row}, params=params)


def failed_outcomes(candidates: Sequence[Candidate], run_seed: int, status: str,
                    error: str) -> list[Outcome]:
    """Outcomes for a batch the executor could not evaluate (worker lost, time limit)."""
    return [Outcome(c.id, status, error=error, seed=derive_seed(run_seed, c.generation, c.id))
            for c in candidates]


def derive_seed(run_seed: int, generation: int, candidate_id: int) -> int:
    """A 31-bit seed that depends only on (run seed, generation, candidate id)."""
    return int(np.random.SeedSequence([run_seed, generation, candidate_id]).generate_state(1)[0]
               & 0x7FFFFFFF)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def evaluate_chunk(task: Task, rule_spec: RuleSpec, budget: rules.Budget, run_seed: int,
                   candidates: Sequence[Candidate]) -> list[Outcome]:
    """Train ``candidates`` together; one :class:`Outcome` per candidate, in order."""
    seeds = [derive_seed(run_seed, c.generation, c.id) for c in candidates]
    try:
        return _train_batch(task, rule_spec, budget, candidates, seeds)
    except Exception:  # noqa: BLE001 - isolate the culprit below
        if len(candidates) == 1:
            text = traceback.format_exc()
            return [Outcome(candidates[0].id, "failed", error=_last_line(text), seed=seeds[0],
                            worker=worker_name(), traceback=text)]
        return [out for c in candidates
                for out in evaluate_chunk(task, rule_spec, budget, run_seed, [c])]


@dataclass(frozen=True)
class RuleSpec:
    """A rule as workers rebuild it: its registered name and its options."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()

    def build(self) -> rules.LearningRule:
        return rules.get_rule(self.name, dict(self.options))


def _train_batch(task: Task, rule_spec: RuleSpec, budget: rules.Budget,
                 candidates: Sequence[Candidate], seeds: list[int]) -> list[Outcome]:
    started = time.perf_counter()
    rule = rule_spec.build()
    net = stack([compile_genome(c.genome) for c in candidates])
    fit = rule.fit(net, task, [dict(c.hyperparameters) for c in candidates], budget, seeds)
    seconds = (time.perf_counter() - started) / len(candidates)
    worker = worker_name()
    outcomes = []
    for p, cand in enumerate(candidates):
        ok = fit.status[p] == "ok"
        own = member_params(net, fit.params, p) if ok else None
        outcomes.append(Outcome(
            candidate_id=cand.id,
            status=fit.status[p],
            valid_accuracy=fit.valid_accuracy[p],
            test_accuracy=member_test_accuracy(rule, cand, own, task) if ok else float("nan"),
            epochs=fit.epochs[p],
            train_seconds=seconds,
            error=fit.reasons[p],
            worker=worker,
            seed=seeds[p],
            curve=json.dumps(fit.curves[p] if p < len(fit.curves) else []),
            params=own,
        ))
    return outcomes


def member_test_accuracy(rule: rules.LearningRule, candidate: Candidate, params: Params,
                         task: Task) -> float:
    """Test accuracy of one member on its own (unpadded) compiled net, the very computation
    its export's module performs, so the recorded figure is what a user gets back."""
    with torch.no_grad():
        scores = rule.predict(compile_genome(candidate.genome), params, task.test.x)
    correct = int((scores[0].argmax(dim=-1) == task.test.y).sum())
    return correct / len(task.test.y)  # exact in float64, as a user would count it


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:500] if lines else "unknown error"


def chunk_by_shape(candidates: Sequence[Candidate], chunk_size: int) -> list[list[Candidate]]:
    """Chunks of similar shape (depth, neurons), so padding in each batch stays small."""
    def shape(c: Candidate) -> tuple[int, int, int]:
        return (len(c.genome.hidden_ids), sum(n.size for n in c.genome.nodes), c.id)
    ordered = sorted(candidates, key=shape)
    return [ordered[i:i + chunk_size] for i in range(0, len(ordered), chunk_size)]
