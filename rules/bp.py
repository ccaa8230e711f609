"""Backpropagation with Adam (Kingma & Ba 2015): the baseline and accuracy yardstick.

Adam is written out here rather than taken from ``torch.optim`` because each member of a
population batch has its own learning rate (a continuous gene PSO moves), and the update
must stay elementwise so a member's trajectory is the same alone or batched:
``m ← β1 m + (1-β1) g``, ``v ← β2 v + (1-β2) g²``, ``w ← w - η m̂ / (√v̂ + ε)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rules.base import Hyperparameter, HyperSpace, LearningRule
from rules.registry import register
from search_spaces.net import Net, Params, forward


@dataclass
class AdamState:
    lr: torch.Tensor  # [P] η per member
    m: list[torch.Tensor]
    v: list[torch.Tensor]
    step: int = 0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    @classmethod
    def for_params(cls, tensors: Sequence[torch.Tensor], lr: Sequence[float]) -> AdamState:
        return cls(torch.tensor(list(lr), dtype=torch.float32),
                   [torch.zeros_like(t) for t in tensors], [torch.zeros_like(t) for t in tensors])

    @torch.no_grad()
    def apply(self, tensors: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        self.step += 1
        c1 = 1 - self.beta1 ** self.step
        c2 = 1 - self.beta2 ** self.step
        for t, g, m, v in zip(tensors, grads, self.m, self.v, strict=True):
            m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            lr = self.lr.view(-1, *([1] * (t.dim() - 1)))
            t.sub_(lr * (m / c1) / ((v / c2).sqrt() + self.eps))


@register
class Backprop(LearningRule):
    name = "bp"
    description = "backpropagation of the cross-entropy gradient, Adam"

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((
            Hyperparameter("lr", 1e-4, 1e-1, 3e-3, log=True, doc="Adam step size η"),
            Hyperparameter("init_scale", 0.25, 4.0, 1.0, log=True,
                           doc="weight init bound multiplier (× 1/√fan_in)"),
        ))

    def init_state(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> AdamState:
        for t in _trained(params):
            t.requires_grad_(True)
        return AdamState.for_params(_trained(params), [h["lr"] for h in hyper])

    def train_step(self, net: Net, params: Params, state: AdamState, x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
        logits, _ = forward(net, params, x)
        loss = F.cross_entropy(logits.transpose(1, 2), y, reduction="none").mean(dim=1)
        tensors = _trained(params)
        grads = torch.autograd.grad(loss.sum(), tensors)
        state.apply(tensors, grads)
        return loss.detach()

    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        return forward(net, params, x)[0]


def _trained(params: Params) -> list[torch.Tensor]:
    """The tensors bp trains: the feedforward blocks. A feedforward pass does not use
    recurrent edges, so their weights get no gradient and stay at their initial values."""
    return [*params.weights, *params.biases]
