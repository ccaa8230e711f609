"""The local Ray instance a search starts: reachable from this machine only, and gone soon
after its driver is killed.

The search tests run `neurevo search` (default executor: a local Ray instance) as a
subprocess, so the driver and every Ray process of that instance form one process tree; only
that tree is inspected and, whatever happens, killed at the end (other Ray instances on the
machine are left alone).
"""

from __future__ import annotations

import contextlib
import ipaddress
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from evolve import ray_watchdog
from evolve.config import ExecutorConfig
from evolve.ray_executor import RayExecutor

GONE_WITHIN_S = 10.0  # before: the agents outlived a killed driver by ~61 s


def _search_command(out: Path, generations: int, epochs: int) -> list[str]:
    return [sys.executable, "-m", "evolve.cli", "search", "--task", "iris", "--rule", "bp",
            "--strategy", "neat", "--objectives", "accuracy,params",
            "--generations", str(generations), "--population", "8", "--seed", "1",
            "--out", str(out), "--set", f"training.epochs={epochs}",
            "--set", f"training.patience={epochs}", "--set", "executor.chunk_size=2",
            "--set", "executor.num_cpus=2"]


@pytest.fixture
def driver(tmp_path):
    """Start a search driver; on the way out kill it and every process it started."""
    started: list[subprocess.Popen] = []
    seen: dict[int, psutil.Process] = {}

    def start(generations: int = 3, epochs: int = 20) -> tuple[subprocess.Popen, dict]:
        log = open(tmp_path / f"driver-{len(started)}.log", "w+b")  # noqa: SIM115
        proc = subprocess.Popen(_search_command(tmp_path / "runs", generations, epochs),
                                stdout=subprocess.DEVNULL, stderr=log)
        proc.log = log  # a file, not a pipe: a chatty driver never blocks on it
        started.append(proc)
        return proc, seen

    try:
        yield start
    finally:
        for proc in started:
            if proc.poll() is None:
                seen.update(_tree(proc.pid))
                proc.kill()
            proc.wait(timeout=60)
            proc.log.close()
        for p in seen.values():
            with contextlib.suppress(psutil.Error):
                p.kill()  # psutil checks pid and start time: never a recycled pid


def _tree(pid: int) -> dict[int, psutil.Process]:
    try:
        root = psutil.Process(pid)
        return {p.pid: p for p in [root, *root.children(recursive=True)]}
    except psutil.Error:
        return {}


def _stderr(proc: subprocess.Popen) -> str:
    proc.log.seek(0)
    return proc.log.read().decode(errors="replace")[-3000:]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _left_after(procs: dict[int, psutil.Process], seconds: float) -> list[str]:
    deadline = time.time() + seconds
    alive = dict(procs)
    while alive and time.time() < deadline:
        alive = {pid: p for pid, p in alive.items() if _alive(p)}
        time.sleep(0.1)
    return sorted(_name(p) for p in alive.values())


def _name(p: psutil.Process) -> str:
    try:
        cmd = [c.strip() for c in p.cmdline()]
    except psutil.Error:
        return "?"
    if not cmd:
        return "?"
    first = Path(cmd[0]).name
    return cmd[0] if first.startswith("ray::") else (
        first if "python" not in first else " ".join(Path(c).name for c in cmd[1:3]))


def _listeners(procs: dict[int, psutil.Process]) -> set[tuple[str, str, int]]:
    """(process, address, port) of every socket that accepts connections or datagrams."""
    found = set()
    for p in procs.values():
        try:
            conns = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        for c in conns:
            listening = (c.status == psutil.CONN_LISTEN if c.type == socket.SOCK_STREAM
                         else not c.raddr)
            if listening:
                found.add((_name(p), c.laddr.ip, c.laddr.port))
    return found


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _wait_for(predicate, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate():
        assert proc.poll() is None, _stderr(proc)
        time.sleep(0.1)
    assert predicate(), f"not within {timeout} s"


def test_every_ray_service_of_a_local_instance_listens_on_loopback_only(driver):
    proc, procs = driver(generations=2, epochs=10)
    seen: set[tuple[str, str, int]] = set()
    while proc.poll() is None:
        tree = _tree(proc.pid)
        procs.update(tree)
        seen |= _listeners(tree)
        time.sleep(0.2)
    assert proc.returncode == 0, _stderr(proc)
    left = _left_after(procs, GONE_WITHIN_S)
    assert not left, f"a finished search left these running: {left}"
    names = {name for name, _, _ in seen}
    # the instance was really observed: GCS, raylet and at least one worker
    assert any("gcs_server" in n for n in names), seen
    assert any("raylet" in n for n in names), seen
    assert any(n.startswith("ray::") for n in names), seen
    wide = sorted(s for s in seen if not _loopback(s[1]))
    assert not wide, f"reachable from other machines: {wide}"


def test_killing_the_driver_stops_its_ray_processes(driver):
    proc, seen = driver(generations=30, epochs=60)

    def busy() -> bool:
        return any("evaluate_chunk" in _name(p) for p in _tree(proc.pid).values())

    _wait_for(busy, 180, proc)
    time.sleep(1.0)  # let the instance reach its steady state (agents, all workers)
    tree = _tree(proc.pid)
    seen.update(tree)
    helpers = {pid: p for pid, p in tree.items() if pid != proc.pid}
    assert any("raylet" in _name(p) for p in helpers.values())
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    left = _left_after(helpers, GONE_WITHIN_S)
    assert not left, f"still running {GONE_WITHIN_S:g} s after the driver was killed: {left}"


def test_the_watchdog_ends_the_processes_it_knows_only_when_the_driver_is_gone():
    sleepers = [subprocess.Popen(["sleep", "120"]) for _ in range(3)]
    try:
        mine, recycled, other = sleepers
        known = [f"{mine.pid}:{ray_watchdog.start_time(mine.pid)}",
                 f"{recycled.pid}:1"]  # same pid, another start time: not the process it knew
        command = [sys.executable, "-I", ray_watchdog.__file__, *known]
        watchdog = subprocess.Popen(command, stdin=subprocess.PIPE)
        watchdog.communicate(b"stop", timeout=30)  # a normal shutdown: nothing to end
        assert all(p.poll() is None for p in sleepers)
        watchdog = subprocess.Popen(command, stdin=subprocess.PIPE)
        watchdog.stdin.close()  # what the kernel does when the driver dies
        watchdog.wait(timeout=30)
        assert mine.wait(timeout=5) == -signal.SIGTERM
        assert recycled.poll() is None and other.poll() is None
    finally:
        for p in sleepers:
            p.kill()
            p.wait()


DRIVER = """
import subprocess, sys, time
sys.path.insert(0, sys.argv[1])
from evolve import ray_watchdog
earlier = subprocess.Popen(["sleep", "120"])    # the driver's own, from before: not Ray's
ray_watchdog.track()                            # what the executor does before ray.init
time.sleep(0.5)
# what ray.init does: processes below processes, then it is killed before it returns
later = subprocess.Popen(["sh", "-c", "sleep 120 & exec sleep 120"])
time.sleep(1.0)
print(earlier.pid, later.pid, flush=True)
time.sleep(120)
"""


def test_the_watchdog_ends_what_a_driver_started_before_it_named_its_instance(tmp_path):
    """Ray's processes are up seconds before ray.init returns: a driver killed then must not
    leave them. The watchdog, started first, keeps every process the driver's tree gains
    (grandchildren too) and ends them when the driver is gone, but not what the driver had
    before it started."""
    root = str(Path(ray_watchdog.__file__).resolve().parents[1])
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, root], stdout=subprocess.PIPE,
                              text=True)
    earlier = later = -1
    try:
        earlier, later = map(int, driver.stdout.readline().split())
        grandchild = [c.pid for c in psutil.Process(later).children()]
        assert len(grandchild) == 1
        driver.kill()
        driver.wait(timeout=30)
        for pid in (later, *grandchild):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).wait(timeout=30)  # a bound on waiting, not a measure
        assert not psutil.pid_exists(later) or psutil.Process(later).status() == "zombie"
        assert not psutil.pid_exists(grandchild[0]) or \
            psutil.Process(grandchild[0]).status() == "zombie"
        assert psutil.Process(earlier).is_running()
    finally:
        driver.kill()
        for pid in (earlier, later):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()


def test_a_local_instance_is_on_loopback_and_joining_a_cluster_is_left_as_it_was():
    import ray
    from ray._private import ray_constants

    cluster_mode = ray_constants.ENABLE_RAY_CLUSTER
    executor = RayExecutor(ExecutorConfig(num_cpus=1))
    try:
        executor.parallelism()  # starts the instance
        assert _loopback(ray.util.get_node_ip_address())
        assert cluster_mode == ray_constants.ENABLE_RAY_CLUSTER
        watchdog = ray_watchdog._watchdog
        assert watchdog is not None and watchdog.poll() is None
    finally:
        executor.close()
        ray.shutdown()
    assert watchdog.poll() is not None, "close() stops the watchdog"
