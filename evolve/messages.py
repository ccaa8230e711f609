"""What errors tell users: one line of text, and the run they leave behind.

Errors reach users as single lines (the CLI's ``neurevo: error: …``, a failed evaluation's
``error`` column in the run records), and the messages they wrap often span lines: a
pyarrow or Ray error, a user's own exception. One helper keeps them all flattened alike.

This module imports nothing heavy, so the CLI can report an error (a Ctrl-C while torch
is being imported included) without importing the search to do it.
"""
from __future__ import annotations

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
