"""tests/gpu_check.py, the script a CUDA machine runs: without CUDA it checks nothing and
says so; its checks run here with the CPU standing in for the GPU (the plumbing of every
check, through Triton's interpreter for the kernels), and a check can fail."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from netkit import load_script as netkit_load_script  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "gpu_check.py"


def load_script():
    return netkit_load_script(SCRIPT)


def small_task():
    from netkit import digits_subset

    data = digits_subset(n_train=96, n_valid=48)
    return SimpleNamespace(train=data.train, valid=data.valid, n_features=64, n_classes=10)


def test_without_cuda_nothing_is_checked_and_it_says_so(tmp_path):
    if torch.cuda.is_available():
        pytest.fail("this test is for machines without CUDA (CI's); run gpu_check.py instead")
    result = subprocess.run([sys.executable, str(SCRIPT), "--json", str(tmp_path / "g.json")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2 and "nothing was checked" in result.stderr
    assert not (tmp_path / "g.json").exists()


@pytest.mark.parametrize("args, says", [
    (["--device", "cpu"], "--device 'cpu': expected cuda or cuda:N"),
    (["--rules", "nope"], "--rules: unknown rule(s) ['nope']"),
])
def test_wrong_arguments_are_refused_whatever_the_machine(args, says):
    # before asking for CUDA: on a GPU machine `--device cpu` checked the CPU against itself
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "nothing was checked" not in result.stderr


@pytest.mark.parametrize("rule", ["pc", "ff"])
def test_every_check_of_a_rule_runs_and_passes_with_the_cpu_for_the_gpu(rule):
    checks = load_script().check_rule(rule, small_task(), "cpu")
    expected = ["fit", "kernel", "module"] if rule == "pc" else ["fit", "module"]
    assert [c["check"] for c in checks] == expected
    assert all(c["passed"] for c in checks), checks


def test_a_check_fails_when_the_devices_disagree(monkeypatch):
    gpu_check = load_script()
    monkeypatch.setattr(gpu_check, "SCORE_TOLERANCE", -1.0)  # any difference, even 0, fails
    checks = {c["check"]: c for c in gpu_check.check_rule("bp", small_task(), "cpu")}
    assert checks["fit"]["passed"] and not checks["module"]["passed"]


def test_the_search_check_runs_a_default_search_on_the_device():
    check = load_script().check_search("cpu")
    assert check["check"] == "search" and check["passed"], check
    assert check["value"] == 0.0 and check["detail"].endswith("evaluations")
