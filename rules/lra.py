"""Local representation alignment, LRA-E (Ororbia & Mali 2019, AAAI, arXiv:1805.11703;
Ororbia, Mali, Kifer & Giles 2018, arXiv:1803.01834).

LRA is target propagation without inverses: the error of a level is carried down by
*error-feedback matrices* ``E`` to form a target for each lower level, and every level then
moves its activity toward its own target with a local delta rule. No weight transport, no
chain of derivatives across levels.

Equations in the level-block notation of :mod:`search_spaces.net` (row vectors, one example;
``lower_l = cat(h_0..h_{l-1})``, ``z_l = W_l lower_l + b_l``, ``h_l = f_l(z_l)``, level ``L``
is the identity output level, ``K(k)`` are the columns of level ``k`` inside a block)::

    e_L = softmax(z_L) - y                              output error  (∂CE/∂z_L)
    for k = L-1, ..., 1 (top-down, every consumer m > k of k is done before k):
        d_k = Σ_{m>k} e_m E_m[:, K(k)]                  displacement carried by E
        z̃_k = z_k - β d_k                              target pre-activation
        e_k = h_k - f_k(z̃_k)                           local error (activity space)
    δ_l = e_l ⊙ f_l'(z_l)                               (δ_L = e_L)
    ΔW_l ∝ -δ_lᵀ lower_l / B,   Δb_l ∝ -mean δ_l        (descent direction δ_lᵀ lower_l / B)

Design choices and why:

- **Feedback runs along the genome's edges, reversed.** ``E_m`` has the shape of the
  forward block ``W_m`` ``[n_m, N_<m]`` and the same 0/1 mask, so the error of level ``m``
  reaches exactly the neurons that feed ``m``. On a layered net this is the paper's
  ``d_{l-1} = E_l e_l`` (``E_l`` shaped like ``W_lᵀ``); on a DAG with skip edges a level read
  by several levels sums the displacements they send (as in feedback alignment), which is the
  only choice that needs no connection the genome lacks. On the 64-128-10 net the hidden
  displacement is simply the output error carried by ``E_2``.
- **Learned feedback, LRA-E style.** The paper updates ``ΔE_l = -γ ΔW_lᵀ``: every change made
  to a forward block is copied, scaled by ``γ``, onto its feedback matrix. Summed over
  training that is ``E_t = E_0 + γ (W_t - W_0)`` (in our orientation, where ``E`` is stored like
  ``W``), which is what :meth:`LRA.feedback` computes from the stored ``E_0`` and ``W_0``: the
  exact accumulated rule using the steps Adam really applied, with no extra optimiser state.
  ``γ = 0`` gives fixed random feedback; ``γ = 1`` keeps ``E - W`` constant so feedback grows
  into the forward weights as they leave their small initial values (Kolen-Pollack-like).
  On digits 64-128-10 the two are within noise (97.2% vs 96.9% test, seeds 0-3: ``python
  benchmarks/rules.py --tasks digits --rules lra --no-baselines --seeds 0,1,2,3 [--set
  lra.gamma=0]``); on a deeper 64-64-64-64-10 net (a topology no benchmark script trains)
  ``γ = 1`` was better with tanh and a little worse with relu. The default keeps the
  paper's learned feedback.
- ``E_0`` is drawn like the forward weights (uniform ±1/√fan_in, masked), per member from its
  own seed (offset so it is independent of ``W_0``) in its own layout, then scattered, so a
  member trains identically alone or in a padded population.
- The top error is the cross-entropy gradient of the identity output level, and the returned
  loss is the real cross-entropy of the current weights, so a diverging member is reported
  as failed by the shared loop.
- ``β`` is the paper's 0.1. Errors shrink roughly by ``β`` per level down the chain; Adam
  normalises each block's step, so depth does not starve the lower levels of updates (on one
  hidden level β barely matters: 0.5 gave the same accuracy).
- Default ``lr = 5e-3``: on digits 64-128-10 (30 epochs, batch 32, seeds 0-2; ``python
  benchmarks/rules.py --tasks digits --rules lra``) it reaches 97.2% test, bp 97.4%; 2e-3 and
  1e-3 (``--set lra.lr=2e-3``) learned more slowly for about the same end (97.1%, 96.9%).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

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
from rules.registry import register
from search_spaces.compile import init_params
from search_spaces.net import Net, Params

BETA = Hyperparameter("beta", 0.01, 1.0, 0.1, log=True,
                      doc="target step β: z̃_k = z_k - β d_k")
GAMMA = Hyperparameter("gamma", 0.0, 1.0, 1.0,
                       doc="feedback learning γ: E = E_0 + γ (W - W_0); 0 = fixed random E")
FEEDBACK_SCALE = Hyperparameter("feedback_scale", 0.25, 4.0, 1.0, log=True,
                                doc="bound of E_0 (× 1/√fan_in of the forward block)")

_SEED_OFFSET = 0x4C5241  # "LRA": E_0 draws are independent of the member's forward init


def feedback_seed(seed: int) -> int:
    return (int(seed) * 1_000_003 + _SEED_OFFSET) % (2**63 - 1)


@dataclasses.dataclass(frozen=True)
class LRAState:
    """lra's feedback at the start (``E_0``, stored like ``W_l``), the forward weights it
    started from (``W_0``), and per-member γ and β."""

    E0: list[torch.Tensor]  # noqa: N815 - the paper's names
    W0: list[torch.Tensor]  # noqa: N815
    gamma: torch.Tensor
    beta: torch.Tensor


@register
class LRA(LocalRule[LRAState]):
    name = "lra"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "local representation alignment (LRA-E): error-feedback targets, delta rule"
    limits = {
        "WT": Limit(False, "at the default γ = 1 the feedback E = E_0 + γ(W − W_0) is read from "
                           "the current forward weights (W plus a fixed random offset); γ = 0 "
                           "removes it"),
        "FL": Limit(False, "the output error softmax(z_L) − y needs the whole forward pass"),
        "BL": Limit(False, "d_k sums the errors e_m of the levels that read k, and e_m needs "
                           "d_m, so errors travel level by level from the top"),
        "FBD": Limit(False, "every level's update δ_l = e_l ⊙ f_l′(z_l) multiplies by f′"),
    }

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=5e-3), INIT_SCALE, BETA, GAMMA,
                           FEEDBACK_SCALE))

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> LRAState:
        e0 = init_params(net, [feedback_seed(s) for s in seeds],
                         [h["feedback_scale"] for h in hyper]).weights
        return LRAState(
            E0=e0,
            W0=[w.detach().clone() for w in params.weights],
            gamma=torch.tensor([h["gamma"] for h in hyper], dtype=torch.float32),
            beta=torch.tensor([h["beta"] for h in hyper], dtype=torch.float32),
        )

    @staticmethod
    def feedback(params: Params, state: LocalState[LRAState]) -> list[torch.Tensor]:
        """Current error-feedback blocks ``E_l = E_0 + γ (W_l - W_0)`` (stored like ``W_l``)."""
        gamma = state.extra.gamma.view(-1, 1, 1)
        return [e0 + gamma * (w - w0) for e0, w, w0 in
                zip(state.extra.E0, params.weights, state.extra.W0, strict=True)]

    def updates(self, net: Net, params: Params, state: LocalState[LRAState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        t = trace(net, params, x)
        feedback = [e * m for e, m in zip(self.feedback(params, state), net.masks, strict=True)]
        beta = state.extra.beta.view(-1, 1, 1)
        depth = net.depth
        # displacement arriving at every neuron (all levels concatenated), filled top-down
        disp = torch.zeros(x.shape[0], x.shape[1], net.offsets()[depth], device=x.device)
        deltas: list[torch.Tensor | None] = [None] * (depth + 1)
        for level in range(depth, 0, -1):
            if level == depth:  # ∂CE/∂h_L of the scores the loss and prediction use
                error = output_error(t.h[level], y)
            else:
                d = disp[:, :, level_columns(net, level)]
                target = activate(net, level, t.z[level] - beta * d)
                error = t.h[level] - target
            deltas[level] = error * derivative(net, level, t.z[level])
            n_lower = feedback[level - 1].shape[2]
            disp[:, :, :n_lower] += torch.bmm(error, feedback[level - 1])
        dw = [outer_mean(deltas[lv], t.lower[lv]) for lv in range(1, depth + 1)]
        db = [deltas[lv].mean(dim=1) for lv in range(1, depth + 1)]
        return dw, db, cross_entropy(t.output, y)
