"""The Ray executor against real Ray: a time limit counts a batch's run, not its wait for a
node; reservations no node can meet are said, not waited on in silence; settings that
conflict with the user's own ``ray.init`` are said; Ray's error reports stay off stdout;
the driver's TRITON_INTERPRET reaches the workers of a cluster; the time-limit clock actor
may die without stopping the search or its time limits (and the driver's deadline
bookkeeping, pure, is tested without Ray).

Every test starts Ray through a fixture that always shuts it down (an executor that starts
its own instance is closed in a ``finally``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest
import ray

from evolve import ray_support
from evolve.config import ConfigError, ExecutorConfig, SearchConfig, check, override
from evolve.executors import TaskFailure
from evolve.ray_clock import LOST_WARNING, Deadlines
from evolve.ray_executor import ClusterUnreachable, RayExecutor, _check_reachable

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

    def nap(item: tuple[str, float]) -> str:
        """Say it started (a file named by the item), then sleep."""
        import pathlib
        import time

        path, seconds = item
        pathlib.Path(path).touch()
        time.sleep(seconds)
        return path

    return slow, die, interpret, nap


slow, die, interpret, nap = tasks()


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120  # a bound on waiting, not a measure
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


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
    # the run keeps its reservation: the way on without that node is a resume that lowers it
    assert "`neurevo resume RUN --set executor.cpus_per_eval=N` with N at most the largest" \
        in err, err


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


def test_a_refused_join_names_token_auth_where_a_token_file_would_turn_it_on(tmp_path,
                                                                           monkeypatch):
    """A laptop search's local instance writes ``~/.ray/auth_token``; a head started on that
    machine then requires the token, which a client sends only with RAY_AUTH_MODE=token, and
    Ray's own refusal blames a crashed instance. The hint names the likely cause, and only
    where it can be the cause."""
    from evolve.ray_executor import _token_auth_hint

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    assert _token_auth_hint("127.0.0.1:6379") == ""  # no token anywhere
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("secret")
    hint = _token_auth_hint("127.0.0.1:6379")
    assert "RAY_AUTH_MODE=token" in hint and str(tmp_path / ".ray" / "auth_token") in hint
    assert _token_auth_hint("auto") == ""  # no cluster was named: none found, not refused
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # auto joins it, as in a job
    assert "RAY_AUTH_MODE=token" in _token_auth_hint("auto")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # already sent: not the cause
    assert _token_auth_hint("127.0.0.1:6379") == ""


def test_auto_with_ray_address_where_nothing_answers_is_refused_at_once(monkeypatch):
    """Ray's ``auto`` joins RAY_ADDRESS when that is set (a ``ray job submit`` entrypoint
    sets it), and retried a port where nothing listens without end, a warning every few
    seconds; the check the executor makes before ``ray.init`` refuses it as it refuses such
    a ``HOST:PORT``, naming both (checked here directly: before, ``ray.init`` hung)."""
    with socket.socket() as probe:  # a loopback port where nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    with pytest.raises(ClusterUnreachable) as caught:
        _check_reachable("auto")
    message = str(caught.value)
    assert message.startswith("executor.address 'auto'") and "no Ray cluster answers" in message
    assert f"RAY_ADDRESS, '127.0.0.1:{port}'" in message
    assert caught.value.address == "auto"  # what the run is resumed with
    assert not ray.is_initialized()


def test_rays_report_of_a_dead_worker_goes_to_stderr(local_ray, closing, capfd):
    executor = RayExecutor(ExecutorConfig(max_retries=0))
    closing.append(executor)
    [(_, failure)] = list(executor.map(die, [0]))
    assert isinstance(failure, TaskFailure) and failure.status == "failed"
    # the records' traceback column gets Ray's whole report, not nothing
    assert failure.detail.startswith(failure.error.split(":")[0]), (failure.error, failure.detail)
    assert "worker died" in failure.detail and "\x1b[" not in failure.detail
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


def test_the_clock_actors_death_stops_neither_the_search_nor_its_time_limits(
        local_ray, closing, tmp_path, capfd):
    """The StartClock actor is killed (and restarted by Ray) while two batches run past
    their limit: one whose start the driver had seen (its deadline is the driver's own),
    one whose start only the lost actor knew (timed from when the driver sees the
    restart). Both are timeouts, not Ray's error stopping the stream; a quick batch
    submitted during the restart returns its value; the loss is said once."""
    executor = RayExecutor(ExecutorConfig(eval_timeout=2.0))
    closing.append(executor)
    stream = executor.stream(nap)
    seen, unseen, quick = (str(tmp_path / name) for name in ("seen", "unseen", "quick"))
    stream.submit(0, (seen, 600.0))

    def first_start_seen() -> bool:
        stream._overdue()  # polls the clock
        return 0 in stream.timer.deadlines.at

    wait_for(first_start_seen, "the driver sees the first batch start")
    stream.submit(1, (unseen, 600.0))
    wait_for(lambda: (tmp_path / "unseen").exists(), "the second batch starts")
    ray.kill(executor._clock.actor, no_restart=False)
    stream.submit(2, (quick, 0.0))  # waits for a slot: the instance has 2 CPUs
    results = dict(stream.next() for _ in range(3))
    for key in (0, 1):
        assert isinstance(results[key], TaskFailure) and results[key].status == "timeout"
    assert results[2] == quick
    assert capfd.readouterr().err.count(LOST_WARNING) == 1


def test_a_clock_actor_gone_for_good_still_leaves_time_limits(local_ray, closing, tmp_path):
    """Killed with no restart, the clock answers only errors: the batches running then are
    timed from when the driver got the first one."""
    executor = RayExecutor(ExecutorConfig(eval_timeout=1.0))
    closing.append(executor)
    stream = executor.stream(nap)
    stream.submit(0, (str(tmp_path / "started"), 600.0))
    wait_for(lambda: (tmp_path / "started").exists(), "the batch starts")
    ray.kill(executor._clock.actor, no_restart=True)
    [(key, result)] = [stream.next()]
    assert key == 0 and isinstance(result, TaskFailure) and result.status == "timeout"


def test_a_deadline_is_set_on_the_drivers_clock_when_a_start_is_first_seen():
    deadlines = Deadlines(incarnation=7)
    deadlines.add(0, 10.0)
    deadlines.add(1, 10.0)
    assert not deadlines.observe({0: 3.0}, 7, now=100.0)
    assert deadlines.at == {0: 107.0}  # batch 1 has not started: never timed yet
    assert deadlines.overdue(106.9) is None and deadlines.overdue(107.1) == 0
    deadlines.observe({0: 5.5}, 7, now=102.0)  # a later answer's latency: no earlier deadline
    assert deadlines.at[0] == 107.0
    deadlines.drop(0)
    deadlines.observe({0: 1.0}, 7, now=103.0)  # answered after it finished: ignored
    assert deadlines.at == {} and deadlines.overdue(1e9) is None


def test_a_restarted_clock_times_the_starts_it_lost_from_when_the_restart_is_seen():
    deadlines = Deadlines(incarnation=7)
    deadlines.add(0, 10.0)
    deadlines.add(1, 10.0)
    deadlines.observe({0: 3.0}, 7, now=100.0)
    assert deadlines.observe({}, 8, now=105.0)  # a new incarnation, knowing no start
    assert deadlines.at == {0: 107.0, 1: 115.0}  # 0 kept by the driver; 1 from now
    deadlines.observe({1: 4.0}, 8, now=106.0)  # its start heard late: never less time
    assert deadlines.at[1] == 115.0
    assert not deadlines.observe({}, 8, now=107.0)
    deadlines.add(2, 5.0)
    deadlines.lost(now=110.0)  # the actor answered an error: the same, from then
    assert deadlines.at == {0: 107.0, 1: 115.0, 2: 115.0}


def test_a_re_run_moves_its_deadline_to_the_re_runs_start():
    deadlines = Deadlines(incarnation=7)
    deadlines.add(0, 10.0)
    deadlines.observe({0: 3.0}, 7, now=100.0)
    deadlines.observe({0: 1.0}, 7, now=104.0)  # a worker died; Ray re-ran it at 103
    assert deadlines.at[0] == 113.0
    assert deadlines.overdue(112.0) is None and deadlines.overdue(113.5) == 0


def orphaned_ref():
    """An object whose owner has died (an actor that put it, then was killed): what a task
    sees when it cannot reach the driver that sent it its data (reported as the owner's
    death), made with real Ray. Large enough to live in the object store, as a search's
    data does, rather than inline in the task."""
    @ray.remote(num_cpus=0)
    class Owner:
        def make(self) -> list:
            return [ray.put(bytes(256 * 1024))]

    owner = Owner.remote()
    [ref] = ray.get(owner.make.remote())
    ray.kill(owner)

    def lost() -> bool:  # the death takes a moment to reach the driver's borrowed ref
        try:
            ray.get(ref, timeout=5)
        except ray.exceptions.OwnerDiedError:
            return True
        return False
    wait_for(lost, "the object is lost with its owner")
    return ref


def test_a_cluster_whose_workers_cannot_read_the_drivers_objects_is_refused(local_ray, closing):
    """A cluster can accept a driver and not serve its objects to the workers: every batch
    would fail, and a resume would record the failures for good. A probe finds it before
    anything is recorded; met mid-search, it stops the search instead of failing the batch
    (nothing is recorded for it, so a resume trains it again)."""
    from evolve.ray_executor import _check_objects_reach_workers, _RayStream

    lost = orphaned_ref()
    with pytest.raises(ClusterUnreachable, match=r"executor.address 'x:1': joined, but its "
                                                 r"workers cannot run a task that reads what "
                                                 r"this driver sends \(OwnerDiedError") as info:
        _check_objects_reach_workers(ray, "x:1", payload=lost)
    assert "RAY_AUTH_MODE" in str(info.value) and info.value.address == "x:1"
    _check_objects_reach_workers(ray, "x:1")  # the driver's own objects: it passes

    executor = RayExecutor(ExecutorConfig(max_retries=0))
    closing.append(executor)
    executor._ray()
    stream = _RayStream(executor, ray, ray.remote(lambda data, item: item), [lost])
    stream.submit(0, 0)
    with pytest.raises(ClusterUnreachable, match="the Ray cluster lost what this driver sent "
                                                 "its workers .*not of a candidate"):
        stream.next()
