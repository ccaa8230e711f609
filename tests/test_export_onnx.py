"""ONNX exports compute the rule's own prediction: for every built-in rule, onnxruntime gives
the torch module's scores on the run's test split, from raw features."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import onnx  # noqa: E402  (the [export] extra, which CI installs: a missing one fails here)
import onnxruntime as ort  # noqa: E402
import pytest
import torch

import evolve
import rules
from evolve.config import SearchConfig, override
from evolve.run import Architecture
from evolve.tasks import load_task
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene

NEUREVO = [sys.executable, "-m", "evolve.cli"]
TOLERANCE = 1e-5  # |onnx - torch| <= 1e-5 + 1e-5 * |torch|


def tiny_run(out, rule: str) -> evolve.Run:
    return evolve.search(override(SearchConfig(), {
        "generations": 1, "population": 4, "seed": 0, "out": str(out), "run_id": rule,
        "task": {"name": "iris"}, "rule": {"name": rule}, "training": {"epochs": 3},
        "executor": {"name": "serial"}}))


def onnx_scores(path, features: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"features": features.astype(np.float32)})[0]


def raw_features(arch: Architecture, standardised: torch.Tensor) -> torch.Tensor:
    """The test split as a user holds it: before the run's standardisation."""
    return standardised * arch.input_std + arch.input_mean


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_onnx_export_gives_the_modules_scores_for_every_rule(name, tmp_path):
    run = tiny_run(tmp_path / "runs", name)
    task = load_task("iris", seed=0)
    arch = run.pareto_front()[0]
    path = evolve.export_architecture(arch, tmp_path / f"{name}.onnx")
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["neurevo.rule"] == name
    assert json.loads(meta["neurevo.class_names"]) == list(task.class_names)
    assert Genome.from_json(meta["neurevo.genome"]) == arch.genome
    assert json.loads(meta["neurevo.rule_options"]) == arch.rule_options
    about = json.loads(meta["neurevo.architecture"])
    assert about["candidate_id"] == arch.candidate_id
    assert (about["run_id"], about["profile"]) == (run.run_id, run.description.profile)
    dims = model.graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 3]  # the classes, fixed

    raw = raw_features(arch, task.test.x)
    with torch.no_grad():
        expected = arch.to_module()(arch.standardise(raw)).numpy()
    got = onnx_scores(path, raw.numpy())
    error = float(np.abs(got - expected).max())
    print(f"{name}: max abs error {error:.3g} (scores up to {np.abs(expected).max():.3g})")
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE, atol=TOLERANCE)
    accuracy = float((got.argmax(1) == task.test.y.numpy()).mean())
    assert accuracy == pytest.approx(arch.test_accuracy, abs=1e-9)


def structured_genomes() -> dict[str, Genome]:
    """Skip edges, recurrent couplings (ep/chl relax through them) and a linear output
    level coupled to itself (its relaxation inverts a matrix, which ONNX cannot)."""
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 3),
             NodeGene(2, "hidden", 5, "relu"), NodeGene(3, "hidden", 4, "tanh"))
    skip = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1),
            ConnectionGene(3, 0, 3), ConnectionGene(4, 2, 1), ConnectionGene(5, 0, 1, False))
    recurrent = skip + (ConnectionGene(6, 3, 3, recurrent=True),
                        ConnectionGene(7, 1, 2, recurrent=True))
    return {"skip": Genome(nodes, skip), "recurrent": Genome(nodes, recurrent),
            "output-coupled": Genome(nodes, recurrent + (ConnectionGene(8, 1, 1,
                                                                        recurrent=True),))}


@pytest.mark.parametrize("shape", ["skip", "recurrent", "output-coupled"])
@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_onnx_unrolls_every_rules_prediction_on_structured_genomes(name, shape, tmp_path):
    genome = structured_genomes()[shape]
    params = init_params(compile_genome(genome), [5], [1.0])
    if params.recurrent is not None:  # couplings strong enough to matter
        params.recurrent.normal_(0.0, 0.3, generator=torch.Generator().manual_seed(1))
    arch = Architecture(candidate_id=1, generation=0, rule=name, genome=genome, objectives={},
                        test_accuracy=math.nan, valid_accuracy=math.nan, hyperparameters={},
                        _params=params, class_names=("a", "b", "c"))
    path = evolve.export_architecture(arch, tmp_path / "m.onnx")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = arch.to_module()(x).numpy()
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert "no standardisation" in meta["neurevo.input"]
    np.testing.assert_allclose(onnx_scores(path, x.numpy()), expected, rtol=TOLERANCE,
                               atol=TOLERANCE)


def test_cli_export_formats_by_flag_and_suffix(tmp_path):
    run = tiny_run(tmp_path / "runs", "bp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def cli(*args):
        return subprocess.run([*NEUREVO, *args], capture_output=True, text=True, timeout=300,
                              env=env, cwd=tmp_path)
    result = cli("export", str(run.path), "--format", "onnx")
    assert result.returncode == 0, result.stderr
    best = run.pareto_front()[0]
    assert result.stdout.strip() == f"{run.run_id}-{best.candidate_id}.onnx"
    onnx.checker.check_model(onnx.load(str(tmp_path / result.stdout.strip())))
    again = cli("export", str(run.path), "--format", "onnx")  # the writer is deterministic
    assert again.returncode == 0 and again.stdout == result.stdout, again.stderr
    result = cli("export", str(run.path), "--out", "m.onnx")  # the suffix says it
    assert result.returncode == 0 and (tmp_path / "m.onnx").is_file(), result.stderr
    result = cli("export", str(run.path), "--format", "onnx", "--out", "m.safetensors")
    assert result.returncode == 2 and "onnx exports are .onnx files" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("export", str(run.path), "--out", "m.pt")
    assert result.returncode == 2 and ".safetensors, .onnx or .nir" in result.stderr


@pytest.mark.parametrize(("leak", "says"), [
    # the whole prediction through numpy: the trace is a constant with no input at all
    (lambda scores: torch.from_numpy(scores.numpy().copy()), "takes inputs [], not"),
    # a shift read off the input's values with .item(): baked in as the traced input's
    (lambda scores: scores + scores.abs().max().item(), "does not compute it on a probe"),
])
def test_onnx_export_refuses_a_users_predict_that_the_tracer_cannot_follow(
        tmp_path, monkeypatch, leak, says):
    from rules import registry
    from rules.bp import Backprop

    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))

    @rules.register
    class Leaky(Backprop):
        name = "leaky"

        def predict(self, net, params, x):
            return leak(super().predict(net, params, x))

    arch = tiny_run(tmp_path / "runs", "leaky").pareto_front()[0]
    path = tmp_path / "leaky.onnx"
    with pytest.raises(ValueError) as refused:
        evolve.export_architecture(arch, path)
    assert str(refused.value).startswith(f"rule leaky: the ONNX graph traced from its "
                                         f"predict {says}")
    assert not path.exists() and list(tmp_path.glob(".*.tmp")) == []
