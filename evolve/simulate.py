"""The spiking check: run an exported NIR graph as a spiking network and compare it with
the ANN it was converted from, on the run's own test split.

A conversion is only worth its accuracy in spikes, so :func:`simulate` measures it: Norse's
integrate-and-fire neurons (``norse.torch.IAFCell``) and ``torch.nn.Linear`` blocks are wired
as the graph says and stepped ``T`` times with the standardised test features as a constant
input current; the prediction is the output group's spike count, ties broken by the membrane
left over. It reports the spiking accuracy (after ``T`` steps and after each power of two
below it, to show how accuracy grows with time), the ANN's accuracy computed *from the
graph's own weights* (:func:`graph_ann`, so the two numbers describe the same file), and the
spikes each neuron fired per time step, which is what a chip's energy scales with.

Why not ``norse.torch.from_nir``: it wires graphs with nirtorch's older executor, which orders
nodes depth-first from the input and, at a node that several blocks feed (a skip edge),
reads the blocks computed later from the previous time step — and returns a block's current
instead of the output group's spikes when the output is fed by more than one block. The
graph interpreter ``nirtorch.nir_to_torch`` orders nodes by their inputs; this module maps
the nodes to Norse's own modules and lets it wire them. On a chain of groups both give the
same spikes (tested).

Reset: the conversion assumes reset by subtraction (the graph's ``neurevo.conversion``),
which Norse's IF cell does not offer, so :func:`subtractive_iaf_cell` is Norse's cell with
that one line changed; ``reset="zero"`` runs Norse's cell as NIR's ``IF`` node specifies
(back to ``v_reset``), which is what a backend that reads only the node will do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.records import RecordError
from evolve.spiking import RESET, RESETS, TIMESTEPS
from evolve.tasks import Task, TaskError, rebuild_task


def read_graph(path: str | Path) -> Any:
    """A NIR graph written by ``neurevo export --format nir``; anything else is refused."""
    import nir

    from evolve.nir_export import FORMAT

    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path}: a folder, not a NIR file (make one with `neurevo export "
                          "RUN --format nir --out FILE.nir`)")
    if not path.is_file():
        raise RecordError(f"{path}: no such NIR file")
    other = {".safetensors": "a safetensors export", ".onnx": "an ONNX export"}
    if path.suffix.lower() in other:
        raise RecordError(f"{path}: {other[path.suffix.lower()]}, not a NIR file; simulate "
                          "reads NIR (neurevo export RUN --format nir --out FILE.nir)")
    try:
        graph = nir.read(str(path))
    except Exception as exc:  # noqa: BLE001 - h5py and nir raise many kinds
        raise RecordError(f"{path}: not a NIR file ({type(exc).__name__}: {exc})") from None
    found = _text(getattr(graph, "metadata", {}).get("neurevo.format"))
    if found != FORMAT:
        raise RecordError(f"{path}: not a neurevo NIR export (neurevo.format is {found!r}, "
                          f"expected {FORMAT!r})")
    return graph


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def metadata(graph: Any, key: str) -> Any:
    """A JSON metadata entry of a neurevo NIR graph, decoded."""
    return json.loads(_text(graph.metadata[key]))


def _order(graph: Any) -> list[str]:
    """Node names so that every node comes after all that feed it."""
    preds: dict[str, set[str]] = {name: set() for name in graph.nodes}
    for src, dst in graph.edges:
        preds[dst].add(src)
    order: list[str] = []
    while len(order) < len(preds):
        ready = [n for n in preds if n not in order and preds[n] <= set(order)]
        if not ready:
            raise RecordError("the NIR graph has a cycle; neurevo exports are feedforward")
        order += sorted(ready)
    return order


def graph_ann(graph: Any, x: torch.Tensor) -> torch.Tensor:
    """The rate network the graph was converted from, evaluated on ``x``: a group's rate is
    its activation over its threshold, which the next blocks' weights multiply back, so this
    is the member's ANN prediction, computed from the file's own numbers."""
    import nir

    values: dict[str, torch.Tensor] = {}
    preds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, []).append(src)
    scores = None
    x = torch.as_tensor(x, dtype=torch.float64)
    for name in _order(graph):
        node = graph.nodes[name]
        if isinstance(node, nir.Input):
            values[name] = x
            continue
        total = sum(values[p] for p in preds.get(name, []))
        if isinstance(node, nir.Affine):
            w = torch.as_tensor(np.asarray(node.weight), dtype=torch.float64)
            b = torch.as_tensor(np.asarray(node.bias), dtype=torch.float64)
            values[name] = total @ w.T + b
        elif isinstance(node, nir.IF):
            theta = torch.as_tensor(np.asarray(node.v_threshold), dtype=torch.float64)
            activation = _text(node.metadata.get("neurevo.activation", "relu"))
            if _text(node.metadata.get("neurevo.role")) == "output":
                from search_spaces.activations import ACTIVATIONS

                scores = ACTIVATIONS[activation](total)
                values[name] = scores
            elif activation == "hardsigmoid":
                values[name] = total.clamp(0.0, 1.0) / theta
            else:
                values[name] = torch.relu(total) / theta
        elif isinstance(node, nir.Output):
            values[name] = total
        else:
            raise RecordError(f"NIR node {name} is a {type(node).__name__}; neurevo exports "
                              "hold only Input, Affine, IF and Output nodes")
    return (scores if scores is not None else values["output"]).float()


def subtractive_iaf_cell(v_threshold: torch.Tensor, v_reset: torch.Tensor) -> torch.nn.Module:
    """Norse's IF cell, resetting by subtracting the threshold instead of to ``v_reset``."""
    import norse.torch as norse
    from norse.torch.functional.threshold import threshold

    def step(current: torch.Tensor, state: Any, p: Any, dt: float = 0.001) -> Any:
        v = state.v + current
        z = threshold(v - p.v_th, p.method, p.alpha)
        return z, type(state)(v=v - z * p.v_th)

    cell = norse.IAFCell(norse.IAFParameters(v_th=v_threshold, v_reset=v_reset))
    cell.activation = step
    return cell


def spiking_module(graph: Any, reset: str = RESET) -> torch.nn.Module:
    """The graph as a stateful torch module of Norse neurons: ``out, state = net(x, state)``
    is one time step (``state=None`` at the start); ``out`` is the output group's spikes."""
    import nir
    import nirtorch
    import norse.torch as norse

    if reset not in RESETS:
        raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")

    def neuron(node: Any) -> torch.nn.Module:
        theta = torch.as_tensor(np.asarray(node.v_threshold), dtype=torch.float32)
        v_reset = torch.as_tensor(np.asarray(node.v_reset), dtype=torch.float32)
        if reset == RESET:
            return subtractive_iaf_cell(theta, v_reset)
        return norse.IAFCell(norse.IAFParameters(v_th=theta, v_reset=v_reset))

    def affine(node: Any) -> torch.nn.Module:
        weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float32)
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        linear.weight.data = weight
        linear.bias.data = torch.as_tensor(np.asarray(node.bias), dtype=torch.float32)
        return linear

    return nirtorch.nir_to_torch(graph, {nir.IF: neuron, nir.Affine: affine})


def graph_task(graph: Any, task: str | Task | Sequence[Any] | None = None) -> Task:
    """The run's task with the run's splits, rebuilt from what the export recorded (seed,
    fractions, label column); ``task`` names the data (a built-in or a file) when it is not
    where the run found it, or gives the in-memory arrays ``(X, y)`` (``(X, y, X_test,
    y_test)``) a run was trained on, and must have the recorded content hash."""
    record = metadata(graph, "neurevo.task")
    want = record.get("content_hash", "")
    if isinstance(task, Task):
        if want and task.content_hash and task.content_hash != want:
            raise TaskError(f"task {task.name!r}: its content ({task.content_hash[:19]}...) "
                            f"differs from the data the member was trained on "
                            f"({want[:19]}...)")
        return task
    if "seed" not in record:
        raise TaskError("this NIR export does not record its run's splits (seed, fractions); "
                        "simulate it from Python with task=<the run's Task>")
    return rebuild_task(record, task)


@dataclass
class SpikingResult:
    """What :func:`simulate` measured (``neurevo simulate --json`` prints it)."""

    examples: int
    timesteps: int
    reset: str
    ann_accuracy: float  # the graph evaluated as the rate network it was converted from
    recorded_test_accuracy: float | None  # what the run recorded for the member
    spiking_accuracy: float  # after ``timesteps`` steps
    accuracy_at: dict[int, float]  # spiking accuracy after 1, 2, 4, ... steps and at the end
    spikes_per_neuron_step: float  # every IF neuron (hidden and output groups)
    neurons: int
    group_rates: dict[str, float] = field(default_factory=dict)  # spikes / neuron / step
    # which member this is: the run and candidate the export names (empty / -1 if it does
    # not), so a saved --json result can be traced back to the front it came from
    run_id: str = ""
    candidate_id: int = -1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["accuracy_at"] = {str(k): v for k, v in self.accuracy_at.items()}
        return out


def simulate(graph: Any, task: str | Task | Sequence[Any] | None = None,
             timesteps: int = TIMESTEPS, reset: str | None = None,
             batch_size: int = 1024) -> SpikingResult:
    """Run ``graph`` (a path or a read NIR graph) on its run's test split for ``timesteps``
    steps; ``reset`` defaults to what the conversion assumed (by subtraction). ``task``: see
    :func:`graph_task` (a run trained on in-memory arrays needs them again, ``(X, y)``)."""
    import nir
    import norse.torch as norse

    if not isinstance(graph, nir.NIRGraph):
        graph = read_graph(graph)
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    conversion = metadata(graph, "neurevo.conversion")
    reset = reset or conversion.get("reset", RESET)
    split = graph_task(graph, task).test
    output = next(src for src, dst in graph.edges if dst == "output")
    out_theta = torch.as_tensor(np.asarray(graph.nodes[output].v_threshold),
                                dtype=torch.float32)
    marks = sorted({2 ** k for k in range(int(np.log2(timesteps)) + 1)} | {timesteps})
    correct_at = dict.fromkeys(marks, 0)
    net = spiking_module(graph, reset)
    sizes = {name: int(np.asarray(node.v_threshold).size) for name, node in graph.nodes.items()
             if isinstance(node, nir.IF)}
    spikes = dict.fromkeys(sizes, 0.0)
    for name, module in net.named_modules():
        if isinstance(module, norse.IAFCell):
            module.register_forward_hook(
                lambda _m, _i, out, key=name: spikes.__setitem__(key, spikes[key]
                                                                 + float(out[0].sum())))
    with torch.no_grad():
        for start in range(0, len(split.y), batch_size):
            x, y = split.x[start:start + batch_size], split.y[start:start + batch_size]
            state, counts = None, torch.zeros(len(y), out_theta.numel())
            for t in range(1, timesteps + 1):
                out, state = net(x, state)
                counts += out
                if t in correct_at:
                    score = counts + state[output].v / out_theta
                    correct_at[t] += int((score.argmax(dim=1) == y).sum())
    n = len(split.y)
    accuracy_at = {t: c / n for t, c in correct_at.items()}
    with torch.no_grad():
        ann = graph_ann(graph, split.x)
    ann_accuracy = float((ann.argmax(dim=1) == split.y).double().mean())
    about = metadata(graph, "neurevo.architecture")
    recorded = about.get("test_accuracy")
    neurons = sum(sizes.values())
    return SpikingResult(
        examples=n, timesteps=timesteps, reset=reset, ann_accuracy=ann_accuracy,
        recorded_test_accuracy=None if recorded is None else float(recorded),
        spiking_accuracy=accuracy_at[timesteps], accuracy_at=accuracy_at,
        spikes_per_neuron_step=sum(spikes.values()) / (neurons * timesteps * n),
        neurons=neurons,
        group_rates={k: v / (sizes[k] * timesteps * n) for k, v in spikes.items()},
        run_id=str(about.get("run_id", "")), candidate_id=int(about.get("candidate_id", -1)))
