"""A metric objective in a module of the user's own that defines no rule: the only user
code it puts on the workers is the metric's function, which calls into another of the
user's modules (tests/plugin_helpers.py)."""

from __future__ import annotations

import numpy as np
from plugin_helpers import per_class_recall

from evolve import Objective


def worst_class_recall(y: np.ndarray, scores: np.ndarray) -> float:
    return float(per_class_recall(y, scores).min())


WORST_RECALL = Objective.from_metric("worst_recall", worst_class_recall, "max", reference=0.0)
