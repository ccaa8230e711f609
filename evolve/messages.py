"""What errors tell users: one line of text, and the run they leave behind.

Errors reach users as single lines (the CLI's ``neurevo: error: …``, a failed evaluation's
``error`` column in the run records), and the messages they wrap often span lines: a
pyarrow or Ray error, a user's own exception. One helper keeps them all flattened alike.

This module imports nothing heavy, so the CLI can report an error (a Ctrl-C while torch
is being imported included) without importing the search to do it.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

# Set on an exception that escapes a run once it is recorded (its checkpoint exists): the
# run directory, which ``neurevo resume`` continues. An exception without it left no run.
RUN_ATTRIBUTE = "neurevo_run"


def one_line(what: object) -> str:
    """``what`` (a message, or an exception's message) with its whitespace runs collapsed.

    A ``KeyError`` is read by its argument: ``str(KeyError("x"))`` quotes it, and the quotes
    would end up inside the sentence that names the missing key.
    """
    if isinstance(what, KeyError) and what.args:
        what = what.args[0]
    return " ".join(str(what).split())


def shown(value: object, limit: int = 60) -> str:
    """``value``'s repr for a one-line message, at most ``limit`` characters (:func:`cut`)."""
    return cut(repr(value), limit)


def cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, cut with ``...`` so that a cut is seen as
    one (a dict cut mid-entry read as a malformed value)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


class UnknownName(KeyError):
    """A name nothing is registered under (an objective, a constraint, a cost function, an
    executor): a ``KeyError``, as any lookup by name, but one whose message prints as written
    (``KeyError`` prints its argument's repr, in quotes, with its quotes escaped)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class SetupPluginFailed(ValueError):
    """A user's plug-in failed where the search calls it before any candidate (a cost
    function or a ``covers_space`` objective on the space's costliest network): one line
    naming it, and no run."""


# Set on an exception raised inside a user's plug-in (an objective, a constraint, a cost
# function): which one, as a message names it ("objective depth", "cost_fn my_cost").
PLUGIN_ATTRIBUTE = "neurevo_plugin"


@contextmanager
def blamed_on(plugin: str) -> Iterator[None]:
    """Mark an exception escaping the block with the ``plugin`` it came from (the innermost
    mark wins), so the failed candidate's error names the plug-in, not just the exception."""
    try:
        yield
    except Exception as exc:
        if getattr(exc, PLUGIN_ATTRIBUTE, None) is None and not _out_of_memory(exc):
            with suppress(AttributeError):  # an exception type that takes no attributes
                setattr(exc, PLUGIN_ATTRIBUTE, plugin)
        raise


def _out_of_memory(exc: BaseException) -> bool:
    """A machine that ran out of memory (``MemoryError``, torch's ``OutOfMemoryError`` on
    a GPU) is not the plug-in's fault, whatever was running: its message says what it is,
    and the plug-in's name in front of it would send a user looking for a bug."""
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def plugin_failure(exc: BaseException, where: str | None = None) -> str:
    """One line for a failure while scoring a candidate: the plug-in that raised (or
    ``where``, if none is marked; neither if both are missing, or if the machine ran out
    of memory), the exception's type and its message. A message that
    already starts with the plug-in's name (neurevo's own check of what it returned) is
    kept as it is."""
    plugin = getattr(exc, PLUGIN_ATTRIBUTE, None)
    text = one_line(exc)
    if _out_of_memory(exc):  # the machine's limit: not blamed on ``where`` either
        return f"{type(exc).__name__}: {text}"
    if plugin:
        detail = failure_detail(exc, plugin)
        return detail if detail == text else f"{type(exc).__name__} in {plugin}: {text}"
    if not where:
        return f"{type(exc).__name__}: {text}"
    return f"{type(exc).__name__} in {where}: {text}"


def failure_detail(exc: BaseException, plugin: str) -> str:
    """``exc`` in one line for a sentence about ``plugin``: its message alone when it
    already names the plug-in (neurevo's own check of a result), else type and message."""
    text = one_line(exc)
    return text if text.startswith(plugin) else f"{type(exc).__name__}: {text}"


def plural(count: int, noun: str) -> str:
    """``1 generation``, ``2 generations``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
