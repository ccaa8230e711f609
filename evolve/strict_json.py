"""JSON that every reader takes: figures a run lacks are ``null``, never ``NaN``.

Python's ``json`` writes NaN and infinity as bare tokens, an extension strict parsers
(JavaScript's, jq's, most other languages') refuse; a benchmark's JSON written that way can
be read back only by Python. Benchmarks record missing figures (a diverged fit, a path not
timed, a comparison without its baseline) as NaN while they compute, so they write through
here."""

from __future__ import annotations

import json
import math
from typing import Any


def strict(value: Any) -> Any:
    """``value`` with every NaN or infinity, at any depth of dicts, lists and tuples, as
    ``None``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [strict(v) for v in value]
    return value


def dumps(value: Any, indent: int | None = 2) -> str:
    """``value`` as strict JSON (non-finite floats as ``null``)."""
    return json.dumps(strict(value), indent=indent, allow_nan=False)
