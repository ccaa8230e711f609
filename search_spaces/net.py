"""The compiled form every learning rule is written against: weights stored by level.

A genome compiles to a :class:`Net`: neurons are placed on topological *levels* (level 0 holds
the inputs, the last level the outputs, a hidden group sits one level above its deepest
feedforward predecessor). Level ``l`` owns one block ``W_l[n_l, N_<l]`` that maps the neurons
of all lower levels to its own, masked where the genome has no edge. A feedforward pass is
one masked (batched) matmul per level, so a layered net costs about what the same
``nn.Sequential`` costs, instead of paying for a dense ``W[N, N]`` full of zeros.

A *population* is the same bundle with a leading axis ``P``: each member's levels are padded
to the largest member's (its output level aligned to the last level), padded neurons have no
edges, so members never see each other and one code path serves one net or many.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from search_spaces import activations


@dataclass(frozen=True)
class MemberLayout:
    """Where one member's neurons live inside a (possibly padded) Net.

    ``level_sizes`` are its own real sizes, ``level_map[i]`` is the padded level its own
    level ``i`` occupies, ``positions[k]`` the padded global index of its own neuron ``k``,
    and ``node_slices[node_id] = (own level, start, stop)`` locates each genome node.
    """

    level_sizes: tuple[int, ...]
    level_map: tuple[int, ...]
    positions: torch.Tensor
    node_slices: dict[int, tuple[int, int, int]]

    @property
    def n_neurons(self) -> int:
        return sum(self.level_sizes)


@dataclass(frozen=True)
class Net:
    level_sizes: tuple[int, ...]  # (padded) neurons per level; level 0 = inputs
    masks: tuple[torch.Tensor, ...]  # level l >= 1: [P, n_l, N_<l] float 0/1
    neuron_masks: tuple[torch.Tensor, ...]  # level l >= 1: [P, n_l] 1.0 for a real neuron
    activation_codes: tuple[torch.Tensor, ...]  # level l >= 1: [P, n_l] long
    present_codes: tuple[tuple[int, ...], ...]  # per level l >= 1: codes that occur
    recurrent_mask: torch.Tensor | None  # [P, N, N] (dst, src) over all neurons, or None
    members: tuple[MemberLayout, ...]

    @property
    def population(self) -> int:
        return len(self.members)

    @property
    def depth(self) -> int:
        """Number of weight levels (hidden levels + the output level)."""
        return len(self.level_sizes) - 1

    @property
    def n_inputs(self) -> int:
        return self.level_sizes[0]

    @property
    def n_outputs(self) -> int:
        return self.level_sizes[-1]

    @property
    def n_neurons(self) -> int:
        return sum(self.level_sizes)

    def to(self, device: str | torch.device) -> Net:
        """The same net with its tensors on ``device`` (a GPU trains its padded population
        there; the layout bookkeeping stays on the host)."""
        def move(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            return tuple(t.to(device) for t in tensors)
        rec = None if self.recurrent_mask is None else self.recurrent_mask.to(device)
        return dataclasses.replace(self, masks=move(self.masks),
                                   neuron_masks=move(self.neuron_masks),
                                   activation_codes=move(self.activation_codes),
                                   recurrent_mask=rec)

    def select(self, keep: torch.Tensor) -> Net:
        """The population of members ``keep`` (indices, in order), in the same padded
        layout: what a training loop keeps stepping once other members have stopped."""
        idx = keep.to(self.masks[0].device) if self.masks else keep

        def pick(tensors: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
            return tuple(t[idx] for t in tensors)
        rec = None if self.recurrent_mask is None else self.recurrent_mask[idx]
        return dataclasses.replace(self, masks=pick(self.masks),
                                   neuron_masks=pick(self.neuron_masks),
                                   activation_codes=pick(self.activation_codes),
                                   recurrent_mask=rec,
                                   members=tuple(self.members[i] for i in keep.tolist()))

    def offsets(self) -> list[int]:
        """Global index of each level's first neuron (plus the total at the end)."""
        out = [0]
        for size in self.level_sizes:
            out.append(out[-1] + size)
        return out


@dataclass
class Params:
    """Trainable state of a Net: a weight block and a bias vector per level (same axes)."""

    weights: list[torch.Tensor]  # [P, n_l, N_<l]
    biases: list[torch.Tensor]  # [P, n_l]
    recurrent: torch.Tensor | None = None  # [P, N, N]

    def tensors(self) -> list[torch.Tensor]:
        extra = [self.recurrent] if self.recurrent is not None else []
        return [*self.weights, *self.biases, *extra]

    def to(self, device: str | torch.device) -> Params:
        """The same parameters on ``device`` (no copy where they already are)."""
        rec = None if self.recurrent is None else self.recurrent.to(device)
        return Params([w.to(device) for w in self.weights], [b.to(device) for b in self.biases],
                      rec)

    def select(self, keep: torch.Tensor) -> Params:
        """The parameters of members ``keep`` (indices along the population axis), copied."""
        def pick(t: torch.Tensor) -> torch.Tensor:
            return t.detach()[keep.to(t.device)]
        rec = None if self.recurrent is None else pick(self.recurrent)
        return Params([pick(w) for w in self.weights], [pick(b) for b in self.biases], rec)

    def detach(self) -> Params:
        rec = None if self.recurrent is None else self.recurrent.detach().clone()
        return Params([w.detach().clone() for w in self.weights],
                      [b.detach().clone() for b in self.biases], rec)


def level_forward(
    net: Net, params: Params, level: int, lower: torch.Tensor, premasked: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pre-activation and activation of ``level`` (>= 1) from the concatenated lower states
    ``lower[P, B, N_<level]``. ``premasked``: the weights are known to be zero off the
    genome's edges (a training loop that masks every update keeps them so), so the mask
    multiplication — which would then change no bit — is skipped."""
    i = level - 1
    weight = params.weights[i] if premasked else params.weights[i] * net.masks[i]
    if weight.shape[1] <= lower.shape[1]:
        # a level narrower than the batch (e.g. 10 outputs): W @ lowerᵀ is 2-3x faster on CPU
        z = torch.baddbmm(params.biases[i].unsqueeze(2), weight, lower.transpose(1, 2))
        z = z.transpose(1, 2)
    else:
        z = torch.baddbmm(params.biases[i].unsqueeze(1), lower, weight.transpose(1, 2))
    codes = net.activation_codes[i].unsqueeze(1)
    return z, activations.apply(z, codes, net.present_codes[i])


def forward(
    net: Net, params: Params, x: torch.Tensor, premasked: bool = False
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Feedforward pass; ``x`` is ``[B, n_in]`` (shared by all members) or ``[P, B, n_in]``
    (``premasked``: see :func:`level_forward`).

    Returns the outputs ``[P, B, n_out]`` and every level's activation (level 0 = input).
    Recurrent edges are not part of a feedforward pass; relaxation rules use them.
    """
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(net.population, -1, -1)
    states = [x]
    # every level reads every column below it, padding included, whatever its own edges: a
    # narrower read chosen per chunk (say, skipping the inputs when no member's level reads
    # them) changes the matmul's shape with what a member is batched with, and with it the
    # float32 rounding — a member's result must not depend on its batch
    lower = x
    for level in range(1, net.depth + 1):
        _, h = level_forward(net, params, level, lower, premasked)
        states.append(h)
        if level < net.depth:
            lower = torch.cat((lower, h), dim=2)
    return states[-1], states
