"""Which relaxation path a rule takes: the one home of the ``kernel`` rule option.

pc, ep and chl each take ``kernel = auto | torch | triton``. ``torch`` is the reference
path; ``triton`` runs the fused kernel (compiled on CUDA tensors, or Triton's CPU
interpreter when ``TRITON_INTERPRET=1``, which is for checking, not speed); ``auto`` picks
Triton only where it pays off — CUDA tensors, triton importable, and a net of at most
:data:`AUTO_MAX_ROWS` non-input neurons — and torch elsewhere. Both paths agree within 1e-4
(tests/test_kernels.py on the CPU's interpreter; on an H200, ``benchmarks/kernels.py`` measured
relative errors of at most 2e-5), so the choice changes speed, not results, and ``auto`` is
the default.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeVar

import torch

from rules.kernels import interpreting, triton_available
from rules.registry import RuleOptionError

KERNELS = ("auto", "torch", "triton")
DEFAULT_KERNEL = "auto"  # the default of every rule's ``kernel`` option
# where ``auto`` takes the kernel: on an H200 (benchmarks/kernels.py, one minibatch of 64
# on 16 and 64 members) the kernel beat the torch path 25-38x (pc) and 2x (ep, chl) at 64
# non-input neurons; at 128 it lost on Triton's default 4 warps (0.4-1.1x) and, on the warps
# each kernel's WARPS now gives a 128-row block, was 1.0-2.6x (pc) and 1.8-2.8x (ep, chl)
# (benchmarks/results/kernels_gpu_tuned.json), so ``auto`` takes it wherever it fits: this
# equals the kernels' MAX_ROWS, and stays a gate of its own for GPUs where that differs
AUTO_MAX_ROWS = 128
T = TypeVar("T")


def check_kernel(rule: str, kernel: str) -> str:
    """``kernel`` if it is one of :data:`KERNELS`, else a :class:`RuleOptionError` naming
    the rule and the option."""
    if kernel not in KERNELS:
        raise RuleOptionError(f"rule {rule}: option kernel must be one of {list(KERNELS)}, "
                              f"got {kernel!r}")
    return kernel


def triton_runs(on_cuda: bool) -> bool:
    """Whether an explicit ``kernel = 'triton'`` can run for tensors on CUDA (``on_cuda``) or
    on the CPU: compiled on CUDA, or under Triton's CPU interpreter (``TRITON_INTERPRET=1``).
    The rule asks it of each minibatch; a search asks it of its training device before the
    run starts."""
    return on_cuda or interpreting()


def use_triton(rule: str, kernel: str, x: torch.Tensor, fits: bool, rows: int) -> bool:
    """Whether this minibatch's relaxation runs in the Triton kernel. ``fits`` says whether
    the kernel can take this net at all (size, depth), ``rows`` how many non-input neurons
    it has; an explicit ``triton`` that cannot run at all (no triton, or CPU tensors without
    the interpreter) is an error, not a silent fallback, while a net that does not fit falls
    back to torch."""
    if kernel == "torch":
        return False
    if kernel == "auto":
        return fits and rows <= AUTO_MAX_ROWS and x.is_cuda and triton_available()
    if not triton_available():
        raise RuntimeError(f"rule {rule}: option kernel='triton' needs triton installed "
                           "(pip install triton)")
    if not triton_runs(x.is_cuda):
        raise RuntimeError(f"rule {rule}: compiled Triton kernels need CUDA tensors; on the "
                           "CPU set TRITON_INTERPRET=1 (slow, for checking) or kernel='torch'")
    return fits


def run_fused(rule: str, kernel: str, fused: Callable[[], T], reference: Callable[[], T]) -> T:
    """``fused()``; under ``kernel = auto``, ``reference()`` (the torch path, with a
    warning) if the GPU cannot hold the kernel's on-chip tile (Triton's ``OutOfResources``,
    raised at compile time, before anything is written), so the default never fails a run
    the torch path can do. An explicit ``triton`` raises it."""
    try:
        return fused()
    except Exception as exc:
        from triton.runtime.errors import OutOfResources

        if kernel != "auto" or not isinstance(exc, OutOfResources):
            raise
        warnings.warn(f"rule {rule}: the fused kernel does not fit this GPU ({exc}); "
                      "relaxing with torch", RuntimeWarning, stacklevel=2)
        return reference()
