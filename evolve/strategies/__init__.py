"""Search strategies behind one ask/tell contract (see ``base.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from evolve.strategies.base import Candidate, Problem, Scored, Strategy
from evolve.strategies.layered import LayeredParams
from evolve.strategies.neat import NeatParams, NeatStrategy
from evolve.strategies.neat_pso import NeatPsoStrategy
from evolve.strategies.optuna_strategy import OptunaParams, OptunaStrategy
from evolve.strategies.pso import PsoParams, PsoStrategy, SwarmParams
from evolve.strategies.random_search import RandomStrategy
from search_spaces.settings import check_field_types
from search_spaces.space import MutationRates, SearchSpace

# name -> class; drives ``strategy.name`` / ``--strategy`` and tests/test_strategies.py
STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls
    for cls in (NeatPsoStrategy, NeatStrategy, PsoStrategy, OptunaStrategy, RandomStrategy)
}

MODES = ("generational", "steady")


@dataclass(frozen=True)
class StrategyConfig:
    """The ``[strategy]`` config table: which strategy runs, and one table per settings type.

    Each table is the settings type of the strategies that read it, defined next to them, and
    a strategy's constructor defaults to those same types' defaults: a strategy built in
    Python and one built from a default config run with the same settings.
    """

    name: str = "neat-pso"  # neat-pso | neat | pso | optuna | random
    # "generational": each generation is told once all its results are in; "steady": asked
    # and told as workers free up, without the generation barrier (evolve/steady.py;
    # neat, neat-pso and random)
    mode: str = "generational"
    neat: NeatParams = field(default_factory=NeatParams)  # neat, neat-pso
    mutation: MutationRates = field(default_factory=MutationRates)  # neat, neat-pso
    swarm: SwarmParams = field(default_factory=SwarmParams)  # neat-pso, pso
    layered: LayeredParams = field(default_factory=LayeredParams)  # pso, optuna
    pso: PsoParams = field(default_factory=PsoParams)  # pso
    optuna: OptunaParams = field(default_factory=OptunaParams)  # optuna

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        if self.name not in STRATEGIES:
            raise ValueError(f"name must be one of {sorted(STRATEGIES)}, got {self.name!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {list(MODES)}, got {self.mode!r}")

    def contradiction(self) -> str | None:
        """Settings of this table that contradict each other, as one line starting with
        the first one's key under ``strategy.`` (None: none do). Not checked on
        construction: a config is built one override at a time (file, flags, each
        ``--set``), and ``--config steady.toml --strategy pso --set
        strategy.mode=generational`` must not be refused for the step in between;
        evolve.config.check reads this on the final config (and :func:`make_strategy` the
        mode, LayeredSpace.of the layered table)."""
        steady = self._steady_contradiction()
        if steady:
            return steady
        layered = self.layered.contradiction()
        return f"layered.{layered}" if layered else None

    def _steady_contradiction(self) -> str | None:
        if self.mode == "steady" and STRATEGIES[self.name].steady_quorum is None:
            steady = sorted(n for n, c in STRATEGIES.items() if c.steady_quorum is not None)
            return (f"mode 'steady' needs a strategy that breeds from part of a generation "
                    f"({', '.join(steady)}), and strategy.name is {self.name!r}")
        return None

    def unread_tables(self) -> list[str]:
        """The settings tables changed from their defaults that strategy ``name`` does not
        read: a setting the user made that has no effect on the run. Not an error, so a
        config can carry tables for several strategies and switch with ``--strategy``."""
        defaults = StrategyConfig()
        read = STRATEGIES[self.name].tables
        return [f.name for f in fields(self) if f.name not in ("name", "mode", *read)
                and getattr(self, f.name) != getattr(defaults, f.name)]


def unread_tables_warning(config: StrategyConfig) -> str | None:
    """One line naming the tables ``config``'s strategy ignores, and who reads them."""
    unread = config.unread_tables()
    if not unread:
        return None
    readers = {t: sorted(n for n, c in STRATEGIES.items() if t in c.tables) for t in unread}
    what = "; ".join(f"strategy.{t} (read by {', '.join(r)})" for t, r in readers.items())
    return (f"strategy {config.name!r} does not read {what}: those settings have no effect "
            "on this run")


def make_strategy(space: SearchSpace, problem: Problem,
                  config: StrategyConfig = StrategyConfig()) -> Strategy:
    """The strategy ``config.name``, given the tables of ``config`` that it reads."""
    contradiction = config._steady_contradiction()  # the rest is the tables' own to check
    if contradiction:
        raise ValueError(contradiction)
    return STRATEGIES[config.name].from_config(space, problem, config)


__all__ = ["STRATEGIES", "Candidate", "LayeredParams", "MutationRates", "NeatParams",
           "OptunaParams", "Problem", "PsoParams", "Scored", "Strategy", "StrategyConfig",
           "SwarmParams", "make_strategy", "unread_tables_warning"]
