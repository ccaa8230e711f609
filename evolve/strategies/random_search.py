"""Random search: the baseline every other strategy has to beat (Bergstra & Bengio 2012).

Each generation is ``population`` independent draws, with no selection and no memory:

- a genome: the start genome (inputs wired to outputs, or ``space.start_widths``' chain,
  which with ``space.start_share`` below 1 starts only that share of each generation, the
  rest starting from inputs wired to outputs) after k ~ U{0, …, 2·max_hidden_nodes}
  NEAT mutation steps with broad rates (add node 0.5, add edge 0.5, toggle edge 0.05,
  resize 0.5, change activation 0.3; new hidden groups get log-uniform sizes), so it reaches
  the same genomes ``neat`` can, with the same size and connection limits;
- hyperparameters: each moved one (``hyper_space`` minus ``fixed``) uniform within its bounds,
  log-uniform on log-scale ones, integers rounded; fixed ones keep their values.

One innovation tracker lives in the state (reset every generation, as NEAT's is), so equal
inventions within a generation share innovation numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evolve.strategies.base import Candidate, Problem, Scored, Strategy
from evolve.strategies.layered import apply_hyper, hyper_dimensions
from search_spaces.innovation import InnovationTracker
from search_spaces.space import MutationRates, SearchSpace

BROAD_RATES = MutationRates(add_node=0.5, add_edge=0.5, toggle_edge=0.05, resize_node=0.5,
                            change_activation=0.3)


class RandomStrategy(Strategy):
    name = "random"
    tables = ()  # no settings: its broad rates are what make it a baseline
    steady_quorum = 0.0  # its draws use no result: a generation never waits for one
    grows_from_start = True

    def __init__(self, space: SearchSpace, problem: Problem) -> None:
        self.space = space
        self.problem = problem
        self.dims = hyper_dimensions(problem)
        self.max_steps = 2 * space.settings.max_hidden_nodes

    def _draw(self, state: dict[str, Any], rng: np.random.Generator) -> None:
        tracker = InnovationTracker.from_dict(state["tracker"])
        tracker.new_generation()
        pending = []
        from_start = self.space.start_count(self.problem.population)
        for i in range(self.problem.population):
            genome = self.space.start_genome(tracker) if i < from_start \
                else self.space.minimal_genome(tracker)
            for _ in range(int(rng.integers(self.max_steps + 1))):
                genome = self.space.mutate(genome, rng, tracker, BROAD_RATES)
            hyper = apply_hyper(self.problem, self.dims, [d.sample(rng) for d in self.dims])
            pending.append(Candidate(state["next_id"], state["generation"], genome, hyper))
            state["next_id"] += 1
        state["pending"] = [c.to_dict() for c in pending]
        state["tracker"] = tracker.to_dict()

    def _init(self, rng: np.random.Generator) -> dict[str, Any]:
        state: dict[str, Any] = {"generation": 0, "next_id": 0,
                                 "tracker": InnovationTracker().to_dict()}
        self._draw(state, rng)
        return state

    def _tell(self, state: dict[str, Any], scored: list[Scored],
              rng: np.random.Generator) -> dict[str, Any]:
        state["generation"] += 1
        self._draw(state, rng)
        return state
