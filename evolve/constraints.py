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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evolve.messages import UnknownName, blamed_on, shown
from evolve.objectives import Measurements, Metric, check_metrics
from evolve.plugin_imports import load_installed_plugins, registered


@dataclass(frozen=True)
class Constraint:
    name: str
    fn: Callable[[Measurements], float | Sequence[float]]
    # depends only on the genome (and the chip): checked before training, and a candidate
    # that violates it is recorded as ``infeasible`` without being trained
    genome_only: bool = False
    metrics: tuple[Metric, ...] = ()  # computed on the worker for ``fn`` to read

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or \
                self.name.startswith(HARDWARE_PREFIX):
            raise ValueError(f"Constraint name must be a non-empty string not starting with "
                             f"{HARDWARE_PREFIX!r} (the chip budget's), got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"Constraint {self.name!r}: fn must be callable, got "
                            f"{type(self.fn).__name__}")
        if not isinstance(self.genome_only, (bool, np.bool_)):
            raise TypeError(f"Constraint {self.name!r}: genome_only must be True or False, got "
                            f"{self.genome_only!r}")
        check_metrics(f"Constraint {self.name!r}", self.metrics)
        if self.genome_only and self.metrics:
            raise ValueError(f"Constraint {self.name!r}: a genome_only constraint is checked "
                             "before training, where no metric is computed: drop its metrics, "
                             "or make it genome_only=False")

    def violation(self, m: Measurements) -> float:
        """Sum of the positive parts of the values (0 when feasible). A value may be any
        real number numpy reads (a numpy or 0-d torch scalar too), or a sequence of them."""
        with blamed_on(f"constraint {self.name}"):
            values = self.fn(m)
            try:
                if values is None or isinstance(values, (str, bytes, Mapping)):
                    raise TypeError
                if isinstance(values, Iterable) and not hasattr(values, "__array__"):
                    values = list(values)  # a generator, a set, dict.values(): several values
                flat = np.asarray(values, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError):
                raise TypeError(f"constraint {self.name} returned {type(values).__name__} "
                                f"{shown(values)}; expected a number or a sequence of numbers"
                                ) from None
            if np.isnan(flat).any():
                before = " (a genome_only constraint is checked before training, where " \
                    "accuracies are NaN: it must read the genome and costs only)" \
                    if self.genome_only else ""
                raise ValueError(f"constraint {self.name} returned NaN{before}")
        return float(np.clip(flat, 0.0, None).sum())


HARDWARE_PREFIX = "hardware."  # the chip budget's violations: hardware.<limit>


# constraints by name: what a config's ``constraints = [...]`` and a resume find (a CLI
# search gets them from a --plugin module that registers them)
_CONSTRAINTS: dict[str, Constraint] = {}


def register_constraint(constraint: Constraint) -> Constraint:
    """Make ``constraint`` available by its name (``constraints = [NAME]`` in a config,
    ``--set constraints=[NAME]``), and to :func:`evolve.resume` of a run that used it.
    Registering a name again replaces the earlier one (a notebook cell run twice)."""
    if not isinstance(constraint, Constraint):
        raise TypeError(f"register_constraint takes an evolve.Constraint, got "
                        f"{type(constraint).__name__} {shown(constraint, 40)}")
    _CONSTRAINTS[constraint.name] = constraint
    return constraint


def registered_constraints() -> list[str]:
    load_installed_plugins()
    return sorted(_CONSTRAINTS)


def resolve_constraints(names: Sequence[str], given: Sequence[Constraint]
                        ) -> tuple[Constraint, ...]:
    """The constraints ``names`` (a config's, or a run's own on resume) name: each the one
    passed in ``given`` under that name, else the registered one; then those of ``given``
    the names lack. A name neither supplies is refused, saying how to supply it."""
    given = check_constraints(given)
    by_name = {c.name: c for c in given}
    out = []
    for name in names:
        found = by_name.get(name) or registered(_CONSTRAINTS, name)
        if found is None:
            raise UnknownName(f"constraints: {name!r} is neither given nor registered: pass "
                              "it (evolve.search/resume(..., constraints=[...])) or register it "
                              "(evolve.register_constraint; CLI: --plugin FILE that does)"
                              + (f"; registered: {registered_constraints()}" if _CONSTRAINTS
                                 else ""))
        out.append(found)
    out.extend(c for c in given if c.name not in names)
    return check_constraints(out)


def check_constraints(constraints: Sequence[Constraint]) -> tuple[Constraint, ...]:
    """The constraints of a search, each a :class:`Constraint` under its own name: two of
    one name would be recorded as one, their violations silently overwriting each other."""
    seen: set[str] = set()
    for i, c in enumerate(constraints):
        if not isinstance(c, Constraint):
            raise TypeError(f"constraints[{i}] is a {type(c).__name__}, expected an "
                            "evolve.Constraint")
        if c.name in seen:
            raise ValueError(f"constraints: {c.name!r} names two constraints; give each its "
                             "own name")
        seen.add(c.name)
    return tuple(constraints)


def violations(m: Measurements, constraints: Sequence[Constraint],
               hardware: Mapping[str, float] | None = None) -> dict[str, float]:
    """Every violated limit or constraint -> amount over (empty when feasible)."""
    out = {f"{HARDWARE_PREFIX}{k}": float(v) for k, v in (hardware or {}).items() if v > 0}
    for c in constraints:
        amount = c.violation(m)
        if amount > 0:
            out[c.name] = amount
    return out
