"""Executors: where evaluations run. The search loop only calls ``map``; distribution
belongs here, so strategies and rules never import Ray. This module holds the contract, the
in-process executor and the registry; the Ray executor is evolve/ray_executor.py.

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

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from evolve.messages import UnknownName

if TYPE_CHECKING:
    from evolve.config import ExecutorConfig


@dataclass(frozen=True)
class TaskFailure:
    status: str  # "failed" | "timeout"
    error: str
    detail: str = ""  # the executor's whole report of it, for the records' traceback column


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

    def __init__(self, config: ExecutorConfig | None = None) -> None:
        self.num_cpus = checked_config(config).num_cpus

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



def checked_config(config: ExecutorConfig | None) -> ExecutorConfig:
    """Executors take the typed config (None: its defaults), never loose keyword options: a
    misspelt setting is then the dataclass's TypeError naming it, instead of a setting
    silently dropped."""
    from evolve.config import ExecutorConfig

    if config is None:
        return ExecutorConfig()
    if not isinstance(config, ExecutorConfig):
        raise TypeError(f"an executor takes an evolve.config.ExecutorConfig, got "
                        f"{type(config).__name__}: build one, e.g. ExecutorConfig(name='ray', "
                        "max_retries=5)")
    return config


def _ray_executor(config: ExecutorConfig) -> Executor:
    from evolve.ray_executor import RayExecutor  # imports no Ray until it is used

    return RayExecutor(config)


EXECUTORS: dict[str, Callable[[ExecutorConfig], Executor]] = {
    "serial": SerialExecutor, "ray": _ray_executor}


def make_executor(config: ExecutorConfig) -> Executor:
    """The executor ``config.name`` names, with the config's settings."""
    config = checked_config(config)
    try:
        factory = EXECUTORS[config.name]
    except KeyError:
        raise UnknownName(f"executor.name: unknown executor {config.name!r}; expected one "
                          f"of {sorted(EXECUTORS)}") from None
    return factory(config)


