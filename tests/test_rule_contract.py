"""The contract every registered rule meets (STYLE §12): one parametrised suite over the
registry, so a new rule is checked the moment it registers."""

from __future__ import annotations

import math

import pytest

import evolve
import rules
from evolve.config import override


@pytest.mark.parametrize("name", rules.available())
def test_hyperparameter_space_is_complete_and_defaults_resolve(name):
    rule = rules.get_rule(name)
    space = rule.hyperparameters()
    assert {"lr", "init_scale"} <= set(space.names())
    defaults = space.resolve(None)
    for h in space.params:
        assert h.low <= defaults[h.name] <= h.high
        assert not (h.log and h.low <= 0), f"{name}.{h.name}: log scale needs low > 0"
    assert rule.description, f"{name} needs a one-line description for `neurevo rules`"


@pytest.mark.parametrize("name", rules.available())
def test_a_search_runs_with_every_rule(name, tmp_path):
    config = override(evolve.SearchConfig(), {
        "generations": 2, "population": 4, "out": str(tmp_path), "seed": 1,
        "task": {"name": "iris"}, "rule": {"name": name},
        "training": {"epochs": 10, "batch_size": 16}, "space": {"max_hidden_size": 8},
        "strategy": {"add_node": 0.6}, "executor": {"name": "serial"},
    })
    run = evolve.search(config)
    rows = run.evaluations().to_pylist()
    assert rows and all(r["rule"] == name for r in rows)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    front = run.pareto_front()
    assert front and all(math.isfinite(a.test_accuracy) for a in front)
    best = max(a.objectives["accuracy"] for a in front)
    assert best > 0.5, f"{name} should beat chance (1/3) on iris in 10 epochs: {best}"
