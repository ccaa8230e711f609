"""Adam (Kingma & Ba 2015) with one learning rate per population member.

Written out rather than taken from ``torch.optim`` because each member of a population
batch has its own learning rate (a continuous gene PSO moves), and the update must stay
elementwise so a member's trajectory is the same alone or batched:
``m ← β1 m + (1-β1) g``, ``v ← β2 v + (1-β2) g²``, ``w ← w - η s m̂ / (√v̂ + ε)``, where ``s``
is a per-member factor a learning-rate schedule sets (1 unless one does, see
:func:`cosine_factor`).
Every rule that produces a weight "gradient" (true or local) hands it to this optimiser, so
rules differ only in how they assign credit, never in how steps are taken.

The step runs as ``torch._foreach_*`` ops over all tensors at once, in place: a
population's step is memory-bound (a few passes over every parameter), so one call per
pass instead of one per tensor and pass, and no temporaries but the denominator, is what
it costs (benchmarks/throughput.py times the training it is part of).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
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
    # s per member: the schedule's factor on η (None: 1 for every member)
    scale: torch.Tensor | None = None
    # η broadcast against each tensor ([P, 1, ...]), built on the first step
    _lr_views: list[torch.Tensor] = field(default_factory=list, repr=False)

    @classmethod
    def for_params(cls, tensors: Sequence[torch.Tensor], lr: Sequence[float]) -> Adam:
        device = tensors[0].device if tensors else None  # Adam steps where the params live
        return cls(torch.tensor(list(lr), dtype=torch.float32, device=device),
                   [torch.zeros_like(t) for t in tensors], [torch.zeros_like(t) for t in tensors])

    def select(self, keep: torch.Tensor) -> Adam:
        """The optimiser of members ``keep`` (indices along the population axis): their
        learning rates and moments, at the same step count."""
        return Adam(self.lr[keep], [m[keep.to(m.device)] for m in self.m],
                    [v[keep.to(v.device)] for v in self.v], self.step, self.beta1, self.beta2,
                    self.eps, None if self.scale is None else self.scale[keep])

    @property
    def step_lr(self) -> torch.Tensor:
        """``[P]`` the step size each member takes now: η times the schedule's factor."""
        return self.lr if self.scale is None else self.lr * self.scale

    def set_scale(self, scale: torch.Tensor) -> None:
        """Set the schedule's factor ``s`` ``[P]`` on η for the steps that follow."""
        self.scale = scale.to(self.lr)
        self._lr_views = []  # rebuilt from the new step sizes on the next step

    @torch.no_grad()
    def apply(self, tensors: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
        """Descend along ``grads`` (one per tensor, same shapes, leading axis = member)."""
        tensors, grads = list(tensors), list(grads)
        if len(tensors) != len(self.m) or len(grads) != len(self.m):
            raise ValueError(f"Adam holds moments for {len(self.m)} tensors, got "
                             f"{len(tensors)} tensors and {len(grads)} gradients")
        if len(self._lr_views) != len(tensors):
            lr = self.step_lr
            self._lr_views = [lr.to(t.device).view(-1, *([1] * (t.dim() - 1)))
                              for t in tensors]
        self.step += 1
        c1 = 1 - self.beta1 ** self.step
        c2 = 1 - self.beta2 ** self.step
        torch._foreach_lerp_(self.m, grads, 1 - self.beta1)
        torch._foreach_mul_(self.v, self.beta2)
        torch._foreach_addcmul_(self.v, grads, grads, value=1 - self.beta2)
        # w -= η m̂ / (√v̂ + ε), with m̂ = m / c1 and √v̂ = √v / √c2
        floor = _sqrt_floor(self.eps, c2)
        if floor:
            # √ of zeros and subnormals is 7-30x slower than of normal numbers on x86 CPUs,
            # and v is mostly zeros where the genome has no edge (padding, masks): lift it
            # to a floor so small that √floor / √c2 + ε rounds to ε, as √v / √c2 + ε
            # already does for every v below it — the same denominators, bit for bit
            denom = torch._foreach_clamp_min(self.v, floor)
            torch._foreach_sqrt_(denom)
        else:
            denom = torch._foreach_sqrt(self.v)
        torch._foreach_div_(denom, math.sqrt(c2))
        torch._foreach_add_(denom, self.eps)
        torch._foreach_div_(denom, self._lr_views)  # (√v̂ + ε) / η
        torch._foreach_addcdiv_(tensors, self.m, denom, value=-1 / c1)


def _sqrt_floor(eps: float, c2: float) -> float:
    """The largest ``v`` (a power of 4, so its float32 square root is exact) below which
    ``float32(√v / √c2 + eps) == float32(eps)``: √v / √c2 stays under a quarter of eps's
    unit in the last place, well inside the half that rounding to nearest forgives. 0 when
    that bound is not a normal float32 (a tiny eps)."""
    eps32 = float(np.float32(eps))
    if not eps32 > 0:
        return 0.0
    bound = float(np.spacing(np.float32(eps32))) / 4 * math.sqrt(c2)  # on √v
    floor = 4.0 ** math.floor(math.log(bound * bound, 4))
    return floor if floor >= float(np.finfo(np.float32).tiny) else 0.0


def cosine_factor(amount: Sequence[float], progress: float) -> torch.Tensor:
    """The factor on η of a cosine decay (Loshchilov & Hutter 2017, SGDR without restarts)
    that anneals the share ``amount`` of η away over a fit: ``1 - a + a (1 + cos π t) / 2``
    at ``progress`` t in [0, 1]. ``a = 0`` keeps η constant, ``a = 1`` decays it to 0."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    a = torch.tensor(list(amount), dtype=torch.float32)
    return 1 - a + a * (1 + math.cos(math.pi * progress)) / 2
