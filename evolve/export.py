"""One architecture in one file: :func:`export_architecture` and :func:`load_architecture`.

A Pareto member is worth keeping apart from its run: to deploy it, to share it, to train it
further, to put it on a chip. Three formats serve those ends (``format=``, or the file's
suffix):

- ``.safetensors``: everything neurevo knows, read back whole by :func:`load_architecture`
  (below);
- ``.onnx``: the rule's own prediction as a graph any ONNX runtime executes, raw features in
  (:mod:`evolve.onnx_export`);
- ``.nir``: the network as integrate-and-fire neurons for neuromorphic toolchains, for
  feedforward rules and ReLU groups (:mod:`evolve.nir_export`; ``neurevo simulate`` checks
  it in spikes).

A safetensors export is a single file (no pickle: loading it never runs code) holding

- the trained weights, named as in the run's ``weights/`` (``weight.<level>``,
  ``bias.<level>``, optional ``recurrent``), in the member's own compiled layout;
- ``input.mean`` and ``input.std``: the standardisation fitted on the run's training split,
  which the network expects its inputs to have had (``(x - mean) / std``), when known, in
  float64 as the run fitted and applied it (float32 in exports from before);
- metadata ``neurevo.format`` (``architecture/1``) and ``neurevo.architecture``: JSON with
  the genome, rule, the rule's options (so :meth:`Architecture.to_module` rebuilds the very
  rule that scored it: its prediction is the rule's, e.g. ep's free relaxation), the limits
  of backprop the rule removes, hyperparameters, objectives, costs, violations, accuracies,
  the training curve, the class names (output ``i`` is class ``class_names[i]``), the
  feature names where the data named its columns (input ``j`` is ``feature_names[j]``), the
  task and the run it came from; ``neurevo.sha256``, the tensors' checksum, which loading checks.

>>> arch = evolve.load_architecture("digits-best.safetensors")     # doctest: +SKIP
>>> scores = arch.to_module()(arch.standardise(x_raw))             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.messages import one_line
from evolve.records import (
    RecordError,
    load_tensors,
    params_from_tensors,
    record_refusal,
    tensor_header,
    tensors_from_params,
    weights_problem,
    write_safetensors,
)
from evolve.run import Architecture, Source, run_split
from evolve.tasks import DATA_RECORD_KEYS, SPLIT_KEYS, Task
from search_spaces.genome import Genome

FORMAT = "architecture/1"
FORMATS = ("safetensors", "onnx", "nir")
_OTHER_FORMATS = {".onnx": "ONNX", ".nir": "NIR"}  # written, never read back


def export_format(path: str | Path, format: str | None = None) -> str:
    """The format of an export to ``path``: ``format`` if given (the suffix must agree),
    else the one the suffix names."""
    suffix = Path(path).suffix.lstrip(".").lower()
    if format is None:
        if suffix not in FORMATS:
            raise ValueError(f"export path {str(path)!r}: expected a .safetensors, .onnx or "
                             ".nir file name")
        return suffix
    if format not in FORMATS:
        raise ValueError(f"export format {format!r}: expected one of {', '.join(FORMATS)}")
    if suffix != format:
        raise ValueError(f"export path {str(path)!r}: {format} exports are .{format} files")
    return format


def same_export(a: str | Path, b: str | Path) -> bool:
    """Whether two export files hold the same export. ONNX and NIR writers are
    deterministic, so their bytes say it; safetensors stores its metadata in no fixed order,
    so there the metadata (the architecture's JSON and the tensors' checksum) says it."""
    a, b = Path(a), Path(b)
    if a.read_bytes() == b.read_bytes():
        return True
    if a.suffix.lower() != ".safetensors" or b.suffix.lower() != ".safetensors":
        return False
    try:  # the tensors read against their checksum: a flipped bit is not the same export
        return tensor_header(a) == tensor_header(b) and bool(load_tensors(a))
    except RecordError:  # a damaged file is not the export about to be written
        return False


def export_architecture(arch: Architecture, path: str | Path, *, format: str | None = None,
                        run_id: str | None = None, task: str | None = None,
                        class_names: tuple[str, ...] | None = None,
                        feature_mean: np.ndarray | None = None,
                        feature_std: np.ndarray | None = None,
                        data: Task | Sequence[Any] | None = None,
                        split: dict[str, Any] | None = None,
                        percentile: float | None = None) -> Path:
    """Write ``arch`` (with its trained weights) to ``path`` as ``format`` (default: the
    suffix's: ``.safetensors``, ``.onnx`` or ``.nir``); returns the path written. What is
    not given comes from ``arch`` itself, so a loaded export re-exports whole.

    A NIR export sets its thresholds from activations on the run's training split: ``data``
    is the run's task (same seed and fractions, which ``split`` records for ``neurevo
    simulate``); without it, the run the member's weights live in is loaded. For a run
    trained on in-memory arrays, ``data`` may be those arrays again, ``(X, y)`` or ``(X, y,
    X_test, y_test)``: the run splits them as it did, after checking their content hash."""
    path = Path(path)
    format = export_format(path, format)
    refusal = record_refusal(path, "export path")
    if refusal:
        raise ValueError(refusal)
    run_id = arch.source.run_id if run_id is None else run_id
    task = arch.source.task if task is None else task
    class_names = arch.class_names if class_names is None else class_names
    if class_names and len(class_names) != arch.genome.output_size:
        raise ValueError(f"class_names: expected {arch.genome.output_size} names, one per "
                         f"output of the member, got {len(class_names)}")
    if feature_mean is None and feature_std is None and arch.input_mean is not None:
        feature_mean, feature_std = arch.input_mean.numpy(), arch.input_std.numpy()
    if (feature_mean is None) != (feature_std is None):
        raise ValueError("feature_mean and feature_std go together: give both or neither")
    stats: dict[str, torch.Tensor] = {}
    if feature_mean is not None:
        n = arch.genome.input_size
        for name, values in (("mean", feature_mean), ("std", feature_std)):
            values = torch.as_tensor(np.asarray(values, dtype=np.float64))
            if values.shape != (n,):
                raise ValueError(f"feature_{name}: expected {n} values (the input size), "
                                 f"got shape {tuple(values.shape)}")
            stats[name] = values.contiguous()
    source = dataclasses.replace(arch.source, run_id=run_id, task=task)
    about = {**dataclasses.replace(arch, class_names=tuple(class_names),
                                   source=source).described(),
             "features_as_given": arch.features_as_given and not stats}
    if format != "safetensors":
        # the other writers read names and statistics off the architecture itself
        arch = dataclasses.replace(arch, class_names=tuple(class_names),
                                   input_mean=stats.get("mean"), input_std=stats.get("std"))
        if format == "onnx":
            from evolve.onnx_export import export_onnx

            return export_onnx(arch, path, about=about)
        from evolve.nir_export import check_convertible, export_nir
        from evolve.spiking import PERCENTILE

        check_convertible(arch)  # before the data is loaded for nothing
        if not isinstance(data, Task):
            data, found = _run_task(arch, arrays=data)
            split = found if split is None else split
        elif split is None:  # the member's own task given whole: its split is still known
            split = _split_of(arch)
        _check_fits(arch, data)
        return export_nir(arch, path, data, about=about, split=split,
                          percentile=PERCENTILE if percentile is None else percentile)
    tensors = tensors_from_params(arch.params())
    tensors.update({f"input.{name}": values for name, values in stats.items()})
    metadata = {"neurevo.format": FORMAT, "neurevo.architecture": json.dumps(about)}
    write_safetensors(path, tensors, metadata)
    return path


def _run_task(arch: Architecture, task_file: str | None = None,
              arrays: Sequence[Any] | None = None) -> tuple[Task, dict[str, Any]]:
    """The member's task (:meth:`Architecture.task`) and the split that rebuilds it, which a
    NIR file records for ``neurevo simulate`` (its run read once for both)."""
    run = arch.run()
    if run is not None:
        return run.task(data=arrays, task_file=task_file), run_split(run.config)
    return arch.task(data=arrays, task_file=task_file), _split_of(arch)


def _split_of(arch: Architecture) -> dict[str, Any] | None:
    """How the member's run split its data: from the run, or as its export records it."""
    run = arch.run()
    if run is not None:
        return run_split(run.config)
    return {k: arch.source.data[k] for k in SPLIT_KEYS} if arch.source.data else None


def _check_fits(arch: Architecture, data: Task) -> None:
    """``data`` has the member's input and output sizes (a Task of another data set would
    fail deep inside the conversion, or set thresholds from the wrong inputs)."""
    n_in = arch.genome.input_size
    n_out = arch.genome.output_size
    if (data.n_features, data.n_classes) != (n_in, n_out):
        raise ValueError(f"data: task {data.name!r} has {data.n_features} features and "
                         f"{data.n_classes} classes, but this member takes {n_in} and "
                         f"predicts {n_out}: pass the run's own task")


def load_architecture(path: str | Path) -> Architecture:
    """Read an export written by :func:`export_architecture` (or ``neurevo export``).

    Everything is checked before it is trusted: the genome (within the size limits of
    :meth:`Genome.validate`), the tensors' names and shapes against the network the genome
    compiles to — from the file's header, before any tensor is loaded, so a small file
    claiming a huge network fails at once —, finite weights, and an input standardisation
    that can be applied (finite, positive ``input.std``, one value per input). Any damage is
    a one-line :class:`RecordError` naming the file."""
    path = Path(path)
    if path.is_dir():
        raise RecordError(f"{path}: a directory, not an architecture file (a run directory is "
                          "read by evolve.load_run; neurevo export RUN writes one member)")
    if not path.is_file():
        raise RecordError(f"{path}: no such architecture file")
    try:
        metadata, shapes = tensor_header(path)
    except RecordError as exc:
        other = _OTHER_FORMATS.get(path.suffix.lower())
        if other is None:
            raise
        # an export's other formats are one-way: say so, not "damaged"
        raise RecordError(f"{path}: an {other} export cannot be loaded back; load_architecture "
                          "reads the .safetensors export of the member (neurevo export RUN "
                          "--candidate ID), which holds everything") from exc
    if metadata.get("neurevo.format") != FORMAT:
        raise RecordError(f"{path}: not a neurevo architecture export (neurevo.format is "
                          f"{metadata.get('neurevo.format')!r}, expected {FORMAT!r})")
    try:
        about: Any = json.loads(metadata.get("neurevo.architecture", ""))
    except (ValueError, RecursionError) as exc:
        raise RecordError(f"{path}: damaged architecture export (neurevo.architecture is not "
                          f"JSON: {one_line(exc)})") from None
    if not isinstance(about, dict) or "genome" not in about:
        raise RecordError(f"{path}: damaged architecture export (neurevo.architecture is not "
                          "an object with a genome)")
    try:
        genome = Genome.from_dict(about["genome"])
    except (TypeError, ValueError, RecursionError) as exc:
        raise RecordError(f"{path}: damaged architecture export (genome: "
                          f"{one_line(exc)})") from None
    weights = {k: v for k, v in shapes.items() if not k.startswith("input.")}
    problem = weights_problem(weights, genome) or _standardisation_problem(shapes, genome)
    if problem:
        raise RecordError(f"{path}: {problem}")
    names = about.get("class_names", [])
    if isinstance(names, list) and names and len(names) != genome.output_size:
        # output i is class_names[i]: a label read off the scores would fall off the list
        raise RecordError(f"{path}: damaged architecture export (class_names has "
                          f"{len(names)} names for the genome's {genome.output_size} outputs)")
    features = about.get("feature_names", [])
    if not isinstance(features, list) or (features and len(features) != genome.input_size):
        # input j is feature_names[j]: a table's columns would be put in a wrong order
        raise RecordError(f"{path}: damaged architecture export (feature_names is not a list "
                          f"of the genome's {genome.input_size} input names)")
    tensors = load_tensors(path)
    std = tensors.get("input.std")
    if std is not None and not bool((std > 0).all()):
        raise RecordError(f"{path}: input.std holds a value that is not positive (inputs are "
                          "divided by it)")

    def number(v: Any) -> float:
        return float("nan") if v is None else float(v)

    try:
        return Architecture(
            candidate_id=int(about["candidate_id"]), generation=int(about["generation"]),
            rule=str(about["rule"]), genome=genome,
            objectives={k: number(v) for k, v in about["objectives"].items()},
            test_accuracy=number(about["test_accuracy"]),
            valid_accuracy=number(about["valid_accuracy"]),
            hyperparameters=dict(about["hyperparameters"]), costs=dict(about["costs"]),
            violations=dict(about["violations"]), weights_path=path,
            metrics={k: number(v) for k, v in about.get("metrics", {}).items()},
            _params=params_from_tensors({k: v for k, v in tensors.items()
                                         if not k.startswith("input.")}),
            rank=int(about.get("rank", 1)), species=int(about.get("species", -1)),
            rule_options=dict(about.get("rule_options", {})),
            rule_limits=dict(about.get("rule_limits", {})), curve=list(about.get("curve", [])),
            class_names=tuple(str(c) for c in about.get("class_names", ())),
            feature_names=tuple(str(c) for c in features),
            input_mean=tensors.get("input.mean"), input_std=std,
            source=Source(str(about.get("run_id", "")), str(about.get("task", "")),
                          str(about.get("profile", "")), _data_record(about.get("data", {}))),
            features_as_given=about.get("features_as_given") is True,
        )
    except KeyError as exc:
        raise RecordError(f"{path}: damaged architecture export (no {exc})") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise RecordError(f"{path}: damaged architecture export ({type(exc).__name__}: "
                          f"{one_line(exc)})") from None


def _data_record(value: Any) -> dict[str, Any]:
    """The export's record of its training data: none, or every key a rebuild reads."""
    if not isinstance(value, dict):
        raise ValueError(f"data is {type(value).__name__}, expected an object")
    if value and not set(DATA_RECORD_KEYS) <= set(value):
        missing = [k for k in DATA_RECORD_KEYS if k not in value]
        raise ValueError(f"data lacks {', '.join(missing)}")
    return dict(value)


def _standardisation_problem(shapes: dict[str, tuple[int, ...]], genome: Genome) -> str | None:
    stats = [k for k in shapes if k.startswith("input.")]
    unknown = sorted(set(stats) - {"input.mean", "input.std"})
    if unknown:
        return f"unexpected tensor {unknown[0]!r}"
    if len(stats) == 1:
        return f"{stats[0]} without its partner (input.mean and input.std go together)"
    n = genome.input_size
    for name in stats:
        if shapes[name] != (n,):
            return f"{name} has shape {list(shapes[name])}, expected [{n}] (one per input)"
    return None
