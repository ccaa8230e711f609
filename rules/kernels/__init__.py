"""Fused relaxation kernels (Triton) for the rules whose inner loop is a relaxation.

The torch path in each rule is the reference; a kernel here must reproduce it (the tests run
every kernel under Triton's CPU interpreter, ``TRITON_INTERPRET=1``, against the torch path).
Triton is optional: :func:`triton_available` says whether it can be used at all.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def triton_available() -> bool:
    """Triton is installed (compiled kernels need CUDA; the interpreter runs on the CPU)."""
    return importlib.util.find_spec("triton") is not None


def interpreting() -> bool:
    """Triton's CPU interpreter is on (it is read when triton is first imported)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def relative_error(out: torch.Tensor | Sequence[torch.Tensor],
                   ref: torch.Tensor | Sequence[torch.Tensor]) -> float:
    """``‖out − ref‖ / ‖ref‖`` over all tensors of ``out`` and ``ref`` (matching sequences
    or single tensors), in float64: how far a kernel's result (relaxed states, trained
    parameters) is from the torch path's. NaN anywhere gives NaN, which no tolerance passes."""
    outs = out if isinstance(out, tuple | list) else (out,)
    refs = ref if isinstance(ref, tuple | list) else (ref,)
    diff = sum(float((o.double() - r.double()).pow(2).sum())
               for o, r in zip(outs, refs, strict=True))
    norm = sum(float(r.double().pow(2).sum()) for r in refs)
    return (diff / norm) ** 0.5 if norm > 0 else diff ** 0.5
