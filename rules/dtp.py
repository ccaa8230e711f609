"""Difference target propagation, DTP (Lee, Zhang, Fischer & Bengio 2015, ECML-PKDD,
arXiv:1412.7525).

Every level is trained to move its activity toward a *target*; targets are sent down by
learned approximate inverses instead of derivatives, with a difference correction that
cancels the inverse's reconstruction error.

Equations in the level-block notation of :mod:`search_spaces.net` (row vectors, one example;
``lower_l = cat(h_0..h_{l-1})``, ``h_l = f_l(W_l lower_l + b_l)``, ``K(k)`` = the columns of
level ``k`` inside a block, ``C(k)`` = the levels above ``k`` that read it)::

    inverse of level k   g_k(H) = f_k( Σ_{m>k} H_m V_m[:, K(k)] + c_k )    (V_m[:, K(k)] = 0
                                                                      unless m ∈ C(k))
    top target           ĥ_L = h_L - α ∂ℓ/∂h_L = h_L - α (softmax(h_L) - y)
    difference target    ĥ_k = h_k + g_k(ĥ_{>k}) - g_k(h_{>k})            k = L-1, ..., 1
    forward loss         ℒ_l = ½ ||h_l - ĥ_l||²  w.r.t. (W_l, b_l) only:
                         δ_l = (h_l - ĥ_l) ⊙ f_l'(z_l),  ∇W_l = δ_lᵀ lower_l / B
    inverse loss         ℒ^inv_k = ½ ||g_k(h̃_{>k}) - (h_k + ε)||²,   ε ~ N(0, σ²),
                         h̃_m = f_m(z_m + ε W_m[:, K(k)]ᵀ)   (only k's input perturbed)

Design choices and why:

- **Inverses on a DAG.** A level ``k`` may be read by several higher levels (skip edges) and
  need not be read by ``k+1`` at all, so an inverse "from the next level" would try to
  reconstruct ``h_k`` from a level that never saw it. Instead ``g_k`` inverts everything that
  reads ``k``: it maps the activities of all its consumers back to ``h_k`` through the genome's
  edges reversed. ``V_m`` is stored with the shape and mask of the forward block ``W_m``, so
  ``V_m[:, K(k)]`` is ``W_m[:, K(k)]ᵀ``'s partner; on a layered net this is exactly Lee et
  al.'s ``g_{l}(h_l) = f_{l-1}(V_l h_l + c_l)``. Targets still propagate level by level,
  top-down: every consumer's target exists before ``k``'s is formed. A level nothing reads
  gets ``ĥ_k = h_k`` (no credit to assign).
- ``g_k`` ends in level ``k``'s own (per-neuron) activation, so reconstructions live in the
  range of ``h_k`` (Lee et al. use tanh for both maps).
- The inverse is trained as Lee et al.: corrupt the level with Gaussian noise and reconstruct
  it from the consumers' response to the corrupted input; only that level's input changes
  (no cascade), so the loss stays local to the pair (k, its readers). With the forward maps
  fixed it falls steadily; during training its absolute value can rise while the hidden
  activities it reconstructs grow (seen on 64-32-10 relu), which is why the test holds the
  forward maps fixed. An inverse from a narrow reader (10 scores -> 128 units) is lossy by
  construction; the difference correction is what makes it usable.
- **Schedule.** Each minibatch first takes one Adam step on the inverses (own learning rate
  ``lr_inverse``, per member), then forms targets with the updated inverses and returns the
  forward directions. Bartunov et al. (2018) found alternating forward/inverse updates more
  stable than simultaneous ones; this is the per-minibatch form of that alternation.
- The output level's target is a gradient step (Lee et al.'s DTP, not
  Bartunov's SDTP), so its update is the cross-entropy gradient scaled by α; every hidden
  level gets its direction only through the inverses. No gradient crosses a level boundary.
- ``V`` is drawn like the forward weights (uniform ±1/√fan_in, masked), per member from its
  own seed (offset) in its own layout and scattered, ``c = 0``; the noise ``ε`` is drawn per
  member from its own generator in its own layout. So a member trains identically alone or
  in a padded population.
- The returned loss is the cross-entropy of the current weights (divergence → "failed").
- Defaults (``lr = lr_inverse = 3e-3``, ``α = 1``, ``σ = 0.1``) were set on digits
  (64-128-10, relu, 30 epochs, seeds 0-2; ``python benchmarks/rules.py --tasks digits
  --rules dtp``: 97.0 ± 1.1% test, bp 97.4 ± 0.2%); α in 0.1-1 and lr_inverse in 1e-3-1e-2
  were all within a point (the same command with ``--no-baselines --set dtp.alpha=0.1``,
  ``--set dtp.lr_inverse=1e-2``, ...). ReLU works with the difference correction; tanh (the
  reference's recommendation) works too. α is large by DTP standards because the top level
  here is the raw score vector, whose cross-entropy gradient is at most 1 per unit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rules.base import Hyperparameter, HyperSpace, Limit
from rules.local import (
    INIT_SCALE,
    LR,
    LocalRule,
    LocalState,
    activate,
    cross_entropy,
    derivative,
    level_columns,
    outer_mean,
    output_error,
    trace,
)
from rules.optim import Adam
from rules.registry import register
from search_spaces.compile import init_params
from search_spaces.net import Net, Params

LR_INVERSE = Hyperparameter("lr_inverse", 1e-4, 1e-1, 3e-3, log=True,
                            doc="Adam step size of the inverse maps (V, c)")
ALPHA = Hyperparameter("alpha", 0.01, 10.0, 1.0, log=True,
                       doc="top-target step α: ĥ_L = h_L - α ∂ℓ/∂h_L")
SIGMA = Hyperparameter("sigma", 0.01, 1.0, 0.1, log=True,
                       doc="std σ of the noise that trains the inverses")

_SEED_OFFSET = 0x445450  # "DTP": V and the noise stream are independent of the forward init


def inverse_seed(seed: int) -> int:
    return (int(seed) * 1_000_003 + _SEED_OFFSET) % (2**63 - 1)


@dataclasses.dataclass(frozen=True)
class DTPState:
    """dtp's learned inverses and what trains them: ``V_l`` (stored like ``W_l``) and
    biases ``c_l``, their own Adam, per-member α and σ, each member's noise stream, and the
    inverse loss ``[P]`` of every step so far (for monitoring and tests)."""

    V: list[torch.Tensor]  # noqa: N815 - the paper's name
    c: list[torch.Tensor]
    inverse_optimizer: Adam
    alpha: torch.Tensor
    sigma: torch.Tensor
    noise: list[torch.Generator]
    inverse_loss: list[torch.Tensor]


@register
class DTP(LocalRule[DTPState]):
    name = "dtp"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "difference target propagation: learned inverses send targets down, local fits"
    limits = {
        "WT": Limit(True, "targets go down through learned inverses V, separate weights trained "
                          "to reconstruct h_k; W is used only forwards"),
        "FL": Limit(False, "the top target ĥ_L = h_L − α ∂ℓ/∂h_L needs the output of the whole "
                           "forward pass"),
        "BL": Limit(False, "ĥ_k is formed from the targets of the levels that read k, so targets "
                           "travel level by level from the top"),
        "FBD": Limit(False, "each level's delta rule δ_l = (h_l − ĥ_l) ⊙ f_l′(z_l) multiplies by "
                            "f′ (forming the targets needs none)"),
    }

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=3e-3), INIT_SCALE, LR_INVERSE,
                           ALPHA, SIGMA))

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> DTPState:
        v = init_params(net, [inverse_seed(s) for s in seeds]).weights
        c = [torch.zeros_like(b) for b in params.biases]
        return DTPState(
            V=v,
            c=c,
            inverse_optimizer=Adam.for_params([*v, *c], [h["lr_inverse"] for h in hyper]),
            alpha=torch.tensor([h["alpha"] for h in hyper], dtype=torch.float32),
            sigma=torch.tensor([h["sigma"] for h in hyper], dtype=torch.float32),
            noise=[torch.Generator().manual_seed(inverse_seed(s) + 1) for s in seeds],
            inverse_loss=[],
        )

    # -- pieces (public so tests can check each against a hand computation) -------------
    @staticmethod
    def inverse(net: Net, state: LocalState[DTPState], level: int, above: list[torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``g_level`` of the activities ``above[m]`` of levels ``m > level`` (a list indexed
        by level, entries below ``level+1`` unused): (pre-activation, reconstruction)."""
        cols = level_columns(net, level)
        pre = state.extra.c[level - 1].unsqueeze(1)
        for m in range(level + 1, net.depth + 1):
            v = state.extra.V[m - 1][:, :, cols] * net.masks[m - 1][:, :, cols]
            pre = pre + torch.bmm(above[m], v)
        return pre, activate(net, level, pre)

    def noise(self, net: Net, state: LocalState[DTPState], batch: int
              ) -> list[torch.Tensor | None]:
        """``ε`` for every hidden level ([P, B, n_k]), drawn per member in its own layout."""
        eps: list[torch.Tensor | None] = [None] + [
            torch.zeros(net.population, batch, n, device=net.masks[0].device)
            for n in net.level_sizes[1:-1]] + [None]
        for p, member in enumerate(net.members):
            gen, sigma = state.extra.noise[p], float(state.extra.sigma[p])
            for own in range(1, len(member.level_sizes) - 1):
                n = member.level_sizes[own]
                eps[member.level_map[own]][p, :, :n] = torch.randn(  # drawn on the host
                    batch, n, generator=gen, device=gen.device) * sigma
        return eps

    def inverse_gradients(self, net: Net, params: Params, state: LocalState[DTPState], t: Any,
                          eps: list[torch.Tensor | None]
                          ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Gradients of ``Σ_k ℒ^inv_k`` w.r.t. ``V`` and ``c``, and that loss ``[P]``."""
        depth, batch = net.depth, t.h[0].shape[1]
        grad_v = [torch.zeros_like(v) for v in state.extra.V]
        grad_c = [torch.zeros_like(c) for c in state.extra.c]
        loss = torch.zeros(net.population, device=t.h[0].device)
        for k in range(1, depth):
            cols = level_columns(net, k)
            noisy = [None] * (depth + 1)
            for m in range(k + 1, depth + 1):
                w = params.weights[m - 1][:, :, cols] * net.masks[m - 1][:, :, cols]
                noisy[m] = activate(net, m, t.z[m] + torch.bmm(eps[k], w.transpose(1, 2)))
            pre, rec = self.inverse(net, state, k, noisy)
            err = rec - (t.h[k] + eps[k])
            loss += 0.5 * (err**2).sum(dim=2).mean(dim=1)
            u = err * derivative(net, k, pre)
            for m in range(k + 1, depth + 1):
                grad_v[m - 1][:, :, cols] += torch.bmm(noisy[m].transpose(1, 2), u) / batch
            grad_c[k - 1] += u.mean(dim=1)
        return grad_v, grad_c, loss

    def targets(self, net: Net, state: LocalState[DTPState], t: Any, y: torch.Tensor
                ) -> list[torch.Tensor | None]:
        """ĥ for every level (index 0 unused): gradient step on top, differences below."""
        depth = net.depth
        alpha = state.extra.alpha.view(-1, 1, 1)
        top = t.h[depth] - alpha * output_error(t.h[depth], y)
        target: list[torch.Tensor | None] = [None] * depth + [top]
        for k in range(depth - 1, 0, -1):
            _, g_target = self.inverse(net, state, k, target)
            _, g_now = self.inverse(net, state, k, t.h)
            target[k] = t.h[k] + g_target - g_now
        return target

    def updates(self, net: Net, params: Params, state: LocalState[DTPState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        t = trace(net, params, x)
        if net.depth > 1:
            eps = self.noise(net, state, x.shape[1])
            gv, gc, inv_loss = self.inverse_gradients(net, params, state, t, eps)
            gv = [g * m for g, m in zip(gv, net.masks, strict=True)]
            gc = [g * m for g, m in zip(gc, net.neuron_masks, strict=True)]
            state.extra.inverse_optimizer.apply([*state.extra.V, *state.extra.c],
                                                [*gv, *gc])
            state.extra.inverse_loss.append(inv_loss)
        target = self.targets(net, state, t, y)
        dw, db = [], []
        for level in range(1, net.depth + 1):
            delta = (t.h[level] - target[level]) * derivative(net, level, t.z[level])
            dw.append(outer_mean(delta, t.lower[level]))
            db.append(delta.mean(dim=1))
        return dw, db, cross_entropy(t.output, y)
