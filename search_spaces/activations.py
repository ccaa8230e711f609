"""Activation functions a node group may carry.

Codes are positions in :data:`ACTIVATIONS`; compiled nets store a code per neuron so that
one batched tensor program can apply a different function to every neuron. Rules that
need the derivative (fa, dfa, pc, ...) get it from :func:`derivative` instead of autograd,
which keeps their updates local.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "identity": lambda z: z,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "elu": torch.nn.functional.elu,
    "hardsigmoid": lambda z: torch.clamp(z, 0.0, 1.0),
}
NAMES: tuple[str, ...] = tuple(ACTIVATIONS)
CODES: dict[str, int] = {name: code for code, name in enumerate(NAMES)}


def code_of(name: str) -> int:
    """The integer code of an activation name (``KeyError`` lists the known names)."""
    try:
        return CODES[name]
    except KeyError:
        raise KeyError(f"unknown activation {name!r}; expected one of {list(NAMES)}") from None


def apply(z: torch.Tensor, codes: torch.Tensor, present: tuple[int, ...]) -> torch.Tensor:
    """Apply per-neuron activations; ``codes`` broadcasts against ``z`` on the last axis.

    ``present`` lists the codes that occur, so a level with one activation costs one call.
    """
    if len(present) == 1:
        return ACTIVATIONS[NAMES[present[0]]](z)
    out = torch.zeros_like(z)
    for code in present:
        out = torch.where(codes == code, ACTIVATIONS[NAMES[code]](z), out)
    return out


def derivative(z: torch.Tensor, codes: torch.Tensor, present: tuple[int, ...]) -> torch.Tensor:
    """f'(z) per neuron, computed in closed form (no autograd graph)."""
    return value_and_derivative(z, codes, present)[1]


def value_and_derivative(z: torch.Tensor, codes: torch.Tensor, present: tuple[int, ...]
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(f(z), f'(z))`` per neuron. Relaxation loops (pc) need both at every step; the
    derivative of tanh, sigmoid and elu follows from the value, so each transcendental
    function is evaluated once instead of twice."""
    if len(present) == 1:
        return _value_and_derivative(NAMES[present[0]], z)
    value, slope = torch.zeros_like(z), torch.zeros_like(z)
    for code in present:
        f, d = _value_and_derivative(NAMES[code], z)
        chosen = codes == code
        value = torch.where(chosen, f, value)
        slope = torch.where(chosen, d, slope)
    return value, slope


def _value_and_derivative(name: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = ACTIVATIONS[name](z)
    if name == "identity":
        d = torch.ones_like(z)
    elif name == "relu":
        d = (z > 0).to(z.dtype)
    elif name == "tanh":
        d = 1.0 - f * f
    elif name == "sigmoid":
        d = f * (1.0 - f)
    elif name == "elu":
        d = torch.where(z > 0, 1.0, f + 1.0)  # α e^z = elu(z) + α for z <= 0 (α = 1)
    elif name == "hardsigmoid":
        d = ((z > 0) & (z < 1)).to(z.dtype)
    else:  # pragma: no cover - guarded by the table above
        raise KeyError(name)
    return f, d


class RowActivations:
    """Per-neuron activations of one level for neurons × batch tensors ``z[P, n, B]``.

    A level that mixes activations would otherwise evaluate every function on every neuron
    and select with ``torch.where``; here each function runs on its own neurons only
    (rows gathered once per call, indices computed once per level), which is what a
    relaxation loop that revisits the same level hundreds of times wants.
    """

    def __init__(self, codes: torch.Tensor, present: tuple[int, ...]) -> None:
        self.single = NAMES[present[0]] if len(present) == 1 else None
        self.rows_per_member = codes.shape[-1]
        flat = codes.reshape(-1)  # [P * n]: one code per row of z.reshape(P * n, B)
        self.groups = [] if self.single else [(NAMES[c], (flat == c).nonzero().squeeze(1))
                                              for c in present]

    def prefix(self, k: int) -> RowActivations:
        """The same plan for the first ``k`` members (``z[:k]``): each function's rows there
        (row indices ascend, so they are a prefix of its rows)."""
        out = copy.copy(self)
        end = k * self.rows_per_member
        out.groups = [(name, index[:int((index < end).sum())]) for name, index in self.groups]
        return out

    def value_and_derivative(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.single is not None:
            return _value_and_derivative(self.single, z)
        rows = z.reshape(-1, z.shape[-1])
        # rows whose code is not in ``present`` (padding) stay 0, as in :func:`apply`
        value, slope = torch.zeros_like(rows), torch.zeros_like(rows)
        for name, index in self.groups:
            f, d = _value_and_derivative(name, rows.index_select(0, index))
            value.index_copy_(0, index, f)
            slope.index_copy_(0, index, d)
        return value.view_as(z), slope.view_as(z)
