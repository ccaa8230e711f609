"""Objectives: named, directed functions of an evaluated candidate.

Multi-objective from the start: a search always has a *sequence* of objectives,
a single objective is a sequence of one. An objective reads the measurements of one
evaluation (:class:`Measurements`) and returns a number; users add their own with
:func:`register_objective` or by passing :class:`Objective` objects to ``evolve.search``.

Each objective also carries the reference point used for the hypervolume (the worst value
that still counts) and whether the hypervolume measures it on a log scale, so that
hypervolumes of different runs with the same objectives are comparable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evolve.messages import SetupPluginFailed, UnknownName, blamed_on, failure_detail, shown
from evolve.plugin_imports import load_installed_plugins, registered
from search_spaces.genome import Genome


@dataclass(frozen=True)
class Measurements:
    """What an evaluation measured, as objectives and constraints see it.

    Only validation-split numbers are here: test-split results are recorded and reported
    but never reach selection, so no objective or constraint can select on them."""

    genome: Genome
    rule: str
    hyperparameters: Mapping[str, float]
    valid_accuracy: float
    params: int
    costs: Mapping[str, float]  # hardware costs (evolve.hardware.HardwareCost.as_dict())
    # values of the :class:`Metric` s the search's objectives and constraints declared,
    # computed on the worker from the validation split's labels and the trained net's scores
    metrics: Mapping[str, float] = field(default_factory=dict)


def finite_number(what: str, value: Any) -> float:
    """``value``, what the plug-in ``what`` returned, as a float: a finite number (a numpy
    or 0-d torch scalar, a bool too); anything else is refused naming ``what``."""
    try:
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError
        out = float(value)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{what} returned {type(value).__name__} {shown(value)}; "
                        "expected a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{what} returned {out!r}; expected a finite number")
    return out


@dataclass(frozen=True)
class Metric:
    """A number computed where the candidate was trained, from the validation split's labels
    ``y[n]`` (class indices) and the trained network's class scores ``scores[n, C]`` (numpy
    arrays; the scores of the rule's own prediction): balanced accuracy, macro-F1,
    calibration error, anything an objective or constraint needs beyond the summary
    numbers. An :class:`Objective` or :class:`~evolve.constraints.Constraint` that declares
    it reads its value as ``m.metrics[name]``."""

    name: str
    fn: Callable[[np.ndarray, np.ndarray], float]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Metric name must be a non-empty string, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"metric {self.name}: fn must be callable (y, scores) -> number, "
                            f"got {type(self.fn).__name__} {shown(self.fn)}")

    def __call__(self, y: np.ndarray, scores: np.ndarray) -> float:
        what = f"metric {self.name}"
        with blamed_on(what):
            return finite_number(what, self.fn(y, scores))


def check_metrics(owner: str, metrics: Any) -> None:
    """``metrics`` of an objective or constraint: a tuple of :class:`Metric` (a name alone is
    not one: the worker needs the function)."""
    if not isinstance(metrics, (tuple, list)) or \
            not all(isinstance(m, Metric) for m in metrics):
        raise TypeError(f"{owner}: metrics must be a tuple of evolve.objectives.Metric "
                        f"(name, fn), got {shown(metrics)}")


@dataclass(frozen=True)
class ReadMetric:
    """``m -> m.metrics[name]``: how an objective built from a metric reads it."""

    name: str

    def __call__(self, m: Measurements) -> float:
        return float(m.metrics[self.name])


@dataclass(frozen=True)
class Objective:
    name: str
    direction: str  # "max" | "min"
    fn: Callable[[Measurements], float]
    reference: float  # hypervolume reference (worst counted value)
    log_scale: bool = False  # hypervolume on log10 of the value
    # raise the reference to the value of the costliest network the search space can hold
    # (a cost that grows with the network), so that no candidate falls outside the box
    covers_space: bool = False
    metrics: tuple[Metric, ...] = ()  # computed on the worker for ``fn`` to read

    @classmethod
    def from_metric(cls, name: str, fn: Callable[[np.ndarray, np.ndarray], float],
                    direction: str, reference: float, log_scale: bool = False) -> Objective:
        """An objective whose value is ``fn(y_valid, scores_valid)`` of the trained net,
        e.g. ``Objective.from_metric("balanced_accuracy", metrics.balanced_accuracy,
        "max", reference=0.0)``."""
        return cls(name, direction, ReadMetric(name), reference, log_scale,
                   metrics=(Metric(name, fn),))

    def __post_init__(self) -> None:
        # refused where it is declared, not after the first generation has trained
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Objective name must be a non-empty string, got {self.name!r}")
        if self.direction not in ("max", "min"):
            raise ValueError(f"objective {self.name}: direction must be 'max' or 'min', got "
                             f"{self.direction!r}")
        if not callable(self.fn):
            raise TypeError(f"objective {self.name}: fn must be callable, got "
                            f"{type(self.fn).__name__} {shown(self.fn)}")
        try:  # a numpy or 0-d torch scalar is a number too: kept as a float
            if isinstance(self.reference, (bool, str, bytes)):
                raise TypeError
            reference = float(self.reference)
        except (TypeError, ValueError, RuntimeError):
            reference = math.nan
        if not math.isfinite(reference):
            raise ValueError(f"objective {self.name}: reference must be a finite number, got "
                             f"{self.reference!r}")
        object.__setattr__(self, "reference", reference)  # frozen: set once, here
        check_metrics(f"objective {self.name}", self.metrics)
        for flag in ("log_scale", "covers_space"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise TypeError(f"objective {self.name}: {flag} must be True or False, got "
                                f"{getattr(self, flag)!r}")
            object.__setattr__(self, flag, bool(getattr(self, flag)))  # np.True_ as JSON takes

    def __call__(self, m: Measurements) -> float:
        """The objective's value on ``m``: a finite number (a numpy or 0-d torch scalar, a
        bool too); anything else is refused naming the objective and what it returned."""
        what = f"objective {self.name}"
        with blamed_on(what):
            return finite_number(what, self.fn(m))

    def to_minimize(self, value: float) -> float:
        """The value on the hypervolume's minimisation axis (log-scaled if asked; a value
        <= 0 has no logarithm and counts as :data:`LOG_FLOOR`, which the archive names)."""
        if self.log_scale:
            value = math.log10(max(value, LOG_FLOOR))
        return -value if self.direction == "max" else value

    def reference_minimized(self) -> float:
        return self.to_minimize(self.reference)


LOG_FLOOR = 1e-12  # what a log-scaled objective's value <= 0 counts as


_OBJECTIVES: dict[str, Objective] = {}


_BUILTIN: dict[str, Callable[[Measurements], float]] = {}  # filled below, once


def register_objective(objective: Objective) -> Objective:
    """Make ``objective`` available by its name (``objectives = ["accuracy", NAME]`` in a
    config). Registering a name again replaces the user's earlier objective (a notebook cell
    run twice); a built-in's name is refused: every later search of the process, an
    estimator's included, would otherwise read another function under it."""
    if not isinstance(objective, Objective):
        raise TypeError(f"register_objective takes an evolve.Objective, got "
                        f"{type(objective).__name__} {shown(objective, 40)}")
    if objective.name in _BUILTIN and _BUILTIN[objective.name] is not objective.fn:
        raise ValueError(f"an objective named {objective.name!r} is built in; register yours "
                         f"under another name (built in: {', '.join(sorted(_BUILTIN))})")
    _OBJECTIVES[objective.name] = objective
    return objective


register_objective(Objective("accuracy", "max", lambda m: m.valid_accuracy, reference=0.0))
register_objective(Objective("params", "min", lambda m: m.params, reference=1e6, log_scale=True,
                             covers_space=True))
# hardware objectives read the cost model of the search's profile (docs/hardware.md);
# references are generous worst cases so hypervolumes of different runs stay comparable
register_objective(Objective("cores", "min", lambda m: m.costs["cores"], reference=1e4,
                             log_scale=True, covers_space=True))
register_objective(Objective("energy", "min", lambda m: m.costs["energy_j"], reference=1e-3,
                             log_scale=True, covers_space=True))
register_objective(Objective("latency", "min", lambda m: m.costs["latency_s"], reference=1.0,
                             log_scale=True, covers_space=True))
register_objective(Objective("synapses", "min", lambda m: m.costs["synapses"], reference=1e8,
                             log_scale=True, covers_space=True))
_BUILTIN.update({name: o.fn for name, o in _OBJECTIVES.items()})


def is_builtin(objective: Objective) -> bool:
    """Whether ``objective`` is one of neurevo's own (a run can rebuild it from its name);
    anything else is a user's function that a resume must be given (or find registered)."""
    return _BUILTIN.get(objective.name) is objective.fn


# the values a built-in objective can take (accuracy is a share; every other built-in is
# a count or a cost, never below 0): a stop_when target outside is never reached
_BUILTIN_RANGES: dict[str, tuple[float, float]] = {"accuracy": (0.0, 1.0)}


def unreachable_target(objective: Objective, target: float) -> str | None:
    """Why no value of the built-in ``objective`` can reach the ``stop_when`` target
    ``target`` (None: one can, or the objective is a user's, whose range is unknown): such a
    target would let the run spend its whole budget without a word (``accuracy = 95``
    meant as a percentage)."""
    if not is_builtin(objective):
        return None
    low, high = _BUILTIN_RANGES.get(objective.name, (0.0, math.inf))
    if objective.direction == "max" and target > high:
        return (f"stop_when.{objective.name} is {target:g}, but {objective.name} is at most "
                f"{high:g}" + (" (a share: 0.95 for 95%)" if high == 1.0 else ""))
    if objective.direction == "min" and target < low:
        return f"stop_when.{objective.name} is {target:g}, but {objective.name} is never " \
               f"below {low:g}"
    return None


def declared_metrics(sources: Sequence[Any]) -> tuple[Metric, ...]:
    """The metrics the objectives and constraints ``sources`` declare, each once. Two
    different functions under one name are refused: workers compute one value per name, so
    one source would silently read the other's metric."""
    seen: dict[str, tuple[Metric, str]] = {}
    for source in sources:
        for metric in source.metrics:
            kind = "objective" if isinstance(source, Objective) else "constraint"
            owner = f"{kind} {source.name}"
            if metric.name in seen and seen[metric.name][0] != metric:
                raise ValueError(f"metric {metric.name!r} is declared by {seen[metric.name][1]} "
                                 f"and by {owner} with different functions; give each its "
                                 "own name")
            seen.setdefault(metric.name, (metric, owner))
    return tuple(metric for metric, _ in seen.values())


def covering_references(objectives: Sequence[Objective], costliest: Measurements
                        ) -> tuple[Objective, ...]:
    """The objectives with each ``covers_space`` reference raised to its value on
    ``costliest`` (the measurements of :meth:`SearchSpace.costliest_genome`).

    A fixed reference keeps hypervolumes of runs with the same objectives comparable, but a
    chip whose static power alone costs more than the default (TrueNorth: 42 mW for the
    inference's ticks, over 1 mJ) would put every candidate outside the box and every
    hypervolume at 0. The costliest network bounds every candidate; it depends only on the
    task's shape, the space limits and the chip, so equal settings still give equal
    references."""
    out = []
    for o in objectives:
        if o.covers_space and o.direction == "min":
            try:
                value = o(costliest)
            except Exception as exc:
                what = f"objective {o.name}"
                raise SetupPluginFailed(
                    f"{what} failed on the search space's costliest network (covers_space: "
                    f"its value there is the hypervolume reference): "
                    f"{failure_detail(exc, what)}") from exc
            o = dataclasses.replace(o, reference=max(o.reference, value))
        out.append(o)
    return tuple(out)


def available_objectives() -> list[str]:
    load_installed_plugins()
    return sorted(_OBJECTIVES)


def builtin_objective_names() -> frozenset[str]:
    return frozenset(_BUILTIN)


def objective_names(items: Any, new_run: bool = False) -> list[str]:
    """The names of ``items`` as a search or resume is given them (names and
    :class:`Objective` s). A string alone is refused: iterated, it would name one
    objective per character. ``new_run``: a user's objective under a built-in's name is
    refused too (a run recorded before that was refused resumes with its own)."""
    if isinstance(items, (str, bytes, dict)) or not hasattr(items, "__iter__"):
        raise TypeError(f"objectives must be a list of names or evolve.Objective s, e.g. "
                        f"['accuracy', 'energy'], got {shown(items, 60)}")
    names = []
    for item in list(items):  # a numpy array or pandas Index of names too
        if not isinstance(item, (str, Objective)):
            raise TypeError(f"objectives: each must be a name or an evolve.Objective, got "
                            f"{type(item).__name__} {shown(item, 40)}")
        if new_run and isinstance(item, Objective) and item.name in _BUILTIN and \
                not is_builtin(item):
            # the run would record it as the user's, and a resume given the name alone
            # would score its next generations with the built-in under the same name
            raise ValueError(f"objectives: {item.name!r} is a built-in objective's name; give "
                             f"yours another (built in: {', '.join(sorted(_BUILTIN))})")
        names.append(str(item) if isinstance(item, str) else item.name)
    return names


def resolve_objectives(items: Sequence[str | Objective]) -> tuple[Objective, ...]:
    objective_names(items)  # a string or a stray type
    out = []
    for item in items:
        if isinstance(item, Objective):
            out.append(item)
        elif (found := registered(_OBJECTIVES, item)) is not None:  # installed ones too
            out.append(found)
        else:
            raise UnknownName(
                f"objectives: unknown objective {item!r}; expected one of {available_objectives()}"
                " (your own: evolve.register_objective; CLI: --plugin FILE that does)"
            )
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise UnknownName(f"objectives: {names} names an objective twice")
    return tuple(out)
