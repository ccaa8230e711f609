"""Constraints: separate signals, ``<= 0`` feasible, never folded into fitness.

A :class:`Constraint` is any callable on an evaluation's :class:`~evolve.objectives.Measurements`
returning one value or several; each positive value is an amount of violation. The chip
budget of the hardware profile is one built-in source of violations (limit name -> amount
over, from :func:`evolve.hardware.cost`). Ranking uses the *total* violation: a feasible
candidate dominates an infeasible one, and among infeasible ones the smaller total wins
(Deb 2000; Optuna's ``constraints_func``). Only feasible candidates enter the Pareto archive.

A constraint that reads only ``m.genome`` (and ``m.costs``, which the genome and chip
determine) should say so with ``genome_only=True``: it is then checked before training, and
an infeasible candidate is recorded untrained (ranking uses only its violation anyway).

>>> small = Constraint("max_hidden_groups", lambda m: len(m.genome.hidden_ids) - 2,
...                    genome_only=True)
>>> run = evolve.search(config, constraints=[small])          # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from evolve.objectives import Measurements, Metric


@dataclass(frozen=True)
class Constraint:
    name: str
    fn: Callable[[Measurements], float | Sequence[float]]
    # depends only on the genome (and the chip): checked before training, and a candidate
    # that violates it is recorded as ``infeasible`` without being trained
    genome_only: bool = False
    metrics: tuple[Metric, ...] = ()  # computed on the worker for ``fn`` to read

    def violation(self, m: Measurements) -> float:
        """Sum of the positive parts of the values (0 when feasible)."""
        values = self.fn(m)
        if isinstance(values, (int, float)):
            values = [values]
        total = 0.0
        for v in values:
            v = float(v)
            if math.isnan(v):
                raise ValueError(f"constraint {self.name} returned NaN")
            total += max(v, 0.0)
        return total


def violations(m: Measurements, constraints: Sequence[Constraint],
               hardware: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every violated limit or constraint -> amount over (empty when feasible)."""
    out = {f"hardware.{k}": float(v) for k, v in (hardware or {}).items() if v > 0}
    for c in constraints:
        amount = c.violation(m)
        if amount > 0:
            out[c.name] = amount
    return out
