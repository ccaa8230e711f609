"""A trained member as an ONNX model: the rule's own prediction, runnable without neurevo.

What a member scored is what its rule's ``predict`` computes (:mod:`rules.module`), so the
ONNX graph is a trace of :meth:`Architecture.to_module`, not a rebuilt feedforward net: ff's
per-label goodness loop and ep/chl's fixed number of relaxation sweeps are Python loops over
integers, and tracing unrolls them into a plain graph that any ONNX runtime executes.

Choices and why:

- **The TorchScript tracer** (``torch.onnx.export(dynamo=False)``), not ``torch.export``: the
  weights are fixed at export, and a tracer evaluates the few Python branches that read them
  (ep/chl test whether the output level has couplings of its own) once, on the trained
  values, which is what an export of *this* member means. ``torch.export`` treats parameters
  symbolically and refuses such branches as data-dependent; it also needs an extra package.
- **The one matrix inverse** a relaxation can take — of a linear output level's own
  recurrent couplings, which depend on the weights only — has no ONNX operator; it is
  computed once while tracing and stored as a constant (:func:`_inverse_as_constant`).
- **Raw features in**: the graph starts by standardising its input with the run's training
  statistics, so a deployment feeds the features it has; the statistics are in the metadata
  too, and a member without them (xor) takes its input as given (``neurevo.input``).
- **Metadata** (``metadata_props``): class names (output ``i`` is ``class_names[i]``),
  feature names where the data named its columns (input ``j`` is ``feature_names[j]``), rule
  and its options, genome JSON, and the whole export description that safetensors exports
  carry (``neurevo.architecture``), so the file alone says what it is.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.records import atomic_write
from evolve.run import Architecture

FORMAT = "onnx/1"
OPSET = 17
INPUT_NAME, OUTPUT_NAME = "features", "scores"
# How far the written graph's scores may be from the module's on a probe input before the
# export is refused as a wrong trace (every built-in rule is within 1e-5 + 1e-5 × |score|:
# README): a predict that leaves torch traces into constants, off by whole scores.
CHECK_TOLERANCE = 1e-4
PROBE_ROWS = 16


class _Deployed(torch.nn.Module):
    """Raw features -> class scores: the run's standardisation, then the rule's prediction."""

    def __init__(self, module: torch.nn.Module, mean: torch.Tensor | None,
                 std: torch.Tensor | None) -> None:
        super().__init__()
        self.module = module
        self.standardise = mean is not None
        if mean is not None and std is not None:
            self.register_buffer("mean", mean.detach().clone().double())
            self.register_buffer("std", std.detach().clone().double())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.standardise:  # in float64, as the run standardised its splits
            x = ((x.double() - self.mean) / self.std).float()
        return self.module(x)


@contextlib.contextmanager
def _inverse_as_constant() -> Iterator[None]:
    """While tracing, ``torch.linalg.inv_ex`` returns its result as a constant.

    Only relaxation rules call it, on a linear output level's own couplings: a function of
    the trained weights alone, never of the input, so its value is the same for every input
    the exported graph will see. ONNX has no inverse operator to trace it into."""
    original = torch.linalg.inv_ex

    def constant_inverse(a: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            result = original(a.detach(), *args, **kwargs)
        values = torch.tensor(result.inverse.tolist(), dtype=a.dtype)
        info = torch.tensor(result.info.tolist(), dtype=result.info.dtype)
        return values, info

    torch.linalg.inv_ex = constant_inverse
    try:
        yield
    finally:
        torch.linalg.inv_ex = original


def deployable_module(arch: Architecture) -> torch.nn.Module:
    """The module the ONNX graph is traced from: raw features in (standardised inside when
    the architecture carries the run's statistics), the rule's class scores out."""
    return _Deployed(arch.to_module().eval(), arch.input_mean, arch.input_std).eval()


def export_onnx(arch: Architecture, path: str | Path, *, about: dict[str, Any] | None = None,
                opset: int = OPSET) -> Path:
    """Write ``arch`` to ``path`` (``.onnx``); ``about`` is the export description (class
    names, task, run id...), by default the architecture's own. Returns the path."""
    import onnx

    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise ValueError(f"export path {str(path)!r}: expected a .onnx file name")
    about = dict(about) if about is not None else arch.described()
    module = deployable_module(arch)
    n_in = arch.genome.input_size
    example = torch.zeros(3, n_in)  # batch > 1: nothing gets specialised to a single row

    def write(tmp: str) -> None:
        with warnings.catch_warnings(), _inverse_as_constant(), torch.no_grad():
            # the tracer warns about every weight-dependent branch it evaluates, and torch
            # about the exporter's age; both are expected here (see the module docstring)
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (example,), tmp, dynamo=False, opset_version=opset,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                              do_constant_folding=True)
        model = onnx.load(tmp)
        # the class count is fixed: the tracer leaves it symbolic where the rule's own
        # prediction gathers it (ep, chl), which tools reading shapes statically would lose
        n_out = arch.genome.output_size
        model.graph.output[0].type.tensor_type.shape.dim[1].dim_value = n_out
        model.producer_name = "neurevo"
        model.doc_string = (f"neurevo {arch.rule} member {arch.candidate_id}: "
                            f"{INPUT_NAME}[batch, {n_in}] -> {OUTPUT_NAME}[batch, "
                            f"{len(arch.class_names) or 'n_classes'}], the rule's own prediction"
                            + ("; feature j is neurevo.feature_names[j]"
                               if arch.feature_names else ""))
        standardised = arch.input_mean is not None
        props = {
            "neurevo.format": FORMAT,
            "neurevo.rule": arch.rule,
            "neurevo.rule_options": json.dumps(arch.rule_options),
            "neurevo.class_names": json.dumps(list(about.get("class_names", []))),
            "neurevo.feature_names": json.dumps(list(about.get("feature_names", []))),
            "neurevo.genome": arch.genome.to_json(),
            "neurevo.input": ("raw features, standardised inside the graph with "
                              "neurevo.feature_mean and neurevo.feature_std" if standardised
                              else "features as the run used them (no standardisation)"),
            "neurevo.architecture": json.dumps(about),
        }
        if standardised:
            props["neurevo.feature_mean"] = json.dumps(
                np.asarray(arch.input_mean, dtype=np.float64).tolist())
            props["neurevo.feature_std"] = json.dumps(
                np.asarray(arch.input_std, dtype=np.float64).tolist())
        del model.metadata_props[:]
        for key, value in props.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(model, full_check=True)
        onnx.save(model, tmp)
        _check_graph(arch, module, tmp)

    atomic_write(path, write)
    return path


def _check_graph(arch: Architecture, module: torch.nn.Module, path: str) -> None:
    """The graph at ``path`` computes ``module`` on a probe input other than the one it was
    traced on. A tracer records only torch operations on the input: a rule whose ``predict``
    goes through numpy, ``.item()`` or a Python branch on the input's values traces into a
    graph that ignores its input (or part of it), and would be written without an error.
    Checked with onnxruntime (the ``export`` extra installs it with onnx)."""
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - the export extra installs both
        return
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(PROBE_ROWS, arch.genome.input_size, generator=generator)
    probe = (z * arch.input_std.float() + arch.input_mean.float()
             if arch.input_mean is not None and arch.input_std is not None else z)
    with torch.no_grad():
        expected = module(probe).float().numpy()
    runtime = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in runtime.get_inputs()]
    if names != [INPUT_NAME]:
        raise ValueError(f"rule {arch.rule}: the ONNX graph traced from its predict takes "
                         f"inputs {names}, not [{INPUT_NAME!r}]: its predict must compute "
                         "the scores from its input with torch operations (no numpy, "
                         ".item() or Python branches on the input's values)")
    got = runtime.run(None, {INPUT_NAME: probe.numpy().astype(np.float32)})[0]
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=CHECK_TOLERANCE,
                                                      atol=CHECK_TOLERANCE):
        worst = (float(np.abs(got - expected).max()) if got.shape == expected.shape
                 else f"shape {got.shape} against {expected.shape}")
        raise ValueError(f"rule {arch.rule}: the ONNX graph traced from its predict does not "
                         f"compute it on a probe input (largest difference {worst}): its "
                         "predict must compute the scores from its input with torch "
                         "operations (no numpy, .item() or Python branches on the input's "
                         "values)")


def read_metadata(path: str | Path) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file, as a dict."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}
