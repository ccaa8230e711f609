"""The Ray executor against real Ray: a time limit counts a batch's run, not its wait for a
node; reservations no node can meet are said, not waited on in silence; settings that
conflict with the user's own ``ray.init`` are said; Ray's error reports stay off stdout;
the driver's TRITON_INTERPRET reaches the workers of a cluster.

Every test starts Ray through a fixture that always shuts it down (an executor that starts
its own instance is closed in a ``finally``).
"""

from __future__ import annotations

import time

import pytest
import ray

from evolve import ray_support
from evolve.config import ConfigError, ExecutorConfig, SearchConfig, check, override
from evolve.executors import TaskFailure
from evolve.ray_executor import RayExecutor

RUN_S = 3.0  # how long each batch of the time-limit test runs
# longer than one batch's run (by 2 s, for a busy machine), shorter than a run plus a wait
# for one (2 * RUN_S at least, however fast the machine)
LIMIT_S = RUN_S + 2.0


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture
def closing():
    """Executors made by a test, closed after it whatever happens."""
    made: list[RayExecutor] = []
    yield made
    for executor in made:
        executor.close()


def tasks():
    """The functions the tests run on workers, made here so that they are pickled by value
    (the workers cannot import tests/)."""
    run_s = RUN_S

    def slow(item: int) -> int:
        import time

        time.sleep(run_s)
        return item

    def die(item: int) -> None:
        import os

        os._exit(1)

    def interpret(item: int) -> str | None:
        import os

        return os.environ.get("TRITON_INTERPRET")

    return slow, die, interpret


slow, die, interpret = tasks()


def test_a_batch_waiting_for_a_cpu_is_not_timed(local_ray, closing):
    """The instance has 2 CPUs, so two batches are in flight, but another task holds one
    CPU: the second batch waits for the first to finish. It ran RUN_S, under its limit, and
    must not be recorded as a timeout for the time it waited (it was, when the limit
    counted from submission)."""
    @ray.remote(num_cpus=1)
    def hold() -> None:
        time.sleep(3600)

    holder = hold.remote()
    try:
        deadline = time.monotonic() + 120  # a bound on waiting for it, not a measure
        while ray.available_resources().get("CPU", 0.0) > 1.0:  # until it holds its CPU
            assert time.monotonic() < deadline, "the holding task never started"
            time.sleep(0.05)
        executor = RayExecutor(ExecutorConfig(eval_timeout=LIMIT_S))
        closing.append(executor)
        assert executor.parallelism() == 2
        assert dict(executor.map(slow, [0, 1])) == {0: 0, 1: 1}
    finally:
        ray.cancel(holder, force=True)


def test_a_batch_over_its_limit_once_running_is_still_a_timeout(local_ray, closing):
    executor = RayExecutor(ExecutorConfig(eval_timeout=RUN_S / 3))
    closing.append(executor)
    [(key, result)] = list(executor.map(slow, [0]))
    assert key == 0 and isinstance(result, TaskFailure) and result.status == "timeout"


def test_a_cluster_reservation_no_node_can_meet_is_said_once(local_ray, closing, capfd):
    executor = RayExecutor(ExecutorConfig(cpus_per_eval=3.0))
    closing.append(executor)
    assert executor.parallelism() == 1  # one batch queued: what an autoscaler scales for
    executor.parallelism()
    err = capfd.readouterr().err
    assert err.count("executor.cpus_per_eval = 3, but no node of the Ray cluster") == 1, err
    assert "the largest: 2 CPU" in err


def test_the_users_own_instance_is_not_checked_as_a_local_one(local_ray, monkeypatch):
    """With Ray already initialised the search runs there: the config check does not
    refuse a reservation by this machine's CPUs (the executor says it, against the
    instance's nodes, when it joins)."""
    monkeypatch.setattr(ray_support.os, "cpu_count", lambda: 2)
    config = override(SearchConfig(), {"executor": {"name": "ray", "cpus_per_eval": 3.0}})
    check(config)
    ray.shutdown()
    with pytest.raises(ConfigError, match=r"executor\.cpus_per_eval is 3"):
        check(config)


def test_a_local_instance_without_the_gpus_reserved_is_refused(closing, monkeypatch):
    """The config check refuses this from torch's count; Ray's own count is checked once
    the instance is up (here torch is told there is a GPU, Ray finds none)."""
    monkeypatch.setattr(ray_support, "local_gpus", lambda: 1)
    executor = RayExecutor(ExecutorConfig(num_cpus=1, gpus_per_eval=0.5))
    closing.append(executor)
    with pytest.raises(ConfigError, match=r"executor\.gpus_per_eval = 0\.5, but the local "
                                          r"Ray instance has 1 CPU, 0 GPU"):
        executor.parallelism()
    assert not ray.is_initialized(), "the refused instance was stopped"


def test_settings_that_conflict_with_the_users_ray_init_are_said(local_ray, closing, capfd):
    agreeing = RayExecutor(ExecutorConfig(num_cpus=2))
    closing.append(agreeing)
    agreeing.parallelism()
    assert "already initialised" not in capfd.readouterr().err
    conflicting = RayExecutor(ExecutorConfig(num_cpus=1, address="10.9.9.9:6379"))
    closing.append(conflicting)
    assert conflicting.parallelism() == 2  # the user's instance decides
    [line] = [x for x in capfd.readouterr().err.splitlines() if "already initialised" in x]
    assert "executor.address is '10.9.9.9:6379'" in line and "executor.num_cpus is 1" in line


def test_ray_address_is_ignored_and_said(closing, monkeypatch, capfd):
    monkeypatch.setenv("RAY_ADDRESS", "10.9.9.9:6379")  # nothing there: joining would fail
    executor = RayExecutor(ExecutorConfig(num_cpus=1))
    closing.append(executor)
    assert executor.parallelism() == 1  # a local instance
    assert "RAY_ADDRESS is '10.9.9.9:6379', but executor.address is ''" in capfd.readouterr().err


def test_rays_report_of_a_dead_worker_goes_to_stderr(local_ray, closing, capfd):
    executor = RayExecutor(ExecutorConfig(max_retries=0))
    closing.append(executor)
    [(_, failure)] = list(executor.map(die, [0]))
    assert isinstance(failure, TaskFailure) and failure.status == "failed"
    out, err = "", ""
    deadline = time.monotonic() + 120  # a bound on waiting for Ray's report, not a measure
    while "worker died" not in err and time.monotonic() < deadline:
        time.sleep(0.2)
        captured = capfd.readouterr()
        out, err = out + captured.out, err + captured.err
    assert "worker died" in err, err
    assert "worker died" not in out and "raylet" not in out, out


def test_triton_interpret_reaches_the_workers_of_a_cluster(cluster, closing, monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # set after the cluster's nodes started
    executor = RayExecutor(ExecutorConfig(address=cluster.address))
    closing.append(executor)
    assert dict(executor.map(interpret, [0])) == {0: "1"}
