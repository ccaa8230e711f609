"""One home for turning an exception or a message into one line of text.

Errors reach users as single lines (the CLI's ``neurevo: error: …``, a failed evaluation's
``error`` column in the run records), and the messages they wrap often span lines: a
pyarrow or Ray error, a user's own exception. One helper keeps them all flattened alike.
"""
from __future__ import annotations


def one_line(what: object) -> str:
    """``what`` (a message, or an exception's message) with its whitespace runs collapsed.

    A ``KeyError`` is read by its argument: ``str(KeyError("x"))`` quotes it, and the quotes
    would end up inside the sentence that names the missing key.
    """
    if isinstance(what, KeyError) and what.args:
        what = what.args[0]
    return " ".join(str(what).split())
