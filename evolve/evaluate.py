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

import contextlib
import json
import math
import os
import socket
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import rules
from evolve.messages import PLUGIN_ATTRIBUTE, blamed_on, plugin_failure
from evolve.objectives import Metric
from evolve.strategies.base import Candidate
from evolve.tasks import Task
from rules.base import check_scores
from search_spaces.compile import compile_genome, member_params, stack
from search_spaces.net import Net, Params, forward


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
    metrics: str = "{}"  # JSON: the search's validation metrics of the trained member
    # JSON {node id: share of its neurons active (> 0) per validation input}: what the
    # cost model can use instead of a guessed spike rate (hardware.activity_source)
    activity: str = "{}"
    params: Params | None = field(default=None, repr=False)  # own layout, for the archive


JOURNAL_FIELDS = ("candidate_id", "status", "valid_accuracy", "test_accuracy", "epochs",
                  "train_seconds", "error", "worker", "seed", "curve", "traceback", "metrics",
                  "activity")


def outcome_to_row(outcome: Outcome) -> dict:
    return {f: getattr(outcome, f) for f in JOURNAL_FIELDS}


def outcome_from_row(row: dict, params: Params | None) -> Outcome:
    return Outcome(**{f: row[f] for f in JOURNAL_FIELDS if f in row}, params=params)


def failed_outcomes(candidates: Sequence[Candidate], run_seed: int, status: str,
                    error: str, detail: str = "") -> list[Outcome]:
    """Outcomes for a batch the executor could not evaluate (worker lost, time limit);
    ``detail``, the executor's whole report, goes where a traceback would."""
    return [Outcome(c.id, status, error=error, seed=derive_seed(run_seed, c.generation, c.id),
                    traceback=detail)
            for c in candidates]


def derive_seed(run_seed: int, generation: int, candidate_id: int) -> int:
    """A 31-bit seed that depends only on (run seed, generation, candidate id)."""
    return int(np.random.SeedSequence([run_seed, generation, candidate_id]).generate_state(1)[0]
               & 0x7FFFFFFF)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def evaluate_chunk(task: Task, rule_spec: RuleSpec, budget: rules.Budget, run_seed: int,
                   metrics: Sequence[Metric], candidates: Sequence[Candidate]) -> list[Outcome]:
    """Train ``candidates`` together; one :class:`Outcome` per candidate, in order."""
    seeds = [derive_seed(run_seed, c.generation, c.id) for c in candidates]
    try:
        with one_thread():
            return _train_batch(task, rule_spec, budget, metrics, candidates, seeds)
    except Exception as exc:  # noqa: BLE001 - isolate the culprit below
        if len(candidates) == 1:
            text = traceback.format_exc()
            return [Outcome(candidates[0].id, "failed", error=_failure_line(exc, text),
                            seed=seeds[0], worker=worker_name(), traceback=text)]
    # each alone, outside the handler: a member's own failure must not be chained to the
    # chunk's, which another member may have raised
    return [out for c in candidates
            for out in evaluate_chunk(task, rule_spec, budget, run_seed, metrics, [c])]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Train on one intra-op thread wherever a chunk runs. A float32 matmul's rounding
    follows how many threads split it, so the same candidate trained in the driver (serial
    executor, all cores) and in a Ray task (one CPU) would drift apart by the last bits and,
    over epochs, by whole training curves: pinning the count keeps a run's records the same
    on every executor, on resume and on any machine (tests/test_ray.py compares them).
    Parallelism comes from running chunks side by side, not from threads inside one."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class RuleSpec:
    """A rule as workers rebuild it: its class (sent by reference when workers can import
    it, by value when it is the user's own: evolve.plugins) and its options."""

    name: str
    options: tuple[tuple[str, Any], ...] = ()
    rule_class: type[rules.LearningRule] | None = None  # None: look the name up

    @classmethod
    def of(cls, rule: rules.LearningRule) -> RuleSpec:
        return cls(rule.name, tuple(sorted(rule.options().items())), type(rule))

    def build(self) -> rules.LearningRule:
        if self.rule_class is None:
            return rules.get_rule(self.name, dict(self.options))
        return self.rule_class(**dict(self.options))


def _train_batch(task: Task, rule_spec: RuleSpec, budget: rules.Budget,
                 metrics: Sequence[Metric], candidates: Sequence[Candidate],
                 seeds: list[int]) -> list[Outcome]:
    started = time.perf_counter()
    with blamed_on(f"rule {rule_spec.name}"):  # a user's rule is named by the failure
        rule = rule_spec.build()
    own_nets = [compile_genome(c.genome) for c in candidates]  # each member unpadded
    net = stack(own_nets)
    with blamed_on(f"rule {rule.name}"):
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
            test_accuracy=member_test_accuracy(rule, own_nets[p], own, task,
                                               cand.hyperparameters) if ok else float("nan"),
            epochs=fit.epochs[p],
            train_seconds=seconds,
            error=fit.reasons[p],
            worker=worker,
            seed=seeds[p],
            curve=json.dumps(fit.curves[p] if p < len(fit.curves) else []),
            params=own,
        ))
    for own_net, out, cand in zip(own_nets, outcomes, candidates, strict=True):
        if out.status == "ok" and math.isnan(out.test_accuracy):
            out.status, out.params = "failed", None
            out.error = "non-finite predictions on the test split"
        if out.status == "ok":
            out.activity = json.dumps(group_activity(own_net, out.params, task.valid.x))
            if metrics:
                _measure(rule, own_net, out, task, metrics, cand.hyperparameters)
    return outcomes


def group_activity(net: Net, params: Params, x: torch.Tensor) -> dict[int, float]:
    """Per node group of a single compiled member, the mean share of its neurons whose
    activation is positive, over the inputs ``x`` (the input group: positive standardised
    features) — a rate-coded spiking network's neuron fires about as often as its ANN unit
    is active."""
    with torch.no_grad():
        _, states = forward(net, params, x)
    slices = net.members[0].node_slices
    return {node: float((states[level][0, :, a:b] > 0).float().mean())
            for node, (level, a, b) in slices.items()}


def _measure(rule: rules.LearningRule, net: Net, outcome: Outcome, task: Task,
             metrics: Sequence[Metric], hyper: Mapping[str, Any]) -> None:
    """The validation metrics of one trained member, from its own net's prediction; a
    metric that raises or is not finite fails the member with the traceback."""
    try:
        with torch.no_grad(), blamed_on(f"rule {rule.name}"):
            scores = rule.predict_members(net, outcome.params, task.valid.x,
                                          [hyper])[0].numpy()
        y = task.valid.y.numpy()
        values = {m.name: m(y, scores) for m in metrics}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise ValueError(f"metric {bad[0]!r} is not finite: {values[bad[0]]}")
        outcome.metrics = json.dumps(values)
    except Exception as exc:  # noqa: BLE001 - a user's metric failing is data
        text = traceback.format_exc()
        outcome.status, outcome.traceback = "failed", text
        outcome.error = _failure_line(exc, text)
        outcome.test_accuracy, outcome.params = float("nan"), None


def member_test_accuracy(rule: rules.LearningRule, net: Net, params: Params,
                         task: Task, hyper: Mapping[str, Any]) -> float:
    """Test accuracy of one member on its own (unpadded) compiled ``net``, the very
    computation its export's module performs, so the recorded figure is what a user gets
    back."""
    with torch.no_grad(), blamed_on(f"rule {rule.name}"):
        scores = rule.predict_members(net, params, task.test.x, [hyper])
    check_scores(rule.name, scores, (1, len(task.test.y), net.n_outputs))
    if not bool(torch.isfinite(scores).all()):
        return math.nan  # the caller fails the member
    correct = int((scores[0].argmax(dim=-1) == task.test.y).sum())
    return correct / len(task.test.y)  # exact in float64, as a user would count it


def _failure_line(exc: BaseException, text: str) -> str:
    """The failed record's one-line ``error``: the plug-in that raised (a rule, a metric)
    and the exception, or, for a failure no plug-in is marked with (a genome that does not
    compile), the traceback's last line."""
    if getattr(exc, PLUGIN_ATTRIBUTE, None):
        return plugin_failure(exc)[:500]
    return _last_line(text)


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:500] if lines else "unknown error"
