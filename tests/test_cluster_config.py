"""ray_cluster.yaml is a valid cluster-launcher file (checked with Ray's own validator)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import ray
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


def setup_of(config: dict, name: str) -> list[str]:
    """The setup commands Ray runs on a node of type ``name``: the head gets the common
    ``setup_commands`` then ``head_setup_commands``; a worker type's own
    ``worker_setup_commands`` *replace* the common ones (Ray's
    ``_get_node_type_specific_fields``), else it gets the common list plus the global
    ``worker_setup_commands``."""
    common = config.get("setup_commands", [])
    if name == config["head_node_type"]:
        return common + config.get("head_setup_commands", [])
    node = config["available_node_types"][name]
    if "worker_setup_commands" in node:
        return node["worker_setup_commands"]
    return common + config.get("worker_setup_commands", [])


def test_every_node_type_installs_pinned_torch_ray_and_the_project():
    config = load()
    for name in config["available_node_types"]:
        commands = setup_of(config, name)
        torch = [i for i, c in enumerate(commands) if "torch==2.13.0" in c]
        project = [i for i, c in enumerate(commands) if re.search(r'"neurevo(\[\w+\])? @ ', c)]
        assert torch and project and torch[0] < project[0], (name, commands)  # torch first
        assert any(f'"ray[default]=={ray.__version__}"' in c for c in commands), (name, commands)
        if "gpu" in name:
            assert any("neurevo[kernels]" in c for c in commands)  # Triton
            assert not any("whl/cpu" in c for c in commands)  # torch's CUDA build
        else:
            assert any("torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu" in c
                       for c in commands), name


def test_every_node_runs_python_3_10_or_newer_and_the_pinned_ray():
    """neurevo requires Python >= 3.10: every node runs in a Ray image of the pinned Ray
    version whose tag names its Python."""
    config = load()
    images = [config["docker"]["image"]] + [
        node["docker"][key] for node in config["available_node_types"].values()
        for key in ("worker_image", "head_image") if key in node.get("docker", {})]
    for image in images:
        found = re.fullmatch(r"rayproject/ray:(?P<ray>[\d.]+)-py3(?P<minor>\d+)-(cpu|gpu)", image)
        assert found, image
        assert found["ray"] == ray.__version__ and int(found["minor"]) >= 10, image
