"""One process per run: an exclusive lock on ``RUN/.lock``, held by ``search`` and ``resume``
for the whole run.

Two processes writing one run directory interleave their generations, checkpoints and
``config.toml`` (a resume to 10 generations beside one to 4 leaves ``config.toml`` saying 4
next to 10 recorded generations), and both report success. The lock is ``flock`` on an open
file, so the kernel drops it when its holder exits or is killed: a crash never leaves a run
locked, and there is no stale-lock clean-up to get wrong.

The file's contents only name the holder (pid, host, start time, command) for the message a
second process gets. They are emptied on release, so a run that nobody holds has an empty
``.lock`` and its files hash the same before and after a refused or failed attempt. The file
is never removed: unlinking a lock file that another process has open would let two
processes each lock a file of the same name.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from evolve.records import LOCK_FILE, RecordError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: there is no flock to hold
    fcntl = None  # type: ignore[assignment]



class RunLocked(RecordError):
    """Another process holds the run; ``holder`` is what it wrote into the lock file."""

    def __init__(self, root: Path, holder: dict[str, Any]) -> None:
        self.root, self.holder = root, holder
        if holder.get("pid"):
            who = (f"pid {holder['pid']} on {holder.get('host', '?')}, "
                   f"`neurevo {holder.get('command', '?')}` since {holder.get('since', '?')}")
        else:
            who = "a process that is just starting"
        super().__init__(f"run {root} is in use by another neurevo process ({who}); one "
                         "process at a time may write a run: wait for it to finish or stop it")


class RunLock:
    """Refuses at once instead of waiting for the holder: a process queued behind a search of
    many hours would look hung, and would then run on a config.toml the holder changed."""

    def __init__(self, root: str | Path, command: str) -> None:
        self.root = Path(root)
        self.command = command
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.root / LOCK_FILE

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _wait_for_holder(fd)
            os.close(fd)
            raise RunLocked(self.root, holder) from None
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        try:
            held = os.fstat(fd)
            # the file's identity: a copy of a live run's directory copies this text too,
            # and must not read as held by the process that holds the original
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command,
                      "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "file": [held.st_dev, held.st_ino]}
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(holder) + "\n").encode(), 0)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        except OSError:  # a full or read-only disk must not keep the run locked
            pass
        finally:
            os.close(fd)  # closing drops the flock

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


HOLDER_WAIT_S = 2.0


def _wait_for_holder(fd: int) -> dict[str, Any]:
    """The holder writes its name just after taking the lock; a refused process that looked in
    between would read an empty file and could not say who to wait for or stop. So it polls
    briefly: an empty file for longer than ``HOLDER_WAIT_S`` means a holder that died between
    the two steps or cannot write, and the message then says so."""
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        holder = _read_holder(fd)
        if holder.get("pid") or time.monotonic() >= deadline:
            return holder
        time.sleep(0.02)


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        return _holder_of(os.pread(fd, 4096, 0))
    except OSError:
        return {}


def read_holder(root: str | Path) -> dict[str, Any]:
    """What the run's lock file names (``{}`` when nobody holds it), read without taking
    the lock: a process that only looks must not refuse a search starting just then. A
    holder that was killed leaves its name behind: whether it is alive is the reader's to
    judge. A file on the holder's host that is not the one it wrote (a copy of a live run's
    directory carries the text along) names nobody."""
    path = Path(root) / LOCK_FILE
    try:
        holder = _holder_of(path.read_bytes()[:4096])
        found = os.stat(path)
    except OSError:
        return {}
    written = holder.get("file")
    # compared on the holder's own host only: another host sees a shared filesystem under
    # device numbers of its own
    if isinstance(written, list) and holder.get("host") == socket.gethostname() and \
            written != [found.st_dev, found.st_ino]:
        return {}
    return holder


def _holder_of(data: bytes) -> dict[str, Any]:
    try:
        holder = json.loads(data.decode() or "{}")
    except ValueError:  # UnicodeDecodeError too
        return {}
    return holder if isinstance(holder, dict) else {}
