"""Predictive coding (PC): relax the hidden states, then learn from local prediction errors.

Whittington & Bogacz 2017, "An approximation of the error backpropagation algorithm in a
predictive coding network with local Hebbian synaptic plasticity", Neural Comput.
29(5):1229-1262 (bioRxiv 035451); on arbitrary DAGs: Salvatori et al. 2022, "Learning on
arbitrary graph topologies via predictive coding", NeurIPS (arXiv:2201.13180).

Equations in the level-block notation of :mod:`search_spaces.net` (level 0 = input,
level L = output, ``x_<l`` = concatenation of the *states* of all levels below ``l``,
``M_l`` the genome's edge mask)::

    z_l = (W_l ⊙ M_l) x_<l + b_l,    μ_l = f_l(z_l),    ε_l = x_l − μ_l            (l >= 1)
    E   = Σ_{l>=1} ½ ||ε_l||²                       (summed over neurons, mean over batch)
          (inference descends each example's own energy, i.e. B × this mean)
    ∂E/∂x_l = ε_l − Σ_{m>l} [(ε_m ⊙ f'(z_m)) (W_m ⊙ M_m)][:, columns of level l]

Training on a minibatch:

1. ``x_0`` = input (clamped); hidden states start at the feedforward pass, ``x_l = μ_l``,
   so every hidden error is zero and ``E`` equals the squared error ``½||y − μ_L||²``
   (this is the loss :meth:`PredictiveCoding.updates` reports: the real state of the net).
2. The output level is clamped to the one-hot target, ``x_L = y``.
3. Inference: ``T`` steps of ``x_l ← x_l − γ ∂E/∂x_l`` on the hidden levels only.
4. Learning at the relaxed state, one Hebbian-like product per level (error × presynaptic
   state, no autograd and no signal crossing levels)::

       ∂E/∂W_m = −(ε_m ⊙ f'(z_m))ᵀ x_<m / B,     ∂E/∂b_m = −mean_B(ε_m ⊙ f'(z_m))

   handed to the shared per-member Adam as descent directions.

Prediction is a plain feedforward pass: with no label clamped, ``x_l = μ_l`` already is the
energy minimum (E = 0), so relaxing at test time would change nothing.

Design choices and why:

- Output clamped to the one-hot target (full clamp), its error weighed by the output
  precision Π_L, a gene (``output_precision``, default 0.01). The bp limit (Whittington &
  Bogacz 2017) is *weak output precision*: with the output term weighed by Π_L → 0 the
  hidden states move O(Π_L), every ε_l becomes Π_L × bp's backpropagated error of
  ``½||y − μ_L||²`` and the updates equal Π_L × bp's gradient (tested: cosine 1.000 per
  block). At Π_L = 1 the hidden states absorb part of the output error,
  ``ε_L = (I + J Jᵀ)⁻¹ (y − μ_L)`` (J = ∂μ_L/∂hidden states): on one hidden level that
  costs nothing (digits 64-128-10 trained alike for Π_L ∈ {1, 0.1, 0.01}; Adam divides out
  the scale), but as training grows J the update drifts from bp's — after 3-4 epochs on
  mnist1d 40-128-128-10 the top block's cosine with bp's gradient is ~0.84 at Π_L = 1 and
  > 0.99 at 0.01 (tests/test_rule_fidelity.py). Chosen on mnist1d's seed-7 *validation*
  split (40-256-256-10, 30 epochs; a seed benchmarks/rules.py does not report by default;
  ``python benchmarks/rules.py --tasks mnist1d --topology 40-256-256-10 --rules pc
  --no-baselines --seeds 7 --set pc.output_precision=X``, its ``valid`` column):
  Π_L = 1 / 0.1 / 0.03 / 0.01 / 0.003 gave 61.5 / 64.6 / 66.4 / 65.8 / 66.5%; 0.01 sits
  inside the plateau. A soft target ``μ_L + β(y − μ_L)`` at unit precision is *not* the
  limit (the same (I + J Jᵀ)⁻¹ absorption, whatever β), so there is no β gene.
  Π_L only shapes training: prediction is a feedforward pass whatever its value.
- Plain gradient steps on the states (no momentum) with T=20, γ=0.1: the reference PC
  measured on this machine uses them (its accuracy is not reproduced by a benchmark here),
  and they keep the inference a pure energy descent (monotone at small γ, tested).
- The input's contribution ``(W_l ⊙ M_l)[:, x_0] x_0 + b_l`` is constant during inference
  and is computed once per minibatch (so is level 1's prediction); the hidden states live in
  one tensor so each inference step costs one batched matmul forward and one backward per
  level for the whole population. Members with different ``T`` take ``γ = 0`` steps once
  their own ``T`` is done; laid out by ``T``, largest first (as the search's chunk planner
  lays them out), the steps run on a prefix of the population that drops the members done,
  wherever the inference that saves outweighs cutting the prefix (:data:`SHRINK_WORK`), so
  a small ``T`` stops costing compute on nets large enough for it to matter. Either way a
  member's trajectory is the same alone or batched; Π_L is per member the same way.
- The fused Triton relaxation (rules/kernels/pc_relax.py) runs the unit-precision energy;
  :func:`weigh_output` rescales its problem so it relaxes the weighed one on a linear output
  level (checked against :func:`relax` in tests/test_rule_pc.py); a nonlinear output level
  with Π_L ≠ 1 relaxes in torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rules.base import Hyperparameter, HyperSpace, Limit
from rules.kernels import pc_relax
from rules.kernels.dispatch import DEFAULT_KERNEL, check_kernel, run_fused, use_triton
from rules.local import INIT_SCALE, LR, LocalRule, LocalState, one_hot, select_rows
from rules.registry import register
from search_spaces import activations
from search_spaces.net import Net, Params

_IDENTITY = activations.code_of("identity")
STEPS = Hyperparameter("steps", 1, 50, 20, integer=True,
                       doc="inference steps T on the hidden states before each weight update")
STATE_STEP = Hyperparameter("state_step", 0.01, 1.0, 0.1, log=True,
                            doc="inference step size γ: x_l ← x_l − γ ∂E/∂x_l")
OUTPUT_PRECISION = Hyperparameter(
    "output_precision", 1e-3, 1.0, 0.01, log=True,
    doc="Π_L: weight of the clamped output's error in the energy (→ 0: bp's gradient)")


@dataclass
class Relaxed:
    """Result of :func:`relax`: the states ``x_0..x_L`` (``[P, B, n_l]``), the energy ``[P]``
    of the feedforward start, and (when recorded) the energy before every step and after
    the last one."""

    states: list[torch.Tensor]
    initial_energy: torch.Tensor
    energies: list[torch.Tensor] | None = None


#: Multiply-adds of inference a shorter prefix must save before :func:`relax` cuts it: about
#: what cutting one costs in view slicing on a CPU, so that nets of a few dozen units, where a
#: step costs the same for few members as for many, keep their whole chunk (a rough
#: threshold, not a fitted one). ``python benchmarks/throughput.py`` times pc on members of
#: spread T in T order against another order, and the quick generation's chunks.
SHRINK_WORK = 4e6


def relax(net: Net, params: Params, x: torch.Tensor, target: torch.Tensor,
          steps: int | torch.Tensor, gamma: float | torch.Tensor,
          record: bool = False, output_precision: float | torch.Tensor = 1.0) -> Relaxed:
    """Clamp ``x_0 = x`` and ``x_L = target``, start the hidden levels at the feedforward
    pass and take ``steps`` gradient steps of size ``gamma`` on ``E`` (per member when
    given as ``[P]`` tensors). ``output_precision`` Π_L (scalar or ``[P]``) weighs the output
    term of the energy, ``Π_L/2 ||x_L − μ_L||²`` (Π_L → 0 is the bp-equivalence limit).

    Internally states are laid out neurons × batch (``[P, n, B]``): the batched matmuls
    then produce ``[P, n_m, B]`` blocks, which CPU ``bmm`` computes faster than
    ``[P, B, n_m]`` when ``n_m`` is small (an output level of 10 classes).
    """
    P, depth = net.population, net.depth
    precision = _precision(output_precision, P, x.dtype, x.device)
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(P, -1, -1)
    offsets = net.offsets()
    n0 = offsets[1]
    cols = [offsets[m] - n0 for m in range(depth + 1)]  # hidden rows below level m
    weights = [w * m for w, m in zip(params.weights, net.masks, strict=True)]
    w_hidden = [w[:, :, n0:] for w in weights]  # [P, n_m, N_hidden_<m]
    w_hidden_t = [w.transpose(1, 2) for w in w_hidden]
    # the clamped input's drive and the bias do not change during inference, so neither
    # does level 1's prediction (it sees only the input)
    x_t = x.transpose(1, 2)
    const = [torch.baddbmm(b.unsqueeze(2), w[:, :, :n0], x_t)
             for w, b in zip(weights, params.biases, strict=True)]
    mu_first = _activate_t(net, 1, const[0])
    target_t = target.transpose(1, 2).contiguous()

    # the hidden states, their errors and the energy's gradient live in three buffers that
    # every inference step overwrites in place, so the views each step reads (the rows
    # below a level, a level's rows) are cut once, not once per step
    hidden = x.new_zeros(P, cols[depth], x.shape[1])
    below = [hidden if c == cols[depth] else hidden[:, :c] for c in cols]

    def drive(m: int) -> torch.Tensor:  # z_m (m >= 2) at the current states, [P, n_m, B]
        return torch.baddbmm(const[m - 1], w_hidden[m - 1], below[m])

    # feedforward start: hidden states equal their predictions
    for m in range(1, depth):
        hidden[:, cols[m]:cols[m + 1]] = mu_first if m == 1 else _activate_t(net, m, drive(m))
    mu_out = _activate_t(net, depth, const[-1] if depth == 1 else drive(depth))
    initial = 0.5 * precision.flatten() * (target_t - mu_out).pow(2).sum(1).mean(-1)
    if depth == 1:  # no hidden level: nothing to relax
        return Relaxed([x, target], initial, [initial] if record else None)

    steps_t = torch.as_tensor(steps, device=x.device).reshape(-1).expand(P)
    gamma_t = torch.as_tensor(gamma, dtype=x.dtype, device=x.device).reshape(-1).expand(P)
    n_steps = int(steps_t.max())
    same = bool((gamma_t == gamma_t[0]).all() and (steps_t == n_steps).all())
    # members laid out by T, largest first (the search's chunks are: evolve/chunking.py):
    # those past their own T drop off the end of the population, so inference steps run
    # on a shrinking prefix of it and a small T stops costing compute
    shrinking = not same and not record and bool((steps_t[:-1] >= steps_t[1:]).all())
    shared_step = -float(gamma_t[0])  # read once: a read per inference step costs two ops
    if not same:
        # every step's per-member step size at once (members past their own T take zero
        # steps): one product per minibatch instead of a comparison, cast and product per
        # inference step
        past = torch.arange(n_steps, device=x.device).unsqueeze(1) < steps_t
        steps_sizes = (gamma_t * past.to(x.dtype)).view(n_steps, P, 1, 1)
        schedule = steps_sizes.unbind(0)
    energies: list[torch.Tensor] | None = [] if record else None
    plans = {m: _plan(net, m) for m in range(2, depth + 1)}  # None: all-identity level
    weighted = bool((precision != 1.0).any())
    # ε of the hidden levels is written where the energy's gradient is built (it is the
    # gradient before the feedback terms), so no step copies it there; a recording run
    # keeps it apart for the energy
    grad = torch.empty_like(hidden)
    eps_hidden = torch.empty_like(hidden) if record else grad
    full = _Views(const, w_hidden, w_hidden_t, hidden, below, grad, eps_hidden, mu_first,
                  target_t, precision, plans, cols)
    if shrinking:
        # a shorter prefix is cut only when the inference it saves outweighs cutting it
        # (members in the prefix past their own T take zero steps meanwhile): on nets of a
        # few dozen units a step costs the same for 2 members as for 10
        member_step = 2 * x.shape[1] * sum(w.shape[1] * w.shape[2] for w in w_hidden[1:])
        cuts = [(0, P)]  # (first step, members) of each stretch
        for t, still in enumerate(past.sum(1).tolist()):
            k = cuts[-1][1]
            if still < k and (k - still) * (n_steps - t) * member_step >= SHRINK_WORK:
                cuts.append((t, still))
        for (first, k), (end, _) in zip(cuts, [*cuts[1:], (n_steps, 0)], strict=True):
            if k == P:
                _infer(full, weighted, schedule, None, None, first, end)
            else:
                _infer(full.prefix(k), weighted, steps_sizes[:, :k].unbind(0), None, None,
                       first, end)
    else:
        _infer(full, weighted, None if same else schedule, shared_step if same else None,
               energies, 0, n_steps)

    states = [x] + [hidden[:, cols[m]:cols[m + 1]].transpose(1, 2)
                    for m in range(1, depth)] + [target]
    return Relaxed(states, initial, energies)


@dataclass(frozen=True)
class _Views:
    """What one inference step reads and writes, for the whole population or a prefix of it
    (the first ``k`` members: every tensor sliced on its population axis, so the step runs
    on views and writes into the population's own buffers)."""

    const: list[torch.Tensor]  # per level: the input's drive plus bias, [P, n_m, B]
    w_hidden: list[torch.Tensor]  # per level: its weights from the hidden rows
    w_hidden_t: list[torch.Tensor]
    hidden: torch.Tensor  # [P, N_hidden, B] the states
    below: list[torch.Tensor]  # per level: the hidden rows below it
    grad: torch.Tensor  # ∂E/∂states, [P, N_hidden, B]
    eps_hidden: torch.Tensor  # the hidden errors (``grad`` itself unless recording)
    mu_first: torch.Tensor  # level 1's prediction (constant during inference)
    target: torch.Tensor
    precision: torch.Tensor  # [P, 1, 1]
    plans: dict[int, activations.RowActivations | None]
    cols: list[int]  # hidden rows below each level
    # cut from the above once, not once per step: a hidden level's states and errors, and
    # the gradient's rows below each level
    rows: list[tuple[torch.Tensor, torch.Tensor]] = dataclasses.field(init=False)
    grad_below: dict[int, torch.Tensor] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        cols = self.cols
        object.__setattr__(self, "rows", [(self.hidden[:, cols[m]:cols[m + 1]],
                                           self.eps_hidden[:, cols[m]:cols[m + 1]])
                                          for m in range(1, self.depth)])
        object.__setattr__(self, "grad_below",
                           {m: self.grad[:, :cols[m]] for m in range(2, self.depth)})

    def prefix(self, k: int) -> _Views:
        def cut(ts: list[torch.Tensor]) -> list[torch.Tensor]:
            return [t[:k] for t in ts]
        plans = {m: None if plan is None else plan.prefix(k) for m, plan in self.plans.items()}
        return _Views(cut(self.const), cut(self.w_hidden), cut(self.w_hidden_t),
                      self.hidden[:k], cut(self.below), self.grad[:k], self.eps_hidden[:k],
                      self.mu_first[:k], self.target[:k], self.precision[:k], plans, self.cols)

    @property
    def depth(self) -> int:
        return len(self.cols) - 1


def _infer(v: _Views, weighted: bool, schedule: Sequence[torch.Tensor] | None,
           shared_step: float | None, energies: list[torch.Tensor] | None,
           first: int, end: int) -> None:
    """Inference steps ``first`` … ``end - 1`` on ``v``'s members: each finds their errors at
    the current states, then takes a gradient step on the hidden states — of
    ``shared_step`` (every member alike) or else of ``schedule[t]`` (``[P, 1, 1]``: per
    member, zero past a member's T). With ``energies``, each step first appends the energy
    at the current states, and one more such append ends the run."""
    depth, hidden, grad, rows, plans = v.depth, v.hidden, v.grad, v.rows, v.plans
    const, w_hidden, w_hidden_t, below = v.const, v.w_hidden, v.w_hidden_t, v.below
    grad_below, eps_hidden, mu_first, target = v.grad_below, v.eps_hidden, v.mu_first, v.target
    precision = v.precision
    P = hidden.shape[0]
    for t in range(first, end + (1 if energies is not None else 0)):
        # predictions and errors at the current states (level 1's prediction is constant)
        # f(z_m) and f'(z_m) together: the predictions need one, the feedback the other
        acts = {m: _with_slope(plans[m], torch.baddbmm(const[m - 1], w_hidden[m - 1], below[m]))
                for m in range(2, depth + 1)}
        # ε_l = x_l − μ_l, level by level into its rows (no concatenated μ)
        for m, (states_m, eps_m) in enumerate(rows, start=1):
            torch.sub(states_m, mu_first if m == 1 else acts[m][0], out=eps_m)
        # each hidden level's feedback ε_m ⊙ f'(z_m), taken before the gradient rows that
        # hold ε are overwritten (an identity level's is ε itself: copied)
        deltas = {m: _times_slope(rows[m - 1][1], acts[m][1]) for m in range(2, depth)}
        if energies is None:
            deltas = {m: d.clone() if acts[m][1] is None else d for m, d in deltas.items()}
        eps_out = torch.sub(target, acts[depth][0])
        if weighted:
            eps_out.mul_(precision)  # Π_L ε_L: what the output feeds back
        if energies is not None:
            out_energy = eps_out.pow(2).sum(1) / precision.view(P, 1)
            energies.append(0.5 * (eps_hidden.pow(2).sum(1) + out_energy).mean(-1))
            if t == end:
                break
            grad.copy_(eps_hidden)
        # ∂E/∂x_hidden = ε − Σ_{m>l} (ε_m ⊙ f'(z_m)) W_m[:, level l]: each level m feeds back
        # into the hidden rows below it
        grad.baddbmm_(w_hidden_t[-1], _times_slope(eps_out, acts[depth][1]), alpha=-1.0)
        for m in range(2, depth):
            grad_below[m].baddbmm_(w_hidden_t[m - 1], deltas[m], alpha=-1.0)
        if shared_step is not None:
            hidden.add_(grad, alpha=shared_step)
        else:  # members past their own T take zero steps
            hidden.addcmul_(schedule[t], grad, value=-1.0)


def _precision(value: float | torch.Tensor, population: int, dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
    """Π_L as a ``[P, 1, 1]`` tensor on ``device`` (from a scalar or one value per member),
    checked > 0. Made on the states' device: a ``[P]`` tensor on the host cannot multiply
    CUDA states (the fused path's feedforward start passes the scalar default)."""
    precision = torch.as_tensor(value, dtype=dtype).reshape(-1)
    if not bool((precision > 0).all()):
        raise ValueError(f"output_precision must be > 0, got {value}")
    return precision.to(device).expand(population).reshape(population, 1, 1)


def weigh_output(net: Net, problem: dict[str, torch.Tensor], precision: torch.Tensor
                 ) -> dict[str, torch.Tensor]:
    """The fused kernel's dense problem (rules/kernels/pc_relax.py) for output precision
    ``precision[P]``, without a kernel change: with a linear output level, scaling its rows
    of ``A``, ``C`` and ``S`` by √Π_L scales its error by √Π_L and its feedback
    ``Aᵀ ε`` by Π_L — exactly the weighed energy. (A nonlinear output level does not scale
    so; the rule then relaxes in torch unless every Π_L is 1.)"""
    if bool((precision == 1.0).all()):
        return problem
    out = slice(net.offsets()[net.depth] - net.offsets()[1], None)
    root = precision.to(problem["A"].dtype).sqrt().view(-1, 1, 1)
    for key in ("A", "C", "S"):
        problem[key] = problem[key].clone()
        problem[key][:, out] *= root
    return problem


def _activate_t(net: Net, level: int, z: torch.Tensor) -> torch.Tensor:
    """``f(z)`` for neurons × batch ``z[P, n, B]``."""
    codes = net.activation_codes[level - 1].unsqueeze(2)
    return activations.apply(z, codes, net.present_codes[level - 1])


def _plan(net: Net, level: int) -> activations.RowActivations | None:
    """How to activate a level laid out neurons × batch; ``None`` for an all-identity
    level (the output), whose feedback needs no multiplication by f' = 1."""
    present = net.present_codes[level - 1]
    if present == (_IDENTITY,):
        return None
    return activations.RowActivations(net.activation_codes[level - 1], present)


@dataclass(frozen=True)
class _ReluSlope:
    """f'(z) of an all-relu level, kept as its drive ``z``: multiplying an error by it is
    one ``threshold_backward`` (the error where z > 0, else 0) instead of a comparison, a
    cast and a product — the same numbers but for the sign of a zero."""

    z: torch.Tensor


def _with_slope(plan: activations.RowActivations | None, z: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | _ReluSlope | None]:
    """``(f(z), f'(z))`` for ``z[P, n, B]`` (``f'`` ``None`` where f is the identity)."""
    if plan is None:
        return z, None
    if plan.single == "relu":
        return torch.relu(z), _ReluSlope(z)
    return plan.value_and_derivative(z)


def _times_slope(eps: torch.Tensor, slope: torch.Tensor | _ReluSlope | None) -> torch.Tensor:
    if slope is None:
        return eps
    if isinstance(slope, _ReluSlope):
        return torch.ops.aten.threshold_backward(eps, slope.z, 0.0)
    return eps * slope


def local_updates(net: Net, params: Params, states: Sequence[torch.Tensor],
                  output_precision: float | torch.Tensor = 1.0
                  ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """``∂E/∂W_m``, ``∂E/∂b_m`` at fixed ``states`` and each level's error ``ε_m``
    (the output level's error and update weighed by ``output_precision``, see :func:`relax`).

    Level ``m``'s update reads only ``W_m``, ``b_m``, its own state ``x_m`` and the states
    ``x_<m`` of its presynaptic levels: ``−(ε_m ⊙ f'(z_m))ᵀ x_<m / B``.
    """
    dw, db, errors = [], [], []
    lower = states[0]
    precision = _precision(output_precision, net.population, lower.dtype, lower.device)
    batch = lower.shape[1]
    for m in range(1, net.depth + 1):
        w = params.weights[m - 1] * net.masks[m - 1]
        # neurons × batch layout, as in relax(): z_m[P, n_m, B]
        z = torch.baddbmm(params.biases[m - 1].unsqueeze(2), w, lower.transpose(1, 2))
        value, slope = _with_slope(_plan(net, m), z)
        eps = states[m].transpose(1, 2) - value
        if m == net.depth and bool((precision != 1.0).any()):
            eps = precision * eps
        delta = _times_slope(eps, slope)
        dw.append(torch.bmm(delta, lower).div_(-batch))  # −(ε_m ⊙ f'(z_m))ᵀ x_<m / B
        db.append(-delta.mean(dim=2))
        errors.append(eps.transpose(1, 2))
        if m < net.depth:
            lower = torch.cat((lower, states[m]), dim=2)
    return dw, db, errors


@dataclass(frozen=True)
class PCState:
    """pc's per-member relaxation settings, from its genes: steps T, state step γ and
    output precision Π_L, each ``[P]`` (so a fit can cut them to the members still
    training)."""

    steps: torch.Tensor
    gamma: torch.Tensor
    precision: torch.Tensor


@register
class PredictiveCoding(LocalRule[PCState]):
    name = "pc"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "predictive coding: relax hidden states to the clamped target, local updates"
    limits = {
        "WT": Limit(False, "inference sends ε_m ⊙ f′(z_m) back through the forward blocks W_m "
                           "themselves (∂E/∂x_l); there are no separate feedback weights"),
        "FL": Limit(False, "hidden states start at the feedforward pass, and the clamped "
                           "output's error is taken against its prediction μ_L"),
        "BL": Limit(False, "each inference step carries the error one level further down through "
                           "W, and every update waits for the T steps (local in space, not in "
                           "time)"),
        "FBD": Limit(False, "both the inference feedback and the update −(ε_m ⊙ f′(z_m))ᵀ x_<m "
                            "multiply by f′ of the forward drive"),
    }

    kernel: str = DEFAULT_KERNEL  # also the value for subclasses with constructors of their own

    def __init__(self, kernel: str = DEFAULT_KERNEL) -> None:
        # how the relaxation runs (results agree within 1e-4): "torch" (the reference),
        # "triton" (the fused kernel, rules/kernels), "auto" (triton on CUDA tensors)
        self.kernel = check_kernel(self.name, kernel)

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=1e-3), INIT_SCALE, STEPS, STATE_STEP,
                           OUTPUT_PRECISION))

    def _fused(self, net: Net, x: torch.Tensor) -> bool:
        """Whether this minibatch's relaxation runs in the Triton kernel."""
        rows = net.n_neurons - net.n_inputs
        return use_triton(self.name, self.kernel, x, rows <= pc_relax.MAX_ROWS and net.depth > 1,
                          rows)

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> PCState:
        device = params.weights[0].device
        return PCState(
            steps=torch.tensor([int(h["steps"]) for h in hyper], device=device),
            gamma=torch.tensor([float(h["state_step"]) for h in hyper], device=device),
            precision=torch.tensor([float(h["output_precision"]) for h in hyper],
                                   device=device))

    def step_cost(self, hyper: Mapping[str, Any]) -> float:
        # the feedforward start and the update, then T relaxation steps of about one
        # forward drive and one feedback matmul per level each
        return 1.0 + float(hyper.get("steps", STEPS.default))

    def select_extra(self, extra: PCState, keep: torch.Tensor) -> PCState:
        return select_rows(extra, keep)  # per-member T, γ and Π_L

    def updates(self, net: Net, params: Params, state: LocalState[PCState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        target = one_hot(y, net.n_outputs)
        steps, gamma, precision = state.extra.steps, state.extra.gamma, state.extra.precision

        def reference() -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
            relaxed = relax(net, params, x, target, steps, gamma, output_precision=precision)
            dw, db, _ = local_updates(net, params, relaxed.states, output_precision=precision)
            # reported loss: the unweighted squared error ½||y − μ_L||² of the feedforward
            # start
            return dw, db, relaxed.initial_energy / precision

        def fused() -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
            start = relax(net, params, x, target, 0, 0.0)  # the feedforward start
            problem = weigh_output(net, pc_relax.dense_problem(net, params, x, start.states),
                                   precision)
            relaxed_state = pc_relax.relax_triton(problem, steps, gamma)
            states = pc_relax.states_from_dense(net, relaxed_state, x, target)
            dw, db, _ = local_updates(net, params, states, output_precision=precision)
            return dw, db, start.initial_energy
        if self._fused(net, x) and (_plan(net, net.depth) is None
                                    or bool((precision == 1.0).all())):
            return run_fused(self.name, self.kernel, fused, reference)
        return reference()
