"""ray_cluster.yaml is a valid cluster-launcher file (checked with Ray's own validator)."""

from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import fillout_defaults, validate_config

PATH = Path(__file__).resolve().parent.parent / "ray_cluster.yaml"


def load() -> dict:
    return yaml.safe_load(PATH.read_text())


def test_cluster_yaml_passes_rays_validator():
    config = load()
    validate_config(fillout_defaults(copy.deepcopy(config)))
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert any("gpu" in name for name in types) and any("cpu" in name for name in types)
    assert any("neurevo" in cmd for cmd in config["setup_commands"])
    gpu = next(node for name, node in types.items() if "gpu" in name)
    assert any("neurevo[kernels]" in cmd for cmd in gpu["worker_setup_commands"])  # Triton
    assert "training.device=cuda" in PATH.read_text()  # the comment says how to use them
    for name, node in types.items():
        if name != config["head_node_type"]:
            assert node["min_workers"] <= node["max_workers"]


def test_the_validator_rejects_a_misspelled_key():
    config = load()
    config["max_workerz"] = config.pop("max_workers")
    with pytest.raises(jsonschema.ValidationError):
        validate_config(fillout_defaults(config))
