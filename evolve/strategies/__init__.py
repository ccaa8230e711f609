"""Search strategies behind one ask/tell contract (see ``base.py``)."""

from __future__ import annotations

from typing import Any

from evolve.strategies.base import Candidate, Problem, Scored, Strategy
from evolve.strategies.neat import NeatStrategy
from evolve.strategies.neat_pso import NeatPsoStrategy
from evolve.strategies.optuna_strategy import OptunaStrategy
from evolve.strategies.pso import PsoStrategy
from evolve.strategies.random_search import RandomStrategy
from search_spaces.space import SearchSpace

# name -> class; drives ``strategy.name`` / ``--strategy`` and tests/test_strategies.py
STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (NeatPsoStrategy, NeatStrategy, PsoStrategy, OptunaStrategy, RandomStrategy)
}


def make_strategy(name: str, space: SearchSpace, problem: Problem, config: Any) -> Strategy:
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise KeyError(
            f"strategy.name: unknown strategy {name!r}; expected one of {sorted(STRATEGIES)}"
        ) from None
    return cls(space, problem, config)


__all__ = ["STRATEGIES", "Candidate", "Problem", "Scored", "Strategy", "make_strategy"]
