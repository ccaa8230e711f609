"""A helper module of the user's: only tests/plugin_metrics.py imports it, so workers see it
only if neurevo follows that module's imports when it sends it by value (evolve.plugins)."""

from __future__ import annotations

import numpy as np


def per_class_recall(y: np.ndarray, scores: np.ndarray) -> np.ndarray:
    pred = scores.argmax(axis=1)
    return np.array([np.mean(pred[y == c] == c) for c in np.unique(y)])
