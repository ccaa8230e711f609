"""How a search scales past one machine: a discrete-event simulation of neurevo's own
scheduling, checked against real Ray.

The simulation replays per-candidate training costs recorded in a real run (the
``train_seconds`` column) through what the search loop does each generation: cut the
candidates into chunks (``min(executor.chunk_size, ceil(candidates / workers))`` each), keep
at most one chunk per worker in flight, start the next chunk on the first worker that frees
up, wait for the generation's last chunk (the generation barrier), then spend the driver's
own time (``ask`` + ``tell`` of neat-pso and writing the generation's records, measured on
the real code at that population). Reported per (workers, population): worker utilisation
(compute / (workers × wall)), evaluations per hour and the driver's share of wall time.

The same generations are also run through steady-state mode (``strategy.mode = "steady"``,
evolve/steady.py) with its own decisions: chunks of at most
``SteadySettings.chunk_cap`` candidates, a free worker takes the next chunk at once, a
generation is told (the driver's time, during which the other workers keep training) as
soon as no chunk is queued, a worker is free and neat-pso's quorum (``steady_quorum``, half
the generation) has arrived, and the last generation is drained. Each row says which mode
keeps the workers busier ("picked").

**Checked against reality** in the same run: the recorded costs (scaled down) are replayed as
sleeping Ray tasks through neurevo's Ray executor — on a local instance with 1 and 2 worker
CPUs and on a ``ray.cluster_utils.Cluster`` of three 1-CPU nodes — and the measured wall time
is compared with the simulation's, which includes the per-task overhead measured on that
instance. Those are printed side by side with their deviation (goal: within 10%); the
steady mode's schedule is replayed too, through the executor's ``stream``.

    python benchmarks/cluster_sim.py [--quick] [--json PATH] [--run RUN_DIR]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import heapq  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from evolve.chunking import Shape, plan  # noqa: E402
from evolve.steady import SteadySettings  # noqa: E402
from evolve.strategies import NeatPsoStrategy  # noqa: E402

CHUNK_SIZE = 16  # the default executor.chunk_size
QUORUM = float(NeatPsoStrategy.steady_quorum or 0.0)  # the default strategy's, in steady mode


# -- the model ---------------------------------------------------------------------------------
def chunks_of(evaluations: list[Evaluated], workers: int, chunk_size: int = CHUNK_SIZE
              ) -> list[list[Evaluated]]:
    """The chunks the search loop cuts from one generation, in the order it submits them:
    neurevo's own planner (evolve/chunking.py) on the candidates' compiled shapes."""
    size = max(1, min(chunk_size, math.ceil(len(evaluations) / max(workers, 1))))
    return plan(evaluations, [e.shape for e in evaluations], size)


def chunk_costs(evaluations: list[Evaluated], workers: int, overhead: float = 0.0,
                scale: float = 1.0) -> list[float]:
    """Seconds of each chunk, in submission order."""
    return [overhead + scale * sum(e.cost for e in chunk)
            for chunk in chunks_of(evaluations, workers)]


def makespan(chunks: list[float], workers: int) -> float:
    """Wall time of one generation: chunks start in order on the first free worker."""
    free = [0.0] * max(workers, 1)
    heapq.heapify(free)
    end = 0.0
    for c in chunks:
        start = heapq.heappop(free)
        heapq.heappush(free, start + c)
        end = max(end, start + c)
    return end


def steady_chunks(evaluations: list[Evaluated], workers: int) -> list[list[Evaluated]]:
    """The chunks steady mode cuts from one generation (evolve/steady.py), largest first."""
    cap = SteadySettings(workers, CHUNK_SIZE).chunk_cap(len(evaluations))
    return plan(evaluations, [e.shape for e in evaluations], cap)


def steady_makespan(generations: list[list[Evaluated]], workers: int, driver_s: float,
                    quorum: float = QUORUM, overhead: float = 0.0, scale: float = 1.0
                    ) -> float:
    """Wall time of steady mode over ``generations``: a free worker takes the next queued
    chunk; when none is queued, a worker is free and ``quorum`` of the generation's
    candidates have arrived (results of earlier generations count, as they are told
    then), the driver tells and asks (``driver_s``; workers keep training meanwhile, the new
    chunks start when it is done). The last generation is drained, then told."""
    t = ready_at = 0.0
    running: list[tuple[float, int, int]] = []  # (end, order, candidates)
    order = told = 0
    g = 0

    def ask(g: int) -> deque[tuple[float, int]]:
        return deque((overhead + scale * sum(e.cost for e in chunk), len(chunk))
                     for chunk in steady_chunks(generations[g], workers))

    queue, asked = ask(0), len(generations[0])
    while True:
        while queue and len(running) < workers:
            cost, size = queue.popleft()
            heapq.heappush(running, (max(t, ready_at) + cost, order, size))
            order += 1
        last = g == len(generations) - 1
        if (not queue and not running) or (not last and not queue and len(running) < workers
                                           and told >= quorum * asked):
            ready_at = max(t, ready_at) + driver_s
            g += 1
            if g == len(generations):
                return ready_at
            queue, asked, told = ask(g), len(generations[g]), 0
            continue
        t, _, size = heapq.heappop(running)
        told += size


def simulate(recorded: list[Evaluated], population: int, workers: int, generations: int,
             driver_s: float, rng: np.random.Generator, overhead: float = 0.0) -> dict:
    """A run of ``generations`` generations of ``population`` candidates drawn from the
    ``recorded`` evaluations (shape and cost together), in both modes on the same draws."""
    drawn = [[recorded[i] for i in rng.integers(0, len(recorded), size=population)]
             for _ in range(generations)]
    compute = sum(e.cost for gen in drawn for e in gen)
    wall = sum(makespan(chunk_costs(gen, workers, overhead), workers) + driver_s
               for gen in drawn)
    steady = steady_makespan(drawn, workers, driver_s, overhead=overhead)
    row = {"workers": workers, "population": population, "wall_s": wall,
           "utilisation": compute / (workers * wall),
           "evaluations_per_hour": population * generations / wall * 3600,
           "driver_share": driver_s * generations / wall,
           "steady_wall_s": steady, "steady_utilisation": compute / (workers * steady),
           "steady_evaluations_per_hour": population * generations / steady * 3600}
    row["picked"] = "steady" if steady < wall else "generational"
    return row


# -- inputs measured on the real code -----------------------------------------------------------
@dataclass(frozen=True)
class Evaluated:
    """A recorded evaluation: what the planner sees (its compiled shape) and its cost."""

    shape: Shape
    cost: float  # training seconds recorded for it


def recorded_costs(run_dir: str | None, quick: bool) -> list[list[Evaluated]]:
    """The evaluations of a real run (a short default search if none given), per
    generation, with their compiled shapes and recorded training seconds."""
    import evolve
    from evolve.config import SearchConfig, override

    if run_dir is None:
        out = tempfile.mkdtemp(prefix="neurevo-sim-")
        config = override(SearchConfig(), {"generations": 3 if quick else 10, "out": out,
                                           "executor": {"name": "serial"}})
        if quick:
            config = override(config, {"training": {"epochs": 3, "patience": 3}})
        run = evolve.search(config, reporters=())
    else:
        run = evolve.load_run(run_dir)
    from search_spaces.genome import Genome

    per_gen: dict[int, list[Evaluated]] = {}
    for r in run.evaluations().to_pylist():
        if r["train_seconds"] > 0:
            shape = Shape.of(Genome.from_json(r["genome"]))
            per_gen.setdefault(r["generation"], []).append(
                Evaluated(shape, float(r["train_seconds"])))
    return [per_gen[g] for g in sorted(per_gen)]


def driver_seconds(population: int) -> float:
    """neat-pso's ask + tell at ``population`` (digits-sized genomes, a cheap fitness) plus
    writing a generation's evaluation records, on this machine: the real driver code."""
    import rules
    from evolve.records import RunStore, evaluation_schema
    from evolve.strategies import Problem, Scored, StrategyConfig, make_strategy
    from search_spaces.space import SearchSpace

    hyper = rules.get_rule("pc").hyperparameters()
    problem = Problem(("max", "min"), hyper.defaults(), population, hyper, frozenset())
    strategy = make_strategy(SearchSpace(64, 10), problem, StrategyConfig())
    state = strategy.init(0)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        cands = strategy.ask(state)
        scored = [Scored(c, (0.5 + 0.01 * len(c.genome.hidden_ids) + (c.id % 7) * 1e-3,
                             float(sum(n.size for n in c.genome.nodes)))) for c in cands]
        state = strategy.tell(state, scored)
        times.append(time.perf_counter() - started)
    names = ["accuracy", "energy"]
    row = {f.name: None for f in evaluation_schema(names)}
    row.update(run_id="r", generation=0, parent_ids=[], genome="{}", status="ok")
    with tempfile.TemporaryDirectory() as d:
        started = time.perf_counter()
        RunStore(Path(d)).write_generation(0, [dict(row, candidate_id=i)
                                               for i in range(population)], names)
        write = time.perf_counter() - started
    return float(np.median(times)) + write


# -- checked against real Ray -------------------------------------------------------------------
def _sleep_chunk(scale: float, chunk: list[float]) -> float:
    time.sleep(scale * sum(chunk))
    return sum(chunk)


def replay(per_gen: list[list[Evaluated]], workers: int, scale: float
           ) -> tuple[float, float, float]:
    """Measured wall seconds of replaying ``per_gen`` (costs × ``scale``) as sleeping tasks
    through neurevo's Ray executor, generational and steady, and the per-task overhead
    measured on that instance."""
    from evolve.executors import RayExecutor

    executor = RayExecutor()
    # warm a worker process on every node: tasks that last long enough to spread out
    list(executor.map(_sleep_chunk, [[0.25 / scale]] * (2 * workers), (scale,)))
    empty = [[0.0]] * (4 * workers)
    started = time.perf_counter()
    list(executor.map(_sleep_chunk, empty, (scale,)))
    overhead = (time.perf_counter() - started) * workers / len(empty)
    started = time.perf_counter()
    for evaluations in per_gen:
        chunks = [[e.cost for e in chunk] for chunk in chunks_of(evaluations, workers)]
        list(executor.map(_sleep_chunk, chunks, (scale,)))
    wall = time.perf_counter() - started
    started = time.perf_counter()
    replay_steady(executor, per_gen, workers, scale)
    steady = time.perf_counter() - started
    executor.close()
    return wall, steady, overhead


def replay_steady(executor: Any, per_gen: list[list[Evaluated]], workers: int,
                  scale: float) -> None:
    """Steady mode's schedule (as :func:`steady_makespan` models it, driver time 0) through
    the executor's stream: the real submission and arrival order."""
    stream = executor.stream(_sleep_chunk, (scale,))
    sizes: dict[int, int] = {}
    key = told = 0
    for g, evaluations in enumerate(per_gen):
        last = g == len(per_gen) - 1
        queue = deque(steady_chunks(evaluations, workers))
        told = 0
        while True:
            while queue and len(stream) < workers:
                chunk = queue.popleft()
                sizes[key] = len(chunk)
                stream.submit(key, [e.cost for e in chunk], len(chunk))
                key += 1
            if (not queue and not len(stream)) or (not last and not queue
                                                   and len(stream) < workers
                                                   and told >= QUORUM * len(evaluations)):
                break
            done, _ = stream.next()
            told += sizes.pop(done)


def simulated_replay(per_gen: list[list[Evaluated]], workers: int, scale: float,
                     overhead: float) -> float:
    return sum(makespan(chunk_costs(evaluations, workers, overhead, scale), workers)
               for evaluations in per_gen)


def validate(per_gen: list[list[Evaluated]], scale: float) -> list[dict]:
    import ray

    rows = []
    for label, workers in (("local x1", 1), ("local x2", 2)):
        ray.init(address="local", num_cpus=workers, include_dashboard=False,
                 log_to_driver=False)
        try:
            wall, steady, overhead = replay(per_gen, workers, scale)
        finally:
            ray.shutdown()
        rows.extend(_compare(label, workers, per_gen, scale, wall, steady, overhead))
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(3):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        try:
            wall, steady, overhead = replay(per_gen, 3, scale)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()
    rows.extend(_compare("cluster 3 nodes", 3, per_gen, scale, wall, steady, overhead))
    return rows


def _compare(label: str, workers: int, per_gen: list[list[Evaluated]], scale: float,
             wall: float, steady: float, overhead: float) -> list[dict]:
    sim = simulated_replay(per_gen, workers, scale, overhead)
    steady_sim = steady_makespan(per_gen, workers, 0.0, overhead=overhead, scale=scale)
    return [{"setting": label, "mode": mode, "workers": workers, "measured_s": measured,
             "simulated_s": simulated, "task_overhead_s": overhead,
             "deviation": abs(simulated - measured) / measured}
            for mode, measured, simulated in (("generational", wall, sim),
                                              ("steady", steady, steady_sim))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings, shorter replay")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--run", metavar="RUN_DIR", help="replay this run's recorded costs "
                        "(default: a short seeded default search)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    per_gen = recorded_costs(args.run, args.quick)
    recorded = [e for gen in per_gen for e in gen]
    costs = np.array([e.cost for e in recorded])
    scale = 4.0 / max(costs.sum(), 1e-9)  # replay about 4 s of single-worker work
    checks = validate(per_gen, scale)
    print(f"{'validation':<16} {'mode':<12} {'workers':>7} {'measured s':>11} "
          f"{'simulated s':>12} {'deviation':>10}")
    for r in checks:
        print(f"{r['setting']:<16} {r['mode']:<12} {r['workers']:>7} {r['measured_s']:>11.2f} "
              f"{r['simulated_s']:>12.2f} {r['deviation']:>9.1%}")
    populations = [100, 1000] if args.quick else [100, 1000, 10000]
    workers = [8, 64, 1024] if args.quick else [8, 16, 64, 256, 1024]
    drivers = {p: driver_seconds(p) for p in populations}
    # the per-task overhead measured on the local instance: steady mode's smaller chunks pay
    # it more often
    overhead = next(r["task_overhead_s"] for r in checks if r["workers"] == 2)
    table = [simulate(recorded, p, w, 10, drivers[p], rng, overhead) for p in populations
             for w in workers]
    print(f"\nrecorded costs: {len(costs)} evaluations, median {np.median(costs):.3f} s, "
          f"max {costs.max():.3f} s")
    print(f"per-task overhead: {overhead * 1e3:.1f} ms")
    print(f"{'population':>10} {'workers':>7} {'driver s/gen':>12} {'generational':>12} "
          f"{'steady':>7} {'picked':>12} {'evals/hour':>11} {'driver share':>12}")
    for r in table:
        best = max(r["evaluations_per_hour"], r["steady_evaluations_per_hour"])
        print(f"{r['population']:>10} {r['workers']:>7} {drivers[r['population']]:>12.3f} "
              f"{r['utilisation']:>11.1%} {r['steady_utilisation']:>6.1%} {r['picked']:>12} "
              f"{best:>11.0f} {r['driver_share']:>11.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "validation": checks, "simulation": table, "driver_s": drivers,
            "task_overhead_s": overhead, "steady_quorum": QUORUM,
            "recorded": {"evaluations": len(costs), "median_s": float(np.median(costs)),
                         "max_s": float(costs.max())}}, indent=2))


if __name__ == "__main__":
    main()
