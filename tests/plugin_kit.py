"""A user's plug-ins, as a user would write them in a module of their own that is not
installed anywhere (tests/ is not a package): a rule subclassing pc, a validation metric,
an objective and a genome-only constraint. Workers can only run them if neurevo sends
this module by value (evolve.plugins)."""

from __future__ import annotations

import dataclasses

import numpy as np

import rules
from evolve import Constraint, Objective
from rules.base import HyperSpace
from rules.pc import PredictiveCoding


@rules.register
class SlowPC(PredictiveCoding):
    """pc with a smaller default learning rate, and an option the workers must see."""

    name = "kit-slowpc"
    description = "pc with a smaller default learning rate (a user's rule)"

    def __init__(self, lr_scale: float = 0.5) -> None:
        self.lr_scale = lr_scale

    def hyperparameters(self) -> HyperSpace:
        space = super().hyperparameters()
        return HyperSpace(tuple(
            dataclasses.replace(p, default=p.default * self.lr_scale) if p.name == "lr" else p
            for p in space.params))


def recall_mean(y: np.ndarray, scores: np.ndarray) -> float:
    """Balanced accuracy, written by the user (so it travels by value too)."""
    pred = scores.argmax(axis=1)
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


BALANCED = Objective.from_metric("balanced", recall_mean, "max", reference=0.0)


def lean_score(m) -> float:
    return m.valid_accuracy - 1e-5 * m.params


LEAN = Objective("lean", "max", lean_score, reference=-1.0)

FEW_GROUPS = Constraint("few_groups", lambda m: len(m.genome.hidden_ids) - 1, genome_only=True)
