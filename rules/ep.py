"""Equilibrium propagation (EP) with symmetric nudging.

Papers: B. Scellier & Y. Bengio, "Equilibrium Propagation: Bridging the Gap between
Energy-Based Models and Backpropagation", Front. Comput. Neurosci. 11:24, 2017
(arXiv:1602.05179); the symmetric ±β estimate of A. Laborieux, M. Ernoult, B. Scellier,
Y. Bengio, J. Grollier & D. Querlioz, "Scaling Equilibrium Propagation to Deep ConvNets by
Drastically Reducing its Gradient Estimator Bias", Front. Neurosci. 15:633674, 2021
(arXiv:2006.03824).

The network is the symmetric Hopfield-like net of rules/chl.py; with unit feedback gain
(γ = 1; the default is γ = 0.1, see below) the energy is, in the level-block notation,

    E(r) = Σ_{l>=1} [ Σ_i G_l(r_li) - r_l · (W̃_l r_<l + b_l) ] - ½ Σ_{i,j} R̃_ij r_i r_j,
    G_l' = ρ_l⁻¹,   ρ_l = clip(f_l, -1, 1) (hidden), f_L (output),

whose stationary points are the fixed points
``r_l = ρ_l(W̃_l r_<l + b_l + Σ_{m>l} [r_m W̃_m]_{:, cols(l)} + [J r]_l)``, ``J = ½(R̃ + R̃ᵀ)``.
Recurrent genome edges are therefore extra symmetric couplings: an edge j -> i of weight w
couples r_i and r_j with strength w/2 both ways (a self-loop feeds w back); their EP update
has the same form as W's.

Phases (total energy ``F = E + β C``, ``C = ½‖r_L - y‖²`` with one-hot ``y``):

* free (β = 0): T1 sweeps from the zero state -> ``r⁰``;
* nudged: T2 sweeps from ``r⁰`` with +β and, symmetric variant, with -β -> ``r^{±β}``.

EP's theorem, ``dC(r⁰)/dθ = lim_{β->0} (1/β) (∂E/∂θ(r^β) - ∂E/∂θ(r⁰))``, with
``∂E/∂W_l = -r_l r_<lᵀ``, ``∂E/∂b_l = -r_l``, ``∂E/∂R_ij = -½ r_i r_j``, gives the descent
directions handed to Adam (batch means):

    dW_l = -(1/2β) [ (r_l r_<lᵀ)_{+β} - (r_l r_<lᵀ)_{-β} ]      (symmetric; bias O(β²))
    dW_l = -(1/β)  [ (r_l r_<lᵀ)_{+β} - (r_l r_<lᵀ)_{0} ]        (one-sided; bias O(β))

and alike for b and R. They approach the gradient of C at the free fixed point as β -> 0
(tests/test_rule_ep.py checks this against implicit differentiation).

Why these choices:

* Relaxation is exact block-coordinate descent (a level at a time, sweeps alternating up
  and down; rules/chl.py) rather than Euler steps of ``ds/dt = -∂F/∂s``: the fixed points
  are the same, the energy still falls at every step, there is no step size to tune, and
  on 1-2 hidden levels a dozen sweeps converge (Scellier & Bengio used 20-100 Euler steps).
* ρ clipped to [-1, 1] keeps the energy bounded below whatever activation the genome picks
  (Scellier & Bengio used the hard sigmoid for the same reason).
* Symmetric nudging by default: Laborieux et al. show the one-sided estimate's O(β) bias
  is what stops EP from scaling; ``symmetric=False`` gives Scellier & Bengio's original.
* Prediction is the free fixed point's output: that is the network EP trains (a
  feedforward pass ignores the feedback every hidden unit learned under).
* Feedback gain γ (rule option ``gamma``, default 0.1): EP holds for any energy, and the
  relaxation here descends rules/chl.py's E_γ, whose level-l feedback is scaled by γ^gap
  (γ = 1 is Scellier & Bengio's net). The ±β contrast of E_γ is, block by block, γ^{o(l)}
  times the one computed (a constant per block that Adam divides out, as in CHL), and the
  nudged output's β is, in effect, scaled by a constant, so the estimate keeps the
  direction of dC/dθ per block. Why not γ = 1: on two hidden relu levels a full-strength
  feedback net trains far below bp at any sweep count. Measured on mnist1d's seed-7
  *validation* split (40-256-256-10 relu, 30 epochs, a seed benchmarks/rules.py does not
  report; bp 68.4%; ``python benchmarks/rules.py --tasks mnist1d --topology 40-256-256-10
  --rules ep --seeds 7 --set ep.gamma=G --set ep.free_steps=T1 --set
  ep.nudge_steps=T2 --set ep.lr=LR``, its ``valid`` column): γ = 1: 51.7% (T1/T2 = 8/4),
  53.5% (20/8), 52.0% (30/10), 59.5% (20/8, lr 1e-3); γ = 0.5: 59.4% (lr 3e-3), 60.4%
  (lr 1e-3); γ = 0.1: 62.1% (lr 3e-3), 65.5% (lr 1e-3). Defaults γ = 0.1, lr 1e-3.
* Sweeps T1 = 8, T2 = 4: more did not help (above), and after training the update at 8/4
  has per-block cosine > 0.95 with the estimator at equilibrium (200/200 sweeps, β = 0.01;
  tests/test_rule_fidelity.py, 40-128-128-10). Nets with 4+ hidden levels converge more
  slowly: a search can raise their genes ``free_steps`` / ``nudge_steps``. β = 0.1 (0.3 and 0.5
  were 1-3 points worse above; the -β phase also needs (1 - β)I - J ≻ 0 for couplings
  inside the output level, which a larger β breaks).
* The rates stay clipped to [-1, 1] (relu becomes [0, 1]): widening the clip to [0, 4]
  made ep *worse* (49.3% vs 51.7% at γ = 1, 8/4, same split), so the bound is kept.
* γ and the step counts are genes (rules/chl.py's :data:`~rules.chl.RELAXATION_GENES`):
  predict relaxes too, so each member is read with its own (``predict_members``), in a
  search and in every export, exactly as it trained.
* Cost per minibatch: T1 + 2·T2 sweeps, each about two matmuls per level.
"""

from __future__ import annotations

import dataclasses

import torch

from rules.base import Hyperparameter, HyperSpace, Limit
from rules.chl import (
    RELAXATION_GENES,
    EnergyRule,
    Relaxation,
    contrast,
    output_cost,
)
from rules.kernels.dispatch import DEFAULT_KERNEL
from rules.local import INIT_SCALE, LR, one_hot
from rules.registry import register
from search_spaces.net import Net, Params

BETA = Hyperparameter("beta", 0.01, 0.9, 0.1, log=True,
                      doc="β: nudging strength of the output toward the target")


@register
class EP(EnergyRule):
    name = "ep"
    description = "equilibrium propagation, symmetric ±β nudging of a symmetric Hopfield net"
    limits = {
        "WT": Limit(False, "symmetric net: level l's feedback r_m W̃_m uses the forward weights "
                           "backwards; nothing is copied, but both directions share one strength"),
        "FL": Limit(False, "the nudged phases start from the free fixed point: T1 sweeps over "
                           "the whole net, the first one the forward pass"),
        "BL": Limit(False, "the ±β nudge reaches level l only through every level above it "
                           "during the T2 sweeps, and all levels update after them"),
        "FBD": Limit(True, "the update is the ±β difference of rate correlations r_l r_<lᵀ; "
                           "relaxation applies ρ itself, never ρ′"),
    }

    def __init__(self, symmetric: bool = True, kernel: str = DEFAULT_KERNEL) -> None:
        super().__init__(kernel)
        self.symmetric = symmetric  # ±β phases (Laborieux et al. 2021) vs +β only

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=1e-3), INIT_SCALE, BETA,
                           *RELAXATION_GENES))

    def phases(self, net: Net, params: Params, x: torch.Tensor, y: torch.Tensor,
               beta: torch.Tensor, relaxation: Relaxation
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Free, +β and -β states ``[P, B, N]`` (``beta[P]``); one-sided, the third is the
        free one. After the T1 free sweeps every phase runs T2 sweeps of the same schedule
        from the same state, so what the free relaxation had left to converge cancels in
        the contrast (the ±β pair cancels it; one-sided, the free phase is continued too)."""
        c, start = self.relaxed_start(net, params, x, relaxation)
        steps = relaxation.nudge_steps
        target = one_hot(y, net.n_outputs).to(start.dtype)
        b = beta.to(start.dtype).view(-1, 1, 1)
        plus = self.relax_phase(net, c, start.clone(), steps, target, b,
                                down_first=True)
        if self.symmetric:
            minus = self.relax_phase(net, c, start.clone(), steps, target, -b,
                                     down_first=True)
            return start, plus, minus
        free = self.relax_phase(net, c, start, steps, down_first=True)
        return free, plus, free

    def energy_updates(self, net, params, state, x, y):
        beta = torch.tensor([h["beta"] for h in state.hyper], device=x.device)
        free, plus, minus = self.phases(net, params, x, y, beta, state.extra)
        dw, db, dr = contrast(net, plus, minus, 2 * beta if self.symmetric else beta)
        target = one_hot(y, net.n_outputs).to(free.dtype)
        return dw, db, dr, output_cost(net, free, target)
