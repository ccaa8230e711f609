"""Ready-made validation metrics for :meth:`evolve.Objective.from_metric` and metric
constraints: each is ``fn(y[n], scores[n, C]) -> float`` on numpy arrays, computed on the
worker from the trained network's own prediction on the validation split.

>>> objective = Objective.from_metric("balanced_accuracy", balanced_accuracy, "max", 0.0)
"""

from __future__ import annotations

import numpy as np


def _predicted(scores: np.ndarray) -> np.ndarray:
    return np.asarray(scores).argmax(axis=1)


def balanced_accuracy(y: np.ndarray, scores: np.ndarray) -> float:
    """Mean per-class recall over the classes present in ``y`` (chance = 1 / classes,
    whatever the class balance)."""
    y, pred = np.asarray(y), _predicted(scores)
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(recalls))


def macro_f1(y: np.ndarray, scores: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over the classes of the score matrix (a class never
    predicted and never present counts 0, as scikit-learn's ``zero_division=0``)."""
    y, pred = np.asarray(y), _predicted(scores)
    f1s = []
    for c in range(np.asarray(scores).shape[1]):
        tp = float(np.sum((pred == c) & (y == c)))
        fp = float(np.sum((pred == c) & (y != c)))
        fn = float(np.sum((pred != c) & (y == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0)
    return float(np.mean(f1s))


def expected_calibration_error(y: np.ndarray, scores: np.ndarray, bins: int = 10) -> float:
    """ECE of the softmax of ``scores``: confidence vs accuracy gap, averaged over ``bins``
    equal-width confidence bins weighted by their share of examples (Guo et al. 2017)."""
    s = np.asarray(scores, dtype=np.float64)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    confidence, pred = p.max(axis=1), p.argmax(axis=1)
    correct = (pred == np.asarray(y)).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            ece += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(ece)
