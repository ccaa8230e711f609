"""A trained member as a spiking network in NIR: integrate-and-fire groups, one affine map
per connection block, thresholds set from the member's own activations.

A rate-coded integrate-and-fire (IF) neuron driven by a constant current ``z`` fires about
``clip(z / θ, 0, 1)`` spikes per time step — a ReLU scaled by its threshold, saturating at
one spike a step. So a network of ReLU groups converts to IF groups without retraining, if
each threshold is the scale its group's activations actually reach:

- **thresholds from data**: a group's threshold ``θ_g`` is a high percentile (default the
  99.9th) of its positive activations on the run's *training* split — not the maximum, which
  a single outlier sets so high that every other input fires too slowly to be read in a few
  hundred steps. Activations above it saturate at one spike per step.
- **weights carry the source's scale**: group ``s`` fires at ``a_s / θ_s``, so the block from
  ``s`` to ``d`` is ``W · θ_s`` and ``d`` integrates ``Σ W a_s + b = z_d`` per step, the
  ANN's pre-activation; the bias is a constant current. The input group is not spiking:
  the standardised features drive the first blocks as constant currents (``θ = 1``).
- **reset by subtraction** is the conversion's assumption (recorded as
  ``neurevo.conversion.reset``): subtracting ``θ`` keeps the charge above threshold, so the
  rate is exact up to one spike; NIR's ``IF`` node resets to ``v_reset`` (0 here), which a
  backend reading only the node will do, at some cost in accuracy (docs/export.md measures
  both with ``neurevo simulate --reset``).
- **the output group spikes too** and is read by its spike count, ties broken by the
  membrane left over (``count + v / θ``): that is the integral of its input current, the
  ANN's logit times the time elapsed, whatever the logit's sign.
- **what has no IF counterpart is refused**, never approximated: tanh, sigmoid and elu
  groups (their negative or curved parts are not a firing rate), and rules whose prediction
  is not a feedforward pass (ff's label goodness, ep/chl's relaxation). hardsigmoid is an IF
  group with ``θ = 1`` (its saturation is the neuron's one spike per step); identity hidden
  groups are linear and are folded into the blocks around them; groups no input reaches
  are constants, folded into their targets' biases; recurrent edges, which a feedforward
  prediction does not use, are left out.

After conversion the graph, evaluated as the rate network it stands for
(:func:`evolve.simulate.graph_ann`), is checked to give the member's own scores on the
training split, so a conversion error cannot pass silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from evolve.records import atomic_write
from evolve.run import Architecture
from evolve.spiking import PERCENTILE, RESET
from search_spaces.compile import compile_genome
from search_spaces.genome import heard_from_inputs, topological_order
from search_spaces.net import forward

if TYPE_CHECKING:
    import nir

    from evolve.tasks import Task

FORMAT = "nir/1"
#: rules whose prediction is not a feedforward pass, and what it is instead
NOT_FEEDFORWARD = {
    "ff": "predicts by trying every label and comparing goodness",
    "ep": "predicts by relaxing to a fixed point through feedback couplings",
    "chl": "predicts by relaxing to a fixed point through feedback couplings",
}
#: hidden activations with an integrate-and-fire counterpart
SPIKING_ACTIVATIONS = ("relu", "hardsigmoid", "identity")
CHIP_SPACE = "--set space.hidden_activations=relu"


class NIRExportError(ValueError):
    """The member has no spiking counterpart; the one-line message says which part."""


@dataclass
class Conversion:
    """The spiking network, group by group, before it becomes a NIR graph."""

    input_id: int
    output_id: int
    sizes: dict[int, int]
    activations: dict[int, str]
    thresholds: dict[int, float]  # θ per spiking group (input group: 1, not spiking)
    blocks: dict[tuple[int, int], np.ndarray]  # (src, dst) -> [n_dst, n_src], θ_src folded in
    biases: dict[int, np.ndarray]
    order: list[int]  # spiking groups in topological order, output last
    notes: dict[str, Any] = field(default_factory=dict)


def check_convertible(arch: Architecture) -> None:
    """Raise :class:`NIRExportError` naming the rule or group that cannot be converted."""
    if arch.rule in NOT_FEEDFORWARD:
        raise NIRExportError(
            f"rule {arch.rule} {NOT_FEEDFORWARD[arch.rule]}, not by a feedforward pass, so no "
            "network of integrate-and-fire neurons computes its prediction; NIR export takes "
            "members of feedforward rules: search with --rule bp (or pc, fa, dfa, lra, dtp) "
            f"{CHIP_SPACE}")
    genome = arch.genome
    if len(genome.input_ids) != 1 or len(genome.output_ids) != 1:
        raise NIRExportError(f"NIR export needs one input and one output group, the genome has "
                             f"{len(genome.input_ids)} and {len(genome.output_ids)}")
    reached = heard_from_inputs(genome)
    for node in genome.nodes:
        if node.role == "hidden" and node.id in reached \
                and node.activation not in SPIKING_ACTIVATIONS:
            raise NIRExportError(
                f"group {node.id} ({node.size} neurons) has activation {node.activation}, "
                f"which has no integrate-and-fire counterpart (convertible: "
                f"{', '.join(SPIKING_ACTIVATIONS)}); search chip-bound networks with "
                f"{CHIP_SPACE}")


def convert(arch: Architecture, train_x: torch.Tensor,
            percentile: float = PERCENTILE) -> Conversion:
    """The IF network of ``arch``, thresholds from its activations on ``train_x`` (the
    run's standardised training split)."""
    check_convertible(arch)
    if not 0.0 < percentile <= 100.0:
        raise NIRExportError(f"percentile must be in (0, 100], got {percentile}")
    genome = arch.genome
    net = compile_genome(genome)
    params = arch.params()
    offsets, slices = net.offsets(), net.members[0].node_slices

    def columns(node_id: int) -> slice:
        level, a, b = slices[node_id]
        return slice(offsets[level] + a, offsets[level] + b)

    x = torch.as_tensor(train_x, dtype=torch.float32)
    with torch.no_grad():
        _, states = forward(net, params, x)
        z_all = _pre_activations(net, params, states)
        ann = arch.to_module()(x)
        plain = states[-1][0]
    if not torch.allclose(ann, plain, atol=1e-4, rtol=1e-4):  # a user's rule, say
        raise NIRExportError(f"rule {arch.rule}'s prediction is not a feedforward pass of its "
                             "weights, so no integrate-and-fire network computes it")
    h_all = torch.cat(states, dim=2)[0]
    input_id, output_id = genome.input_ids[0], genome.output_ids[0]
    sizes = {n.id: n.size for n in genome.nodes}
    acts = {n.id: n.activation for n in genome.nodes}
    blocks: dict[tuple[int, int], np.ndarray] = {}
    for c in genome.enabled_connections(recurrent=False):
        level, a, b = slices[c.dst]
        w = (params.weights[level - 1][0] * net.masks[level - 1][0])[a:b, columns(c.src)]
        blocks[(c.src, c.dst)] = w.detach().double().numpy()
    biases = {n.id: params.biases[slices[n.id][0] - 1][0, slices[n.id][1]:slices[n.id][2]]
              .detach().double().numpy() for n in genome.nodes if n.role != "input"}
    notes: dict[str, Any] = {
        "recurrent_edges_left_out": len(genome.enabled_connections(recurrent=True))}

    # groups no input reaches hold a constant: their targets get it as bias
    reached = heard_from_inputs(genome)
    constant = [n.id for n in genome.nodes if n.role == "hidden" and n.id not in reached]
    for g in constant:
        value = h_all[0, columns(g)].double().numpy()
        for (src, dst) in [k for k in blocks if k[0] == g]:
            biases[dst] = biases[dst] + blocks.pop((src, dst)) @ value
        for key in [k for k in blocks if k[1] == g]:
            blocks.pop(key)
    notes["constant_groups_folded"] = constant

    # identity hidden groups are linear: compose the blocks through them
    order = topological_order(genome.nodes, genome.enabled_connections(recurrent=False)) or []
    folded = []
    for g in order:
        if g in constant or acts[g] != "identity" or genome.node(g).role != "hidden":
            continue
        into = {src: blocks.pop((src, dst)) for (src, dst) in list(blocks) if dst == g}
        out = {dst: blocks.pop((src, dst)) for (src, dst) in list(blocks) if src == g}
        for dst, w_out in out.items():
            biases[dst] = biases[dst] + w_out @ biases[g]
            for src, w_in in into.items():
                blocks[(src, dst)] = blocks.get((src, dst), 0.0) + w_out @ w_in
        folded.append(g)
    notes["identity_groups_folded"] = folded

    # groups that no longer lead to the output do not change its spikes
    leads = {output_id}
    for g in reversed(order):
        if any((g, d) in blocks for d in leads):
            leads.add(g)
    dropped = [n.id for n in genome.nodes if n.role == "hidden" and n.id not in leads
               and n.id not in constant and n.id not in folded]
    blocks = {k: v for k, v in blocks.items() if k[0] in leads and k[1] in leads}
    notes["dead_end_groups_dropped"] = dropped
    spiking = [g for g in order if g in leads and g != input_id and g != output_id]
    spiking.append(output_id)
    if not any(k[1] == output_id for k in blocks):
        raise NIRExportError("no input reaches the output group: the network is a constant")

    thresholds: dict[int, float] = {input_id: 1.0}
    for g in spiking:
        if acts[g] == "hardsigmoid" and g != output_id:
            thresholds[g] = 1.0  # its saturation at 1 is the neuron's one spike per step
            continue
        z = z_all[0, :, columns(g)].flatten()
        positive = z[z > 0].double().numpy()
        theta = float(np.percentile(positive, percentile)) if positive.size else 1.0
        thresholds[g] = theta if theta > 0 else 1.0
    scaled = {(s, d): (w * thresholds[s]).astype(np.float32) for (s, d), w in blocks.items()}
    return Conversion(input_id, output_id, sizes, acts, thresholds, scaled,
                      {g: biases[g].astype(np.float32) for g in spiking}, spiking, notes)


def _pre_activations(net: Any, params: Any, states: list[torch.Tensor]) -> torch.Tensor:
    """Every level's pre-activation ``z`` laid out like the states (level 0: the input)."""
    from search_spaces.net import level_forward

    zs, lower = [states[0]], states[0]
    for level in range(1, net.depth + 1):
        z, _ = level_forward(net, params, level, lower)
        zs.append(z)
        lower = torch.cat((lower, states[level]), dim=2)
    return torch.cat(zs, dim=2)


def group_name(conversion: Conversion, node_id: int) -> str:
    return "input" if node_id == conversion.input_id else f"group_{node_id}"


def to_graph(conversion: Conversion, metadata: dict[str, Any]) -> nir.NIRGraph:
    """The NIR graph: ``input``, ``group_<id>`` (``nir.IF``), ``edge_<src>_<dst>``
    (``nir.Affine``; a group's bias rides on its first incoming block), ``output``."""
    import nir

    c = conversion
    name = lambda g: group_name(c, g)  # noqa: E731
    n_in, n_out = c.sizes[c.input_id], c.sizes[c.output_id]
    nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array([n_in]))}
    edges: list[tuple[str, str]] = []
    biased: set[int] = set()
    for dst in c.order:
        for src in sorted(s for (s, d) in c.blocks if d == dst):
            edge = f"edge_{src}_{dst}"
            bias = c.biases[dst] if dst not in biased else np.zeros(c.sizes[dst], np.float32)
            biased.add(dst)
            nodes[edge] = nir.Affine(weight=c.blocks[(src, dst)], bias=bias.astype(np.float32))
            edges += [(name(src), edge), (edge, name(dst))]
        size = c.sizes[dst]
        nodes[name(dst)] = nir.IF(
            r=np.ones(size, np.float32),
            v_threshold=np.full(size, c.thresholds[dst], np.float32),
            v_reset=np.zeros(size, np.float32),
            metadata={"neurevo.group": int(dst), "neurevo.activation": c.activations[dst],
                      "neurevo.role": "output" if dst == c.output_id else "hidden"})
    nodes["output"] = nir.Output(output_type=np.array([n_out]))
    edges.append((name(c.output_id), "output"))
    return nir.NIRGraph(nodes, edges, metadata=metadata)


def export_nir(arch: Architecture, path: str | Path, task: Task, *,
               about: dict[str, Any] | None = None, split: dict[str, Any] | None = None,
               percentile: float = PERCENTILE) -> Path:
    """Write ``arch`` as a NIR graph to ``path`` (``.nir``), thresholds from ``task``'s
    training split — the run's own (same seed and fractions), which ``split`` records
    (``seed``, ``valid_fraction``, ``test_fraction``, ``label_column``) so that
    ``neurevo simulate`` can rebuild its test split. Returns the path."""
    import nir

    path = Path(path)
    if path.suffix.lower() != ".nir":
        raise ValueError(f"export path {str(path)!r}: expected a .nir file name")
    about = dict(about) if about is not None else arch.described()
    check_convertible(arch)
    conversion = convert(arch, task.train.x, percentile)
    groups = {group_name(conversion, g): {
        "group": g, "size": conversion.sizes[g], "activation": conversion.activations[g],
        "threshold": conversion.thresholds[g]} for g in conversion.order}
    task_record = {"name": about.get("task") or task.name, "path": task.path,
                   "content_hash": task.content_hash, **(split or {})}
    metadata = {
        "neurevo.format": FORMAT,
        "neurevo.rule": arch.rule,
        "neurevo.class_names": json.dumps(list(about.get("class_names", []))),
        "neurevo.feature_names": json.dumps(list(about.get("feature_names", []))),
        "neurevo.genome": arch.genome.to_json(),
        "neurevo.task": json.dumps(task_record),
        "neurevo.conversion": json.dumps({
            "percentile": percentile, "reset": RESET,
            "input": "constant current: the standardised features",
            "readout": "output spike count, ties broken by membrane / threshold",
            "groups": groups, **conversion.notes}),
        "neurevo.architecture": json.dumps(about),
    }
    if arch.input_mean is not None and arch.input_std is not None:
        metadata["neurevo.feature_mean"] = json.dumps(arch.input_mean.double().tolist())
        metadata["neurevo.feature_std"] = json.dumps(arch.input_std.double().tolist())
    graph = to_graph(conversion, metadata)

    from evolve.simulate import graph_ann

    with torch.no_grad():
        expected = arch.to_module()(task.train.x)
    got = graph_ann(graph, task.train.x)
    scale = float(expected.abs().max()) or 1.0
    if float((got - expected).abs().max()) > 1e-3 * scale:  # pragma: no cover - a bug guard
        raise RuntimeError("NIR conversion does not reproduce the member's scores "
                           f"(max difference {float((got - expected).abs().max()):.3g})")
    atomic_write(path, lambda tmp: nir.write(tmp, graph))
    nir.read(str(path))  # what was written reads back
    return path
