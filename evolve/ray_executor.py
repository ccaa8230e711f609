"""The Ray executor: batches of candidates as Ray tasks, on a local Ray instance or a
cluster (the contract it keeps is evolve/executors.py's). Ray itself is imported when the
executor is first used, so building one costs nothing."""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import os
import re
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolve import ray_watchdog
from evolve.executors import Executor, Stream, TaskFailure, checked_config
from evolve.messages import one_line
from evolve.ray_clock import Clock, Timer, reporting_start

if TYPE_CHECKING:
    from evolve.config import ExecutorConfig


class RayExecutor(Executor):
    """Ray tasks, one per chunk of candidates, on a local Ray instance or a cluster.

    - ``address=None`` starts a local instance sized to this machine (dashboard off unless
      asked). All its services listen on 127.0.0.1 only, and its processes end with the
      driver even when the driver is SIGKILLed (see ``_start_local_ray``).
      ``"auto"`` or ``"HOST:PORT"`` joins a running cluster, whose own configuration
      decides what it exposes.
    - Shared arguments (the data set) go into the object store once per search.
    - At most as many chunks are in flight as the cluster has slots. A chunk's time limit
      (``eval_timeout`` seconds per candidate) counts from when its task reports that it
      began to run (``evolve/ray_clock.py``), never its wait for a node; a chunk over its
      limit is cancelled (``timeout``). The clock actor may die and be restarted without
      stopping the search or its time limits.
    - A chunk whose worker process or node dies is re-run by Ray up to ``max_retries`` times;
      seeds derive from (run seed, generation, candidate id), so a re-run gives the same
      numbers. Exceptions inside ``fn`` are not retried (they are data, not infrastructure).
    """

    name = "ray"

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        config = checked_config(config)
        self.address = config.address or None
        self.num_cpus = config.num_cpus or None
        self.cpus_per_eval = config.cpus_per_eval
        self.gpus_per_eval = config.gpus_per_eval
        self.max_retries = config.max_retries
        self.eval_timeout = config.eval_timeout
        self.dashboard = config.dashboard
        self._started_ray = False
        self._joined = False  # Ray initialised and the reservation checked
        self._clock: Clock | None = None  # once a stream has a time limit
        self._shared: dict[int, Any] = {}

    def _ray(self) -> Any:
        import ray

        from evolve.ray_support import local_cpus

        if self._joined and ray.is_initialized():
            return ray
        _ray_messages_to_stderr()
        joined = self.address or ""  # where the search runs, as the probe names it
        if ray.is_initialized():  # the user's own ray.init: it decides, ours cannot
            _warn_conflicts(ray, self.address, self.num_cpus)
            joined = ""
        elif self.address:
            _check_reachable(self.address)
            try:
                with _sigterm_handler_kept():
                    ray.init(address=self.address, log_to_driver=False,
                             runtime_env=_worker_runtime_env())
            except ConnectionError as exc:  # `auto`: no running instance found
                raise ClusterUnreachable(
                    f"executor.address {self.address!r}: {_first_line(exc)}"
                    f"{_token_auth_hint(self.address)}", self.address) from None
        else:
            _warn_ray_address_ignored()
            with _sigterm_handler_kept():
                _start_local_ray(ray, local_cpus(self.num_cpus or 0), self.dashboard)
            self._started_ray = True
        if not self._started_ray:  # a cluster this process joined, not one it started
            _check_objects_reach_workers(ray, joined)
        self._check_reservation(ray)
        self._joined = True  # only once both checks passed: a caller trying again repeats them
        return ray

    def parallelism(self) -> int:
        return self._slots(self._ray())

    def _check_reservation(self, ray: Any) -> None:
        """A batch that no node can host waits for ever, without a word from Ray. The local
        instance this executor started is refused outright (the config check has already
        refused what it could foresee; this catches a GPU torch sees and Ray does not). On a
        cluster an autoscaler may yet add such a node, so it is said once, and the search
        waits for it."""
        need = {"CPU": self.cpus_per_eval, "GPU": self.gpus_per_eval}
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        if any(all(r.get(k, 0.0) >= v for k, v in need.items() if v > 0) for r in nodes):
            return
        asked = " and ".join(f"executor.{k.lower()}s_per_eval = {v:g}"
                             for k, v in need.items() if v > 0)
        largest = ", ".join(f"{max((r.get(k, 0.0) for r in nodes), default=0.0):g} {k}"
                            for k, v in need.items() if v > 0)
        if self._started_ray:
            from evolve.config import ConfigError

            self.close()  # nothing of the instance outlives the refusal
            raise ConfigError(f"{asked}, but the local Ray instance has {largest}: no batch "
                              "could ever start; lower the reservation")
        keys = [f"{k.lower()}s_per_eval" for k, v in need.items() if v > 0]
        fit = " ".join(f"--set executor.{key}=N" for key in keys)
        python = ", ".join(f"{key!r}: N" for key in keys)
        print(f"neurevo: warning: {asked}, but no node of the Ray cluster has that much "
              f"(the largest: {largest}): batches wait until such a node joins (an "
              "autoscaler may add one); if none will, stop it (Ctrl-C) and go on with "
              f"`neurevo resume RUN {fit}` with N at most the largest (from Python: "
              f"evolve.resume(RUN, executor={{{python}}})), "
              "since the run keeps the reservation it started with", file=sys.stderr)

    def _slots(self, ray: Any) -> int:
        """Batches that can run at once: the scarcer of the CPUs and GPUs they reserve. At
        least 1 even when the cluster has room for none yet (``_check_reservation`` has said
        so): one batch waits in Ray's queue, which is what an autoscaler scales up for."""
        resources = ray.cluster_resources()
        slots = [int(resources.get("CPU", 0.0) // self.cpus_per_eval)] \
            if self.cpus_per_eval > 0 else []
        if self.gpus_per_eval > 0:
            slots.append(int(resources.get("GPU", 0.0) // self.gpus_per_eval))
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
                    f"to them: {_unpicklable_part(value)}{type(cause).__name__}: "
                    f"{_first_line(cause)}; a rule or metric "
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
        clock = self._start_clock(ray) if self.eval_timeout > 0 else None
        task = fn if clock is None else reporting_start(fn, clock.actor)
        remote = ray.remote(task).options(num_cpus=self.cpus_per_eval,
                                          num_gpus=self.gpus_per_eval,
                                          max_retries=self.max_retries, retry_exceptions=False)
        return _RayStream(self, ray, remote, [self._ref(ray, s) for s in shared], clock)

    def _start_clock(self, ray: Any) -> Clock:
        """The clock the batches report their start to (one per executor, on the driver's
        node, reserving nothing): a batch's time limit counts from there."""
        if self._clock is None:
            self._clock = Clock(ray)
        return self._clock

    def ship(self, objects: Sequence[Any]) -> None:
        from evolve.plugins import ship_by_value

        ship_by_value(objects)

    def _timeout_text(self, size: int) -> str:
        return (f"ran past its time limit of {self.eval_timeout * size:g} s "
                f"({self.eval_timeout:g} s x {size} candidates in its batch)")

    def close(self) -> None:
        self._shared.clear()
        if self._clock is not None:
            import ray

            if ray.is_initialized():
                ray.kill(self._clock.actor)
            self._clock = None
        if self._started_ray:
            import ray

            ray.shutdown()
            ray_watchdog.stop()
            self._started_ray = False
        self._joined = False


def _unpicklable_part(value: Any) -> str:
    """Which part of ``value`` (a metric of a tuple of them, the rule's spec) cannot be
    pickled, as ``"metric 'name': "``; empty when no single part can be named. Ray's own
    error names only the type of what failed deep inside, not the user's part holding it."""
    from ray import cloudpickle

    for part in value if isinstance(value, (tuple, list)) else (value,):
        try:
            cloudpickle.dumps(part)
        except Exception:  # noqa: BLE001 - whatever pickling raises, this part is the one
            name = getattr(part, "name", None)
            kind = type(part).__name__.lower()
            return f"{kind} {name!r}: " if isinstance(name, str) else f"a {kind}: "
    return ""


def _warn_conflicts(ray: Any, address: str | None, num_cpus: int | None) -> None:
    """Ray is already initialised (by the user, in this process): ``ray.init`` cannot be
    called again, so the executor runs where that instance is. Settings saying otherwise
    are said once, on one line, rather than ignored unsaid."""
    conflicts = []
    joined = ray.get_runtime_context().gcs_address
    if address and not _same_place(address, joined):
        conflicts.append(f"executor.address is {address!r}")
    cpus = ray.cluster_resources().get("CPU", 0.0)
    if num_cpus and num_cpus != cpus:
        conflicts.append(f"executor.num_cpus is {num_cpus}")
    if conflicts:
        print(f"neurevo: warning: {' and '.join(conflicts)}, but Ray was already initialised "
              f"in this process (at {joined}, {cpus:g} CPUs): the search runs there; call "
              "ray.shutdown() first for the config's settings to apply", file=sys.stderr)


def _same_place(address: str, gcs_address: str) -> bool:
    """Whether ``executor.address`` may name the instance whose GCS is at ``gcs_address``:
    ``auto`` and a Ray Client address (a different port, on the head) may; a HOST:PORT
    does if the port is the GCS's and the host resolves to the same address."""
    if address == "auto" or address.startswith("ray://"):
        return True
    host, _, port = address.rpartition(":")
    gcs_host, _, gcs_port = gcs_address.rpartition(":")
    if port != gcs_port:
        return False

    def resolved(name: str) -> set[str]:
        try:
            return {info[4][0] for info in socket.getaddrinfo(name.strip("[]"), None)}
        except OSError:
            return {name}
    return bool(resolved(host) & resolved(gcs_host))


def _token_auth_hint(address: str) -> str:
    """Why a cluster that is up may still refuse this client: a head started where a token
    file exists (a laptop search's local Ray instance writes one to ``~/.ray/auth_token``)
    requires the token, and Ray sends it only with ``RAY_AUTH_MODE=token`` set. Ray's own
    line blames a crashed instance instead, so the likely cause is named here."""
    env = os.environ.get("RAY_ADDRESS", "").strip()
    if address == "auto" and env in ("", "auto"):  # no address: no cluster found, not refused
        return ""
    if os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "token":
        return ""
    named = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    token_file = Path(named).expanduser() if named else Path.home() / ".ray" / "auth_token"
    if not (os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file()):
        return ""
    return (f" (if a cluster is up there, it may require token authentication, which a "
            f"head started where {token_file} exists turns on: set RAY_AUTH_MODE=token for "
            "this command too)")


def _warn_ray_address_ignored() -> None:
    """``RAY_ADDRESS`` would make a bare ``ray.init()`` join a cluster; neurevo goes by
    ``executor.address`` alone, so that a run's config.toml says where it ran."""
    env = os.environ.get("RAY_ADDRESS")
    if env:
        print(f"neurevo: warning: RAY_ADDRESS is {env!r}, but executor.address is '': "
              "starting a local Ray instance (neurevo ignores RAY_ADDRESS; join with "
              f"--address {env}, or --address auto in a `ray job submit` entrypoint, where "
              "a job's --working-dir is on the cluster and not in a local instance)",
              file=sys.stderr)


# the driver's settings that must hold where batches train: TRITON_INTERPRET=1 runs the fused
# kernels under Triton's CPU interpreter (rules/kernels), and a worker on a cluster node, or
# one of a local instance started before it was set, would not see the driver's
WORKER_ENV = ("TRITON_INTERPRET",)


def _worker_runtime_env() -> dict[str, Any] | None:
    """``WORKER_ENV`` as set in the driver, for every worker of the job (None: none set)."""
    env = {k: os.environ[k] for k in WORKER_ENV if k in os.environ}
    return {"env_vars": env} if env else None


@contextlib.contextmanager
def _sigterm_handler_kept() -> Iterator[None]:
    """``ray.init`` replaces the process's SIGTERM handler (a Python one that exits, and
    its core worker's native one that prints a stack dump and aborts). A Python handler
    that was there before — the CLI's, which unwinds the search so it can say how to
    resume — is put back; otherwise Ray's stays, as Ray's users expect. Ray's own clean-up
    still happens: unwinding closes the executor, which shuts the instance down."""
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if callable(before) and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, before)


def _ray_messages_to_stderr() -> None:
    """Ray prints the raylet's error reports (a worker or node died, a task is infeasible)
    on the driver's *stdout*, whatever ``log_to_driver`` says: its driver thread hands them
    to ``ray._private.worker.print_to_stdstream`` marked as not errors. The search's stdout
    is its result (the Pareto front, the run directory), so they are marked as errors
    here, which sends them to stderr. Idempotent; without that function (another Ray
    version) nothing changes."""
    from ray._private import worker

    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return printer({**data, "is_err": True}, *args, **kwargs)

    to_stderr.to_stderr = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


REACH_TIMEOUT_S = 10.0  # a cluster's head answers a TCP connect well within this


class ClusterUnreachable(ConnectionError):
    """The Ray cluster at ``executor.address`` (``""``: the process's own instance) cannot
    run the search: nothing answers there, or its workers cannot reach this driver. The
    address or the cluster is at fault, not the run, which may go on once the cluster
    works for this driver, or in-process."""

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


def _check_reachable(address: str, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Fail at once on a ``HOST:PORT`` where nothing listens: ``ray.init`` would retry the
    connection to its control service without end, printing a warning every few seconds.
    ``auto`` and ``ray://`` addresses are left to Ray, which says at once when it finds no
    cluster. But Ray's ``auto`` joins ``RAY_ADDRESS`` when that is set (as in a ``ray job
    submit`` entrypoint), and retries it without end too: a ``HOST:PORT`` there is checked."""
    from evolve.config import RAY_CLIENT, address_problem

    what = f"executor.address {address!r}"
    if address == "auto":
        env = os.environ.get("RAY_ADDRESS", "").strip()
        if not env or env == "auto" or env.startswith(RAY_CLIENT) or address_problem(env):
            return
        what += f" (Ray's 'auto' joins RAY_ADDRESS, {env!r})"
        address_to_reach = env
    elif address.startswith(RAY_CLIENT):
        return
    else:
        address_to_reach = address
    host, _, port = address_to_reach.rpartition(":")  # HOST:PORT, as address_problem checked
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except TimeoutError:
        why = f"no answer within {timeout_s:g} s"
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    else:
        return
    raise ClusterUnreachable(f"{what}: no Ray cluster answers there "
                             f"({why}); check the address, or start a cluster there (`ray "
                             "start --head`)", address)


SLOTS_REFRESH_S = 1.0  # how often a stream asks the cluster for its slots (a GCS round trip)


class _RayStream(Stream):
    """At most as many items in flight as the cluster has slots (the rest wait here). With
    a time limit, an item's clock starts when its task reports it began to run
    (``evolve/ray_clock.py``), so time spent waiting for a node is never counted."""

    def __init__(self, executor: RayExecutor, ray: Any, remote: Any, refs: list[Any],
                 clock: Clock | None = None) -> None:
        self.executor, self.ray, self.remote, self.refs = executor, ray, remote, refs
        self.timer = Timer(ray, clock) if clock is not None else None
        self.slots = executor._slots(ray)
        self.slots_read = time.monotonic()
        self.waiting: deque[tuple[int, Any, int]] = deque()
        self.running: dict[Any, tuple[int, int, int]] = {}  # ref -> (key, token, size)
        self.tokens = itertools.count()

    def submit(self, key: int, item: Any, size: int = 1) -> None:
        self.waiting.append((key, item, size))
        self._launch()

    def _launch(self) -> None:
        while self.waiting and len(self.running) < self.slots:
            key, item, size = self.waiting.popleft()
            token = next(self.tokens)
            if self.timer is None:
                args = (*self.refs, item)
            else:
                args = (token, *self.refs, item)
                self.timer.add(token, self.executor.eval_timeout * size)
            self.running[self.remote.remote(*args)] = (key, token, size)

    def _done(self, ref: Any) -> tuple[int, int]:
        """Take ``ref`` out of flight: its key and size."""
        key, token, size = self.running.pop(ref)
        if self.timer is not None:
            self.timer.drop(token)
        return key, size

    def _overdue(self) -> Any:
        """A running item past its limit (None: none), timed from its own start."""
        if not self.running or self.timer is None:
            return None
        token = self.timer.overdue()
        return next((ref for ref, (_, t, _) in self.running.items() if t == token), None)

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
                key, size = self._done(ready[0])
                try:
                    return key, self.ray.get(ready[0])
                except (TaskCancelledError, GetTimeoutError):
                    return key, TaskFailure("timeout", self.executor._timeout_text(size))
                except RayError as exc:
                    if _lost_objects(exc):  # the cluster's fault, not the batch's: stop
                        self._abandon()
                        raise ClusterUnreachable(_lost_objects_text(exc),
                                                 self.executor.address or "") from None
                    return key, TaskFailure("failed", _one_line(exc), _full_text(exc))
                finally:
                    self._launch()
            if timeout > 0:
                ref = self._overdue()
                if ref is not None:
                    self.ray.cancel(ref, force=True)
                    key, size = self._done(ref)
                    self._launch()
                    return key, TaskFailure("timeout", self.executor._timeout_text(size))

    def _abandon(self) -> None:
        """Nothing more to start, and what runs is cancelled: a search that stops here must
        not leave batches running on a cluster it does not shut down."""
        self.waiting.clear()
        for ref in list(self.running):
            with contextlib.suppress(Exception):  # already finished, or gone with its node
                self.ray.cancel(ref, force=True)
            self._done(ref)

    def __len__(self) -> int:
        return len(self.waiting) + len(self.running)


LOOPBACK = "127.0.0.1"


# Ray (2.60) turns token authentication on for a new local instance and says so in a
# warning on every search, which reads as something to act on; there is nothing to do
# (the instance is bound to loopback, below), so that one notice is not passed on while
# neurevo starts its instance. Setting RAY_AUTH_MODE instead would not do: Ray reads it into
# its cached config when imported, and a later change left the driver without its token.
AUTH_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"
AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


def _drop_default_auth_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(AUTH_NOTICE)


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
    # watched from before ray.init: its processes are up seconds before it returns (the
    # watchdog, a child of the driver, is among what was there before)
    ray_watchdog.track()
    try:
        _init_local_ray(ray, ray_constants, driver, num_cpus, dashboard)
    except BaseException:  # an interrupt too: nothing may be left tracking this process
        if ray.is_initialized():  # what did start is stopped, as the loopback check does
            ray.shutdown()
        ray_watchdog.stop()
        raise


def _init_local_ray(ray: Any, ray_constants: Any, driver: Any, num_cpus: int | None,
                    dashboard: bool) -> None:
    before = {p.pid for p in driver.children(recursive=True)}
    # ray.init disables usage stats for release wheels; say it for every wheel
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    cluster_mode = getattr(ray_constants, "ENABLE_RAY_CLUSTER", None)
    if cluster_mode is not None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    notices = logging.getLogger(AUTH_NOTICE_LOGGER)
    notices.addFilter(_drop_default_auth_notice)
    try:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=dashboard,
                 dashboard_host=LOOPBACK, _node_ip_address=LOOPBACK,
                 log_to_driver=False, configure_logging=False,
                 runtime_env=_worker_runtime_env())
    finally:
        notices.removeFilter(_drop_default_auth_notice)
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
    ray_watchdog.known(started)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # Ray colours the task names in its errors


# above Ray's inline limit (100 KiB): the probe's argument is fetched from the driver's
# object store, as a search's data is, rather than carried inside the task itself
PROBE_BYTES = 256 * 1024
PROBE_TIMEOUT_S = 60.0


def _echo_length(payload: bytes) -> int:
    return len(payload)


def _check_objects_reach_workers(ray: Any, address: str, payload: Any = None) -> None:
    """A cluster can accept this driver and still not serve its objects to the workers
    (a driver with token authentication on and a cluster with it off read as the object's
    owner having died): every batch of the search would then fail, and a resume would
    record those failures for good. One small task that reads an object this driver put
    (``payload``: what it sends, by default :data:`PROBE_BYTES` of zeros) finds that out
    before anything is recorded. It runs on one node, where Ray places it (usually the
    driver's): a mismatch of the whole cluster with this driver shows there; a single node
    that cannot reach the driver shows only mid-search, which then stops (:class:`_RayStream`).
    A probe slower than :data:`PROBE_TIMEOUT_S` (workers still starting, or installing a
    runtime environment) is said, cancelled and not waited for."""
    from ray.exceptions import GetTimeoutError, RayError

    what = f"executor.address {address!r}" if address else "the Ray instance of this process"
    ref = ray.put(bytes(PROBE_BYTES)) if payload is None else payload
    probe = ray.remote(_echo_length).options(num_cpus=0, max_retries=0)
    task = probe.remote(ref)
    try:
        ray.get(task, timeout=PROBE_TIMEOUT_S)
    except GetTimeoutError:
        with contextlib.suppress(Exception):
            ray.cancel(task, force=True)
        print(f"neurevo: warning: {what}: a probe task did not finish within "
              f"{PROBE_TIMEOUT_S:g} s (workers may still be starting); going on",
              file=sys.stderr)
    except RayError as exc:
        auth = ("; a driver with token authentication on (RAY_AUTH_MODE, or a token file such "
                "as ~/.ray/auth_token) and a cluster with it off, or the other way round, "
                "read this way: set RAY_AUTH_MODE as the cluster has it"
                if _lost_objects(exc) else "")
        raise ClusterUnreachable(f"{what}: joined, but its workers cannot run a task that "
                                 f"reads what this driver sends ({_one_line(exc)}){auth}",
                                 address) from None


def _lost_objects(exc: BaseException) -> bool:
    """Whether a task failed because the owner of an object it needed was unreachable from
    its worker. The owner of what a batch reads is this driver, which is alive: the cluster
    or the connection to it is at fault. (Other lost objects, a result on a node that died
    and could not be rebuilt, are the batch's failure, recorded as such.)"""
    from ray.exceptions import OwnerDiedError

    return isinstance(exc, OwnerDiedError) or isinstance(getattr(exc, "cause", None),
                                                         OwnerDiedError)


def _lost_objects_text(exc: BaseException) -> str:
    return (f"the Ray cluster lost what this driver sent its workers ({_one_line(exc)}): a "
            "fault of the cluster or of the connection to it, not of a candidate, so "
            "nothing was recorded for that batch")


def _full_text(exc: BaseException) -> str:
    """A Ray-level failure's whole report, for the records' ``traceback`` column."""
    return _ANSI.sub("", f"{type(exc).__name__}: {exc}").strip()


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
