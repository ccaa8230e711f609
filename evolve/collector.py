"""Python's cyclic garbage collector, paused while the driver builds a population's worth of
objects at once.

``ask``/``tell`` and the recording of a generation build tens of thousands of small dicts,
lists and genomes in one go. Each batch of new containers sets off the collector, and every
full collection walks every container the process holds, the whole strategy state included,
so the driver's time grew faster than the population (``benchmarks/driver.py`` prints the
ratio of population 10,000 to 1,000). What these steps build holds no reference cycles, so
reference counting frees their garbage without the collector; whatever is cyclic is
collected after.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic collector off for the duration, back on after if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
