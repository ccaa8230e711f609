"""Ablations of a rule's hidden-level credit: the controls that show a rule learns its
hidden levels at all.

A rule's accuracy alone cannot say whether its hidden levels learned anything: a net whose
hidden levels keep their random initial weights, with only the output level trained, already
reaches ~36% on mnist1d (40-256-256-10) and ~94% on digits (benchmarks/rules.py, column
"frozen"). :func:`ablated` builds the same rule with its hidden-level updates broken in one
of two ways, at the one place every rule hands its updates over (the per-member Adam of
rules/optim.py, which every rule in this package steps with):

- ``"zero"``: hidden weights and biases get no update, so they stay at their initial values
  and only the output level learns — with bp, this is the *frozen-hidden control*;
- ``"random"``: each hidden block's update is replaced by a random direction of the same
  per-member size, redrawn every step — what feedback drawn afresh at every step delivers
  (no credit consistent over steps).

"Hidden" means every tensor but the top level's block and bias (recurrent couplings
included). A learning test that a rule passes must fail for both ablations
(tests/test_rule_learning.py checks that it does).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rules.base import LearningRule
from rules.optim import Adam
from search_spaces.net import Net, Params

MODES = ("zero", "random")


class _AblatedAdam:
    """Stands in for a rule's :class:`Adam`: breaks the hidden updates, then steps."""

    def __init__(self, inner: Adam, depth: int, mode: str, seed: int) -> None:
        self.inner = inner
        self.kept = {depth - 1, 2 * depth - 1}  # the top level's block and bias
        self.mode = mode
        self.generator = torch.Generator().manual_seed(seed)

    def __getattr__(self, name: str) -> Any:  # lr, m, v, step: the wrapped optimiser's
        return getattr(self.inner, name)

    @torch.no_grad()
    def apply(self, tensors: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        out = []
        for i, g in enumerate(grads):
            if i in self.kept:
                out.append(g)
            elif self.mode == "zero":
                out.append(torch.zeros_like(g))
            else:
                noise = torch.randn(g.shape, generator=self.generator, dtype=g.dtype)
                noise = noise * (g != 0)  # masked (absent) entries stay without update
                dims = tuple(range(1, g.dim()))
                size = g.norm(dim=dims, keepdim=True) / noise.norm(dim=dims, keepdim=True)
                out.append(noise * torch.nan_to_num(size))
        self.inner.apply(tensors, out)


def ablated(rule: LearningRule, mode: str, seed: int = 0) -> LearningRule:
    """A copy of ``rule`` whose hidden-level updates are zeroed or randomised (see module)."""
    if mode not in MODES:
        raise ValueError(f"ablation mode must be one of {list(MODES)}, got {mode!r}")
    base = type(rule)

    def init_state(self: LearningRule, net: Net, params: Params,
                   hyper: Sequence[Mapping[str, float]], seeds: Sequence[int]) -> Any:
        state = base.init_state(self, net, params, hyper, seeds)
        if isinstance(state, Adam):
            return _AblatedAdam(state, net.depth, mode, seed)
        if not isinstance(getattr(state, "optimizer", None), Adam):
            raise TypeError(f"rule {rule.name}: its state has no Adam optimiser to ablate")
        state.optimizer = _AblatedAdam(state.optimizer, net.depth, mode, seed)
        return state

    cls = type(f"{base.__name__}Ablated{mode.title()}", (base,), {"init_state": init_state})
    out = copy.copy(rule)
    out.__class__ = cls
    return out


def frozen_hidden_control() -> LearningRule:
    """bp training only the output level: the accuracy a net's random hidden levels give."""
    from rules.registry import get_rule

    return ablated(get_rule("bp"), "zero")
