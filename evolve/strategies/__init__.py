"""Search strategies behind one ask/tell contract (see ``base.py``)."""

from __future__ import annotations

from typing import Any

from evolve.strategies.base import Candidate, Problem, Scored, Strategy
from evolve.strategies.neat import NeatStrategy
from search_spaces.space import SearchSpace

STRATEGIES: dict[str, type[Strategy]] = {"neat": NeatStrategy}


def make_strategy(name: str, space: SearchSpace, problem: Problem, config: Any) -> Strategy:
    try:
        cls = STRATEGIES[name]
    except KeyError:
        raise KeyError(
            f"strategy.name: unknown strategy {name!r}; expected one of {sorted(STRATEGIES)}"
        ) from None
    return cls(space, problem, config)


__all__ = ["STRATEGIES", "Candidate", "Problem", "Scored", "Strategy", "make_strategy"]
