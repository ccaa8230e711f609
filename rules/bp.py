"""Backpropagation (Rumelhart et al. 1986) of the cross-entropy gradient, with Adam.

The baseline and the accuracy yardstick for every local rule: same nets, same init, same
optimiser (rules/optim.py), same data pipeline.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from rules.base import HyperSpace, LearningRule, Limit
from rules.local import INIT_SCALE, LR
from rules.optim import Adam
from rules.registry import register
from search_spaces.net import Net, Params, forward


@register
class Backprop(LearningRule):
    name = "bp"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "backpropagation of the cross-entropy gradient, Adam"
    limits = {
        "WT": Limit(False, "autograd sends the error down through the forward blocks themselves, "
                           "transposed"),
        "FL": Limit(False, "the gradient starts at the output's cross-entropy, so no block "
                           "updates before the forward pass ends"),
        "BL": Limit(False, "autograd carries the error down one level at a time; a block's "
                           "gradient waits for every level above it"),
        "FBD": Limit(False, "the backward pass multiplies the error by f′(z_l) at every level it "
                            "crosses"),
    }

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=3e-3), INIT_SCALE))

    def init_state(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> Adam:
        for t in _trained(params):
            t.requires_grad_(True)
        return Adam.for_params(_trained(params), [h["lr"] for h in hyper])

    def select_state(self, state: Adam, params: Params, keep: torch.Tensor) -> Adam:
        for t in _trained(params):
            t.requires_grad_(True)
        return state.select(keep)

    def train_step(self, net: Net, params: Params, state: Adam, x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
        # the weights are zero off the genome's edges (init masks them, and their gradients
        # are masked below, so Adam never moves them): the forward pass skips the mask
        # multiplication and its backward, and one pass masks every block's gradient —
        # the same numbers as differentiating through W ⊙ M
        logits, _ = forward(net, params, x, premasked=True)
        loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(dim=1)
        tensors = _trained(params)
        grads = list(torch.autograd.grad(loss.sum(), tensors))
        torch._foreach_mul_(grads[:net.depth], list(net.masks))
        state.apply(tensors, grads)
        return loss.detach()

    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        return forward(net, params, x)[0]


def _trained(params: Params) -> list[torch.Tensor]:
    """The tensors bp trains: the feedforward blocks. A feedforward pass does not use
    recurrent edges, so their weights get no gradient and stay at their initial values."""
    return [*params.weights, *params.biases]
