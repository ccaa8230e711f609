"""Feedback alignment (FA): Lillicrap, Cownden, Tweed & Akerman 2016, "Random synaptic
feedback weights support error backpropagation for deep learning", Nat. Commun. 7:13276
(arXiv:1411.0247).

Backprop sends the output error down through the transposed forward weights ``Wᵀ``, which
needs each synapse's strength to be known on a separate feedback path (the "weight transport
problem"). FA keeps the backprop pathway but replaces ``Wᵀ`` with a **fixed random** matrix;
the forward weights come to align with it during learning, so the random feedback still
carries useful credit. Written in the level-block notation of :mod:`search_spaces.net`
(level ``L`` = outputs, ``h_<l`` = concatenated activities of every level below ``l``,
``M_l`` the genome's edge mask, ``cols(l)`` = :func:`~rules.local.level_columns`)::

    e   = softmax(h_L) - onehot(y)                        (cross-entropy error, per example)
    δ_L = e
    for l = L-1 .. 1:
        g_l = Σ_{m>l} δ_m (B_m ⊙ M_m)[:, cols(l)]          (error arriving along the graph)
        δ_l = g_l ⊙ f'(z_l)
    ΔW_l = δ_lᵀ h_<l / B,   Δb_l = mean_batch δ_l            (descent directions → Adam)

With ``B_m = W_m`` this is exactly backprop's cross-entropy gradient (tested), so the rule is
"bp with the transpose swapped for fixed random weights" and nothing else.

Design choices, and why:

- **One B per level block, same shape and mask as W.** The paper's ``B`` has the shape of
  ``Wᵀ`` in a layered net; on a DAG with skip edges a level's error arrives from *every*
  higher level it feeds, so each block needs its own feedback matrix, and the mask makes the
  feedback follow exactly the genome's edges (an edge that does not exist carries no error;
  a hidden neuron that feeds nothing gets no error, as in bp).
- **Initialisation of B** is the forward init: uniform ``±init_scale/√fan_in`` per row, fan-in
  counted on the mask (like ``torch.nn.Linear`` and :func:`search_spaces.compile.init_params`),
  so B has the statistics of ``W`` at step 0 and FA starts out as bp with an independent
  random matrix of the right size in place of ``Wᵀ`` (biotorch also uses the forward init).
  B's scale is deliberately *not* a separate gene: Adam is invariant to a common scale of a
  tensor's gradients, and scaling every B by ``s`` scales each level's updates by a power of
  ``s``, so on a chain of levels the gene would be dead; only where skip edges mix feedback
  paths of different lengths would it matter, and there the forward init's scale is the
  choice that matches bp's path weighting at the start.
- **B is fixed for the whole fit** (never trained) and drawn **per member, in the member's own
  unpadded layout, from a generator salted with the member's seed**, then scattered into the
  padded layout (as :func:`search_spaces.compile.init_params` does), so a member gets the same
  B alone or batched. The salt keeps B independent of the forward init drawn from the same seed.
- Adam (``rules/optim.py``), not the paper's SGD, so that FA differs from bp only in credit
  assignment, plus decoupled weight decay (:data:`rules.local.WEIGHT_DECAY`, a gene; it
  shrinks W, never B) and a cosine learning-rate decay over the fit's epochs
  (:data:`rules.local.LR_DECAY`, a gene). Defaults lr 6e-3, weight_decay 0.3, lr_decay 1:
  the best mean validation accuracy of fa and dfa in a sweep on mnist1d 40-256-256-10, seeds
  7-10 (seeds ``benchmarks/rules.py`` does not report; docs/rules.md has the sweep), 60.63%
  against 59.16% for the previous lr 2e-3, weight_decay 0.1 with constant η. On the
  reported seeds ``benchmarks/rules.py --tasks mnist1d --rules bp,fa,dfa`` gives fa 58.4%
  against bp's 66.0% (56.4% before; docs/benchmarks.md). The schedule is not a general
  advantage: bp given it gains nothing. What remains of the gap is how fast fixed random
  feedback assigns credit (at 90 epochs, every rule alike, fa reaches 63.8% vs bp's 66.0%).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch

from rules.base import HyperSpace, Limit
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
from search_spaces.compile import member_block, scatter_params
from search_spaces.net import Net, Params

_MASK64 = (1 << 63) - 1


def feedback_generator(seed: int, salt: int) -> torch.Generator:
    """A generator for a member's fixed random feedback, derived from its seed and a
    rule-specific ``salt`` so it is independent of the forward init drawn from the same seed."""
    mixed = (int(seed) * 0x9E3779B97F4A7C15 + salt * 0xBF58476D1CE4E5B9 + 1) & _MASK64
    return torch.Generator().manual_seed(mixed)


def draw_feedback_blocks(net: Net, seeds: Sequence[int], scales: Sequence[float],
                         salt: int) -> list[torch.Tensor]:
    """Fixed random blocks with the shape and mask of ``net``'s weight blocks: uniform
    ``±scale/√fan_in`` per row, drawn per member in its own layout, scattered to padding."""
    singles = []
    for p, (seed, scale) in enumerate(zip(seeds, scales, strict=True)):
        gen = feedback_generator(seed, salt)
        member = net.members[p]
        blocks, biases = [], []
        for own in range(1, len(member.level_sizes)):
            mask = member_block(net, net.masks, p, own)
            bound = scale / mask.sum(dim=1, keepdim=True).clamp(min=1.0).sqrt()
            blocks.append((torch.rand(mask.shape, generator=gen) * 2 - 1) * bound * mask)
            biases.append(torch.zeros(mask.shape[0]))
        singles.append((blocks, biases, None))
    return scatter_params(net, singles).weights


@dataclasses.dataclass(frozen=True)
class FAState:
    """fa's fixed random feedback: ``B_l`` per level, stored like ``W_l`` (zero where the
    genome has no edge)."""

    feedback: list[torch.Tensor]


@register
class FeedbackAlignment(LocalRule[FAState]):
    name = "fa"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "feedback alignment: the error goes down the graph through fixed random B, Adam"
    limits = {
        "WT": Limit(True, "the error goes down through fixed random blocks B_m drawn from the "
                          "member's seed, never read from W"),
        "FL": Limit(False, "the error softmax(h_L) − onehot(y) needs the output of the whole "
                           "forward pass"),
        "BL": Limit(False, "δ_l sums the δ_m of every level m > l it feeds, so the error still "
                           "travels level by level down the graph"),
        "FBD": Limit(False, "δ_l = g_l ⊙ f′(z_l): each level scales the error arriving at it by "
                            "its forward derivative"),
    }

    SALT = 0xFA

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=6e-3), INIT_SCALE,
                           dataclasses.replace(WEIGHT_DECAY, default=0.3),
                           dataclasses.replace(LR_DECAY, default=1.0)))

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> FAState:
        scales = [h["init_scale"] for h in hyper]
        return FAState(draw_feedback_blocks(net, seeds, scales, self.SALT))

    def updates(self, net: Net, params: Params, state: LocalState[FAState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        return fa_updates(net, params, state.extra.feedback, x, y)


def fa_updates(net: Net, params: Params, feedback: Sequence[torch.Tensor], x: torch.Tensor,
               y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """FA's descent directions for every block and bias, and the cross-entropy loss ``[P]``.

    ``feedback[l-1]`` plays the role of ``W_l`` on the way down (masked like it). The error
    arriving at every lower neuron is accumulated in one tensor over all lower columns, so
    each level costs one batched matmul, whatever skip edges it has.
    """
    tr = trace(net, params, x)
    depth, n_in = net.depth, net.n_inputs
    scores = tr.output
    loss = cross_entropy(scores, y)
    # δ_L = ∂CE/∂z_L: the output activation's derivative counts too (1 for identity)
    delta = output_error(scores, y) * derivative(net, depth, tr.z[depth])
    # g of every hidden neuron (inputs need none): [P, B, N_<L - n_in]
    arriving = torch.zeros_like(tr.lower[depth][:, :, n_in:])
    dw: list[torch.Tensor] = [delta] * depth  # placeholders, each level fills its own
    db: list[torch.Tensor] = [delta] * depth
    for level in range(depth, 0, -1):
        if level < depth:
            cols = level_columns(net, level)
            g = arriving[:, :, cols.start - n_in:cols.stop - n_in]
            delta = g * derivative(net, level, tr.z[level])
        dw[level - 1] = outer_mean(delta, tr.lower[level])
        db[level - 1] = delta.mean(dim=1)
        if level > 1:  # send δ_l down the masked feedback block to the hidden levels below
            back = (feedback[level - 1] * net.masks[level - 1])[:, :, n_in:]
            arriving[:, :, :back.shape[2]] += torch.bmm(delta, back)
    return dw, db, loss
