"""Contrastive Hebbian learning (CHL), and the relaxation that CHL and EP (rules/ep.py) share.

Papers: J. R. Movellan, "Contrastive Hebbian learning in the continuous Hopfield model",
Connectionist Models Summer School, 1991; X. Xie & H. S. Seung, "Equivalence of
backpropagation and contrastive Hebbian learning in a layered network", Neural Comput.
15(2):441-454, 2003 (neither has an arXiv id).

Model, in the level-block notation of search_spaces/net.py. The state holds a rate
``r_l [P, B, n_l]`` for every level ``l >= 1``; ``r_0 = x`` is clamped. Every feedforward edge
is also a feedback edge with the *same* weight (symmetric), and the network has the energy

    E_γ(r) = Σ_{l>=1} γ^{o(l)} [ Σ_i G_l(r_li) - r_l · (W̃_l r_<l + b_l) ]
             - ½ Σ_{i,j} γ^{max(o(i), o(j))} R̃_ij r_i r_j,      W̃ = W ⊙ M,  R̃ = R ⊙ M_rec

with ``G_l' = ρ_l⁻¹`` (Hopfield 1984's integral of the inverse activation) and ``o(·)`` the
level in the member's *own* layout. Minimising E over one level, whose neurons no block
couples to each other, gives the update a relaxation sweep applies to each level in turn,
sweeps alternating up and down (Gauss-Seidel: exact block-coordinate descent, so E falls
at every step; recurrent edges inside a level make that level's step a Jacobi step):

    r_l = ρ_l( W̃_l r_<l + b_l + Σ_{m>l} γ^{o(m)-o(l)} [r_m W̃_m]_{:, cols(l)} + rec_l ),
    rec_l,i = Σ_j γ^{max(o(i), o(j)) - o(i)} J_ij r_j,    J = ½ (R̃ + R̃ᵀ)   (i in level l)

which on a layered net is Xie & Seung's ``x_l = f(W_l x_{l-1} + γ W_{l+1}ᵀ x_{l+1})``.

CHL runs a *free* phase (output free) and a *clamped* phase (output = one-hot target, started
from the free fixed point), and moves every coupling along the difference of the phases'
correlations; the descent direction handed to Adam is its negative, batch-averaged:

    dW_l = -[ (r_l r_<lᵀ)_clamped - (r_l r_<lᵀ)_free ],   db_l = -[ r_l,clamped - r_l,free ],
    dR   = -½ [ (r rᵀ)_clamped - (r rᵀ)_free ]              (recurrent couplings)

Why these choices:

* ρ = the genome's activation f, clipped to [-1, 1] on hidden levels. The bound keeps E
  bounded below, so relaxation cannot run away with relu/elu/identity neurons; tanh,
  sigmoid and hardsigmoid are unchanged by it (relu becomes hardsigmoid). The output level
  keeps its activation (identity: linear class scores).
* Feedback gain γ^{level gap}, not a flat γ: it is what makes the dynamics descend an energy
  on a DAG with skip edges, and it makes the clamped-free difference at level k equal
  γ^{L-k} x the backprop error on *any* DAG as γ -> 0 (Xie & Seung's equivalence; tested).
  Xie & Seung scale level k's learning rate by γ^{k-L} to undo that factor; Adam is
  invariant to a constant per-element gradient scale, so the plain correlation difference
  is used. Gaps use the member's own levels, so padding a population changes nothing.
* Recurrent genome edges are extra symmetric couplings in the same energy, learned with
  the same contrastive rule (:class:`EnergyRule` Adam-steps them alongside W and b). The
  coupling is the symmetric part J of R̃: a self-loop of weight w feeds w back, and a
  dense group-to-itself block starts with spectral radius ~0.8 rather than ~1.6, below the
  point where the energy stops being convex in that group. Couplings inside a linear
  output level are solved exactly (a small linear system per phase), so they cannot make
  the output oscillate between sweeps.
* Prediction is the output of the free phase: the network CHL trains is the recurrent one.
  γ and the step counts are genes (``gamma``, ``free_steps``, ``nudge_steps``;
  :data:`RELAXATION_GENES`), so a search can fit them to each topology, and a member is
  read with its own wherever it is scored (:meth:`EnergyRule.predict_members`), so a
  trained net is always read with the relaxation it trained under. A search holds them
  at their defaults unless told (``rule.searched``): on mnist1d and digits, 150
  evaluations, seeds 2-6, searching them was level with holding them or behind, at
  1.7-2.3x the search's wall time (``benchmarks/search_defaults.py --cells mnist1d:chl
  --variants "relaxation searched" "relaxation fixed"``, docs/science.md).
* After T1 free sweeps, the clamped phase *and* the free phase run T2 more sweeps of one
  schedule, and those two states are contrasted, so an unconverged free relaxation is not
  mistaken for a learning signal (Adam would scale that error up to full steps).
* Defaults: γ = 0.1, T1 = 8, T2 = 4 sweeps, lr 2e-3. lr was 3e-3, the shared default, never
  tuned on two hidden levels; on mnist1d 40-256-256-10's held-out seeds 7-10 (validation,
  30 epochs; ``benchmarks/rules.py --tasks mnist1d --topology 40-256-256-10 --rules chl
  --no-baselines --seeds 7,8,9,10 --set chl.lr=X``) lr 1e-3 / 2e-3 / 3e-3 / 5e-3 give
  66.5 / 67.2 / 64.1 / 58.4%, and on 40-100-100-10 2e-3 / 3e-3 give 62.3 / 61.8%.
  γ was 0.5, set on digits 64-128-10 (one hidden level), where 0.2-0.5 train alike; on two
  hidden levels a strong feedback gain pulls the free state away from the feedforward net
  CHL's update is the gradient of (Xie & Seung's equivalence holds as γ -> 0). Chosen on
  mnist1d's seed-7 *validation* split, 30 epochs, a seed the benchmark does not report
  (docs/rules.md has the table):
  40-100-100-10 relu γ = 0.5 / 0.2 / 0.1 / 0.05: 51.7 / 56.9 / 60.6 / 59.4%; tanh
  27.9 / 42.1 / 57.2 / 59.0%; 40-256-256-10 relu 62.6 / 61.4 / 62.7 / 63.5%. γ = 0.1
  rather than 0.05 because the signal at level k shrinks as γ^(L-k) in float32 on deeper
  nets. T1 = 8, T2 = 4 already reach the equilibrium update there (cosine 1.00 per block
  with 400/400 sweeps after 4 epochs, 40-128-128-10; tests/test_rule_fidelity.py).
  These are the genes' defaults, where a search holds them unless the config's
  ``rule.searched`` frees them (then within γ 0.02-1, T1 1-40, T2 1-20). Cost per
  minibatch: T1 + 2·T2 sweeps (:meth:`EnergyRule.step_cost`).
* Loss reported: ½‖r_L,free - y‖², the cost whose gradient CHL approximates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rules.base import Hyperparameter, HyperparameterError, HyperSpace, Limit
from rules.kernels import energy_relax
from rules.kernels.dispatch import DEFAULT_KERNEL, check_kernel, run_fused, use_triton
from rules.local import INIT_SCALE, LR, LocalRule, LocalState, activate, one_hot
from rules.optim import Adam
from rules.registry import register
from search_spaces import activations
from search_spaces.net import Net, Params

# The energy rules' relaxation genes (chl and ep; "Defaults" above says why these defaults).
# Held by default (searched=False): searching them was measured level with holding them
# at about twice the search's time (module docstring); rule.searched frees them.
GAMMA = Hyperparameter("gamma", 0.02, 1.0, 0.1, log=True, searched=False,
                       doc="feedback gain γ of the relaxation, per level of gap")
FREE_STEPS = Hyperparameter("free_steps", 1, 40, 8, log=True, integer=True, searched=False,
                            doc="T1: sweeps of the free phase, in training and in prediction")
NUDGE_STEPS = Hyperparameter("nudge_steps", 1, 20, 4, log=True, integer=True, searched=False,
                             doc="T2: sweeps of each clamped / nudged phase")
# log-scaled counts: half of a search's uniform draws fall below √40 ≈ 6 and √20 ≈ 4.5
# sweeps, so a drawn member's step costs about 1.5x the defaults' 16 sweeps on average
# (drawn on a linear scale: 2.5x)
RELAXATION_GENES = (GAMMA, FREE_STEPS, NUDGE_STEPS)


@dataclass
class Relaxation:
    """Each member's relaxation, from its genes: γ ``[P]`` and the sweep counts, one per
    member. Prediction reads it too (a member is read by the free relaxation it trained
    under), so it is built from a member's genes wherever the member is scored. The counts
    are host integers: a loop bound read from a device tensor would wait on the device at
    every phase."""

    gamma: torch.Tensor
    free_steps: tuple[int, ...]
    nudge_steps: tuple[int, ...]

    @classmethod
    def of(cls, hyper: Sequence[Mapping[str, float]], device: torch.device | str = "cpu"
           ) -> Relaxation:
        """From each member's genes (every relaxation gene present). Checked for what a
        relaxation can run (0 < γ <= 1, at least one sweep), not for the search's ranges:
        a member recorded under wider settings (an option once allowed any count) must
        still be read."""
        for h in hyper:
            if not 0.0 < float(h["gamma"]) <= 1.0:
                raise HyperparameterError(f"gamma must be in (0, 1], got {h['gamma']!r}")
            for count in ("free_steps", "nudge_steps"):
                if int(h[count]) < 1 or int(h[count]) != float(h[count]):
                    raise HyperparameterError(f"{count} must be a whole number >= 1, got "
                                              f"{h[count]!r}")
        return cls(torch.tensor([float(h["gamma"]) for h in hyper], device=device),
                   tuple(int(h["free_steps"]) for h in hyper),
                   tuple(int(h["nudge_steps"]) for h in hyper))

    def select(self, keep: torch.Tensor) -> Relaxation:
        """The members ``keep`` (indices along the population axis)."""
        rows = keep.tolist()
        return Relaxation(self.gamma[keep.to(self.gamma.device)],
                          tuple(self.free_steps[i] for i in rows),
                          tuple(self.nudge_steps[i] for i in rows))


@dataclass
class Couplings:
    """What a relaxation sweep multiplies, per level ``l`` (list index ``l - 1``)."""

    up: list[torch.Tensor]  # (W̃_l)ᵀ [P, N_<l, n_l]: bottom-up
    down: list[torch.Tensor | None]  # [P, N_>l, n_l]: level l's columns of all higher blocks
    bias: list[torch.Tensor]  # [P, 1, n_l]
    rec: list[torch.Tensor | None]  # [P, N, n_l]: gain-scaled symmetric recurrent couplings
    out_self: torch.Tensor | None  # [P, n_L, n_L]: couplings inside a linear output level
    offsets: list[int]  # global index of each level's first neuron


def own_levels(net: Net) -> torch.Tensor:
    """``[P, depth + 1]``: each padded level's index in the member's own layout (a padded
    level the member lacks keeps its padded index; it has no edges, so its value is moot)."""
    own = torch.arange(net.depth + 1, dtype=torch.float32, device=net.masks[0].device)
    own = own.repeat(net.population, 1)
    for p, member in enumerate(net.members):
        for i, padded in enumerate(member.level_map):
            own[p, padded] = float(i)
    return own


def couplings(net: Net, params: Params, gamma: torch.Tensor | float = 1.0) -> Couplings:
    """Masked, gain-scaled coupling blocks for the sweep; ``gamma`` is a scalar or ``[P]``."""
    depth, off = net.depth, net.offsets()
    dtype = params.weights[0].dtype
    gamma = torch.as_tensor(gamma, dtype=dtype, device=params.weights[0].device
                            ).expand(net.population)
    own = own_levels(net).to(dtype)
    ws = [w * m for w, m in zip(params.weights, net.masks, strict=True)]
    up = [w.transpose(1, 2) for w in ws]
    bias = [b.unsqueeze(1) for b in params.biases]
    down: list[torch.Tensor | None] = []
    for lv in range(1, depth + 1):
        blocks = []
        for m in range(lv + 1, depth + 1):
            gap = (own[:, m] - own[:, lv]).clamp(min=0.0)
            blocks.append(ws[m - 1][:, :, off[lv]:off[lv + 1]] * (gamma ** gap).view(-1, 1, 1))
        down.append(torch.cat(blocks, dim=1) if blocks else None)
    rec: list[torch.Tensor | None] = [None] * depth
    out_self = None
    if params.recurrent is not None and net.recurrent_mask is not None:
        r = params.recurrent * net.recurrent_mask
        sym = 0.5 * (r + r.transpose(1, 2))
        sizes = torch.tensor(net.level_sizes, device=own.device)
        neuron_level = own.repeat_interleave(sizes, dim=1)  # [P, N]
        top = torch.maximum(neuron_level.unsqueeze(2), neuron_level.unsqueeze(1))
        gain = gamma.view(-1, 1, 1) ** (top - neuron_level.unsqueeze(2))
        coupled = (sym * gain).transpose(1, 2)  # [P, src N, dst N]
        rec = [coupled[:, :, off[lv]:off[lv + 1]] for lv in range(1, depth + 1)]
        inside = coupled[:, off[depth]:, off[depth]:]
        if linear_output(net) and bool(inside.ne(0).any()):  # solved exactly in relax()
            out_self = inside.clone()
            rec[-1] = rec[-1].clone()
            rec[-1][:, off[depth]:] = 0.0
    return Couplings(up, down, bias, rec, out_self, off)


def linear_output(net: Net) -> bool:
    return net.present_codes[-1] == (activations.CODES["identity"],)


def rates(net: Net, level: int, h: torch.Tensor) -> torch.Tensor:
    """ρ_l(h): the neuron's own activation, clipped to [-1, 1] below the output level."""
    r = activate(net, level, h)
    return r.clamp(-1.0, 1.0) if level < net.depth else r


def initial_state(net: Net, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[P, B, N]``: inputs in the level-0 columns, every other rate zero (so the first
    upward sweep of a relaxation is exactly the feedforward pass)."""
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(net.population, -1, -1)
    s = torch.zeros(x.shape[0], x.shape[1], net.n_neurons, dtype=dtype, device=x.device)
    s[:, :, : net.n_inputs] = x
    return s


def relax(net: Net, c: Couplings, s: torch.Tensor, steps: int | Sequence[int],
          target: torch.Tensor | None = None, beta: torch.Tensor | None = None,
          down_first: bool = False) -> torch.Tensor:
    """``steps`` sweeps of block-coordinate descent on the energy, in place on the state
    ``s[P, B, N]``; returns it. Sweeps alternate direction, so a change at either end crosses
    every level in one sweep: from the zero state start upward (the first sweep is then the
    feedforward pass); a clamped/nudged phase starts downward, from the output it moves.
    ``steps`` may be a count per member: a member past its own count keeps its
    state while the others sweep on (as the fused kernel does), so its result is the one it
    would reach alone.

    Output level: free when ``target`` is None; clamped to ``target`` when ``beta`` is None;
    otherwise nudged, minimising ``E + β·½‖r_L - target‖²`` (``beta[P, 1, 1]``, either sign).
    """
    depth, off = net.depth, c.offsets
    clamped = target is not None and beta is None
    if clamped:
        s[:, :, off[depth]:] = target
    linear = linear_output(net)
    nudge = 0.0 if beta is None else beta
    solve = None
    if linear and c.out_self is not None and not clamped:
        eye = torch.eye(c.out_self.shape[1], dtype=s.dtype, device=s.device)
        solve, _ = torch.linalg.inv_ex((1.0 + nudge) * eye - c.out_self)  # singular -> inf
    upward = list(range(1, depth if clamped else depth + 1))
    counts = [steps] if isinstance(steps, int) else [int(t) for t in steps]
    n_steps = max(counts, default=0)
    # [P, 1, 1] counts where members differ; None where every member sweeps n_steps times
    per_member = None if all(t == n_steps for t in counts) else torch.tensor(
        counts, device=s.device).view(-1, 1, 1).expand(s.shape[0], 1, 1)
    for step in range(n_steps):
        going = None if per_member is None else step < per_member
        for lv in upward[::-1] if (step % 2 == 0) == down_first else upward:
            a, b = off[lv], off[lv + 1]
            h = torch.baddbmm(c.bias[lv - 1], s[:, :, :a], c.up[lv - 1])
            if c.down[lv - 1] is not None:
                h = h + torch.bmm(s[:, :, b:], c.down[lv - 1])
            if c.rec[lv - 1] is not None:
                h = h + torch.bmm(s, c.rec[lv - 1])
            if lv == depth and linear:  # stationary in r of ½r² - r·h - ½rᵀJr + β·½‖r - y‖²
                rhs = h if target is None else h + beta * target
                new = rhs / (1.0 + nudge) if solve is None \
                    else torch.bmm(rhs, solve.transpose(1, 2))
            elif lv < depth or target is None:
                new = rates(net, lv, h)
            else:  # r = ρ(h - β ∂C/∂r), iterated to its fixed point across sweeps
                new = rates(net, lv, h + beta * (target - s[:, :, a:b]))
            s[:, :, a:b] = new if going is None else torch.where(going, new, s[:, :, a:b])
    return s


def contrast(net: Net, plus: torch.Tensor, minus: torch.Tensor, scale: torch.Tensor | float
             ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
    """Descent directions ``-[corr(plus) - corr(minus)] / scale`` (``scale`` scalar or [P]),
    where ``corr`` = -∂E/∂θ batch-averaged: ``r_l r_<lᵀ`` per level, ``r_l``, and ``½ r rᵀ``
    for the recurrent couplings (γ's per-level factors left out, see above).

    ``a⁺b⁺ᵀ - a⁻b⁻ᵀ = ½[(a⁺ - a⁻)(b⁺ + b⁻)ᵀ + (a⁺ + a⁻)(b⁺ - b⁻)ᵀ]`` is used: subtracting two
    nearly equal correlations would leave mostly rounding error, which Adam, normalising each
    entry, would turn into full-size steps (and into a dependence on the padding)."""
    off, n = net.offsets(), plus.shape[1]
    k = torch.as_tensor(scale, dtype=plus.dtype, device=plus.device).reshape(-1, 1, 1) * (-2.0 * n)
    diff, total = plus - minus, plus + minus

    def product(rows: slice, cols: slice) -> torch.Tensor:
        return (torch.bmm(diff[:, :, rows].transpose(1, 2), total[:, :, cols])
                + torch.bmm(total[:, :, rows].transpose(1, 2), diff[:, :, cols])) / k

    levels = [slice(off[lv], off[lv + 1]) for lv in range(1, net.depth + 1)]
    dw = [product(rows, slice(0, rows.start)) for rows in levels]
    db = [diff[:, :, rows].sum(dim=1) / (0.5 * k[:, :, 0]) for rows in levels]
    everything = slice(0, net.n_neurons)
    dr = 0.5 * product(everything, everything) if net.recurrent_mask is not None else None
    return dw, db, dr


def output_cost(net: Net, s: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``[P]``: batch mean of ½‖r_L - y‖² at the state ``s``."""
    out = s[:, :, net.offsets()[net.depth]:]
    return 0.5 * ((out - target) ** 2).sum(dim=2).mean(dim=1)


class EnergyRule(LocalRule[Relaxation]):
    """LocalRule for relaxation rules: free-phase prediction, and Adam also steps the
    recurrent couplings (LocalRule steps only W and b). Subclasses implement
    :meth:`energy_updates`. γ and the sweep counts are genes (:data:`RELAXATION_GENES`),
    so each member relaxes with its own, in training and whenever it is scored."""

    trains_recurrent = True  # the free and clamped relaxations run through them

    kernel: str = DEFAULT_KERNEL  # how phases relax: torch | triton | auto (kernels/dispatch.py)
    former_options = tuple(g.name for g in RELAXATION_GENES)  # options until 2026-12-04

    def __init__(self, kernel: str = DEFAULT_KERNEL) -> None:
        self.kernel = check_kernel(self.name, kernel)  # how relax_phase runs

    def relax_phase(self, net: Net, c: Couplings, s: torch.Tensor, steps: int | Sequence[int],
                    target: torch.Tensor | None = None, beta: torch.Tensor | None = None,
                    down_first: bool = False) -> torch.Tensor:
        """:func:`relax`, or the same phase in the fused Triton kernel when the option
        ``kernel`` picks it (rules/kernels/energy_relax.py; the results agree within 1e-4)."""
        def reference() -> torch.Tensor:
            return relax(net, c, s, steps, target, beta, down_first)
        if use_triton(self.name, self.kernel, s, energy_relax.fits(net),
                      net.n_neurons - net.n_inputs):
            return run_fused(self.name, self.kernel, lambda: energy_relax.relax(
                net, c, s, steps, target, beta, down_first), reference)
        return reference()

    def energy_updates(self, net: Net, params: Params, state: LocalState[Relaxation],
                       x: torch.Tensor, y: torch.Tensor
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None,
                                  torch.Tensor]:
        """Descent directions for W, b and the recurrent couplings, and the loss ``[P]``."""
        raise NotImplementedError

    def updates(self, net: Net, params: Params, state: LocalState[Relaxation], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        dw, db, _, loss = self.energy_updates(net, params, state, x, y)
        return dw, db, loss

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> Relaxation:
        return Relaxation.of(hyper)

    def select_extra(self, extra: Relaxation, keep: torch.Tensor) -> Relaxation:
        return extra.select(keep)

    def init_state(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> LocalState[Relaxation]:
        extra = self.init_extra(net, params, hyper, seeds)
        return LocalState(Adam.for_params(params.tensors(), [h["lr"] for h in hyper]),
                          list(hyper), extra)

    def step_cost(self, hyper: Mapping[str, Any]) -> float:
        # T1 free sweeps and two phases of T2, each sweep about one forward drive and one
        # feedback matmul per level: about a forward and backward pass
        free = float(hyper.get("free_steps", FREE_STEPS.default))
        return free + 2.0 * float(hyper.get("nudge_steps", NUDGE_STEPS.default))

    @torch.no_grad()
    def train_step(self, net: Net, params: Params, state: LocalState[Relaxation],
                   x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        dw, db, dr, loss = self.energy_updates(net, params, state, x, y)
        grads = [*(d * m for d, m in zip(dw, net.masks, strict=True)),
                 *(d * m for d, m in zip(db, net.neuron_masks, strict=True))]
        if params.recurrent is not None:
            grads.append(dr * net.recurrent_mask)
        state.optimizer.apply(params.tensors(), grads)
        return loss

    def free_phase(self, net: Net, params: Params, x: torch.Tensor, relaxation: Relaxation
                   ) -> torch.Tensor:
        """The free fixed point ``[P, B, N]`` (each member's T1 sweeps from the zero state)."""
        return self.relaxed_start(net, params, x, relaxation)[1]

    def relaxed_start(self, net: Net, params: Params, x: torch.Tensor, relaxation: Relaxation
                      ) -> tuple[Couplings, torch.Tensor]:
        """The members' couplings and their free fixed point, where every phase starts."""
        c = couplings(net, params, relaxation.gamma)
        return c, self.relax_phase(net, c, initial_state(net, x, params.weights[0].dtype),
                                   relaxation.free_steps)

    @torch.no_grad()
    def predict_members(self, net: Net, params: Params, x: torch.Tensor,
                        hyper: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        if len(hyper) != net.population:
            raise ValueError(f"rule {self.name}: {len(hyper)} members' genes for a population "
                             f"of {net.population}")
        defaults = self.hyperparameters().defaults()
        relaxation = Relaxation.of([{**defaults, **h} for h in hyper], x.device)
        return self.free_phase(net, params, x, relaxation)[:, :, net.offsets()[net.depth]:]

    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Every member read with the default relaxation genes: a trained member is read
        with its own by :meth:`predict_members`, as a search and an export read it."""
        return self.predict_members(net, params, x, [{}] * net.population)


@register
class CHL(EnergyRule):
    name = "chl"
    description = "contrastive Hebbian learning: free vs output-clamped relaxation, γ feedback"
    limits = {
        "WT": Limit(False, "symmetric net: level l's feedback γ^gap r_m W̃_m uses the forward "
                           "weights backwards; nothing is copied, but both directions share one "
                           "strength"),
        "FL": Limit(False, "the clamped phase starts from the free fixed point: T1 sweeps over "
                           "the whole net, the first one the forward pass"),
        "BL": Limit(False, "the clamped target reaches level l only through every level above it "
                           "during the T2 sweeps, and all levels update after them"),
        "FBD": Limit(True, "the update is the clamped-minus-free difference of rate correlations "
                           "r_l r_<lᵀ; relaxation applies ρ itself, never ρ′"),
    }

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=2e-3), INIT_SCALE,
                           *RELAXATION_GENES))

    def phases(self, net: Net, params: Params, x: torch.Tensor, y: torch.Tensor,
               relaxation: Relaxation) -> tuple[torch.Tensor, torch.Tensor]:
        """Free and clamped fixed points ``[P, B, N]``. After T1 free sweeps, both go on for
        T2 sweeps of the same schedule, one with the output clamped: whatever the free
        relaxation had left to converge then cancels in the contrast instead of posing as
        a learning signal (with T1 = 8, a 4-hidden-level net collapses to chance without it)."""
        c, start = self.relaxed_start(net, params, x, relaxation)
        target = one_hot(y, net.n_outputs).to(start.dtype)
        steps = relaxation.nudge_steps
        free = self.relax_phase(net, c, start.clone(), steps, down_first=True)
        clamped = self.relax_phase(net, c, start, steps, target, down_first=True)
        return free, clamped

    def energy_updates(self, net, params, state, x, y):
        free, clamped = self.phases(net, params, x, y, state.extra)
        dw, db, dr = contrast(net, clamped, free, 1.0)
        target = one_hot(y, net.n_outputs).to(free.dtype)
        return dw, db, dr, output_cost(net, free, target)
