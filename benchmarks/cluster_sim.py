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

**Checked against reality** in the same run: the recorded costs, scaled to
``--replay-seconds`` of single-worker work (32 s; 4 s with ``--quick``), are replayed as
sleeping Ray tasks through neurevo's Ray executor — on a local instance with 1 and 2 worker
CPUs and on a ``ray.cluster_utils.Cluster`` of three 1-CPU nodes — and the measured wall
time is compared with the simulation's. The simulation charges each chunk the overhead
measured on that instance beforehand with tasks of its own (:func:`task_overhead`: a chunk
submitted alone, and the k-th of a burst, since a multi-node cluster grants a burst's leases
one after the other), never anything taken from the replay it is compared with. Every
node's worker is started before timing (:func:`warm_every_node`; a node's cold start,
``warm_up_s`` in the JSON, is a one-off per node). Printed per row: measured, simulated,
deviation and whether it is within 10%, with the replay's own split (mean start latency,
tasks per node).
The steady mode's schedule is replayed too, through the executor's ``stream``.

Why the 3-node ``Cluster`` used to be 28% off: its calibration (12 empty tasks right before
the replay) left Ray's head counting one or two nodes as busy for seconds, so the replay ran
on fewer nodes than the model assumed (see :func:`task_overhead`;
``benchmarks/ray_stale_view.py`` shows it alone); and at the old 4 s scale a chunk lasted
about 0.1 s, against the tens of milliseconds a task takes to start on a node of that
cluster (the replay's own ``start_latency_mean_s``: 34–41 ms there, 6–9 ms on one node).

    python benchmarks/cluster_sim.py [--quick] [--json PATH] [--run RUN_DIR]
        [--replay-seconds S] [--validation-only]
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


@dataclass(frozen=True)
class Overheads:
    """Seconds a chunk costs beyond its own work (a lease, sending it, delivering its result),
    measured on the Ray instance it models (:func:`task_overhead`). ``single``: a chunk
    submitted on its own while the other slots are busy — every chunk after a generation's
    first wave. ``burst[k]``: the k-th of chunks submitted at the same moment (a generation's
    first wave, a steady step's refill of several free slots). On one node the raylet grants
    a burst's leases at once; on a multi-node cluster the head grants one lease after the
    other, so the last chunk of a burst starts last (``burst_overhead_s`` in
    benchmarks/results/cluster_sim.json: 26, 36 and 83 ms for a burst of three on the 3-node
    ``Cluster``)."""

    single: float
    burst: tuple[float, ...] = ()

    def of(self, k: int, together: int) -> float:
        """The overhead of the k-th of ``together`` chunks submitted at the same moment."""
        if together <= 1 or not self.burst:
            return self.single
        return self.burst[min(k, len(self.burst) - 1)]


def _overheads(overhead: float | Overheads) -> Overheads:
    return overhead if isinstance(overhead, Overheads) else Overheads(float(overhead))


def chunk_costs(evaluations: list[Evaluated], workers: int,
                overhead: float | Overheads = 0.0, scale: float = 1.0) -> list[float]:
    """Seconds of each chunk, in submission order: the first ``workers`` are submitted
    together, each later one alone when a result frees its slot."""
    ov = _overheads(overhead)
    work = [scale * sum(e.cost for e in chunk) for chunk in chunks_of(evaluations, workers)]
    together = min(len(work), max(workers, 1))
    return [w + (ov.of(i, together) if i < together else ov.single)
            for i, w in enumerate(work)]


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
                    quorum: float = QUORUM, overhead: float | Overheads = 0.0,
                    scale: float = 1.0) -> float:
    """Wall time of steady mode over ``generations``: a free worker takes the next queued
    chunk; when none is queued, a worker is free and ``quorum`` of the generation's
    candidates have arrived (results of earlier generations count, as they are told
    then), the driver tells and asks (``driver_s``; workers keep training meanwhile, the new
    chunks start when it is done). The last generation is drained, then told."""
    t = ready_at = 0.0
    running: list[tuple[float, int, int]] = []  # (end, order, candidates)
    order = told = 0
    g = 0

    ov = _overheads(overhead)

    def ask(g: int) -> deque[tuple[float, int]]:
        return deque((scale * sum(e.cost for e in chunk), len(chunk))
                     for chunk in steady_chunks(generations[g], workers))

    queue, asked = ask(0), len(generations[0])
    while True:
        together = min(len(queue), workers - len(running))
        for k in range(max(together, 0)):
            cost, size = queue.popleft()
            heapq.heappush(running, (max(t, ready_at) + cost + ov.of(k, together), order,
                                     size))
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
             driver_s: float, rng: np.random.Generator,
             overhead: float | Overheads = 0.0) -> dict:
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
        print(f"recorded run: {run.path} (replay it again with --run)")
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
CALIBRATION_SLEEP_S = 0.5  # each calibration task: longer than a lease takes to be granted
WITHIN = 0.10  # the validation's goal: simulated within 10% of measured


def _sleep_chunk(scale: float, chunk: list[float]) -> tuple[float, float, float, str]:
    """A replayed chunk: sleeps its recorded cost × ``scale``; returns the cost and when it
    started and ended (this machine's clock: every node of the replay runs here) on which
    node, so that the measured wall can be split into start latency, sleep and delivery."""
    import ray

    started = time.time()
    time.sleep(scale * sum(chunk))
    return sum(chunk), started, time.time(), ray.get_runtime_context().get_node_id()


def warm_every_node(executor: Any) -> float:
    """A worker process on every node has started and imported the task before anything is
    timed: one task pinned to each of a node's CPUs, all at once. A node's first task waits
    for its worker process to start (``warm_up_s`` in the JSON, the slowest node's start
    plus one 0.5 s task: 5.2 s on the 3-node ``Cluster`` in
    benchmarks/results/cluster_sim.json), a one-off per node that a long search pays once
    and the model leaves out. Pinned, not spread by the scheduler: a spread
    warm-up left a node cold whenever the others' workers came up first. Returns its wall
    seconds (the slowest node's cold start plus one calibration sleep)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remote = ray.remote(_sleep_chunk)
    refs = [remote.options(num_cpus=executor.cpus_per_eval,
                           scheduling_strategy=NodeAffinitySchedulingStrategy(
                               node["NodeID"], soft=False)).remote(1.0, [CALIBRATION_SLEEP_S])
            for node in ray.nodes() if node["Alive"]
            for _ in range(int(node["Resources"].get("CPU", 0) // executor.cpus_per_eval))]
    started = time.perf_counter()
    ray.get(refs)
    return time.perf_counter() - started


def task_overhead(executor: Any, workers: int, rounds: int) -> Overheads:
    """The :class:`Overheads` of this instance, measured with tasks of their own (fixed
    sleeps, not the replay's costs) through the executor's stream, from timestamps: a
    chunk's overhead is (its result received − submitted − its sleep). Each round submits
    ``workers`` tasks at once (the burst: the k-th sleeps ``(1 + k / workers) ×``
    :data:`CALIBRATION_SLEEP_S`, so they return one by one) and, as each returns, one task
    on its own while the others still run (the single); the round ends when all are in.

    Every sleep is longer than a lease takes. With empty tasks the driver reuses the first
    worker that frees up while the leases it asked for on other nodes are still pending,
    and cancels those; Ray's head then keeps counting the cancelled nodes as busy (the race
    of ray-project/ray#12711) and spills nothing to them for seconds
    (``benchmarks/ray_stale_view.py``: on the 3-node ``Cluster``, three concurrent 0.5 s
    tasks took 1.03 s on two nodes for 4 s after 12 empty tasks, 0.56–0.59 s on three
    before). The previous calibration — 12 empty tasks right before the timed replay — did
    that to the replay it calibrated: the replay ran on one or two of the three nodes, 28%
    slower than the model."""
    burst: list[list[float]] = [[] for _ in range(workers)]
    single: list[float] = []
    for _ in range(rounds):
        stream = executor.stream(_sleep_chunk, (1.0,))
        submitted: dict[int, tuple[float, float, bool]] = {}

        def submit(key: int, sleep: float, alone: bool) -> None:
            submitted[key] = (time.time(), sleep, alone)
            stream.submit(key, [sleep])

        for k in range(workers):
            submit(k, CALIBRATION_SLEEP_S * (1 + k / workers), workers == 1)
        refills = workers
        while len(stream):
            key, result = stream.next()
            received = time.time()
            if not isinstance(result, tuple):
                raise RuntimeError(f"calibration task failed: {result}")
            at, sleep, alone = submitted.pop(key)
            (single if alone else burst[key]).append(received - at - sleep)
            if key < workers and refills < 2 * workers:
                submit(refills, CALIBRATION_SLEEP_S, True)
                refills += 1
    return Overheads(float(np.mean(single)),
                     tuple(float(np.mean(b)) for b in burst if b))


def breakdown(tasks: list[dict]) -> dict:
    """Where a replay's wall went, from each task's timestamps: the mean wait from submission
    to start (a lease, or a wait behind another chunk on a busy worker), the mean delivery
    from end to the driver's receipt, and how many tasks each node ran."""
    nodes: dict[str, int] = {}
    for t in tasks:
        nodes[t["node"]] = nodes.get(t["node"], 0) + 1
    return {"tasks": len(tasks),
            "start_latency_mean_s": float(np.mean([t["start"] - t["submit"] for t in tasks])),
            "start_latency_max_s": float(np.max([t["start"] - t["submit"] for t in tasks])),
            "delivery_mean_s": float(np.mean([t["received"] - t["end"] for t in tasks])),
            "tasks_per_node": sorted(nodes.values(), reverse=True)}


def replay(per_gen: list[list[Evaluated]], workers: int, scale: float, rounds: int) -> dict:
    """Measured wall seconds of replaying ``per_gen`` (costs × ``scale``) as sleeping tasks
    through neurevo's Ray executor, generational and steady, with the per-task overhead
    measured on that instance (:func:`task_overhead`) and each replay's breakdown."""
    from evolve.ray_executor import RayExecutor

    executor = RayExecutor()
    try:
        warm_up = warm_every_node(executor)
        overhead = task_overhead(executor, workers, rounds)
        tasks: list[dict] = []
        slots = executor.parallelism()
        started = time.perf_counter()
        for evaluations in per_gen:
            replay_generation(executor, evaluations, workers, scale, tasks, slots)
        wall = time.perf_counter() - started
        steady_tasks: list[dict] = []
        started = time.perf_counter()
        replay_steady(executor, per_gen, workers, scale, steady_tasks)
        steady = time.perf_counter() - started
    finally:
        executor.close()
    return {"wall": wall, "steady": steady, "overhead": overhead, "warm_up_s": warm_up,
            "breakdown": breakdown(tasks), "steady_breakdown": breakdown(steady_tasks)}


def replay_generation(executor: Any, evaluations: list[Evaluated], workers: int,
                      scale: float, tasks: list[dict], slots: int) -> None:
    """One generation as the search loop runs it: its chunks through the executor's ``map``
    (at most one per slot in flight, the next launched as a result comes in). Each task's
    timestamps go to ``tasks``; chunk i's submission is the generation's start for the
    first ``slots`` chunks, else the (i − slots)-th receipt of a result (the stream launches
    its next waiting chunk right after handing a result out)."""
    chunks = [[e.cost for e in chunk] for chunk in chunks_of(evaluations, workers)]
    submitted = time.time()
    received: list[float] = []
    for i, (_, start, end, node) in executor.map(_sleep_chunk, chunks, (scale,)):
        received.append(time.time())
        tasks.append({"submit": submitted if i < slots else received[i - slots],
                      "start": start, "end": end, "received": received[-1], "node": node})


def replay_steady(executor: Any, per_gen: list[list[Evaluated]], workers: int,
                  scale: float, tasks: list[dict] | None = None) -> None:
    """Steady mode's schedule (as :func:`steady_makespan` models it, driver time 0) through
    the executor's stream: the real submission and arrival order."""
    stream = executor.stream(_sleep_chunk, (scale,))
    sizes: dict[int, tuple[int, float]] = {}
    key = told = 0
    for g, evaluations in enumerate(per_gen):
        last = g == len(per_gen) - 1
        queue = deque(steady_chunks(evaluations, workers))
        told = 0
        while True:
            while queue and len(stream) < workers:
                chunk = queue.popleft()
                sizes[key] = (len(chunk), time.time())
                stream.submit(key, [e.cost for e in chunk], len(chunk))
                key += 1
            if (not queue and not len(stream)) or (not last and not queue
                                                   and len(stream) < workers
                                                   and told >= QUORUM * len(evaluations)):
                break
            done, (_, start, end, node) = stream.next()
            size, submit = sizes.pop(done)
            told += size
            if tasks is not None:
                tasks.append({"submit": submit, "start": start, "end": end,
                              "received": time.time(), "node": node})


def simulated_replay(per_gen: list[list[Evaluated]], workers: int, scale: float,
                     overhead: float | Overheads) -> float:
    return sum(makespan(chunk_costs(evaluations, workers, overhead, scale), workers)
               for evaluations in per_gen)


def validate(per_gen: list[list[Evaluated]], scale: float, rounds: int) -> list[dict]:
    """The replay on a local instance with 1 and 2 worker CPUs and on a
    ``ray.cluster_utils.Cluster`` of a head without CPUs and three 1-CPU nodes; every Ray
    instance and the ``Cluster`` are shut down however a replay ends."""
    import ray

    rows = []
    for label, workers in (("local x1", 1), ("local x2", 2)):
        ray.init(address="local", num_cpus=workers, include_dashboard=False,
                 log_to_driver=False)
        try:
            measured = replay(per_gen, workers, scale, rounds)
        finally:
            ray.shutdown()
        rows.extend(_compare(label, workers, per_gen, scale, measured))
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(3):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            cluster.wait_for_nodes()
            measured = replay(per_gen, 3, scale, rounds)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()
    rows.extend(_compare("cluster 3 nodes", 3, per_gen, scale, measured))
    return rows


def _compare(label: str, workers: int, per_gen: list[list[Evaluated]], scale: float,
             measured: dict) -> list[dict]:
    overhead = measured["overhead"]
    sim = simulated_replay(per_gen, workers, scale, overhead)
    steady_sim = steady_makespan(per_gen, workers, 0.0, overhead=overhead, scale=scale)
    rows = []
    for mode, wall, simulated, split in (
            ("generational", measured["wall"], sim, measured["breakdown"]),
            ("steady", measured["steady"], steady_sim, measured["steady_breakdown"])):
        deviation = abs(simulated - wall) / wall
        rows.append({"setting": label, "mode": mode, "workers": workers, "measured_s": wall,
                     "simulated_s": simulated, "task_overhead_s": overhead.single,
                     "burst_overhead_s": list(overhead.burst),
                     "deviation": deviation, "within_10pct": bool(deviation <= WITHIN),
                     "warm_up_s": measured["warm_up_s"],
                     "breakdown": split})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer settings, shorter replay")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--run", metavar="RUN_DIR", help="replay this run's recorded costs "
                        "(default: a short seeded default search)")
    parser.add_argument("--replay-seconds", type=float, default=None, metavar="S",
                        help="scale the recorded costs to S seconds of single-worker work "
                        "for the replay against Ray (default 32, 4 with --quick)")
    parser.add_argument("--validation-only", action="store_true",
                        help="only the replay against Ray, not the simulated table")
    args = parser.parse_args()
    replay_seconds = args.replay_seconds  # 0 is a value given, not the default
    if replay_seconds is None:
        replay_seconds = 4.0 if args.quick else 32.0
    if not 0 < replay_seconds < math.inf:
        parser.error(f"--replay-seconds must be a positive number of seconds, "
                     f"got {replay_seconds:g}")
    if args.json and not Path(args.json).absolute().parent.is_dir():  # before the replays
        parser.error(f"--json {args.json}: its folder does not exist")
    rng = np.random.default_rng(0)
    from evolve.records import RecordError

    try:  # a path that is no run, or a run with nothing trained yet: one line, no Ray
        per_gen = recorded_costs(args.run, args.quick)
    except RecordError as e:
        parser.error(f"--run: {e}")
    if not per_gen:
        parser.error(f"--run: {args.run}: no evaluation with recorded training time to replay")
    recorded = [e for gen in per_gen for e in gen]
    costs = np.array([e.cost for e in recorded])
    scale = replay_seconds / max(costs.sum(), 1e-9)
    checks = validate(per_gen, scale, rounds=2 if args.quick else 5)
    print(f"replay: {len(costs)} recorded evaluations scaled ×{scale:.3g} to "
          f"{replay_seconds:g} s of single-worker work")
    print(f"{'validation':<16} {'mode':<12} {'workers':>7} {'measured s':>11} "
          f"{'simulated s':>12} {'deviation':>10} {'within 10%':>10} {'overhead ms':>11} "
          f"{'start lat. ms':>13} {'tasks/node':>12}")
    for r in checks:
        b = r["breakdown"]
        print(f"{r['setting']:<16} {r['mode']:<12} {r['workers']:>7} {r['measured_s']:>11.2f} "
              f"{r['simulated_s']:>12.2f} {r['deviation']:>9.1%} "
              f"{'yes' if r['within_10pct'] else 'NO':>10} {r['task_overhead_s'] * 1e3:>11.1f} "
              f"{b['start_latency_mean_s'] * 1e3:>13.1f} "
              f"{'/'.join(map(str, b['tasks_per_node'])):>12}")
    result: dict[str, Any] = {"validation": checks, "replay_seconds": replay_seconds,
                              "replay_scale": float(scale)}
    if not args.validation_only:
        populations = [100, 1000] if args.quick else [100, 1000, 10000]
        workers = [8, 64, 1024] if args.quick else [8, 16, 64, 256, 1024]
        drivers = {p: driver_seconds(p) for p in populations}
        # the per-task overhead measured on the local instance: steady mode's smaller chunks
        # pay it more often
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
                  f"{r['utilisation']:>11.1%} {r['steady_utilisation']:>6.1%} "
                  f"{r['picked']:>12} {best:>11.0f} {r['driver_share']:>11.1%}")
        result.update(simulation=table, driver_s=drivers, task_overhead_s=overhead,
                      steady_quorum=QUORUM)
    result["recorded"] = {"evaluations": len(costs), "median_s": float(np.median(costs)),
                          "max_s": float(costs.max()), "total_s": float(costs.sum())}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
