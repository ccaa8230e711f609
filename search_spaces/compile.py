"""Genome -> :class:`~search_spaces.net.Net`, and padding of several Nets into one batch.

Levels are longest paths over *enabled* feedforward edges; every output group sits on the
last level so a population's outputs line up. Parameters are always created in a member's
own (unpadded) layout and then scattered, so a member trains identically alone or batched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from search_spaces import activations
from search_spaces.genome import Genome, topological_order
from search_spaces.net import MemberLayout, Net, Params


def node_levels(genome: Genome) -> dict[int, int]:
    """Level of every node: inputs 0, hidden 1 + deepest predecessor, outputs last."""
    enabled = genome.enabled_connections(recurrent=False)
    order = topological_order(genome.nodes, enabled)
    if order is None:  # pragma: no cover - validate() rejects this first
        raise ValueError("feedforward cycle")
    preds: dict[int, list[int]] = {}
    for c in enabled:
        preds.setdefault(c.dst, []).append(c.src)
    role = {n.id: n.role for n in genome.nodes}
    level: dict[int, int] = {}
    for node in order:
        if role[node] == "input":
            level[node] = 0
        elif role[node] == "hidden":
            level[node] = 1 + max((level[p] for p in preds.get(node, ())), default=0)
    top = 1 + max((lv for i, lv in level.items() if role[i] == "hidden"), default=0)
    for node in genome.output_ids:
        level[node] = top
    return level


def compile_genome(genome: Genome) -> Net:
    """Compile one genome into a Net with population axis 1."""
    genome.validate()
    level = node_levels(genome)
    depth = max(level.values())
    by_level: list[list[int]] = [[] for _ in range(depth + 1)]
    for node in genome.nodes:
        by_level[level[node.id]].append(node.id)
    size = {n.id: n.size for n in genome.nodes}
    level_sizes = tuple(sum(size[i] for i in ids) for ids in by_level)
    offsets = [0]
    for s in level_sizes:
        offsets.append(offsets[-1] + s)
    slices: dict[int, tuple[int, int, int]] = {}
    for lv, ids in enumerate(by_level):
        start = 0
        for node_id in ids:
            slices[node_id] = (lv, start, start + size[node_id])
            start += size[node_id]

    def global_slice(node_id: int) -> slice:
        lv, a, b = slices[node_id]
        return slice(offsets[lv] + a, offsets[lv] + b)

    masks, codes, present = [], [], []
    for lv in range(1, depth + 1):
        masks.append(torch.zeros(1, level_sizes[lv], offsets[lv]))
        code = torch.zeros(1, level_sizes[lv], dtype=torch.long)
        for node_id in by_level[lv]:
            _, a, b = slices[node_id]
            code[0, a:b] = activations.code_of(genome.node(node_id).activation)
        codes.append(code)
        present.append(tuple(sorted(set(code.flatten().tolist()))))
    for c in genome.enabled_connections(recurrent=False):
        lv, a, b = slices[c.dst]
        masks[lv - 1][0, a:b, global_slice(c.src)] = 1.0
    recurrent = None
    rec_edges = genome.enabled_connections(recurrent=True)
    if rec_edges:
        recurrent = torch.zeros(1, offsets[-1], offsets[-1])
        for c in rec_edges:
            recurrent[0, global_slice(c.dst), global_slice(c.src)] = 1.0
    layout = MemberLayout(
        level_sizes=level_sizes,
        level_map=tuple(range(depth + 1)),
        positions=torch.arange(offsets[-1]),
        node_slices=slices,
    )
    return Net(
        level_sizes=level_sizes,
        masks=tuple(masks),
        neuron_masks=tuple(torch.ones(1, s) for s in level_sizes[1:]),
        activation_codes=tuple(codes),
        present_codes=tuple(present),
        recurrent_mask=recurrent,
        members=(layout,),
        first_sources=first_sources(masks, offsets),
    )


def first_sources(masks: Sequence[torch.Tensor], offsets: Sequence[int]) -> tuple[int, ...]:
    """Per level ``l >= 1`` (``masks[l - 1]``), the lowest level holding a neuron with an
    edge into level ``l`` in any member; a level without edges reads the level below."""
    out = []
    for level, mask in enumerate(masks, start=1):
        used = torch.nonzero(mask.detach().amax(dim=(0, 1)).cpu()).flatten()
        if used.numel() == 0:
            out.append(level - 1)
            continue
        column = int(used[0])
        out.append(max(k for k in range(level) if offsets[k] <= column))
    return tuple(out)


def _padded_layout(nets: Sequence[Net]) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    depth = max(n.depth for n in nets)
    maps = [tuple(range(n.depth)) + (depth,) for n in nets]
    sizes = [0] * (depth + 1)
    for net, level_map in zip(nets, maps, strict=True):
        for own, padded in enumerate(level_map):
            sizes[padded] = max(sizes[padded], net.level_sizes[own])
    return tuple(sizes), maps


def stack(nets: Sequence[Net]) -> Net:
    """Pad single Nets (population axis 1) into one population Net."""
    if not nets:
        raise ValueError("stack() needs at least one Net")
    if any(n.population != 1 for n in nets):
        raise ValueError("stack() takes single Nets (population 1)")
    if len({(n.n_inputs, n.n_outputs) for n in nets}) != 1:
        raise ValueError("all Nets in a population need the same input and output sizes")
    sizes, maps = _padded_layout(nets)
    pad_offsets = [0]
    for s in sizes:
        pad_offsets.append(pad_offsets[-1] + s)
    population, depth = len(nets), len(sizes) - 1
    masks = [torch.zeros(population, sizes[lv], pad_offsets[lv]) for lv in range(1, depth + 1)]
    neuron = [torch.zeros(population, sizes[lv]) for lv in range(1, depth + 1)]
    codes = [torch.zeros(population, sizes[lv], dtype=torch.long) for lv in range(1, depth + 1)]
    any_recurrent = any(n.recurrent_mask is not None for n in nets)
    total = pad_offsets[-1]
    recurrent = torch.zeros(population, total, total) if any_recurrent else None
    members = []
    for p, (net, level_map) in enumerate(zip(nets, maps, strict=True)):
        own_offsets = net.offsets()
        positions = torch.cat([
            torch.arange(pad_offsets[level_map[lv]], pad_offsets[level_map[lv]] + s)
            for lv, s in enumerate(net.level_sizes)
        ])
        for own in range(1, net.depth + 1):
            padded, rows = level_map[own], net.level_sizes[own]
            cols = positions[: own_offsets[own]]
            masks[padded - 1][p, :rows, cols] = net.masks[own - 1][0]
            neuron[padded - 1][p, :rows] = 1.0
            codes[padded - 1][p, :rows] = net.activation_codes[own - 1][0]
        if net.recurrent_mask is not None:
            recurrent[p][positions[:, None], positions[None, :]] = net.recurrent_mask[0]
        layout = net.members[0]
        members.append(MemberLayout(layout.level_sizes, level_map, positions, layout.node_slices))
    present = tuple(
        tuple(sorted(set().union(*(set(n.present_codes[own - 1])
                                   for n, m in zip(nets, maps, strict=True)
                                   for own in range(1, n.depth + 1) if m[own] == lv))))
        or (0,)
        for lv in range(1, depth + 1)
    )
    return Net(sizes, tuple(masks), tuple(neuron), tuple(codes), present, recurrent,
               tuple(members), first_sources(masks, pad_offsets))


def compile_population(genomes: Sequence[Genome]) -> Net:
    return stack([compile_genome(g) for g in genomes])


# -- parameters ------------------------------------------------------------------------------
def init_params(net: Net, seeds: Sequence[int],
                init_scale: Sequence[float] | None = None) -> Params:
    """Uniform(±scale/√fan_in) weights and biases (torch.nn.Linear's rule, per neuron fan-in),
    drawn per member in its own layout from its own seed, then scattered into ``net``."""
    if len(seeds) != net.population:
        raise ValueError(f"need one seed per member: {net.population}, got {len(seeds)}")
    scales = list(init_scale) if init_scale is not None else [1.0] * net.population
    singles = []
    for p, seed in enumerate(seeds):
        gen = torch.Generator().manual_seed(int(seed))
        member = net.members[p]
        weights, biases = [], []
        own_offsets = [0]
        for s in member.level_sizes:
            own_offsets.append(own_offsets[-1] + s)
        for own in range(1, len(member.level_sizes)):
            mask = member_block(net, net.masks, p, own)
            fan_in = mask.sum(dim=1, keepdim=True).clamp(min=1.0)
            bound = scales[p] / fan_in.sqrt()
            w = (torch.rand(mask.shape, generator=gen) * 2 - 1) * bound * mask
            b = (torch.rand(mask.shape[0], generator=gen) * 2 - 1) * bound[:, 0]
            weights.append(w)
            biases.append(b)
        recurrent = None
        if net.recurrent_mask is not None:
            pos = member.positions
            rmask = net.recurrent_mask[p][pos[:, None], pos[None, :]]
            fan_in = rmask.sum(dim=1, keepdim=True).clamp(min=1.0)
            recurrent = (torch.rand(rmask.shape, generator=gen) * 2 - 1) * scales[p] \
                / fan_in.sqrt() * rmask
        singles.append((weights, biases, recurrent))
    return scatter_params(net, singles)


def member_block(net: Net, blocks: Sequence[torch.Tensor], p: int, own: int) -> torch.Tensor:
    """Member ``p``'s own level-``own`` block, cut out of padded level blocks."""
    member = net.members[p]
    padded = member.level_map[own]
    rows = member.level_sizes[own]
    cols = member.positions[: sum(member.level_sizes[:own])]
    return blocks[padded - 1][p, :rows][:, cols]


def scatter_params(
    net: Net, singles: Sequence[tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]]
) -> Params:
    """Place per-member (own layout) weights/biases into the padded population layout."""
    weights = [torch.zeros(net.population, *m.shape[1:]) for m in net.masks]
    biases = [torch.zeros(net.population, m.shape[1]) for m in net.masks]
    recurrent = None if net.recurrent_mask is None else torch.zeros_like(net.recurrent_mask)
    for p, (ws, bs, rec) in enumerate(singles):
        member = net.members[p]
        for own in range(1, len(member.level_sizes)):
            padded = member.level_map[own]
            rows = member.level_sizes[own]
            cols = member.positions[: sum(member.level_sizes[:own])]
            weights[padded - 1][p, :rows, cols] = ws[own - 1]
            biases[padded - 1][p, :rows] = bs[own - 1]
        if rec is not None:
            pos = member.positions
            recurrent[p][pos[:, None], pos[None, :]] = rec
    return Params(weights, biases, recurrent)


def member_params(net: Net, params: Params, p: int) -> Params:
    """Member ``p``'s parameters in its own (unpadded) layout, population axis 1."""
    member = net.members[p]
    ws, bs = [], []
    for own in range(1, len(member.level_sizes)):
        ws.append(member_block(net, params.weights, p, own).unsqueeze(0).clone())
        bs.append(params.biases[member.level_map[own] - 1][p, : member.level_sizes[own]]
                  .unsqueeze(0).clone())
    rec = None
    if params.recurrent is not None and net.recurrent_mask is not None:
        pos = member.positions
        rec = params.recurrent[p][pos[:, None], pos[None, :]].unsqueeze(0).clone()
    return Params(ws, bs, rec)
