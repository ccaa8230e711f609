"""Why empty tasks must not calibrate a multi-node replay: after a run of empty tasks, Ray's
head keeps counting some nodes as busy for seconds.

On a ``ray.cluster_utils.Cluster`` (a head without CPUs and three 1-CPU nodes, every node's
worker started first), it times batches of three concurrent 0.5 s tasks: once before, then
repeatedly after 12 empty tasks submitted three at a time (as a stream keeps its slots
full). An empty task ends before the driver's lease requests on the other nodes are granted,
so the driver reuses the worker it has and cancels them; the head had already counted those
nodes as taken and, as their own resources never changed, gets no report that would correct
it (the race of ray-project/ray#12711). Until it does, the three tasks share two nodes (a
batch takes 1.0 s, not 0.5 s). Tasks go through neurevo's Ray executor, as in the search.
benchmarks/cluster_sim.py calibrated with such tasks until this was found; it now
calibrates with tasks longer than a lease.

    python benchmarks/ray_stale_view.py [--json PATH] [--seconds S] [--repeats N]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

SLEEP_S = 0.5


def _task(seconds: float) -> tuple[float, str]:
    import ray

    time.sleep(seconds)
    return seconds, ray.get_runtime_context().get_node_id()


def batch(executor: Any, n: int) -> dict:
    """``n`` tasks of :data:`SLEEP_S` through neurevo's Ray executor: wall and nodes used."""
    started = time.perf_counter()
    nodes = {node for _, (_, node) in executor.map(_task, [SLEEP_S] * n)}
    return {"wall_s": time.perf_counter() - started, "nodes": len(nodes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="how long to keep timing batches after the empty tasks")
    parser.add_argument("--repeats", type=int, default=3,
                        help="empty tasks then timed batches, this many times")
    args = parser.parse_args()
    import ray
    from ray.cluster_utils import Cluster
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from evolve.ray_executor import RayExecutor

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        for _ in range(3):
            cluster.add_node(num_cpus=1)
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            cluster.wait_for_nodes()
            remote = ray.remote(num_cpus=1)(_task)
            ray.get([remote.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                n["NodeID"], soft=False)).remote(0.0)
                for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU")])
            executor = RayExecutor()
            before = [batch(executor, 3) for _ in range(2)]
            after = []
            for repeat in range(args.repeats):
                list(executor.map(_task, [0.0] * 12))  # 3 in flight: the cluster's slots
                started = time.perf_counter()
                while time.perf_counter() - started < args.seconds:
                    row = batch(executor, 3)
                    row.update(repeat=repeat,
                               since_empty_s=time.perf_counter() - started - row["wall_s"])
                    after.append(row)
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()
    print(f"3 tasks of {SLEEP_S} s on 3 one-CPU nodes")
    for r in before:
        print(f"  before the empty tasks:        wall {r['wall_s']:.2f} s on {r['nodes']} nodes")
    for r in after:
        print(f"  #{r['repeat']} {r['since_empty_s']:5.2f} s after 12 empty tasks: "
              f"wall {r['wall_s']:.2f} s on {r['nodes']} nodes")
    short = [r for r in after if r["nodes"] < 3]
    print(f"batches on fewer than 3 nodes after the empty tasks: {len(short)} of {len(after)}"
          + (f", the last {max(r['since_empty_s'] for r in short):.1f} s after them"
             if short else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"before": before, "after": after}, indent=2))


if __name__ == "__main__":
    main()
