"""Shared scaffolding for rules that assign credit locally and step with Adam.

Most rules (fa, dfa, pc, dtp, lra, chl, ep, ff) differ only in *how* each level's weight
update is computed; the optimiser, the per-member learning rates and the bookkeeping are the
same. A :class:`LocalRule` subclass implements :meth:`LocalRule.updates`, which returns a
descent direction for every feedforward weight block and bias (same shapes as ``params``)
computed without autograd across levels; the base applies them with :class:`~rules.optim.Adam`.

Helpers here give the pieces those rules share: the feedforward pass that keeps
pre-activations, the column slice of each level inside a block, one-hot targets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import torch
import torch.nn.functional as F

from rules.base import Hyperparameter, HyperparameterError, LearningRule
from rules.optim import Adam, cosine_factor
from search_spaces import activations
from search_spaces.net import Net, Params, forward, level_forward

#: A rule's own training state (:meth:`LocalRule.init_extra`): fixed feedback matrices,
#: inverse weights, per-member constants. Each built-in rule declares it as a dataclass
#: (``class DirectFeedbackAlignment(LocalRule[DFAState])``), so what a rule keeps is named
#: and typed where it is defined; ``None`` for a rule that keeps nothing.
ExtraT = TypeVar("ExtraT")


@dataclass
class LocalState(Generic[ExtraT]):
    """Optimiser, each member's genes, and the rule's own state (``extra``)."""

    optimizer: Adam
    hyper: list[Mapping[str, float]]
    extra: ExtraT = None  # type: ignore[assignment]  # a rule that keeps nothing


LR = Hyperparameter("lr", 1e-4, 1e-1, 1e-3, log=True, doc="Adam step size η")
INIT_SCALE = Hyperparameter("init_scale", 0.25, 4.0, 1.0, log=True,
                            doc="weight init bound multiplier (× 1/√fan_in)")
#: Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): after each Adam step every
#: feedforward weight is shrunk by ``1 - η λ`` (biases are not). Opt-in: a rule whose space
#: declares it gets it from :meth:`LocalRule.train_step`; its default is the rule's own.
WEIGHT_DECAY = Hyperparameter("weight_decay", 0.0, 0.5, 0.0,
                              doc="decoupled weight decay λ: weights shrink by 1 - ηλ a step")
#: Cosine learning-rate decay over the fit's epoch budget (Loshchilov & Hutter 2017, without
#: restarts): in epoch ``e`` of ``E`` the step size is ``η (1 - d + d (1 + cos(π e/E)) / 2)``
#: (:func:`rules.optim.cosine_factor`), and the decoupled weight decay follows it. Opt-in
#: like :data:`WEIGHT_DECAY`: a rule whose space declares it gets it from
#: :meth:`LocalRule.start_epoch`; 0 keeps η constant, 1 anneals it towards 0 (the last of
#: 30 epochs steps at 0.3% of η).
LR_DECAY = Hyperparameter("lr_decay", 0.0, 1.0, 0.0,
                          doc="share of η a cosine schedule anneals away by the fit's end")


def lr_undeclared(rule_name: str) -> HyperparameterError:
    """The error for a LocalRule whose genes lack ``lr``: raised where the rule is built
    (rules.registry.get_rule) and, for a rule that builds its state otherwise, here."""
    return HyperparameterError(f"rule {rule_name}: a LocalRule steps with Adam at the gene "
                               "'lr' (rules.local.LR), which its hyperparameters() must "
                               "declare")


class LocalRule(LearningRule, Generic[ExtraT]):
    """Base for rules whose weight updates are computed level by level, then Adam-stepped.
    ``ExtraT`` is the type of the rule's own state (:meth:`init_extra`)."""

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> ExtraT:
        """Fixed random feedback matrices, inverse weights, ... (called once per fit); a
        rule that keeps nothing returns None."""
        return None  # type: ignore[return-value]

    def updates(self, net: Net, params: Params, state: LocalState[ExtraT], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Descent directions for ``params.weights`` and ``params.biases``, and loss ``[P]``."""
        raise NotImplementedError

    def init_state(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> LocalState[ExtraT]:
        tensors = [*params.weights, *params.biases]
        if any("lr" not in h for h in hyper):
            raise lr_undeclared(self.name)
        extra = self.init_extra(net, params, hyper, seeds)
        return LocalState(Adam.for_params(tensors, [h["lr"] for h in hyper]), list(hyper), extra)

    def select_state(self, state: LocalState[ExtraT], params: Params,
                     keep: torch.Tensor) -> LocalState[ExtraT]:
        return LocalState(state.optimizer.select(keep), [state.hyper[i] for i in keep.tolist()],
                          self.select_extra(state.extra, keep))

    def select_extra(self, extra: ExtraT, keep: torch.Tensor) -> ExtraT:
        """:meth:`init_extra`'s state for the members ``keep``. Nothing to cut for a rule
        that keeps nothing; a rule whose state can be cut by member declares how (see
        :func:`select_rows`); otherwise ``NotImplementedError``, and its stopped members
        train on, unrecorded."""
        if extra is None or (isinstance(extra, Mapping) and not extra):
            return extra
        raise NotImplementedError

    def start_epoch(self, state: LocalState[ExtraT], epoch: int, epochs: int) -> None:
        """Set each member's cosine factor on η for this epoch (:data:`LR_DECAY`); nothing
        when no member decays its learning rate."""
        decays = [h.get("lr_decay", 0.0) for h in state.hyper]
        if any(decays):
            state.optimizer.set_scale(cosine_factor(decays, epoch / epochs))

    @torch.no_grad()
    def train_step(self, net: Net, params: Params, state: LocalState[ExtraT], x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
        dw, db, loss = self.updates(net, params, state, x, y)
        check_updates(self.name, "weight", dw, params.weights)
        check_updates(self.name, "bias", db, params.biases)
        # masked entries must stay exactly zero: a rule may not grow edges the genome lacks
        dw = [d * m for d, m in zip(dw, net.masks, strict=True)]
        db = [d * m for d, m in zip(db, net.neuron_masks, strict=True)]
        state.optimizer.apply([*params.weights, *params.biases], [*dw, *db])
        decay_weights(params, state)
        return loss

    @torch.no_grad()
    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        return forward(net, params, x)[0]


def check_updates(rule: str, kind: str, got: Any, params: Sequence[torch.Tensor]) -> None:
    """:meth:`LocalRule.updates`' contract: one update per ``kind`` block, each of its
    block's shape. A smaller one (``[P, 1, n]`` for ``[P, m, n]``) would broadcast into the
    block and train it with a wrong update, recorded as if it were right."""
    if not isinstance(got, Sequence) or len(got) != len(params):
        n = len(got) if isinstance(got, Sequence) else type(got).__name__
        raise ValueError(f"rule {rule}: updates returned {n} {kind} updates, expected one per "
                         f"{kind} block: {len(params)}")
    for level, (update, block) in enumerate(zip(got, params, strict=True)):
        if not isinstance(update, torch.Tensor) or update.shape != block.shape:
            shape = (tuple(update.shape) if isinstance(update, torch.Tensor)
                     else type(update).__name__)
            raise ValueError(f"rule {rule}: updates returned {kind} update {level} of shape "
                             f"{shape}, expected its block's {tuple(block.shape)}")


def decay_weights(params: Params, state: LocalState[Any]) -> None:
    """Shrink every member's weight blocks by ``1 - η λ`` (decoupled decay, after the Adam
    step, ``η`` as scheduled now), ``λ`` its ``weight_decay`` gene; nothing when no member
    has one. Multiplying keeps masked entries exactly zero."""
    decays = [h.get("weight_decay", 0.0) for h in state.hyper]
    if not any(decays):
        return
    lr = state.optimizer.step_lr
    factor = 1 - lr * torch.tensor(decays, dtype=lr.dtype, device=lr.device)
    for w in params.weights:
        w.mul_(factor.to(w.device).view(-1, 1, 1))


StateT = TypeVar("StateT")


def select_rows(extra: StateT, keep: torch.Tensor) -> StateT:
    """``extra`` (a dataclass, or a mapping) whose every field is a per-member tensor
    (leading axis = member), cut to the members ``keep``; any other field raises
    ``NotImplementedError``. A dataclass is rebuilt from its init fields, as
    :func:`rules.device.to_device` rebuilds it: ``dataclasses.replace`` refuses the others,
    which its ``__post_init__`` derives again from the cut ones."""
    if dataclasses.is_dataclass(extra) and not isinstance(extra, type):
        fields = {f.name: getattr(extra, f.name) for f in dataclasses.fields(extra) if f.init}
    elif isinstance(extra, Mapping):
        fields = dict(extra)
    else:
        raise NotImplementedError
    if not all(isinstance(v, torch.Tensor) and v.dim() >= 1 for v in fields.values()):
        raise NotImplementedError
    cut = {k: v[keep.to(v.device)] for k, v in fields.items()}
    if isinstance(extra, Mapping):
        return cut  # type: ignore[return-value]
    return dataclasses.replace(extra, **cut)  # type: ignore[type-var]


@dataclass
class Trace:
    """A feedforward pass that keeps what local rules need: every level's pre-activation
    ``z[l]`` and activation ``h[l]`` (index 0 = input, z[0] unused) and the concatenated
    lower states ``lower[l] = cat(h[0..l-1])`` that level ``l``'s block multiplies."""

    z: list[torch.Tensor | None]
    h: list[torch.Tensor]
    lower: list[torch.Tensor | None]

    @property
    def output(self) -> torch.Tensor:
        return self.h[-1]


def trace(net: Net, params: Params, x: torch.Tensor) -> Trace:
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(net.population, -1, -1)
    z: list[torch.Tensor | None] = [None]
    h = [x]
    lower_list: list[torch.Tensor | None] = [None]
    lower = x
    for level in range(1, net.depth + 1):
        lower_list.append(lower)
        zl, hl = level_forward(net, params, level, lower)
        z.append(zl)
        h.append(hl)
        if level < net.depth:
            lower = torch.cat((lower, hl), dim=2)
    return Trace(z, h, lower_list)


def derivative(net: Net, level: int, z: torch.Tensor) -> torch.Tensor:
    """f'(z) of ``level``'s neurons (closed form, per-neuron activation)."""
    codes = net.activation_codes[level - 1].unsqueeze(1)
    return activations.derivative(z, codes, net.present_codes[level - 1])


def activate(net: Net, level: int, z: torch.Tensor) -> torch.Tensor:
    codes = net.activation_codes[level - 1].unsqueeze(1)
    return activations.apply(z, codes, net.present_codes[level - 1])


def level_columns(net: Net, level: int) -> slice:
    """Columns of level ``level``'s neurons inside any higher level's weight block."""
    offsets = net.offsets()
    return slice(offsets[level], offsets[level + 1])


def one_hot(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(y, n_classes).to(torch.float32)


def cross_entropy(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy per member: ``scores[P, B, C]``, ``y[P, B]`` -> ``[P]``."""
    logp = torch.log_softmax(scores, dim=-1)
    return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1).mean(dim=1)


def output_error(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``∂CE/∂scores`` per example (not divided by the batch size): ``softmax(s) - onehot(y)``."""
    return torch.softmax(scores, dim=-1) - one_hot(y, scores.shape[-1])


def outer_mean(delta: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Batch-mean outer product ``δᵀ h / B``: ``[P, B, n] x [P, B, m] -> [P, n, m]``."""
    return torch.bmm(delta.transpose(1, 2), inputs) / delta.shape[1]
