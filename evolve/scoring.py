"""Scoring: what an evaluated candidate is worth — its costs on the chip, its objectives, its
constraint violations — as one typed :class:`Evaluation`.

Kept apart from the loop so that the loop only orders the steps of a generation, and apart
from the records so that what a candidate scored and how it is written down change
independently. A user's objective, constraint or cost function that raises is data here:
the candidate is recorded as failed with the error, never lost.
"""

from __future__ import annotations

import json
import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve import hardware
from evolve.config import HardwareConfig
from evolve.constraints import HARDWARE_PREFIX, Constraint, violations
from evolve.evaluate import Outcome
from evolve.messages import blamed_on, plugin_failure, shown
from evolve.objectives import Measurements, Metric, Objective, declared_metrics
from evolve.strategies import Candidate, Scored

CostFn = Callable[..., Any]  # (genome, profile, *, chips, activity, timesteps) -> HardwareCost


def cost_fn_name(cost_fn: CostFn) -> str:
    """How a message names a cost function: ``cost_fn <the name it is registered under>``
    (what the user's config says), else ``cost_fn <its qualified name>``."""
    from evolve.cost_functions import registered_name

    name = registered_name(cost_fn)
    return f"cost_fn {name or getattr(cost_fn, '__qualname__', None) or type(cost_fn).__name__}"


def checked_cost(cost_fn: CostFn, cost: Any) -> hardware.HardwareCost:
    """``cost``, what ``cost_fn`` returned, if it is a :class:`~evolve.hardware.HardwareCost`
    whose scalar costs are finite numbers >= 0 and whose violations are finite amounts.
    Anything else would be read as a cost anyway (a negative energy wins every front, a
    ``None`` fails deep in the records), so it is refused here, naming the function.
    ``spikes`` and ``depth`` are not checked: neither is recorded nor read by the search (a
    user's objective that reads them checks what it reads)."""
    name = cost_fn_name(cost_fn)
    if not isinstance(cost, hardware.HardwareCost):
        raise TypeError(f"{name} returned {type(cost).__name__} {shown(cost)}; expected an "
                        "evolve.hardware.HardwareCost (e.g. dataclasses.replace of "
                        "evolve.hardware.cost(genome, profile, **kwargs))")

    def number(what: str, value: Any) -> float:
        try:
            if value is None or isinstance(value, (str, bytes, bool)):
                raise TypeError
            out = float(value)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{name} returned {what} = {shown(value)}; expected a number"
                            ) from None
        if not math.isfinite(out) or out < 0:
            raise ValueError(f"{name} returned {what} = {out!r}; expected a finite number "
                             ">= 0")
        return out

    for key, value in cost.as_dict().items():
        number(key, value)
    if not hasattr(cost.violations, "items"):
        raise TypeError(f"{name} returned violations of type "
                        f"{type(cost.violations).__name__}; expected a mapping limit -> amount")
    for key, value in cost.violations.items():
        number(f"violations[{key!r}]", value)
    return cost


@dataclass
class Evaluation:
    """One candidate, its training outcome and what it scored."""

    candidate: Candidate
    outcome: Outcome
    values: tuple[float, ...]  # one per objective (NaN when the candidate failed)
    costs: dict[str, float] = field(default_factory=dict)
    violations: dict[str, float] = field(default_factory=dict)
    violation_total: float = 0.0  # violations as shares of their limits, summed
    activity_used: str = "fixed"  # how the costs' spike rates were obtained

    @property
    def ok(self) -> bool:
        return self.outcome.status == "ok"

    @property
    def feasible(self) -> bool:
        return self.ok and self.violation_total <= 0

    def scored(self) -> Scored:
        """What the strategy is told: an untrained infeasible candidate counts as evaluated
        (ranked by its violation, like a trained infeasible one), a failed one as failed."""
        evaluated = self.ok or self.outcome.status == "infeasible"
        return Scored(self.candidate, self.values, self.violation_total, evaluated)


@dataclass
class Scorer:
    """Prices a candidate on the chip and applies the objectives and constraints."""

    objectives: tuple[Objective, ...]
    constraints: Sequence[Constraint]
    cost_fn: CostFn
    profile: hardware.CoreBudget
    hardware: HardwareConfig  # chips, activity (fixed or measured), timesteps
    rule_name: str
    # each candidate that passed its pre-training check, with the chip cost priced then at
    # the fixed activity: scoring it after training reuses that cost instead of pricing the
    # genome again (unless measured activity replaces the fixed guess)
    _priced: dict[int, Any] = field(default_factory=dict, repr=False)

    def metrics(self) -> tuple[Metric, ...]:
        """The validation metrics workers must compute for the objectives and constraints."""
        return declared_metrics((*self.objectives, *self.constraints))

    def measure_genome(self, genome: Any, hyperparameters: dict[str, float],
                       valid_accuracy: float = 0.0, metrics: dict[str, float] | None = None,
                       activity: dict[int, float] | None = None,
                       cost: Any = None) -> tuple[Measurements, Any]:
        """``activity``: measured per group (used when the search asks for measured
        activity and the candidate was trained); otherwise the fixed guess. ``cost``: the
        genome's chip cost when it is already known (then it is not priced again)."""
        hw = self.hardware
        if cost is None:
            rate = activity if activity and hw.activity_source == "measured" else hw.activity
            with blamed_on(cost_fn_name(self.cost_fn)):
                cost = checked_cost(self.cost_fn, self.cost_fn(
                    genome, self.profile, chips=hw.chips or None, activity=rate,
                    timesteps=hw.timesteps))
        costs = {k: float(v) for k, v in cost.as_dict().items()}
        m = Measurements(genome, self.rule_name, hyperparameters, valid_accuracy,
                         genome.n_parameters(), costs, metrics or {})
        return m, cost

    def precheck(self, candidate: Candidate) -> Evaluation | None:
        """Before training: the chip budget and the genome-only constraints. A candidate
        that violates them is returned as an ``infeasible`` evaluation (never trained: under
        constraint domination only its violation counts); None if it may be trained. A
        user function that fails here (the cost function, a genome-only constraint) fails
        the candidate at once: training it first would spend the compute on a candidate
        whose scoring raises again afterwards. Unless the costs are priced with measured
        activity: then the cost function sees other rates after training, and gets its
        chance there."""
        genome_only = [c for c in self.constraints if c.genome_only]
        try:
            m, cost = self.measure_genome(candidate.genome, dict(candidate.hyperparameters),
                                          math.nan)
            violated = violations(m, genome_only, cost.violations)
        except Exception as exc:  # noqa: BLE001 - a user function failing is data
            if self.hardware.activity_source == "measured":
                return None  # priced again after training, with the measured rates
            failed = Outcome(candidate.id, "failed", error=(
                plugin_failure(exc, "costs/genome-only constraints") + " (before training)"
            )[:500], traceback=traceback.format_exc())
            return Evaluation(candidate, failed, tuple([math.nan] * len(self.objectives)),
                              {}, {}, 0.0)
        if not violated:
            self._priced[candidate.id] = cost
            return None
        outcome = Outcome(candidate.id, "infeasible",
                          error="infeasible before training: " + ", ".join(sorted(violated)))
        total = sum(self.relative(name, amount) for name, amount in violated.items())
        return Evaluation(candidate, outcome, tuple([math.nan] * len(self.objectives)),
                          dict(m.costs), violated, float(total))

    def score(self, candidate: Candidate, outcome: Outcome) -> Evaluation:
        values = [math.nan] * len(self.objectives)
        costs: dict[str, float] = {}
        violated: dict[str, float] = {}
        try:
            measured = {int(k): float(v) for k, v in json.loads(outcome.activity).items()}
            priced = self._priced.pop(candidate.id, None)
            if measured and self.hardware.activity_source == "measured":
                priced = None  # the measured rates replace the guess it was priced with
            m, cost = self.measure_genome(candidate.genome, dict(candidate.hyperparameters),
                                          outcome.valid_accuracy, json.loads(outcome.metrics),
                                          measured, priced)
            costs = dict(m.costs)
            violated = violations(m, self.constraints, cost.violations)
            if outcome.status == "ok":
                values = [o(m) for o in self.objectives]
        except Exception as exc:  # noqa: BLE001 - a user function failing is data
            if outcome.status == "ok":
                outcome.status = "failed"
                outcome.error = plugin_failure(exc, "objectives/costs/constraints")[:500]
                outcome.traceback = traceback.format_exc()
        if outcome.status == "ok" and not all(math.isfinite(v) for v in values):
            outcome.status = "failed"
            outcome.error = outcome.error or "an objective is not finite"
        total = sum(self.relative(name, amount) for name, amount in violated.items())
        used = "measured" if (self.hardware.activity_source == "measured"
                              and outcome.activity not in ("", "{}")) else "fixed"
        return Evaluation(candidate, outcome, tuple(values), costs, violated, float(total),
                          used)

    def relative(self, name: str, amount: float) -> float:
        """A hardware violation as a share of its limit (cores over / cores budgeted, axons
        over / axons per core, ...), so limits in different units add up fairly; a custom
        constraint's value counts as it is."""
        if not name.startswith(HARDWARE_PREFIX):
            return amount
        limit = name[len(HARDWARE_PREFIX):]
        if limit == "chips":
            cap = self.hardware.chips * self.profile.cores_per_chip
        else:
            cap = getattr(self.profile, limit, None)
        return amount / cap if isinstance(cap, (int, float)) and cap > 0 else amount
