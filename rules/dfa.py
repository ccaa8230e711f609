"""Direct feedback alignment (DFA): Nøkland 2016, "Direct Feedback Alignment Provides Learning
in Deep Neural Networks", NeurIPS 2016 (arXiv:1609.01596).

Feedback alignment (:mod:`rules.fa`) still sends the error down level by level. DFA drops the
chain: the output error is projected **straight to every hidden level** through a fixed random
matrix, so all levels can update in parallel and no level waits for the one above. In the
level-block notation of :mod:`search_spaces.net` (level ``L`` = outputs, ``h_<l`` = the
concatenated activities below level ``l``, ``D_l`` a fixed random ``[n_out, n_l]`` matrix)::

    e   = softmax(h_L) - onehot(y)                 (cross-entropy error, per example)
    δ_L = e                                        (output level: its true gradient)
    δ_l = (e D_l) ⊙ f'(z_l) ⊙ r_l   for 1 ≤ l < L  (r_l: the neuron can reach an output)
    ΔW_l = δ_lᵀ h_<l / B,  Δb_l = mean_batch δ_l   (descent directions → Adam)

With a single hidden level and ``D_1 = (W_L ⊙ M_L)[:, cols(1)]`` this is exactly backprop's
gradient (tested); with more levels DFA is no longer bp for any choice of D.

Design choices, and why:

- **One D per hidden level, to every neuron of it that can reach an output**, whatever its
  edges (direct to the output or not): the paper's feedback is dense from the output error
  to each hidden layer, and on a DAG the level is DFA's natural unit (all neurons of a level
  update in parallel). The output level's block (which holds the skip edges from every
  lower level into the outputs) gets its exact gradient, as in the paper.
- **r_l, reachability.** A hidden neuron with no feedforward path to an output (a genome may
  leave one after an edge is disabled) has no credit to assign: bp gives it zero, and no
  forward weights exist that could align with a feedback signal. DFA would still broadcast
  error to it; we give it none, so its weights stay put instead of drifting for nothing.
  Padded neurons of a batched population have no edges, so they are unreachable and get no
  feedback either (D is also zero there, see below).
- **Scale of D:** uniform ``±1/√n_out`` (the per-neuron signal ``e D_l`` then has about the
  variance of ``e`` whatever the widths; the auto-scale of Nøkland's dfa-torch is of this kind).
  It is deliberately *not* a gene: every update of a level is linear in ``D_l`` and Adam is
  invariant to a common scale of a tensor's gradients, so the scale would be a dead gene.
- **D is fixed for the whole fit**, drawn **per member, in its own unpadded layout, from a
  generator salted with the member's seed** (independent of the forward init from the same
  seed), then scattered into the padded layout, so a member trains the same alone or batched.
- Adam (``rules/optim.py``) rather than the paper's RMSprop, so DFA differs from bp only in
  credit assignment, plus decoupled weight decay (:data:`rules.local.WEIGHT_DECAY`, a gene;
  it shrinks W, never D) and a cosine learning-rate decay over the fit's epochs
  (:data:`rules.local.LR_DECAY`, a gene). Defaults lr 6e-3, weight_decay 0.3, lr_decay 1,
  chosen with fa's (the same sweep on mnist1d seeds 7-10, docs/rules.md: dfa 60.53% against
  58.84% for the previous lr 2e-3, weight_decay 0.1, constant η), and, for dfa alone,
  ``init_scale`` 2: forward weights twice as large at the start, ahead on each of the held-out
  seeds 7-14 (validation 61.09 / 60.66% against 60.53 / 59.84% for 1 on seeds 7-10 / 11-14;
  digits level). On the reported seeds, ``benchmarks/rules.py --tasks mnist1d`` gives 59.3%
  against bp's 66.0%, 6.7 points below (57.1% with ``init_scale`` 1), and 62.7% at the
  MNIST-1D reference MLP's 8,000 steps (``--epochs 80``; docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch

from rules.base import HyperSpace, Limit
from rules.fa import feedback_generator
from rules.local import (
    INIT_SCALE,
    LR,
    LR_DECAY,
    WEIGHT_DECAY,
    LocalRule,
    LocalState,
    cross_entropy,
    derivative,
    level_columns,
    outer_mean,
    output_error,
    trace,
)
from rules.registry import register
from search_spaces.net import Net, Params


def reachable(net: Net) -> list[torch.Tensor]:
    """Per hidden level ``l`` (list index ``l-1``), ``[P, n_l]`` 1.0 where the neuron has a
    feedforward path to an output neuron (through the masks, so padding is never reachable)."""
    depth = net.depth
    reach: list[torch.Tensor] = [torch.empty(0)] * depth
    reach[depth - 1] = net.neuron_masks[depth - 1]
    for level in range(depth - 1, 0, -1):
        cols = level_columns(net, level)
        fed = torch.zeros_like(net.neuron_masks[level - 1])
        for upper in range(level + 1, depth + 1):
            edges = net.masks[upper - 1][:, :, cols]  # [P, n_upper, n_level]
            fed += torch.bmm(reach[upper - 1].unsqueeze(1), edges).squeeze(1)
        reach[level - 1] = (fed > 0).to(fed.dtype) * net.neuron_masks[level - 1]
    return reach


def draw_direct_feedback(net: Net, seeds: Sequence[int], salt: int) -> list[torch.Tensor]:
    """``D_l`` ``[P, n_out, n_l]`` for every hidden level: uniform ``±1/√n_out`` on the
    member's own neurons (drawn in its own layout from its seed), zero on padding."""
    n_out = net.n_outputs
    blocks = [torch.zeros(net.population, n_out, n) for n in net.level_sizes[1:-1]]
    bound = 1.0 / n_out ** 0.5
    for p, seed in enumerate(seeds):
        gen = feedback_generator(seed, salt)
        member = net.members[p]
        for own in range(1, len(member.level_sizes) - 1):  # the member's hidden levels
            n = member.level_sizes[own]
            draw = (torch.rand(n_out, n, generator=gen) * 2 - 1) * bound
            blocks[member.level_map[own] - 1][p, :, :n] = draw
    return blocks


@dataclasses.dataclass(frozen=True)
class DFAState:
    """dfa's fixed random feedback: ``D_l`` ``[P, n_out, n_l]`` per hidden level, zero on
    the neurons that cannot reach an output."""

    direct: list[torch.Tensor]


@register
class DirectFeedbackAlignment(LocalRule[DFAState]):
    name = "dfa"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "direct feedback alignment: output error to every level via fixed random D, Adam"
    limits = {
        "WT": Limit(True, "hidden levels get the output error through fixed random matrices D_l, "
                          "never through W"),
        "FL": Limit(False, "the output error e needs the whole forward pass before any level can "
                           "update"),
        "BL": Limit(True, "δ_l = (e D_l) ⊙ f′(z_l) reads only the output error, so no level "
                          "waits for the levels between it and the output"),
        "FBD": Limit(False, "δ_l multiplies e D_l by f′(z_l) of the level's forward activation"),
    }

    SALT = 0xDFA

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=6e-3),
                           dataclasses.replace(INIT_SCALE, default=2.0),
                           dataclasses.replace(WEIGHT_DECAY, default=0.3),
                           dataclasses.replace(LR_DECAY, default=1.0)))

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> DFAState:
        reach = reachable(net)
        direct = draw_direct_feedback(net, seeds, self.SALT)
        return DFAState([d * r.unsqueeze(1) for d, r in zip(direct, reach[:-1], strict=True)])

    def updates(self, net: Net, params: Params, state: LocalState[DFAState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        return dfa_updates(net, params, state.extra.direct, x, y)


def dfa_updates(net: Net, params: Params, direct: Sequence[torch.Tensor], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """DFA's descent directions for every block and bias, and the cross-entropy loss ``[P]``;
    ``direct[l-1]`` is ``D_l`` ``[P, n_out, n_l]`` of hidden level ``l``."""
    tr = trace(net, params, x)
    scores = tr.output
    loss = cross_entropy(scores, y)
    # δ_L = ∂CE/∂z_L (the output activation's derivative counts; 1 for identity), sent
    # directly to every hidden level, as DFA sends the output layer's error
    error = output_error(scores, y) * derivative(net, net.depth, tr.z[net.depth])
    dw, db = [], []
    for level in range(1, net.depth + 1):
        if level == net.depth:
            delta = error
        else:
            delta = torch.bmm(error, direct[level - 1]) * derivative(net, level, tr.z[level])
        dw.append(outer_mean(delta, tr.lower[level]))
        db.append(delta.mean(dim=1))
    return dw, db, loss
