"""One architecture in one file: :func:`export_architecture` and :func:`load_architecture`.

A Pareto member is worth keeping apart from its run: to deploy it, to share it, to train it
further. An export is a single ``.safetensors`` file (no pickle: loading it never runs code)
holding

- the trained weights, named as in the run's ``weights/`` (``weight.<level>``,
  ``bias.<level>``, optional ``recurrent``), in the member's own compiled layout;
- ``input.mean`` and ``input.std``: the standardisation fitted on the run's training split,
  which the network expects its inputs to have had (``(x - mean) / std``), when known;
- metadata ``neurevo.format`` (``architecture/1``) and ``neurevo.architecture``: JSON with
  the genome, rule, the rule's options (so :meth:`Architecture.to_module` rebuilds the very
  rule that scored it: its prediction is the rule's, e.g. ep's free relaxation), the limits
  of backprop the rule removes, hyperparameters, objectives, costs, violations, accuracies,
  the training curve, the class names (output ``i`` is class ``class_names[i]``), the task
  and the run it came from.

>>> arch = evolve.load_architecture("digits-best.safetensors")     # doctest: +SKIP
>>> scores = arch.to_module()(arch.standardise(x_raw))             # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from evolve.records import RecordError, atomic_write
from evolve.run import Architecture
from search_spaces.genome import Genome, GenomeError
from search_spaces.net import Params

FORMAT = "architecture/1"


def export_architecture(arch: Architecture, path: str | Path, *, run_id: str | None = None,
                        task: str | None = None, class_names: tuple[str, ...] | None = None,
                        feature_mean: np.ndarray | None = None,
                        feature_std: np.ndarray | None = None) -> Path:
    """Write ``arch`` (with its trained weights) to ``path``; returns the path written.
    What is not given comes from ``arch`` itself, so a loaded export re-exports whole."""
    path = Path(path)
    run_id = arch.source.get("run_id", "") if run_id is None else run_id
    task = arch.source.get("task", "") if task is None else task
    class_names = arch.class_names if class_names is None else class_names
    if feature_mean is None and feature_std is None and arch.input_mean is not None:
        feature_mean, feature_std = arch.input_mean.numpy(), arch.input_std.numpy()
    if path.suffix != ".safetensors":
        raise ValueError(f"export path {str(path)!r}: expected a .safetensors file name")
    params = arch.params()
    tensors = {f"weight.{i}": w[0].contiguous() for i, w in enumerate(params.weights)}
    tensors.update({f"bias.{i}": b[0].contiguous() for i, b in enumerate(params.biases)})
    if params.recurrent is not None:
        tensors["recurrent"] = params.recurrent[0].contiguous()
    if (feature_mean is None) != (feature_std is None):
        raise ValueError("feature_mean and feature_std go together: give both or neither")
    if feature_mean is not None:
        n = arch.genome.node(arch.genome.input_ids[0]).size
        for name, values in (("mean", feature_mean), ("std", feature_std)):
            values = torch.as_tensor(np.asarray(values, dtype=np.float32))
            if values.shape != (n,):
                raise ValueError(f"feature_{name}: expected {n} values (the input size), "
                                 f"got shape {tuple(values.shape)}")
            tensors[f"input.{name}"] = values.contiguous()
    about = {**arch.to_dict(), "class_names": list(class_names), "task": task,
             "run_id": run_id}
    metadata = {"neurevo.format": FORMAT, "neurevo.architecture": json.dumps(about)}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))
    return path


def load_architecture(path: str | Path) -> Architecture:
    """Read an export written by :func:`export_architecture` (or ``neurevo export``)."""
    path = Path(path)
    if not path.is_file():
        raise RecordError(f"{path}: no such architecture file")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:  # noqa: BLE001 - a file that is not safetensors at all
        raise RecordError(f"{path}: not a safetensors file ({exc})") from None
    if metadata.get("neurevo.format") != FORMAT:
        raise RecordError(f"{path}: not a neurevo architecture export (neurevo.format is "
                          f"{metadata.get('neurevo.format')!r}, expected {FORMAT!r})")

    def number(v: Any) -> float:
        return float("nan") if v is None else float(v)

    try:
        about: dict[str, Any] = json.loads(metadata["neurevo.architecture"])
        genome = Genome.from_dict(about["genome"])
        n = sum(1 for k in tensors if k.startswith("weight."))
        params = Params([tensors[f"weight.{i}"].unsqueeze(0) for i in range(n)],
                        [tensors[f"bias.{i}"].unsqueeze(0) for i in range(n)],
                        tensors["recurrent"].unsqueeze(0) if "recurrent" in tensors else None)
        return Architecture(
            candidate_id=int(about["candidate_id"]), generation=int(about["generation"]),
            rule=about["rule"], genome=genome,
            objectives={k: number(v) for k, v in about["objectives"].items()},
            test_accuracy=number(about["test_accuracy"]),
            valid_accuracy=number(about["valid_accuracy"]),
            hyperparameters=dict(about["hyperparameters"]), costs=dict(about["costs"]),
            violations=dict(about["violations"]), weights_path=path, _params=params,
            rank=int(about.get("rank", 1)), species=int(about.get("species", -1)),
            rule_options=dict(about.get("rule_options", {})),
            rule_limits=dict(about.get("rule_limits", {})), curve=list(about.get("curve", [])),
            class_names=tuple(about.get("class_names", ())),
            input_mean=tensors.get("input.mean"), input_std=tensors.get("input.std"),
            source={"run_id": about.get("run_id", ""), "task": about.get("task", "")},
        )
    except (KeyError, TypeError, ValueError, GenomeError) as exc:
        raise RecordError(f"{path}: damaged architecture export "
                          f"({type(exc).__name__}: {exc})") from None
