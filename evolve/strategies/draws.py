"""A numpy ``Generator`` whose scalar ``random()`` and ``integers(n)`` cost less per call.

NEAT's reproduction still draws some numbers one at a time: crossover's choice per matching
gene and the operators' choices (at population 10,000 about 19,000 ``random()`` and 11,000
``integers(n)`` calls a generation, ``benchmarks/driver.py``; the tournaments and operator
decisions are drawn as arrays), where numpy's per-call overhead — argument parsing, dtype
lookup — outweighs the draw. :class:`FastDraws` is a ``Generator`` over the
*same* bit generator (one state, so draws interleave with the inherited methods exactly as
before) that answers those two calls through the bit generator's ctypes interface:
``random()`` is its ``next_double``, ``integers(n)`` is numpy's bounded draw for a range below
2^32 (Lemire's multiply-shift rejection on ``next_uint32``, as numpy's
``buffered_bounded_lemire_uint32``). Every other call goes to numpy.

The numbers are numpy's: :func:`fast_draws` checks that on a fixed seed first, and hands
back the plain generator if this numpy draws differently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_UINT32 = 0xFFFFFFFF


class FastDraws(np.random.Generator):
    """See the module docstring; build it with :func:`fast_draws`."""

    def __init__(self, bit_generator: np.random.BitGenerator) -> None:
        super().__init__(bit_generator)
        interface = bit_generator.ctypes
        self._state = interface.state
        self._next_uint32 = interface.next_uint32
        self._next_double = interface.next_double

    def random(self, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return super().random(*args, **kwargs)
        return self._next_double(self._state)

    def integers(self, low: Any, high: Any = None, *args: Any, **kwargs: Any) -> Any:
        if high is not None or args or kwargs or type(low) is not int or not 1 <= low <= _UINT32:
            return super().integers(low, high, *args, **kwargs)
        if low == 1:
            return 0  # a range of one value: numpy draws nothing
        draw, state = self._next_uint32, self._state
        product = draw(state) * low
        leftover = product & _UINT32
        if leftover < low:
            threshold = (_UINT32 - (low - 1)) % low
            while leftover < threshold:
                product = draw(state) * low
                leftover = product & _UINT32
        return product >> 32


def _draws_like_numpy() -> bool:
    """Do FastDraws' two calls give numpy's numbers (and leave its state) on a fixed seed?"""
    plain = np.random.default_rng(20021)
    fast = FastDraws(np.random.default_rng(20021).bit_generator)
    for n in (1, 2, 3, 5, 7, 10, 24, 1000, 2**31 + 11, _UINT32, 2**32, 2**40):
        for _ in range(50):
            if int(plain.integers(n)) != int(fast.integers(n)):
                return False
            if plain.random() != fast.random():
                return False
    return plain.bit_generator.state == fast.bit_generator.state


_FAST = _draws_like_numpy()


def fast_draws(rng: np.random.Generator) -> np.random.Generator:
    """A generator drawing from ``rng``'s bit generator (its state moves with every draw)
    with the cheap scalar calls, or ``rng`` itself where numpy draws differently."""
    if not _FAST or type(rng.bit_generator).__name__ != "PCG64":
        return rng
    return FastDraws(rng.bit_generator)
