"""Scoring: what an evaluated candidate is worth — its costs on the chip, its objectives, its
constraint violations — as one typed :class:`Evaluation`.

Kept apart from the loop so that the loop only orders the steps of a generation, and apart
from the records so that what a candidate scored and how it is written down change
independently. A user's objective, constraint or cost function that raises is data here:
the candidate is recorded as failed with the error, never lost.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from evolve import hardware
from evolve.constraints import Constraint, violations
from evolve.evaluate import Outcome
from evolve.objectives import Measurements, Objective
from evolve.strategies import Candidate, Scored

CostFn = Callable[..., Any]  # (genome, profile, *, chips, activity, timesteps) -> HardwareCost


@dataclass
class Evaluation:
    """One candidate, its training outcome and what it scored."""

    candidate: Candidate
    outcome: Outcome
    values: tuple[float, ...]  # one per objective (NaN when the candidate failed)
    costs: dict[str, float] = field(default_factory=dict)
    violations: dict[str, float] = field(default_factory=dict)
    violation_total: float = 0.0  # violations as shares of their limits, summed

    @property
    def ok(self) -> bool:
        return self.outcome.status == "ok"

    @property
    def feasible(self) -> bool:
        return self.ok and self.violation_total <= 0

    def scored(self) -> Scored:
        return Scored(self.candidate, self.values, self.violation_total, self.ok)


@dataclass
class Scorer:
    """Prices a candidate on the chip and applies the objectives and constraints."""

    objectives: tuple[Objective, ...]
    constraints: Sequence[Constraint]
    cost_fn: CostFn
    profile: hardware.CoreBudget
    hardware: Any  # the config's hardware section: chips, activity, timesteps
    rule_name: str

    def measure_genome(self, genome: Any, hyperparameters: dict[str, float],
                       valid_accuracy: float = 0.0, test_accuracy: float = 0.0
                       ) -> tuple[Measurements, Any]:
        hw = self.hardware
        cost = self.cost_fn(genome, self.profile, chips=hw.chips or None,
                            activity=hw.activity, timesteps=hw.timesteps)
        costs = {k: float(v) for k, v in cost.as_dict().items()}
        m = Measurements(genome, self.rule_name, hyperparameters, valid_accuracy,
                         test_accuracy, genome.n_parameters(), costs, {})
        return m, cost

    def score(self, candidate: Candidate, outcome: Outcome) -> Evaluation:
        values = [math.nan] * len(self.objectives)
        costs: dict[str, float] = {}
        violated: dict[str, float] = {}
        try:
            m, cost = self.measure_genome(candidate.genome, dict(candidate.hyperparameters),
                                          outcome.valid_accuracy, outcome.test_accuracy)
            costs = dict(m.costs)
            violated = violations(m, self.constraints, cost.violations)
            if outcome.status == "ok":
                values = [o(m) for o in self.objectives]
        except Exception as exc:  # noqa: BLE001 - a user function failing is data
            if outcome.status == "ok":
                outcome.status = "failed"
                outcome.error = (f"{type(exc).__name__} in objectives/costs/constraints: "
                                 f"{exc}")[:500]
                outcome.traceback = traceback.format_exc()
        if outcome.status == "ok" and not all(math.isfinite(v) for v in values):
            outcome.status = "failed"
            outcome.error = outcome.error or "an objective is not finite"
        total = sum(self.relative(name, amount) for name, amount in violated.items())
        return Evaluation(candidate, outcome, tuple(values), costs, violated, float(total))

    def relative(self, name: str, amount: float) -> float:
        """A hardware violation as a share of its limit (cores over / cores budgeted, axons
        over / axons per core, ...), so limits in different units add up fairly; a custom
        constraint's value counts as it is."""
        if not name.startswith("hardware."):
            return amount
        limit = name[len("hardware."):]
        if limit == "chips":
            cap = self.hardware.chips * self.profile.cores_per_chip
        else:
            cap = getattr(self.profile, limit, None)
        return amount / cap if isinstance(cap, (int, float)) and cap > 0 else amount
