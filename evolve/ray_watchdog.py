"""A watchdog for a local Ray instance whose driver is killed with SIGKILL.

On Linux Ray ties its local instance to the driver with PR_SET_PDEATHSIG: GCS, raylet and
Ray's Python helpers die with the driver, and workers notice their raylet is gone within
~2 s. The raylet's agents (dashboard agent, runtime-env agent) notice at once too, but first
report the raylet's death to the GCS, which is dead as well, and give up only after that
call's 60 s timeout. The watchdog is a separate small process holding the read end of a pipe
from the driver: the kernel closes the write end however the driver ends, and unless the
driver said "stop" first (a normal shutdown: Ray already stopped everything), the watchdog
ends the instance's processes. It knows them by pid and start time, so a recycled pid is
never hit. Other systems have no PR_SET_PDEATHSIG; there Ray starts its own reaper
process instead (read in Ray's source, not measured), and no watchdog is started.

It is started *before* ``ray.init`` (:func:`track`): Ray's processes are up seconds before
``ray.init`` returns, and a driver killed in between would otherwise leave them for a
minute. Until the driver names the instance's processes (:func:`known`), the watchdog polls
the driver's process tree every :data:`POLL_S` seconds and keeps every new descendant.

This file runs as that process (``python -I``), so it imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

_watchdog: subprocess.Popen | None = None  # per Ray instance, like ray.init's own state


def start_time(pid: int) -> str | None:
    """The process's start time (None once it has ended): with the pid, its identity."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()  # after the command name
    except OSError:
        return None
    if fields[0] in (b"Z", b"X"):  # exited, only its exit status left
        return None
    return fields[19].decode()  # field 22 of proc_pid_stat(5): start time in clock ticks


POLL_S = 0.1  # how often the tree is read while the instance starts


def track() -> None:
    """Start watching before ``ray.init``: every process the driver's tree gains from now
    until :func:`known` is ended if the driver dies."""
    global _watchdog
    if not sys.platform.startswith("linux"):
        return
    stop()
    # what the driver has now is not the instance's; read here, not by the watchdog once it
    # has started, by when a loaded machine may have let ray.init start its first processes
    before = ",".join(f"{pid}:{st}" for pid, st in descendants(os.getpid()).items())
    # -I: the watchdog imports nothing from this checkout's environment, only the stdlib
    _watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__),
                                  f"--track={os.getpid()}", f"--before={before}"],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def known(pids: list[int]) -> None:
    """The instance is up: these are its processes (the watchdog stops polling)."""
    if _watchdog is None:
        return
    named = " ".join(f"{pid}:{start}" for pid in pids if (start := start_time(pid)) is not None)
    with contextlib.suppress(OSError):
        _watchdog.stdin.write(f"known {named}\n".encode())
        _watchdog.stdin.flush()


def stop() -> None:
    """A normal shutdown (Ray stopped its processes itself): the watchdog ends quietly."""
    global _watchdog
    if _watchdog is None:
        return
    with contextlib.suppress(OSError):
        _watchdog.stdin.write(b"stop\n")
    with contextlib.suppress(OSError):  # closed even when the write failed
        _watchdog.stdin.close()
    try:
        _watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:
        _watchdog.kill()
        _watchdog.wait()
    _watchdog = None


def descendants(root: int) -> dict[str, str]:
    """``{pid: start time}`` of every process below ``root`` (read from /proc at once)."""
    children: dict[str, list[str]] = {}
    starts: dict[str, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(fields[1].decode(), []).append(entry)  # field 4: parent pid
        starts[entry] = fields[19].decode()
    found: dict[str, str] = {}
    todo = list(children.get(str(root), []))
    while todo:
        pid = todo.pop()
        if pid in starts and pid not in found:
            found[pid] = starts[pid]
            todo.extend(children.get(pid, []))
    return found


def watch(argv: list[str]) -> None:
    """``--track=PID``: keep the new descendants of PID, all but ``--before=pid:start,...``
    (what it had before); ``pid:start`` arguments: known targets. Stdin: ``known pid:start
    ...`` ends the tracking; ``stop`` ends the watchdog quietly; its end without ``stop``
    (the driver is gone) ends every target."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    tracked = [int(a.split("=", 1)[1]) for a in argv if a.startswith("--track=")]
    targets = dict(tuple(a.split(":", 1)) for a in argv if not a.startswith("--"))
    before = dict(tuple(item.split(":", 1)) for a in argv if a.startswith("--before=")
                  for item in a.split("=", 1)[1].split(",") if item)
    before[str(os.getpid())] = start_time(os.getpid()) or ""  # the watchdog itself
    fd, pending = sys.stdin.buffer.fileno(), b""
    while True:
        ready, _, _ = select.select([fd], [], [], POLL_S if tracked else None)
        for root in tracked:
            targets.update({pid: st for pid, st in descendants(root).items()
                            if before.get(pid) != st})
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop() if chunk else b""
        for line in (*lines, *([] if chunk else [pending])):
            if line.strip() == b"stop":
                return
            if line.startswith(b"known"):
                targets.update(tuple(item.split(":", 1))
                               for item in line.decode().split()[1:])
                tracked = []
        if not chunk:  # the driver is gone
            break
    targets.pop(str(os.getpid()), None)  # never itself, however it was named
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        for pid, start in targets.items():
            if start_time(int(pid)) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
                start_time(int(pid)) == start for pid, start in targets.items()):
            time.sleep(0.05)


if __name__ == "__main__":
    watch(sys.argv[1:])
