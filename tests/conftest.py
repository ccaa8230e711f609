"""Shared fixtures: small real configs (real data, real training, real Parquet files)."""

from __future__ import annotations

import os
import signal

# scikit-learn's array-API estimator check runs only when SciPy's array-API support is on,
# which SciPy reads once, on import: set before anything imports it (array-api-strict, in
# the test extra, supplies the namespace), so the check runs instead of skipping
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402
import torch

from evolve.config import SearchConfig, override

# Tests that interrupt a search send it SIGINT and expect exit 130. A shell that starts the
# suite in the background (`pytest &` in a script) hands it SIGINT ignored, every child
# inherits that across exec, and Python then installs no KeyboardInterrupt handler, so those
# searches would run on. Restore the default here so children start with it whatever the
# launch (a handler set in Python becomes SIG_DFL in an exec'd child).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Tiny networks train fastest single-threaded; on a busy 2-core machine, 2 intra-op threads
# spin against each other. Results do not depend on this. The environment variable carries
# the same to every program a test starts (searches, benchmarks, Ray's workers): a subprocess
# with two threads beside another busy one ran benchmarks/kernels.py --quick in 101 s instead
# of 9 s.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

XOR_SETTINGS = {
    "task": {"name": "xor"},
    "rule": {"name": "bp", "hyperparameters": {"lr": 0.1}},
    "training": {"epochs": 200, "batch_size": 4, "patience": 100},
    # neuron-level NEAT: a hidden node is one neuron, so XOR needs evolved structure
    "space": {"min_hidden_size": 1, "max_hidden_size": 1,
              "hidden_activations": ["tanh", "sigmoid", "relu"]},
    "objectives": ["accuracy"],
    "strategy": {"name": "neat"},  # the claim is about NEAT itself
}


@pytest.fixture
def small_digits_config(tmp_path) -> SearchConfig:
    """3 generations of 8 candidates on digits, a few epochs each: a real search in seconds."""
    return override(SearchConfig(), {
        "generations": 3, "population": 8, "seed": 3, "out": str(tmp_path / "runs"),
        "objectives": ["accuracy", "params"], "rule": {"name": "bp"},
        "training": {"epochs": 4, "patience": 3},
        "space": {"max_hidden_size": 32},
        "strategy": {"mutation": {"add_node": 0.5, "add_edge": 0.3}},
        "executor": {"name": "serial"},
    })


@pytest.fixture
def xor_config(tmp_path) -> SearchConfig:
    return override(SearchConfig(), {
        **XOR_SETTINGS, "generations": 50, "population": 16, "out": str(tmp_path / "runs"),
        "stop_when": {"accuracy": 1.0}, "executor": {"name": "serial"},
    })


@pytest.fixture
def local_ray():
    """A local Ray instance of 2 CPUs for the test, always shut down after it."""
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()
