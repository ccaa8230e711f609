"""Exports: one Pareto member in one .safetensors file, read back by load_architecture and
usable on raw features; `neurevo export` from a run; clear errors for wrong files."""

from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import evolve
from evolve.records import RecordError
from evolve.run import Source
from evolve.tasks import load_task

NEUREVO = [sys.executable, "-m", "evolve.cli"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> evolve.Run:
    from evolve.config import SearchConfig, override

    config = override(SearchConfig(), {
        "generations": 2, "population": 6, "seed": 3,
        "out": str(tmp_path_factory.mktemp("runs")), "objectives": ["accuracy", "params"],
        "rule": {"name": "bp"}, "training": {"epochs": 3, "patience": 3},
        "executor": {"name": "serial"}})
    return evolve.search(config)


def test_export_round_trip_predicts_like_the_run_on_raw_features(finished_run, tmp_path):
    front = finished_run.pareto_front()
    arch = front[-1]  # any member; the last has the most parameters
    task = load_task("digits", seed=3)
    path = evolve.export_architecture(arch, tmp_path / "a.safetensors", run_id="r",
                                      task="digits", class_names=task.class_names,
                                      feature_mean=task.feature_mean,
                                      feature_std=task.feature_std)
    back = evolve.load_architecture(path)
    assert back.genome == arch.genome and back.candidate_id == arch.candidate_id
    assert back.objectives == arch.objectives and back.hyperparameters == arch.hyperparameters
    assert back.class_names == task.class_names
    # the chip its costs were priced on travels with it: the run's profile; and its data,
    # with how the run split it
    assert back.source == Source("r", "digits", finished_run.description.profile,
                                 arch.source.data) != Source("r", "digits")
    assert back.source.data["seed"] == finished_run.config.seed
    assert back.costs == arch.costs and back.violations == arch.violations
    # raw features, as a user would have them, standardised by the export's statistics
    raw = task.test.x.double() * torch.from_numpy(task.feature_std) + \
        torch.from_numpy(task.feature_mean)
    torch.testing.assert_close(back.standardise(raw.numpy()), task.test.x, atol=1e-4, rtol=0)
    with torch.no_grad():
        ours = back.to_module()(back.standardise(raw.numpy()))
        theirs = arch.to_module()(task.test.x)
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=0)
    accuracy = (ours.argmax(1) == task.test.y).double().mean().item()
    assert accuracy == pytest.approx(arch.test_accuracy, abs=1e-6)
    # a loaded export re-exports whole: names, statistics and source come along
    again = evolve.load_architecture(evolve.export_architecture(back, tmp_path / "b.safetensors"))
    assert again.class_names == back.class_names and again.source == back.source
    assert torch.equal(again.input_mean, back.input_mean)
    assert torch.equal(again.input_std, back.input_std)


def test_raw_features_of_the_wrong_shape_or_dtype_are_named(finished_run):
    arch = finished_run.pareto_front()[0]
    with pytest.raises(ValueError, match=r"shape \[batch, 64\], got \[5, 4\]"):
        arch.standardise(torch.zeros(5, 4))
    # a missing or infinite feature would still be scored (NaN scores argmax to class 0):
    # it is refused with where it is, as the run refused such samples
    raw = np.zeros((4, 64))
    raw[2, 7] = np.nan
    raw[3, 1] = np.inf
    with pytest.raises(ValueError, match=r"row 2, feature 7 \('pixel_0_7'\) is nan \(2 such"):
        arch.standardise(raw)
    with pytest.raises(ValueError, match=r"row 0, feature 0 \('pixel_0_0'\) is -inf"):
        arch.standardise(torch.full((1, 64), -math.inf))
    with pytest.raises(ValueError, match="standardise: expected numeric raw features"):
        arch.standardise([["a"] * 64])
    with pytest.raises(TypeError, match="convert them with x.float"):
        arch.to_module()(torch.zeros(5, 64, dtype=torch.float64))


def test_a_run_that_standardised_nothing_takes_features_as_given(tmp_path):
    """xor's features are used as they are: standardise passes them through, as the
    member's ONNX graph does, rather than refusing a member loaded from its export."""
    from evolve.config import SearchConfig, override

    run = evolve.search(override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "task": {"name": "xor"},
        "rule": {"name": "bp"}, "training": {"epochs": 2}, "executor": {"name": "serial"}}))
    back = evolve.load_architecture(evolve.export_architecture(run.pareto_front()[0],
                                                               tmp_path / "x.safetensors"))
    x = [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert torch.equal(back.standardise(x), torch.tensor(x, dtype=torch.float32))


def test_export_rejects_mismatched_standardisation(finished_run, tmp_path):
    arch = finished_run.pareto_front()[0]
    with pytest.raises(ValueError, match="expected 64 values"):
        evolve.export_architecture(arch, tmp_path / "a.safetensors",
                                   feature_mean=[0.0] * 3, feature_std=[1.0] * 3)
    with pytest.raises(ValueError, match="both or neither"):
        evolve.export_architecture(arch, tmp_path / "a.safetensors", feature_mean=[0.0] * 64)
    with pytest.raises(ValueError, match=".safetensors"):
        evolve.export_architecture(arch, tmp_path / "a.pt")
    bare = dataclasses.replace(arch, input_mean=None, input_std=None)  # built by hand
    no_stats = evolve.load_architecture(
        evolve.export_architecture(bare, tmp_path / "b.safetensors"))
    with pytest.raises(RecordError, match="no input standardisation"):
        no_stats.standardise(torch.zeros(1, 64))


def test_load_architecture_names_what_is_wrong(finished_run, tmp_path):
    weights = next((finished_run.path / "weights").glob("*.safetensors"))
    with pytest.raises(RecordError, match="not a neurevo architecture export"):
        evolve.load_architecture(weights)  # a run's weights file: safetensors, no metadata
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(RecordError, match="not a safetensors file"):
        evolve.load_architecture(junk)
    with pytest.raises(RecordError, match="no such architecture file"):
        evolve.load_architecture(tmp_path / "missing.safetensors")
    with pytest.raises(RecordError, match="a directory, not an architecture file.*load_run"):
        evolve.load_architecture(finished_run.path)
    # the deployment format is one-way: named as such, not as a damaged safetensors file
    onnx_file = evolve.export_architecture(finished_run.pareto_front()[0], tmp_path / "m.onnx")
    with pytest.raises(RecordError, match=r"m\.onnx: an ONNX export cannot be loaded back; "
                                          r"load_architecture reads the \.safetensors"):
        evolve.load_architecture(onnx_file)
    junk_onnx = tmp_path / "junk.onnx"  # named by its suffix whatever its bytes
    junk_onnx.write_bytes(b"\x00" * 64)
    with pytest.raises(RecordError, match="an ONNX export cannot be loaded back"):
        evolve.load_architecture(junk_onnx)


def test_cli_export_writes_the_best_member_and_checks_the_candidate(finished_run, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*NEUREVO, "export", str(finished_run.path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    path = tmp_path / result.stdout.strip().splitlines()[-1]
    best = finished_run.pareto_front()[0]
    assert path.name == f"{finished_run.run_id}-{best.candidate_id}.safetensors"
    back = evolve.load_architecture(path)
    assert back.candidate_id == best.candidate_id and len(back.class_names) == 10
    assert back.input_mean is not None and back.source.task == "digits"

    # the command run again keeps its file; a different export under the default name (a
    # run elsewhere with the same run id) is refused, and the file is left as it was
    again = subprocess.run([*NEUREVO, "export", str(finished_run.path)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0 and again.stdout.strip() == path.name, again.stderr
    good = path.read_bytes()  # a bit flipped in its tensors, header intact: not kept as same
    path.write_bytes(good[:-3] + bytes([good[-3] ^ 0x01]) + good[-2:])
    damaged = subprocess.run([*NEUREVO, "export", str(finished_run.path)], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, env=env)
    assert damaged.returncode == 2 and "or a damaged file" in damaged.stderr, damaged.stderr
    evolve.export_architecture(best, path, class_names=tuple("abcdefghij"))
    other = path.read_bytes()
    clash = subprocess.run([*NEUREVO, "export", str(finished_run.path)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300, env=env)
    assert clash.returncode == 2 and "exists and differs from this export" in clash.stderr
    assert "--out" in clash.stderr and path.read_bytes() == other
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary left

    result = subprocess.run([*NEUREVO, "export", str(finished_run.path), "--candidate",
                             "999999", "--out", str(tmp_path / "x.safetensors")],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 2 and "not on the Pareto front" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.safetensors").exists()


def test_cli_export_names_its_default_file_name_when_that_is_a_directory(finished_run,
                                                                          tmp_path):
    """No --out was given: the refusal names the default file name, not an --out."""
    best = finished_run.pareto_front()[0]
    (tmp_path / f"{finished_run.run_id}-{best.candidate_id}.safetensors").mkdir()
    result = subprocess.run([*NEUREVO, "export", str(finished_run.path)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert f"the default file name '{finished_run.run_id}-{best.candidate_id}.safetensors' " \
           "is a directory; give a file name with --out" in result.stderr, result.stderr
