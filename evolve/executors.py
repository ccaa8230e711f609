"""Executors: where evaluations run. The search loop only calls ``map``; distribution
belongs here, so strategies and rules never import Ray.

Contract: ``map(fn, items, shared)`` calls ``fn(*shared, item)`` for every item and yields
``(index, result)`` pairs *as results become available* (any order), so the loop can record
each result when it arrives. An item that could not be evaluated — its worker died more than
``max_retries`` times, it ran past its time limit — yields a :class:`TaskFailure` instead of a
result; it never raises. ``close`` is called once when the search ends.

Steady-state evaluation (evolve/steady.py) needs items handed out one at a time, as workers
free up: ``stream(fn, shared)`` returns a :class:`Stream` whose ``submit`` adds an item and
whose ``next`` blocks for the next finished one, with the same results and failures as
``map``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from evolve.messages import one_line


@dataclass(frozen=True)
class TaskFailure:
    status: str  # "failed" | "timeout"
    error: str


class Stream:
    """Items submitted one by one, results returned one by one (any order)."""

    def submit(self, key: int, item: Any, size: int = 1) -> None:
        """Start ``fn(*shared, item)`` (queued while every slot is busy); ``size`` =
        evaluations in the item (scales its time limit)."""
        raise NotImplementedError

    def next(self) -> tuple[int, Any]:
        """``(key, result or TaskFailure)`` of the next item to finish; blocks."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Items submitted and not yet returned by ``next``."""
        raise NotImplementedError


class Executor:
    name: ClassVar[str] = ""

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            shared: Sequence[Any] = (), sizes: Sequence[int] | None = None
            ) -> Iterator[tuple[int, Any]]:
        """``sizes[i]`` = evaluations in item i (scales its time limit)."""
        raise NotImplementedError

    def stream(self, fn: Callable[..., Any], shared: Sequence[Any] = ()) -> Stream:
        """Any executor can stream through ``map``, one item at a time in the order
        submitted; the Ray executor keeps every slot busy instead."""
        return _MapStream(self, fn, tuple(shared))

    def parallelism(self) -> int:
        """How many items can run at once (the loop cuts a generation into at least this
        many chunks, so no worker idles while another trains a big batch)."""
        return 1

    def ship(self, objects: Sequence[Any]) -> None:
        """Make the user's plug-ins (rule classes, objective and constraint functions, a cost
        function) callable where items run; in-process there is nothing to do."""

    def close(self) -> None:
        pass


class SerialExecutor(Executor):
    """In-process, in order: for tests, debugging and a laptop without Ray. Time limits are
    not enforced (there is no second process to stop).

    ``num_cpus`` (0 = 1) is the parallelism it reports: the loop then plans chunks, and steady
    mode holds items in flight, as for that many workers — evaluated one after the other, in
    the order submitted — so a run's records can be reproduced without a cluster."""

    name = "serial"

    def __init__(self, num_cpus: int = 0, **_: Any) -> None:
        self.num_cpus = num_cpus

    def parallelism(self) -> int:
        return max(1, self.num_cpus)

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            shared: Sequence[Any] = (), sizes: Sequence[int] | None = None
            ) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(*shared, item)


class _MapStream(Stream):
    """Evaluates the oldest submitted item, through the executor's ``map``, when a result is
    asked for (first in, first out)."""

    def __init__(self, executor: Executor, fn: Callable[..., Any],
                 shared: tuple[Any, ...]) -> None:
        self.executor, self.fn, self.shared = executor, fn, shared
        self.items: deque[tuple[int, Any, int]] = deque()

    def submit(self, key: int, item: Any, size: int = 1) -> None:
        self.items.append((key, item, size))

    def next(self) -> tuple[int, Any]:
        key, item, size = self.items.popleft()
        for _, result in self.executor.map(self.fn, [item], self.shared, [size]):
            return key, result
        raise RuntimeError(f"{type(self.executor).__name__}.map returned no result")

    def __len__(self) -> int:
        return len(self.items)


class RayExecutor(Executor):
    """Ray tasks, one per chunk of candidates, on a local Ray instance or a cluster.

    - ``address=None`` starts a local instance sized to this machine (dashboard off unless
      asked). All its services listen on 127.0.0.1 only, and its processes end with the
      driver even when the driver is SIGKILLed (see ``_start_local_ray``).
      ``"auto"`` or ``"HOST:PORT"`` joins a running cluster, whose own configuration
      decides what it exposes.
    - Shared arguments (the data set) go into the object store once per search.
    - At most as many chunks are in flight as the cluster has slots, so a submitted chunk
      starts at once and its time limit (``eval_timeout`` seconds per candidate) measures
      its run, not its wait in a queue. A chunk over its limit is cancelled (``timeout``).
    - A chunk whose worker process or node dies is re-run by Ray up to ``max_retries`` times;
      seeds derive from (run seed, generation, candidate id), so a re-run gives the same
      numbers. Exceptions inside ``fn`` are not retried (they are data, not infrastructure).
    """

    name = "ray"

    def __init__(self, address: str = "", num_cpus: int = 0, cpus_per_eval: float = 1.0,
                 gpus_per_eval: float = 0.0, max_retries: int = 3, eval_timeout: float = 0.0,
                 dashboard: bool = False, **_: Any) -> None:
        self.address = address or None
        self.num_cpus = num_cpus or None
        self.cpus_per_eval = cpus_per_eval
        self.gpus_per_eval = gpus_per_eval
        self.max_retries = max_retries
        self.eval_timeout = eval_timeout
        self.dashboard = dashboard
        self._started_ray = False
        self._shared: dict[int, Any] = {}

    def _ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            if self.address:
                _check_reachable(self.address)
                try:
                    ray.init(address=self.address, log_to_driver=False)
                except ConnectionError as exc:  # `auto`: no running instance found
                    raise ClusterUnreachable(
                        f"executor.address {self.address!r}: {_first_line(exc)}",
                        self.address) from None
            else:
                _start_local_ray(ray, self.num_cpus or os.cpu_count(), self.dashboard)
                self._started_ray = True
        return ray

    def parallelism(self) -> int:
        return self._slots(self._ray())

    def _slots(self, ray: Any) -> int:
        """Batches that can run at once: the scarcer of the CPUs and GPUs they reserve."""
        resources = ray.cluster_resources()
        slots = [int(resources.get("CPU", 1.0) // self.cpus_per_eval)] \
            if self.cpus_per_eval > 0 else []
        if self.gpus_per_eval > 0:
            gpus = resources.get("GPU", 0.0)
            if gpus == 0 and self._started_ray:
                raise RuntimeError(f"executor.gpus_per_eval is {self.gpus_per_eval}, but the "
                                   "local Ray instance has no GPU (Ray found none on this "
                                   "machine): no batch could ever start")
            slots.append(int(gpus // self.gpus_per_eval))
        return max(1, min(slots))

    def _ref(self, ray: Any, value: Any) -> Any:
        key = id(value)
        if key not in self._shared:
            try:
                ref = ray.put(value)
            except TypeError as exc:  # Ray's message repeats the whole value (the data, too)
                cause = exc.__cause__ or exc
                raise TypeError(
                    f"what the workers need (the data, the rule, the metrics) cannot be sent "
                    f"to them: {type(cause).__name__}: {_first_line(cause)}; a rule or metric "
                    "of yours must be picklable (no open file, lock or connection in it or in "
                    "what it refers to), or run with executor 'serial'") from None
            self._shared[key] = (value, ref)  # keep value alive: id stays unique
        return self._shared[key][1]

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            shared: Sequence[Any] = (), sizes: Sequence[int] | None = None
            ) -> Iterator[tuple[int, Any]]:
        stream = self.stream(fn, shared)
        sizes = list(sizes) if sizes is not None else [1] * len(items)
        for i, item in enumerate(items):
            stream.submit(i, item, sizes[i])
        while len(stream):
            yield stream.next()

    def stream(self, fn: Callable[..., Any], shared: Sequence[Any] = ()) -> Stream:
        ray = self._ray()
        remote = ray.remote(fn).options(num_cpus=self.cpus_per_eval,
                                        num_gpus=self.gpus_per_eval,
                                        max_retries=self.max_retries, retry_exceptions=False)
        return _RayStream(self, ray, remote, [self._ref(ray, s) for s in shared])

    def ship(self, objects: Sequence[Any]) -> None:
        from evolve.plugins import ship_by_value

        ship_by_value(objects)

    def _timeout_text(self, size: int) -> str:
        return (f"ran past its time limit of {self.eval_timeout * size:g} s "
                f"({self.eval_timeout:g} s x {size} candidates in its batch)")

    def close(self) -> None:
        self._shared.clear()
        if self._started_ray:
            import ray

            ray.shutdown()
            _stop_watchdog()
            self._started_ray = False


REACH_TIMEOUT_S = 10.0  # a cluster's head answers a TCP connect well within this


class ClusterUnreachable(ConnectionError):
    """Nothing answers at ``executor.address``: the address or the cluster is at fault, not
    the run, which may go on once a cluster answers there, or in-process."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


def _check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fail at once on a ``HOST:PORT`` where nothing listens: ``ray.init`` would retry the
    connection to its control service without end, printing a warning every few seconds.
    ``auto`` and ``ray://`` addresses are left to Ray, which says at once when it finds no
    cluster."""
    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except TimeoutError:
        why = f"no answer within {timeout_s:g} s"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    else:
        return
    raise ClusterUnreachable(f"executor.address {address!r}: no Ray cluster answers there "
                             f"({why}); check the address, or start a cluster there (`ray "
                             "start --head`)", address)


SLOTS_REFRESH_S = 1.0  # how often a stream asks the cluster for its slots (a GCS round trip)


class _RayStream(Stream):
    """At most as many items in flight as the cluster has slots (the rest wait here), so an
    item's time limit measures its run, not its wait in a queue."""

    def __init__(self, executor: RayExecutor, ray: Any, remote: Any, refs: list[Any]) -> None:
        self.executor, self.ray, self.remote, self.refs = executor, ray, remote, refs
        self.slots = executor._slots(ray)
        self.slots_read = time.monotonic()
        self.waiting: deque[tuple[int, Any, int]] = deque()
        self.running: dict[Any, tuple[int, float, int]] = {}  # ref -> (key, started, size)

    def submit(self, key: int, item: Any, size: int = 1) -> None:
        self.waiting.append((key, item, size))
        self._launch()

    def _launch(self) -> None:
        while self.waiting and len(self.running) < self.slots:
            key, item, size = self.waiting.popleft()
            self.running[self.remote.remote(*self.refs, item)] = (key, time.monotonic(), size)

    def next(self) -> tuple[int, Any]:
        from ray.exceptions import GetTimeoutError, RayError, TaskCancelledError

        timeout = self.executor.eval_timeout
        while True:
            now = time.monotonic()
            if now - self.slots_read >= SLOTS_REFRESH_S:  # an autoscaler may add workers
                self.slots, self.slots_read = self.executor._slots(self.ray), now
                self._launch()
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.5)
            if ready:
                key, _started, size = self.running.pop(ready[0])
                try:
                    return key, self.ray.get(ready[0])
                except (TaskCancelledError, GetTimeoutError):
                    return key, TaskFailure("timeout", self.executor._timeout_text(size))
                except RayError as exc:
                    return key, TaskFailure("failed", _one_line(exc))
                finally:
                    self._launch()
            if timeout > 0:
                now = time.monotonic()
                for ref, (key, started, size) in list(self.running.items()):
                    if now - started > timeout * size:
                        self.ray.cancel(ref, force=True)
                        self.running.pop(ref)
                        self._launch()
                        return key, TaskFailure("timeout", self.executor._timeout_text(size))

    def __len__(self) -> int:
        return len(self.waiting) + len(self.running)


LOOPBACK = "127.0.0.1"


def _start_local_ray(ray: Any, num_cpus: int | None, dashboard: bool) -> None:
    """A search on one machine needs no network: every Ray service of the instance it starts
    must be unreachable from other machines.

    Ray binds its servers (GCS, raylet, object manager, workers, agents) to the node's IP
    address, and ``ray.init`` replaces a loopback ``_node_ip_address`` with the machine's
    routable address unless Ray runs in its single-machine mode (``ENABLE_RAY_CLUSTER`` false,
    what ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` selects). That variable is read once, when
    ``ray`` is first imported, so the mode is switched on here for this ``ray.init`` only: a
    later ``ray.init(address=...)`` in the same process joins a cluster as before. If a Ray
    version ignores this, the check below stops the search rather than run it exposed.
    """
    import psutil  # after ray: Ray ships one when the environment has none
    from ray._private import ray_constants

    driver = psutil.Process()
    before = {p.pid for p in driver.children(recursive=True)}
    # ray.init disables usage stats for release wheels; say it for every wheel
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster_mode = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if cluster_mode is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard,
                 dashboard_host=LOOPBACK, _node_ip_address=LOOPBACK,
                 log_to_driver=False, configure_logging=False)
    finally:
        if cluster_mode is not None:
            ray_constants.ENABLE_RAY_CLUSTER = cluster_mode
    node_ip = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(node_ip).is_loopback:
        ray.shutdown()
        raise RuntimeError(
            f"ray {ray.__version__} started its local instance on {node_ip}, not on loopback: "
            "its services would be reachable from other machines; stopped it. Use "
            "--executor serial, or join a Ray instance configured for your network "
            "(--address)")
    started = [p.pid for p in driver.children(recursive=True) if p.pid not in before]
    _start_watchdog(started)


# -- a driver killed with SIGKILL ---------------------------------------------------------------
# On Linux Ray ties its local instance to the driver with PR_SET_PDEATHSIG: GCS, raylet and
# Ray's Python helpers die with the driver, and workers notice their raylet is gone within
# ~2 s. The raylet's agents (dashboard agent, runtime-env agent) notice at once too, but first
# report the raylet's death to the GCS, which is dead as well, and give up only after that
# call's 60 s timeout. The watchdog is a separate small process holding the read end of a pipe
# from the driver: the kernel closes the write end however the driver ends, and unless the
# driver said "stop" first (a normal shutdown: Ray already stopped everything), the watchdog
# ends the instance's processes. It knows them by pid and start time, so a recycled pid is
# never hit. Other systems have no PR_SET_PDEATHSIG; there Ray starts its own reaper
# process instead (read in Ray's source, not measured), and no watchdog is started.

_watchdog: subprocess.Popen | None = None  # per Ray instance, like ray.init's own state


def _start_time(pid: int) -> str | None:
    """The process's start time (None once it has ended): with the pid, its identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the command name
    except OSError:
        return None
    if fields[0] in (b"Z", b"X"):  # exited, only its exit status left
        return None
    return fields[19].decode()  # field 22 of proc_pid_stat(5): start time in clock ticks


def _start_watchdog(pids: list[int]) -> None:
    global _watchdog
    if not sys.platform.startswith("linux"):
        return
    _stop_watchdog()
    known = [f"{pid}:{start}" for pid in pids if (start := _start_time(pid)) is not None]
    # -I: the watchdog imports nothing from this checkout's environment, only the stdlib
    _watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), *known],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def _stop_watchdog() -> None:
    global _watchdog
    if _watchdog is None:
        return
    with contextlib.suppress(OSError):
        _watchdog.stdin.write(b"stop")
        _watchdog.stdin.close()
    try:
        _watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _watchdog.kill()
        _watchdog.wait()
    _watchdog = None


def _watch(known: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if sys.stdin.buffer.read() == b"stop":  # blocks until the driver stops Ray or is gone
        return
    targets = [tuple(item.split(":", 1)) for item in known]
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        for pid, start in targets:
            if _start_time(int(pid)) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
                _start_time(int(pid)) == start for pid, start in targets):
            time.sleep(0.05)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Ray colours the task names in its errors


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else ""


def _one_line(exc: BaseException) -> str:
    """What a task failed of, on one line for the records: a Ray task error's own cause
    (the worker's exception) rather than Ray's coloured, multi-line wrapping of it."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        exc = cause
    text = one_line(_ANSI.sub("", str(exc)))
    return f"{type(exc).__name__}: {text}"[:500]


EXECUTORS: dict[str, Callable[..., Executor]] = {"serial": SerialExecutor, "ray": RayExecutor}


def make_executor(name: str, **options: Any) -> Executor:
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise KeyError(
            f"executor.name: unknown executor {name!r}; expected one of {sorted(EXECUTORS)}"
        ) from None
    return factory(**options)


if __name__ == "__main__":
    _watch(sys.argv[1:])
