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

This file runs as that process (``python -I``), so it imports the standard library only.
"""

from __future__ import annotations

import contextlib
import os
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


def start(pids: list[int]) -> None:
    global _watchdog
    if not sys.platform.startswith("linux"):
        return
    stop()
    known = [f"{pid}:{start}" for pid in pids if (start := start_time(pid)) is not None]
    # -I: the watchdog imports nothing from this checkout's environment, only the stdlib
    _watchdog = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__), *known],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)


def stop() -> None:
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


def watch(known: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if sys.stdin.buffer.read() == b"stop":  # blocks until the driver stops Ray or is gone
        return
    targets = [tuple(item.split(":", 1)) for item in known]
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 0.0)):
        for pid, start in targets:
            if start_time(int(pid)) == start:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(
                start_time(int(pid)) == start for pid, start in targets):
            time.sleep(0.05)


if __name__ == "__main__":
    watch(sys.argv[1:])
