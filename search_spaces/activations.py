"""Activation functions a node group may carry.

Codes are positions in :data:`ACTIVATIONS`; compiled nets store a code per neuron so that
one batched tensor program can apply a different function to every neuron. Rules that
need the derivative (fa, dfa, pc, ...) get it from :func:`derivative` instead of autograd,
which keeps their updates local.
"""

from __future__ import annotations

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
    out = torch.zeros_like(z)
    for code in present:
        name = NAMES[code]
        if name == "identity":
            d = torch.ones_like(z)
        elif name == "relu":
            d = (z > 0).to(z.dtype)
        elif name == "tanh":
            d = 1.0 - torch.tanh(z) ** 2
        elif name == "sigmoid":
            s = torch.sigmoid(z)
            d = s * (1.0 - s)
        elif name == "elu":
            d = torch.where(z > 0, torch.ones_like(z), torch.exp(z))
        elif name == "hardsigmoid":
            d = ((z > 0) & (z < 1)).to(z.dtype)
        else:  # pragma: no cover - guarded by the table above
            raise KeyError(name)
        out = d if len(present) == 1 else torch.where(codes == code, d, out)
    return out
