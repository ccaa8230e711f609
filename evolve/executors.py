"""Executors: where evaluations run. The search loop only calls ``map``; distribution
belongs here (STYLE §9), so strategies and rules never import Ray.

``map(fn, items)`` yields ``(index, result)`` pairs as results become available — in any
order — so the loop can record results as they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar


class Executor:
    """Contract: ``map`` is called once per generation with the chunk evaluator and chunks;
    ``close`` once when the search ends (normally or not)."""

    name: ClassVar[str] = ""

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            shared: Sequence[Any] = ()) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def close(self) -> None:
        pass


class SerialExecutor(Executor):
    """In-process, in order: for tests, debugging and a laptop without Ray."""

    name = "serial"

    def map(self, fn: Callable[..., Any], items: Sequence[Any],
            shared: Sequence[Any] = ()) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(*shared, item)


EXECUTORS: dict[str, Callable[..., Executor]] = {"serial": SerialExecutor}


def make_executor(name: str, **options: Any) -> Executor:
    try:
        factory = EXECUTORS[name]
    except KeyError:
        raise KeyError(
            f"executor.name: unknown executor {name!r}; expected one of {sorted(EXECUTORS)}"
        ) from None
    return factory(**options)
