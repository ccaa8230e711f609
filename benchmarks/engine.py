"""NEAT engine overhead: neurevo's reproduction + speciation against neat-python's.

What is measured: the time one generation of NEAT bookkeeping takes, with training taken
out. Both engines evolve a population on the same cheap, deterministic fitness of the
genome's *structure* (no network is built or run)::

    fitness = -|enabled connections - 12| - 0.5 * |hidden nodes - 5| + jitter(genome id)

so both have to grow structure, and the per-generation cost is what each engine spends on
ranking, stagnation, offspring allocation, crossover/mutation and speciation:

- neurevo: ``strategy.ask(state)`` + ``strategy.tell(state, scored)``. ``tell`` does NSGA-II
  ranking, stagnation, reproduction and speciation; ``ask`` and ``tell`` also decode and
  encode the candidates to and from the JSON-ready state dict. That is part of neurevo's
  real cost (a checkpoint is just the state), so it is counted.
- neat-python: ``reproduction.reproduce(...)`` + ``species.speciate(...)``, which is what
  ``Population.run`` does per generation minus fitness evaluation and reporting.

The setups match where the engines share a knob: population, 2 inputs / 1 output
(neuron-level NEAT: neurevo's hidden groups have size 1), add-node 0.2 / add-edge 0.3 /
toggle 0.05 / change-activation 0.1 per child, no deletions, elitism 1 per species,
survival threshold 0.4, min species size 2, stagnation 10 with 2 protected species. They
differ where the designs differ: neat-python also mutates connection weights and node
biases (neurevo's genomes hold no weights: the learning rule learns them) and crosses over
every child (neurevo: 30 %); neurevo's compatibility threshold adapts toward
``TARGET_SPECIES`` while neat-python's is fixed. Speciation cost grows with the number of
species, so neat-python's threshold is set per population to land its species count near
neurevo's (3.0, its usual value, at 150; at 1000 that value splits it into ~70 species
and makes it several times slower, so 3.6 there). Mean species count and mean structure
at the end are printed as sanity columns, so that a speed difference that comes from a
population that failed to evolve or to speciate is visible.

Time is the process's CPU time (both engines are single-threaded), which other load on a
shared machine disturbs less than wall time. The engines run generation by generation,
interleaved (alternating which goes first), so drift hits both alike; the figure per
engine is the median over its generations, and the table shows the ratio
neat-python / neurevo (> 1: neurevo is faster).

Usage: ``python benchmarks/engine.py [--quick] [--json PATH]`` (the JSON is written only
when a path is given).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, Protocol  # noqa: E402

import neat  # noqa: E402

from evolve.strategies import Problem, Scored, Strategy  # noqa: E402
from evolve.strategies.neat import NeatParams, NeatStrategy  # noqa: E402
from search_spaces.genome import Genome  # noqa: E402
from search_spaces.space import MutationRates, SearchSpace, SpaceSettings  # noqa: E402

SEED = 0
TARGET_CONNECTIONS = 12
TARGET_HIDDEN = 5

# the knobs both engines share (the module docstring lists the ones they do not)
ADD_NODE = 0.2
ADD_EDGE = 0.3
TOGGLE_EDGE = 0.05
CHANGE_ACTIVATION = 0.1
ELITISM = 1
SURVIVAL_THRESHOLD = 0.4
MIN_SPECIES_SIZE = 2
STAGNATION = 10
SPECIES_ELITISM = 2
TARGET_SPECIES = 8  # neurevo's adaptive compatibility threshold steers toward this


@dataclass(frozen=True)
class Case:
    population: int
    generations: int
    neat_python_threshold: float  # neat-python's fixed δ_t (see the module docstring)


# Enough generations that the median falls after the first few, in which genomes are
# still near-minimal and neat-python (1-3 species, few weights) is at its cheapest.
QUICK = (Case(150, 20, 3.0), Case(1000, 12, 3.6))
FULL = (Case(150, 50, 3.0), Case(1000, 30, 3.6))


# -- the shared fitness -----------------------------------------------------------------
def structural_fitness(n_enabled: int, n_hidden: int, key: int) -> float:
    """Peak at 12 enabled connections and 5 hidden nodes; a tiny id hash breaks ties."""
    jitter = (zlib.crc32(key.to_bytes(8, "little")) % 1000) * 1e-6
    return -abs(n_enabled - TARGET_CONNECTIONS) - 0.5 * abs(n_hidden - TARGET_HIDDEN) + jitter


@dataclass(frozen=True)
class Structure:
    """Mean size of a population's genomes (sanity: did it evolve?)."""

    hidden: float
    connections: float


class Engine(Protocol):
    def generation(self) -> float:
        """Evaluate and breed one generation; return the CPU seconds of the timed part."""

    def n_species(self) -> int: ...

    def structure(self) -> Structure: ...


# -- neurevo ----------------------------------------------------------------------------
def neurevo_counts(genome: Genome) -> tuple[int, int]:
    return len(genome.enabled_connections(None)), len(genome.hidden_ids)


class Neurevo:
    """neurevo's NEAT, neuron-level (every hidden group has size 1)."""

    def __init__(self, case: Case) -> None:
        space = SearchSpace(2, 1, SpaceSettings(min_hidden_size=1, max_hidden_size=1,
                                                max_hidden_nodes=64, max_connections=256))
        problem = Problem(directions=("max",), hyperparameters={}, population=case.population)
        neat = NeatParams(elitism=ELITISM, survival_threshold=SURVIVAL_THRESHOLD,
                          min_species_size=MIN_SPECIES_SIZE, stagnation=STAGNATION,
                          species_elitism=SPECIES_ELITISM, target_species=TARGET_SPECIES)
        mutation = MutationRates(add_node=ADD_NODE, add_edge=ADD_EDGE, toggle_edge=TOGGLE_EDGE,
                                 change_activation=CHANGE_ACTIVATION)
        self.strategy: Strategy = NeatStrategy(space, problem, neat, mutation)
        self.state = self.strategy.init(SEED)

    def generation(self) -> float:
        t0 = time.process_time()
        candidates = self.strategy.ask(self.state)
        spent = time.process_time() - t0
        scored = [Scored(c, (structural_fitness(*neurevo_counts(c.genome), c.id),))
                  for c in candidates]
        t0 = time.process_time()
        self.state = self.strategy.tell(self.state, scored)
        return spent + time.process_time() - t0

    def n_species(self) -> int:
        return len(self.state["species"])

    def structure(self) -> Structure:
        counts = [neurevo_counts(c.genome) for c in self.strategy.ask(self.state)]
        return Structure(statistics.fmean(h for _, h in counts),
                         statistics.fmean(c for c, _ in counts))


# -- neat-python ------------------------------------------------------------------------
NEAT_PYTHON_CONFIG = """\
[NEAT]
fitness_criterion      = max
fitness_threshold      = 1e9
pop_size               = {population}
reset_on_extinction    = False
no_fitness_termination = True

[DefaultGenome]
num_inputs                         = 2
num_outputs                        = 1
num_hidden                         = 0
feed_forward                       = True
initial_connection                 = full_direct
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob                      = {add_edge}
conn_delete_prob                   = 0.0
node_add_prob                      = {add_node}
node_delete_prob                   = 0.0
activation_default                 = sigmoid
activation_options                 = relu tanh sigmoid elu
activation_mutate_rate             = {change_activation}
aggregation_default                = sum
aggregation_options                = sum
aggregation_mutate_rate            = 0.0
bias_init_mean                     = 0.0
bias_init_stdev                    = 1.0
bias_max_value                     = 30.0
bias_min_value                     = -30.0
bias_mutate_power                  = 0.5
bias_mutate_rate                   = 0.7
bias_replace_rate                  = 0.1
response_init_mean                 = 1.0
response_init_stdev                = 0.0
response_max_value                 = 30.0
response_min_value                 = -30.0
response_mutate_power              = 0.0
response_mutate_rate               = 0.0
response_replace_rate              = 0.0
weight_init_mean                   = 0.0
weight_init_stdev                  = 1.0
weight_max_value                   = 30
weight_min_value                   = -30
weight_mutate_power                = 0.5
weight_mutate_rate                 = 0.8
weight_replace_rate                = 0.1
enabled_default                    = True
enabled_mutate_rate                = {toggle_edge}

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


def neat_python_config(case: Case, directory: Path) -> neat.Config:
    path = directory / f"neat-python-{case.population}.ini"
    path.write_text(NEAT_PYTHON_CONFIG.format(
        population=case.population, add_edge=ADD_EDGE, add_node=ADD_NODE,
        change_activation=CHANGE_ACTIVATION, toggle_edge=TOGGLE_EDGE,
        threshold=case.neat_python_threshold, stagnation=STAGNATION,
        species_elitism=SPECIES_ELITISM, elitism=ELITISM,
        survival_threshold=SURVIVAL_THRESHOLD, min_species_size=MIN_SPECIES_SIZE,
    ))
    return neat.Config(neat.DefaultGenome, neat.DefaultReproduction, neat.DefaultSpeciesSet,
                       neat.DefaultStagnation, str(path))


def neat_python_counts(genome: neat.DefaultGenome, n_outputs: int) -> tuple[int, int]:
    enabled = sum(1 for c in genome.connections.values() if c.enabled)
    return enabled, len(genome.nodes) - n_outputs  # genome.nodes: outputs + hidden


class NeatPython:
    """neat-python's default NEAT, stepped by hand as ``Population.run`` steps it."""

    def __init__(self, case: Case, directory: Path) -> None:
        self.pop = neat.Population(neat_python_config(case, directory), seed=SEED)
        self.n_outputs = self.pop.config.genome_config.num_outputs

    def generation(self) -> float:
        pop = self.pop
        for key, genome in pop.population.items():
            genome.fitness = structural_fitness(*neat_python_counts(genome, self.n_outputs), key)
        t0 = time.process_time()
        pop.population = pop.reproduction.reproduce(pop.config, pop.species,
                                                    pop.config.pop_size, pop.generation)
        if not pop.species.species:
            raise RuntimeError("neat-python: complete extinction")
        pop.species.speciate(pop.config, pop.population, pop.generation)
        spent = time.process_time() - t0
        pop.generation += 1
        return spent

    def n_species(self) -> int:
        return len(self.pop.species.species)

    def structure(self) -> Structure:
        counts = [neat_python_counts(g, self.n_outputs) for g in self.pop.population.values()]
        return Structure(statistics.fmean(h for _, h in counts),
                         statistics.fmean(c for c, _ in counts))


# -- the comparison ---------------------------------------------------------------------
@dataclass
class EngineResult:
    ms: list[float]  # CPU ms of each generation
    species: list[int]  # species after each generation
    end: Structure

    @property
    def median_ms(self) -> float:
        return statistics.median(self.ms)

    @property
    def mean_species(self) -> float:
        return statistics.fmean(self.species)


@dataclass
class Comparison:
    case: Case
    neurevo: EngineResult
    neat_python: EngineResult

    @property
    def ratio(self) -> float:
        """neat-python / neurevo median time per generation: > 1 means neurevo is faster."""
        return self.neat_python.median_ms / self.neurevo.median_ms

    def to_dict(self) -> dict[str, Any]:
        def engine(r: EngineResult) -> dict[str, Any]:
            return {"median_ms": r.median_ms, "ms": r.ms, "mean_species": r.mean_species,
                    "species": r.species, "end": asdict(r.end)}

        return {**asdict(self.case), "ratio": self.ratio,
                "neurevo": engine(self.neurevo), "neat_python": engine(self.neat_python)}


def compare(case: Case, directory: Path) -> Comparison:
    """Run both engines for the same generations, interleaved."""
    engines: dict[str, Engine] = {"neurevo": Neurevo(case),
                                  "neat_python": NeatPython(case, directory)}
    ms: dict[str, list[float]] = {name: [] for name in engines}
    species: dict[str, list[int]] = {name: [] for name in engines}
    names = list(engines)
    for gen in range(case.generations):
        for name in names if gen % 2 == 0 else names[::-1]:  # alternate who goes first
            gc.collect()  # each measurement starts without the other's garbage
            ms[name].append(1e3 * engines[name].generation())
            species[name].append(engines[name].n_species())
    results = {name: EngineResult(ms[name], species[name], engines[name].structure())
               for name in names}
    return Comparison(case, results["neurevo"], results["neat_python"])


def print_table(rows: list[Comparison]) -> None:
    header = (f"{'pop':>5} {'gens':>4} | {'neurevo ms':>10} {'neat-py ms':>10} {'ratio':>6} | "
              f"{'species neurevo/neat-py':>23} | {'end hidden/conns neurevo':>24} "
              f"{'neat-py':>11}")
    print(header)
    print("-" * len(header))
    for r in rows:
        a, b = r.neurevo, r.neat_python
        print(f"{r.case.population:>5} {r.case.generations:>4} | {a.median_ms:>10.1f} "
              f"{b.median_ms:>10.1f} {r.ratio:>6.2f} | "
              f"{a.mean_species:>15.1f} / {b.mean_species:>5.1f} | "
              f"{a.end.hidden:>18.1f} / {a.end.connections:>4.1f} "
              f"{b.end.hidden:>4.1f} / {b.end.connections:>4.1f}")
    print("ms: median CPU ms per generation; ratio: neat-python / neurevo (> 1: neurevo "
          "faster); species: mean over the generations")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer generations (CI smoke)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [compare(case, Path(tmp)) for case in (QUICK if args.quick else FULL)]
    print_table(rows)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"benchmark": "engine", "quick": args.quick, "clock": "process_time",
                   "results": [r.to_dict() for r in rows]}
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
