"""Keep freed tensor memory in the process for the next step, instead of returning it to
the kernel.

glibc's malloc serves large blocks by ``mmap`` and gives them back to the kernel on
``free``, and trims the top of its heap past a threshold; a training step frees and
reallocates the same megabyte-sized activations and gradients every step (a 32 × 64 × 128
float32 block is 1 MiB), so every step faults fresh zeroed pages in again: 11,161 minor
page faults per bp fit of the 32 identical 64-128-10 nets of benchmarks/throughput.py
(3 epochs of digits), 524 with the limits below (docs/benchmarks.md). Raising the mmap and
trim thresholds keeps those blocks in the heap, where the next step reuses them. It changes
no number a fit computes, only where its memory comes from; the process keeps up to
:data:`TRIM_THRESHOLD` of freed memory instead of returning it.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc <malloc.h>
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # blocks below this come from the heap (glibc's largest limit)
TRIM_THRESHOLD = 256 * 2**20  # free memory at the heap's top kept for reuse

_applied = False


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process (once; later calls do
    nothing). Returns whether they are in force: ``False`` where the C library is not
    glibc (no ``mallopt``), which changes only speed. Called where neurevo trains
    (each evaluation chunk, evolve/evaluate.py); a program that calls ``rule.fit`` itself
    can call it first."""
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied
