"""What a run is, written into the run when it starts: ``run.json`` (and ``profile.toml``).

Every reader — :class:`~evolve.run.Run`, ``neurevo pareto``/``export``/``report``/``compare``
and ``resume`` — takes the meaning of the records from here and never guesses it from a
name or by reloading the data: which way each objective points and its hypervolume
reference, which objectives were the user's own functions, the constraint names, where the
data was and a hash of it, the class names and the train-split standardisation, the chip
profile's full contents, the rule with its options and the limits of backprop it removes.
So a run directory copied to another machine still reads, and a resume can tell whether
the data it is given is the data the run started on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evolve.messages import one_line
from evolve.objectives import (
    Objective,
    available_objectives,
    builtin_objective_names,
    is_builtin,
)
from evolve.records import DESCRIPTION_FILE, RecordError, write_text
from evolve.tasks import Task

if TYPE_CHECKING:
    from evolve.config import SearchConfig

FORMAT = "neurevo.run/1"
FILE = DESCRIPTION_FILE


@dataclass(frozen=True)
class ObjectiveRecord:
    name: str
    direction: str  # "max" | "min"
    reference: float  # hypervolume reference point (the worst value that still counts)
    log_scale: bool
    builtin: bool  # False: a user's function, which resume must be given (or find registered)

    @classmethod
    def of(cls, objective: Objective) -> ObjectiveRecord:
        return cls(objective.name, objective.direction, float(objective.reference),
                   objective.log_scale, is_builtin(objective))


@dataclass(frozen=True)
class TaskRecord:
    name: str  # the config's task name (a built-in name, or the data file as typed)
    path: str  # absolute path of the data file; "" for a built-in task
    content_hash: str  # "sha256:..." of the data file (or of a built-in's arrays)
    class_names: tuple[str, ...]  # output i is class_names[i]
    n_features: int
    n_classes: int
    split_sizes: dict[str, int]  # train / valid / test examples
    # train-split standardisation x' = (x - mean) / std; empty where inputs are used as given
    feature_mean: tuple[float, ...] = ()
    feature_std: tuple[float, ...] = ()
    # input j is feature_names[j] (a data file's columns besides the label); () where the
    # data names none, and in runs from before they were recorded
    feature_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, name: str, task: Task) -> TaskRecord:
        mean = () if task.feature_mean is None else tuple(float(v) for v in task.feature_mean)
        std = () if task.feature_std is None else tuple(float(v) for v in task.feature_std)
        sizes = {"train": len(task.train.y), "valid": len(task.valid.y),
                 "test": len(task.test.y)}
        return cls(name, task.path, task.content_hash, tuple(task.class_names),
                   task.n_features, task.n_classes, sizes, mean, std,
                   tuple(task.feature_names))


@dataclass(frozen=True)
class RuleRecord:
    name: str
    options: dict[str, Any]  # constructor settings the rule was built with
    hyperparameters: dict[str, float]  # fixed overrides of the rule's gene defaults
    limits: dict[str, Any]  # which limits of backprop it removes, and why
    # the rule's genes when the run started (gene_record): a resume under a rule whose genes
    # differ would search another space over the same records; {} for runs from before
    genes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the class that trained the run, as module.qualname (rules.pc.PredictiveCoding, or a
    # plug-in's my_rules.MyRule): where a user's rule came from; "" for runs from before
    defined_in: str = ""


GENE_FIELDS = ("low", "high", "default", "log", "integer", "searched")


def gene_record(space: Any) -> dict[str, dict[str, Any]]:
    """A rule's gene space (a :class:`rules.HyperSpace`) as run.json keeps it: each gene's
    range, default, scale and whether a search moves it by default."""
    def plain(value: Any) -> Any:  # numpy scalars (np.True_, np.float32) as JSON holds them
        return bool(value) if isinstance(value, (bool, np.bool_)) else float(value)

    return {p.name: {f: plain(getattr(p, f)) for f in GENE_FIELDS} for p in space.params}


def defined_in(rule: Any) -> str:
    """Where ``rule``'s class is defined, as ``module.qualname``."""
    cls = type(rule)
    return f"{cls.__module__}.{cls.__qualname__}"


def rule_moved(recorded: RuleRecord, rule: Any) -> str | None:
    """A warning where a resume's rule of the recorded name is another class than the one
    the run started with, or None. Not refused: the same rule imported another way (a
    notebook's ``__main__``, then ``--plugin my_rules.py``) has another module name, and its
    genes, which a changed rule would show, are checked beside this."""
    now = defined_in(rule)
    if not recorded.defined_in or recorded.defined_in == now:
        return None
    return (f"rule {recorded.name!r} is {now} here, but the run started with "
            f"{recorded.defined_in}: if that is another rule, its generations will not be "
            "comparable with the run's first ones")


def gene_mismatch(recorded: RuleRecord, space: Any) -> str | None:
    """How the rule's genes now differ from those the run started with, as one clause (the
    first difference); None where they are the same or the run did not record them."""
    if not recorded.genes:
        return None
    now = json.loads(json.dumps(gene_record(space)))  # compared as run.json holds them

    def said(gene: dict[str, Any]) -> str:
        scale = ", log" if gene.get("log") else ""
        kind = ", integer" if gene.get("integer") else ""
        held = "" if gene.get("searched", True) else ", held unless rule.searched names it"
        return f"[{gene.get('low')}, {gene.get('high')}], default {gene.get('default')}" \
               f"{scale}{kind}{held}"

    for name, was in recorded.genes.items():
        if name not in now:
            return f"gene {name!r} ({said(was)}) is not one of its genes now"
        if now[name] != was:
            return f"gene {name!r} is {said(now[name])} now, but the run started with {said(was)}"
    added = [name for name in now if name not in recorded.genes]
    if added:
        return f"gene {added[0]!r} ({said(now[added[0]])}) is new: the run started without it"
    return None


@dataclass(frozen=True)
class RunDescription:
    run_id: str
    objectives: tuple[ObjectiveRecord, ...]
    constraints: tuple[str, ...]
    task: TaskRecord
    rule: RuleRecord
    profile: str  # the chip profile's name; its contents are in profile.toml
    profile_source: str  # what the config named: a profile name, or the TOML file as typed
    custom_cost_fn: bool = False  # costs came from a user's function (resume needs it again)
    # the config as it decides results (see fingerprint()); {} for runs from before it
    fingerprint: dict[str, Any] = field(default_factory=dict)
    format: str = field(default=FORMAT)

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def objective(self, name: str) -> ObjectiveRecord:
        for o in self.objectives:
            if o.name == name:
                return o
        raise KeyError(name)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, allow_nan=False, default=_finite)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunDescription:
        """Parse ``run.json``; ValueError naming the field whose shape is not what readers
        use (a reader must never meet it later as a KeyError deep in a report)."""
        data = _object(data, "run.json")
        if data.get("format") != FORMAT:
            raise ValueError(f"format is {data.get('format')!r}, expected {FORMAT!r}")
        t = _object(data.get("task"), "task")
        task = TaskRecord(
            name=str(t["name"]), path=str(t["path"]), content_hash=str(t["content_hash"]),
            class_names=tuple(str(c) for c in _list(t["class_names"], "task.class_names")),
            n_features=_count(t["n_features"], "task.n_features"),
            n_classes=_count(t["n_classes"], "task.n_classes"),
            split_sizes={str(k): int(v) for k, v in
                         _object(t["split_sizes"], "task.split_sizes").items()},
            feature_mean=_numbers(t.get("feature_mean", []), "task.feature_mean"),
            feature_std=_numbers(t.get("feature_std", []), "task.feature_std"),
            feature_names=tuple(str(c) for c in _list(t.get("feature_names", []),
                                                       "task.feature_names")))
        if len(task.class_names) != task.n_classes:
            raise ValueError(f"task.class_names has {len(task.class_names)} names for "
                             f"{task.n_classes} classes")
        for name in ("feature_mean", "feature_std", "feature_names"):
            values = getattr(task, name)
            if values and len(values) != task.n_features:
                raise ValueError(f"task.{name} has {len(values)} values for "
                                 f"{task.n_features} features")
        if any(not v > 0 for v in task.feature_std):
            raise ValueError("task.feature_std holds a value that is not positive")
        r = _object(data.get("rule"), "rule")
        limits = _object(r["limits"], "rule.limits")
        for key, limit in limits.items():
            if not isinstance(limit, dict) or not isinstance(limit.get("removed"), bool):
                raise ValueError(f"rule.limits.{key} is not an object with a boolean 'removed'")
        genes = _object(r.get("genes", {}), "rule.genes")
        for key, gene in genes.items():
            if not isinstance(gene, dict) or set(gene) != set(GENE_FIELDS):
                raise ValueError(f"rule.genes.{key} is not an object with the keys "
                                 f"{', '.join(GENE_FIELDS)}")
        rule = RuleRecord(str(r["name"]), _object(r["options"], "rule.options"),
                          _object(r["hyperparameters"], "rule.hyperparameters"), limits,
                          genes, str(r.get("defined_in", "")))
        objectives = []
        for i, o in enumerate(_list(data["objectives"], "objectives")):
            o = _object(o, f"objectives[{i}]")
            record = ObjectiveRecord(str(o["name"]), str(o["direction"]),
                                     float(o["reference"]), bool(o["log_scale"]),
                                     bool(o["builtin"]))
            if record.direction not in ("max", "min"):
                raise ValueError(f"objectives[{i}].direction is {record.direction!r}, "
                                 "expected 'max' or 'min'")
            if not math.isfinite(record.reference):
                raise ValueError(f"objectives[{i}].reference is not finite")
            objectives.append(record)
        names = [o.name for o in objectives]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"objectives {names}: expected one or more, each named once")
        return cls(str(data["run_id"]), tuple(objectives),
                   tuple(str(c) for c in _list(data["constraints"], "constraints")),
                   task, rule, str(data["profile"]), str(data["profile_source"]),
                   bool(data.get("custom_cost_fn", False)), dict(data.get("fingerprint", {})))


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {type(value).__name__}, expected an object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where} is {type(value).__name__}, expected a list")
    return value


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} is {value!r}, expected a positive integer")
    return value


def _numbers(value: Any, where: str) -> tuple[float, ...]:
    numbers = tuple(float(v) for v in _list(value, where))
    if not all(math.isfinite(v) for v in numbers):
        raise ValueError(f"{where} holds a value that is not finite")
    return numbers


def _finite(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot record {type(value).__name__} in run.json")


def write_description(root: Path, description: RunDescription) -> None:
    for o in description.objectives:
        if not math.isfinite(o.reference):
            raise ValueError(f"objective {o.name}: reference {o.reference} is not finite")
    write_text(root / FILE, description.to_json() + "\n")


def read_description(root: Path) -> RunDescription | None:
    """The run's description; None for a run written before runs described themselves."""
    path = Path(root) / FILE
    if not path.is_file():
        return None
    try:
        return RunDescription.from_dict(json.loads(path.read_bytes().decode("utf-8")))
    except KeyError as exc:
        raise RecordError(f"{path}: damaged run description (no {exc})") from None
    except (TypeError, ValueError, AttributeError, RecursionError) as exc:
        # ValueError covers text that is not JSON, or not UTF-8
        raise RecordError(f"{path}: damaged run description ("
                          f"{one_line(exc)})") from None


# What may differ between a run's start and its resume: how far it goes (generations,
# stop_when, tolerate_failures), where it is written (out, run_id) and where evaluations run
# (executor.*). Every other key decides what a generation produces.
NOT_FINGERPRINTED = ("generations", "stop_when", "tolerate_failures", "out", "run_id",
                     "executor.")


def fingerprint(config: SearchConfig, content_hash: str) -> dict[str, Any]:
    """The settings that decide a run's results, by dotted key, as JSON values, with the
    content hash of its data: recorded when the run starts, compared with config.toml when
    it resumes (a config.toml emptied or edited since would otherwise continue the run as
    another search, over the first one's records)."""
    from evolve.config import flat_items

    items = {key: value for key, value in flat_items(config)
             if not key.startswith(NOT_FINGERPRINTED)}
    items["task.content_hash"] = content_hash
    return json.loads(json.dumps(items, allow_nan=False, default=_finite))


def fingerprint_mismatch(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> str | None:
    """The first key (in recorded order) whose value differs, as a sentence; None if equal.
    One key, so the message says what to restore. Keys this version adds to fingerprints are
    not held against runs recorded before it; a recorded key this version lacks is."""
    for key, want in recorded.items():
        if key not in current:
            return f"{key} is not a setting of this version of neurevo (the run has {want!r})"
        if current[key] != want:
            return f"{key} is {current[key]!r} in config.toml, but the run started with {want!r}"
    return None


def missing_objectives(description: RunDescription, given: Sequence[str | Objective] | None
                       ) -> list[str]:
    """The user-defined objectives of the run that ``given`` does not supply again: passed
    as an :class:`Objective`, or registered in this process (``evolve.register_objective``)
    and named (``given`` None names the run's own objectives). A function is never stored
    in a run, so the one supplied is taken to be the one it ran with, either way."""
    # a name registered now is the run's own function only if it is not a built-in's: a
    # user's objective recorded under a built-in's name is supplied only by passing it
    registered = set(available_objectives()) - builtin_objective_names()
    custom = {o.name for o in (given or ()) if isinstance(o, Objective)}
    named = set(description.objective_names if given is None
                else (o for o in given if isinstance(o, str)))
    return [o.name for o in description.objectives if not o.builtin
            and o.name not in custom and not (o.name in registered and o.name in named)]


def objective_swapped(recorded: RunDescription, given: Sequence[str | Objective]) -> str | None:
    """Why an :class:`Objective` passed to a resume is not the function the run recorded
    under its name, or None: the built-in for a user's function or the other way round, or
    another direction. The later generations would be scored by another function than the
    first, in one archive."""
    for o in given:
        if not isinstance(o, Objective):
            continue
        record = next(r for r in recorded.objectives if r.name == o.name)
        if is_builtin(o) != record.builtin:
            ran = "the built-in" if record.builtin else "a user-defined function"
            return (f"objective {o.name!r}: the run was scored with {ran} of that name; "
                    + ("pass the name, not another function" if record.builtin else
                       "pass the run's own function again"))
        if o.direction != record.direction:
            return (f"objective {o.name!r}: direction {o.direction!r}, but the run "
                    f"{'maximised' if record.direction == 'max' else 'minimised'} it")
    return None


def plugin_mismatch(description: RunDescription, constraint_names: Sequence[str],
                    custom_cost_fn: bool) -> str | None:
    """Why the constraints and cost function given to a resume are not the run's own, or
    None. A run's user functions are not stored in it (nothing is pickled), so a resume
    without them would score its next generations by other rules than its first, and mix
    both in one archive without a word."""
    given, recorded = list(constraint_names), list(description.constraints)
    if sorted(given) != sorted(recorded):
        lacking = [n for n in recorded if n not in given]
        if lacking:
            return (f"this run's constraint {lacking[0]!r} is a user-defined function: pass "
                    "it again (evolve.resume(RUN, constraints=[...])) or register it "
                    "(evolve.register_constraint; CLI: --plugin FILE that does)")
        return f"constraints {sorted(given)} differ from the run's {sorted(recorded)}"
    if description.custom_cost_fn and not custom_cost_fn:
        # a run that names its function (hardware.cost_fn) is refused before this, with
        # how to register it; this one does not name it (it was not registered when the
        # run started), and a resume cannot add the name: it is in the run's fingerprint
        return ("this run priced its candidates with a user-defined cost function it does "
                "not name (hardware.cost_fn is empty: the function was not registered when "
                "the run started): pass it again (evolve.resume(RUN, cost_fn=...)); a CLI "
                "resume cannot supply it")
    if custom_cost_fn and not description.custom_cost_fn:
        return ("cost_fn was given, but this run priced its candidates with neurevo's own "
                "cost model: resume it without one")
    return None

