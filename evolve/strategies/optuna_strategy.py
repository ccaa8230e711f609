"""Optuna's samplers over the fixed-depth layered space, through Optuna's ask/tell.

The sampler is NSGA-II (Deb et al. 2002; ``optuna.samplers.NSGAIISampler`` with
``population_size = population``), or multi-objective TPE (Ozaki et al. 2020/2022;
``TPESampler``) when ``strategy.optuna.sampler == "tpe"``. The space is the one of ``pso``
(evolve/strategies/layered.py): ``width_1 … width_depth`` as ``suggest_int(log=True)`` and
every moved hyperparameter as ``suggest_float`` (``suggest_int`` for integer ones, ``log`` as
the rule says).

Optuna keeps its study in memory or a database; neurevo's state must be JSON (a checkpoint is
the state). So the state stores every finished trial — parameters, objective values, total
constraint violation and the system attributes the sampler wrote (NSGA-II's generation number)
— and each ``tell`` rebuilds the study from them (``create_study`` +
``add_trial(create_trial(…))``), then asks the next ``population`` trials with a sampler seeded
from the state, so the same state always gives the same candidates. Constraints use Optuna 5's
per-trial constraint values (``create_trial(constraints=…)``, what ``Trial.set_constraint``
stores, read by both samplers' constrained domination); ``constraints_func`` is deprecated
since Optuna 5.0. The violation is also kept in ``user_attrs["violation"]``. Failed evaluations
become ``FAIL`` trials, which Optuna's samplers skip.
"""

from __future__ import annotations

import logging
import math
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from evolve.strategies.base import Candidate, Problem, Scored, Strategy, check_ranges
from evolve.strategies.layered import LayeredParams, LayeredSpace
from search_spaces.settings import check_field_types
from search_spaces.space import SearchSpace

SAMPLERS = ("nsga2", "tpe")


@dataclass(frozen=True)
class OptunaParams:
    """What only the ``optuna`` strategy reads (``strategy.optuna``)."""

    sampler: str = "nsga2"  # "nsga2" (NSGAIISampler) or "tpe" (TPESampler)

    def __post_init__(self) -> None:
        check_field_types(self)  # a wrong type named before any range check
        check_ranges(self, {"sampler": (self.sampler in SAMPLERS, f"one of {list(SAMPLERS)}")})


@contextmanager
def _quiet():
    """No 'A new study created in memory' lines and no experimental-feature warnings."""
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        logger.setLevel(level)


class OptunaStrategy(Strategy):
    name = "optuna"
    tables = ("layered", "optuna")
    growing_keys = ("trials",)  # every finished trial, appended to, never changed

    def __init__(self, space: SearchSpace, problem: Problem,
                 layered: LayeredParams = LayeredParams(),
                 optuna: OptunaParams = OptunaParams()) -> None:
        self.layered = LayeredSpace.of(space, problem, layered)
        self.problem = problem
        self.sampler_name = optuna.sampler
        self.distributions: dict[str, BaseDistribution] = {
            d.name: (IntDistribution(int(math.ceil(d.low)), int(math.floor(d.high)), log=d.log)
                     if d.integer else FloatDistribution(d.low, d.high, log=d.log))
            for d in self.layered.dims
        }

    def _sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.sampler_name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        return optuna.samplers.NSGAIISampler(population_size=self.problem.population, seed=seed)

    def _study(self, trials: list[dict[str, Any]], seed: int) -> optuna.Study:
        """The study as the stored trials describe it."""
        study = optuna.create_study(
            directions=["maximize" if d == "max" else "minimize" for d in self.problem.directions],
            sampler=self._sampler(seed))
        for t in trials:
            done = t["state"] == "COMPLETE"
            study.add_trial(create_trial(
                state=TrialState.COMPLETE if done else TrialState.FAIL,
                values=t["values"] if done else None, params=dict(t["params"]),
                distributions=self.distributions, user_attrs={"violation": t["violation"]},
                system_attrs=dict(t["system_attrs"]),  # copies: Optuna writes into them
                constraints={"violation": t["violation"]} if done else None))
        return study

    def _draw(self, state: dict[str, Any], rng: np.random.Generator) -> None:
        """Ask the next ``population`` trials of the rebuilt study; they become ``pending``."""
        seed = int(rng.integers(2**31 - 1))
        with _quiet():
            study = self._study(state["trials"], seed)
            asked = []
            for _ in range(self.problem.population):
                trial = study.ask()
                for name, dist in self.distributions.items():
                    if isinstance(dist, IntDistribution):
                        trial.suggest_int(name, dist.low, dist.high, log=dist.log)
                    else:
                        trial.suggest_float(name, dist.low, dist.high, log=dist.log)
                asked.append(trial.number)
            frozen = {t.number: t for t in study.get_trials(deepcopy=False)}
        pending, asked_trials = [], {}
        for number in asked:
            t = frozen[number]
            genome, hyper = self.layered.decode_values(t.params)
            cid = state["next_id"]
            pending.append(Candidate(cid, state["generation"], genome, hyper).to_dict())
            asked_trials[str(cid)] = {"params": dict(t.params),
                                      "system_attrs": _jsonable(t.system_attrs)}
            state["next_id"] += 1
        state["pending"] = pending
        state["asked"] = asked_trials

    def _init(self, rng: np.random.Generator) -> dict[str, Any]:
        state: dict[str, Any] = {"generation": 0, "next_id": 0, "sampler": self.sampler_name,
                                 "dimensions": list(self.distributions), "trials": []}
        self._draw(state, rng)
        return state

    def _values(self, s: Scored) -> list[float]:
        return [float(v) if math.isfinite(v) else _placeholder(d)
                for v, d in zip(s.values, self.problem.directions, strict=True)]

    def _tell(self, state: dict[str, Any], scored: list[Scored],
              rng: np.random.Generator) -> dict[str, Any]:
        trials = list(state["trials"])
        for s in sorted(scored, key=lambda s: s.candidate.id):  # the order they were asked
            asked = state["asked"][str(s.candidate.id)]
            trials.append({**asked, "state": "COMPLETE" if s.rankable else "FAIL",
                           "values": self._values(s) if s.rankable else None,
                           "violation": float(s.violation)})
        state.update(trials=trials, generation=state["generation"] + 1)
        self._draw(state, rng)
        return state


def _placeholder(direction: str) -> float:
    """The value of an objective never measured (infeasible before training): the worst
    finite value, which constraint domination never reads but Optuna requires."""
    return -1e300 if direction == "max" else 1e300


def _jsonable(attrs: dict[str, Any]) -> dict[str, Any]:
    """The sampler's per-trial system attributes (ints, strings, lists) for the state."""
    return {k: v for k, v in attrs.items() if isinstance(v, (int, float, str, bool, list))}
