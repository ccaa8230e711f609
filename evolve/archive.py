"""The Pareto archive: every non-dominated feasible evaluation seen so far, and its
hypervolume against a fixed reference point (computed by ``moocore``, which DEAP uses)."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import moocore
import numpy as np

from evolve.objectives import LOG_FLOOR, Objective, is_builtin


@dataclass
class ArchiveEntry:
    candidate_id: int
    generation: int
    objectives: dict[str, float]
    record: dict[str, Any] = field(default_factory=dict)  # the evaluation row


@dataclass
class Archive:
    objectives: tuple[Objective, ...]
    entries: list[ArchiveEntry] = field(default_factory=list)
    # log-scaled objectives already named for a value <= 0 (once per search)
    floored: set[str] = field(default_factory=set)

    def _name_floored(self, values: dict[str, float]) -> None:
        """A log-scaled value <= 0 counts as LOG_FLOOR, for a minimised objective as good as
        any value can be: the first one each objective gives is named on stderr rather than
        left to skew the hypervolume unseen."""
        for o in self.objectives:
            value = values.get(o.name)
            if o.log_scale and value is not None and value <= 0 and o.name not in self.floored:
                self.floored.add(o.name)
                advice = ("" if is_builtin(o) else
                          " (an objective that can be 0 should keep log_scale=False)")
                print(f"neurevo: warning: objective {o.name} is log-scaled but gave "
                      f"{value!r}; the hypervolume counts values <= 0 as {LOG_FLOOR:g}"
                      f"{advice}", file=sys.stderr)

    def _minimized(self, values: dict[str, float]) -> np.ndarray:
        return np.array([o.to_minimize(values[o.name]) for o in self.objectives])

    def update(self, candidates: Sequence[ArchiveEntry]) -> tuple[list[int], list[int]]:
        """Add non-dominated newcomers, drop members they dominate; return (added, removed).

        An exact duplicate of a member's objective vector is not added (the older one stays),
        so the archive does not fill up with copies of one architecture.
        """
        members = list(self.entries)
        added: list[int] = []
        for entry in candidates:
            self._name_floored(entry.objectives)
            point = self._minimized(entry.objectives)
            if not np.all(np.isfinite(point)):
                continue
            dominated_or_equal = any(
                np.all(self._minimized(m.objectives) <= point) for m in members
            )
            if dominated_or_equal:
                continue
            members = [m for m in members
                       if not (np.all(point <= self._minimized(m.objectives)))]
            members.append(entry)
            added.append(entry.candidate_id)
        kept = {m.candidate_id for m in members}
        removed = [m.candidate_id for m in self.entries if m.candidate_id not in kept]
        self.entries = sorted(members, key=lambda m: m.candidate_id)
        added = [a for a in added if a in kept]
        return added, removed

    def hypervolume(self) -> float:
        if not self.entries:
            return 0.0
        ref = np.array([o.reference_minimized() for o in self.objectives])
        points = np.array([self._minimized(m.objectives) for m in self.entries])
        points = points[np.all(points < ref, axis=1)]
        if len(points) == 0:
            return 0.0
        return float(moocore.hypervolume(points, ref=ref))

    def beyond_reference(self) -> list[tuple[Objective, float]]:
        """The objectives no member is better than the reference of, each with its best
        value: while there is one, no member counts towards the hypervolume (it stays 0)."""
        beyond = []
        for i, o in enumerate(self.objectives if self.entries else ()):
            best = min(self.entries, key=lambda m: self._minimized(m.objectives)[i])
            if self._minimized(best.objectives)[i] >= o.reference_minimized():
                beyond.append((o, best.objectives[o.name]))
        return beyond

    def inside_reference(self) -> bool:
        """Whether some member is better than the reference point on every objective at
        once, the only members the hypervolume counts."""
        ref = np.array([o.reference_minimized() for o in self.objectives])
        return any(bool(np.all(self._minimized(m.objectives) < ref)) for m in self.entries)

    def targets_reached(self, stop_when: Mapping[str, float]) -> str | None:
        """What shows every ``stop_when`` target reached by the best feasible value so far
        (the archive holds each objective's best), or None."""
        return targets_reached([m.objectives for m in self.entries], stop_when,
                               {o.name: o.direction for o in self.objectives})

    def to_dict(self) -> list[dict[str, Any]]:
        return [{"candidate_id": m.candidate_id, "generation": m.generation,
                 "objectives": m.objectives, "record": m.record} for m in self.entries]

    def load(self, data: list[dict[str, Any]]) -> None:
        self.entries = [ArchiveEntry(int(d["candidate_id"]), int(d["generation"]),
                                     {k: float(v) for k, v in d["objectives"].items()},
                                     d.get("record", {}))
                        for d in data]


def targets_reached(points: Sequence[Mapping[str, float]], stop_when: Mapping[str, float],
                    directions: Mapping[str, str]) -> str | None:
    """Whether the best of ``points`` (objective values of feasible evaluations: an archive's
    entries, or a checkpoint's ``archive``) reaches every ``stop_when`` target; what shows it
    (``"accuracy 0.97 >= 0.95"``), or None. One home for the rule a search stops by and a
    listing reports it by."""
    if not stop_when:
        return None
    reached = []
    for name, target in stop_when.items():
        values = [float(p[name]) for p in points if math.isfinite(float(p.get(name, math.nan)))]
        if not values:
            return None
        maximise = directions.get(name, "max") == "max"
        best = max(values) if maximise else min(values)
        if (best < target) if maximise else (best > target):
            return None
        reached.append(f"{name} {best:.4g} {'>=' if maximise else '<='} {target:g}")
    return ", ".join(reached)
