"""Adam (Kingma & Ba 2015) with one learning rate per population member.

Written out rather than taken from ``torch.optim`` because each member of a population
batch has its own learning rate (a continuous gene PSO moves), and the update must stay
elementwise so a member's trajectory is the same alone or batched:
``m ← β1 m + (1-β1) g``, ``v ← β2 v + (1-β2) g²``, ``w ← w - η m̂ / (√v̂ + ε)``.
Every rule that produces a weight "gradient" (true or local) hands it to this optimiser, so
rules differ only in how they assign credit, never in how steps are taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class Adam:
    lr: torch.Tensor  # [P] η per member
    m: list[torch.Tensor]
    v: list[torch.Tensor]
    step: int = 0
    beta1: float = 0.9  # β1
    beta2: float = 0.999  # β2
    eps: float = 1e-8  # ε

    @classmethod
    def for_params(cls, tensors: Sequence[torch.Tensor], lr: Sequence[float]) -> Adam:
        device = tensors[0].device if tensors else None  # Adam steps where the params live
        return cls(torch.tensor(list(lr), dtype=torch.float32, device=device),
                   [torch.zeros_like(t) for t in tensors], [torch.zeros_like(t) for t in tensors])

    @torch.no_grad()
    def apply(self, tensors: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """Descend along ``grads`` (one per tensor, same shapes, leading axis = member)."""
        self.step += 1
        c1 = 1 - self.beta1 ** self.step
        c2 = 1 - self.beta2 ** self.step
        for t, g, m, v in zip(tensors, grads, self.m, self.v, strict=True):
            m.mul_(self.beta1).add_(g, alpha=1 - self.beta1)
            v.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
            lr = self.lr.view(-1, *([1] * (t.dim() - 1)))
            t.sub_(lr * (m / c1) / ((v / c2).sqrt() + self.eps))
