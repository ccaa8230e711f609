"""NEAT engine overhead: neurevo's reproduction + speciation against neat-python's.

What is measured: the wall time one generation of NEAT bookkeeping takes, with training
taken out. Both engines evolve a population on the same cheap, deterministic fitness of the
genome's *structure* (no network is built or run)::

    fitness = -|enabled connections - 12| - 0.5 * |hidden nodes - 5| + jitter(id)

so both have to grow structure, and the per-generation cost is what each engine spends on
ranking, stagnation, offspring allocation, crossover/mutation and speciation.

- neurevo: ``strategy.ask(state)`` + ``strategy.tell(state, scored)`` — ``tell`` does NSGA-II
  ranking, stagnation, reproduction and speciation, and ``ask``/``tell`` (de)serialise the
  candidates to and from the JSON-ready state dict, which is part of neurevo's real cost
  (checkpointable state is a design rule), so it is counted.
- neat-python: ``reproduction.reproduce(...)`` + ``species.speciate(...)``, i.e. what
  ``Population.run`` does per generation minus fitness evaluation and reporting.

The setups are matched where the engines share a knob (population, 2 inputs / 1 output,
add-node 0.2 / add-edge 0.3 per child, no deletions, elitism 1 per species, survival
threshold 0.4, min species size 2, stagnation 10 with 2 protected species). They differ
where the designs differ: neat-python also mutates connection weights and node biases /
responses (neurevo has no weights in its genomes: the learning rule learns them),
neat-python crosses over every child (neurevo: 30 %), neurevo's compatibility threshold
adapts toward a target species count while neat-python's is fixed. The species count
and the mean structure at the end are printed as sanity columns, so a speed-up that comes
from a population that failed to evolve (or to speciate) is visible.

The two engines run generation by generation, interleaved, so drift on a noisy machine
hits both alike; the figure per engine is the median time per generation, and the table
shows the ratio neat-python / neurevo (> 1: neurevo faster).

Usage: ``python benchmarks/engine.py [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import neat

from evolve.config import StrategyConfig
from evolve.strategies import Problem, Scored, Strategy, make_strategy
from search_spaces.genome import Genome
from search_spaces.space import SearchSpace

TARGET_CONNECTIONS = 12
TARGET_HIDDEN = 5
SEED = 0

# the knobs both engines share (see the module docstring for the ones they do not)
ADD_NODE = 0.2
ADD_EDGE = 0.3
TOGGLE_EDGE = 0.05
CHANGE_ACTIVATION = 0.1
ELITISM = 1
SURVIVAL_THRESHOLD = 0.4
MIN_SPECIES_SIZE = 2
STAGNATION = 10
SPECIES_ELITISM = 2
TARGET_SPECIES = 8  # neurevo's adaptive threshold aims here; neat-python's fixed δ_t lands near
NEAT_PYTHON_THRESHOLD = 3.0  # its usual starting δ_t (weights count in its distance) ...


# -- the shared fitness -----------------------------------------------------------------
def structural_fitness(n_enabled: int, n_hidden: int, key: int) -> float:
    """Peak at 12 enabled connections and 5 hidden nodes; a tiny id hash breaks ties."""
    jitter = (zlib.crc32(key.to_bytes(8, "little")) % 1000) * 1e-6
    return -abs(n_enabled - TARGET_CONNECTIONS) - 0.5 * abs(n_hidden - TARGET_HIDDEN) + jitter


@dataclass
class Structure:
    """Mean size of a population (sanity: did it evolve?) and its species count."""

    hidden: float
    connections: float
    species: int


@dataclass
class Timing:
    population: int
    generations: int
    neurevo_ms: float
    neat_python_ms: float
    ratio: float  # neat-python / neurevo: > 1 means neurevo is faster
    neurevo_end: Structure
    neat_python_end: Structure


# -- neurevo ----------------------------------------------------------------------------
def neurevo_counts(genome: Genome) -> tuple[int, int]:
    return len(genome.enabled_connections(None)), len(genome.hidden_ids)


class NeurevoRun:
    """neurevo's NEAT in neuron-level mode (every hidden group has size 1)."""

    def __init__(self, population: int, seed: int) -> None:
        space = SearchSpace(n_inputs=2, n_outputs=1, min_hidden_size=1, max_hidden_size=1,
                            max_hidden_nodes=64, max_connections=256)
        problem = Problem(directions=("max",), hyperparameters={}, population=population)
        config = StrategyConfig(
            add_node=ADD_NODE, add_edge=ADD_EDGE, toggle_edge=TOGGLE_EDGE,
            change_activation=CHANGE_ACTIVATION, elitism=ELITISM,
            survival_threshold=SURVIVAL_THRESHOLD, min_species_size=MIN_SPECIES_SIZE,
            stagnation=STAGNATION, species_elitism=SPECIES_ELITISM,
            target_species=TARGET_SPECIES,
        )
        self.strategy: Strategy = make_strategy("neat", space, problem, config)
        self.state = self.strategy.init(seed)

    def generation(self) -> float:
        """One ask/evaluate/tell round; returns the seconds spent in ask + tell."""
        t0 = time.perf_counter()
        candidates = self.strategy.ask(self.state)
        spent = time.perf_counter() - t0
        scored = [Scored(c, (structural_fitness(*neurevo_counts(c.genome), c.id),), 0.0, True)
                  for c in candidates]
        t0 = time.perf_counter()
        self.state = self.strategy.tell(self.state, scored)
        return spent + time.perf_counter() - t0

    def structure(self) -> Structure:
        counts = [neurevo_counts(c.genome) for c in self.strategy.ask(self.state)]
        return Structure(statistics.fmean(h for _, h in counts),
                         statistics.fmean(c for c, _ in counts), len(self.state["species"]))


# -- neat-python ------------------------------------------------------------------------
NEAT_PYTHON_CONFIG = """\
[NEAT]
fitness_criterion     = max
fitness_threshold     = 1e9
pop_size              = {population}
reset_on_extinction   = False
no_fitness_termination = True

[DefaultGenome]
num_inputs              = 2
num_outputs             = 1
num_hidden              = 0
feed_forward            = True
initial_connection      = full_direct
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = {add_edge}
conn_delete_prob        = 0.0
node_add_prob           = {add_node}
node_delete_prob        = 0.0
single_structural_mutation = false
structural_mutation_surer  = default
activation_default      = sigmoid
activation_options      = relu tanh sigmoid elu
activation_mutate_rate  = {change_activation}
aggregation_default     = sum
aggregation_options     = sum
aggregation_mutate_rate = 0.0
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1
enabled_default         = True
enabled_mutate_rate     = {toggle_edge}

[DefaultSpeciesSet]
compatibility_threshold = {threshold}

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = {stagnation}
species_elitism      = {species_elitism}

[DefaultReproduction]
elitism            = {elitism}
survival_threshold = {survival_threshold}
min_species_size   = {min_species_size}
"""


def neat_python_config(population: int, directory: Path) -> neat.Config:
    path = directory / f"neat-python-{population}.ini"
    path.write_text(NEAT_PYTHON_CONFIG.format(
        population=population, add_edge=ADD_EDGE, add_node=ADD_NODE,
        change_activation=CHANGE_ACTIVATION, toggle_edge=TOGGLE_EDGE,
        threshold=NEAT_PYTHON_THRESHOLD, stagnation=STAGNATION,
        species_elitism=SPECIES_ELITISM, elitism=ELITISM,
        survival_threshold=SURVIVAL_THRESHOLD, min_species_size=MIN_SPECIES_SIZE,
    ))
    return neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                       neat.DefaultStagnation, str(path))


def neat_python_counts(genome: neat.DefaultGenome, n_outputs: int) -> tuple[int, int]:
    enabled = sum(1 for c in genome.connections.values() if c.enabled)
    return enabled, len(genome.nodes) - n_outputs  # genome.nodes holds outputs + hidden


class NeatPythonRun:
    """neat-python's default NEAT, stepped by hand as ``Population.run`` would step it."""

    def __init__(self, population: int, seed: int, directory: Path) -> None:
        self.config = neat_python_config(population, directory)
        self.pop = neat.Population(self.config, seed=seed)

    def generation(self) -> float:
        """Evaluate, then reproduce + speciate; returns the seconds spent in the latter."""
        n_out = self.config.genome_config.num_outputs
        for key, genome in self.pop.population.items():
            genome.fitness = structural_fitness(*neat_python_counts(genome, n_out), key)
        t0 = time.perf_counter()
        pop = self.pop
        pop.population = pop.reproduction.reproduce(pop.config, pop.species,
                                                    pop.config.pop_size, pop.generation)
        if not pop.species.species:
            raise RuntimeError("neat-python: complete extinction")
        pop.species.speciate(pop.config, pop.population, pop.generation)
        spent = time.perf_counter() - t0
        pop.generation += 1
        return spent

    def structure(self) -> Structure:
        n_out = self.config.genome_config.num_outputs
        counts = [neat_python_counts(g, n_out) for g in self.pop.population.values()]
        return Structure(statistics.fmean(h for _, h in counts),
                         statistics.fmean(c for c, _ in counts), len(self.pop.species.species))


# -- the comparison ---------------------------------------------------------------------
def timed(step: Callable[[], float]) -> float:
    gc.collect()  # start each measurement with the same (empty) garbage backlog
    return step()


def compare(population: int, generations: int, directory: Path) -> Timing:
    """Run both engines for the same generations, interleaved; median ms per generation."""
    ours, theirs = NeurevoRun(population, SEED), NeatPythonRun(population, SEED, directory)
    ours_s: list[float] = []
    theirs_s: list[float] = []
    for gen in range(generations):
        first, second = (ours, theirs) if gen % 2 == 0 else (theirs, ours)  # alternate order
        for run in (first, second):
            (ours_s if run is ours else theirs_s).append(timed(run.generation))
    ours_ms = 1e3 * statistics.median(ours_s)
    theirs_ms = 1e3 * statistics.median(theirs_s)
    return Timing(population, generations, ours_ms, theirs_ms, theirs_ms / ours_ms,
                  ours.structure(), theirs.structure())


def print_table(rows: list[Timing]) -> None:
    header = (f"{'pop':>5} {'gens':>4} | {'neurevo ms':>10} {'neat-py ms':>10} {'ratio':>6} | "
              f"{'hid/conn/species neurevo':>24} {'hid/conn/species neat-py':>24}")
    print(header)
    print("-" * len(header))
    for r in rows:
        a, b = r.neurevo_end, r.neat_python_end
        print(f"{r.population:>5} {r.generations:>4} | {r.neurevo_ms:>10.1f} "
              f"{r.neat_python_ms:>10.1f} {r.ratio:>6.2f} | "
              f"{a.hidden:>8.1f}/{a.connections:>5.1f}/{a.species:>3}        "
              f"{b.hidden:>8.1f}/{b.connections:>5.1f}/{b.species:>3}")
    print("ratio = neat-python / neurevo median time per generation (> 1: neurevo faster)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer generations (CI smoke)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    plan = [(150, 10), (1000, 5)] if args.quick else [(150, 30), (1000, 15)]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [compare(population, generations, Path(tmp)) for population, generations in plan]
    print_table(rows)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {"benchmark": "engine", "quick": args.quick,
                                   "results": [asdict(r) for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
