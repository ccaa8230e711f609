"""Fused relaxation kernels (Triton) for the rules whose inner loop is a relaxation.

The torch path in each rule is the reference; a kernel here must reproduce it (the tests run
every kernel under Triton's CPU interpreter, ``TRITON_INTERPRET=1``, against the torch path).
Triton is optional: :func:`triton_available` says whether it can be used at all.
"""

from __future__ import annotations

import importlib.util
import os


def triton_available() -> bool:
    """Triton is installed (compiled kernels need CUDA; the interpreter runs on the CPU)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """Triton's CPU interpreter is on (it is read when triton is first imported)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")
