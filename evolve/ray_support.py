"""What this machine offers Ray, asked without starting Ray: the config check refuses
settings that could never work before a run directory exists, and the Ray executor sizes
its local instance from the same answers, so the two never disagree.

Each check is a function of its own so that tests can stand in for a missing package by
replacing the function, rather than by uninstalling anything.
"""

from __future__ import annotations

import os
import sys


def ray_initialised() -> bool:
    """Whether this process already called ``ray.init`` (a Python user's own): the search
    then runs on that instance, not on a local one sized by ``[executor]``. Asked without
    importing Ray, which no one has initialised if it is not imported."""
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def local_cpus(num_cpus: int) -> int:
    """CPUs of a local Ray instance: ``executor.num_cpus``, or 0 = all of this machine's.
    The executor passes this number to ``ray.init``, so it is exactly what Ray will have."""
    return num_cpus or os.cpu_count() or 1


def local_gpus() -> int:
    """GPUs the local instance's batches could train on: its workers are processes of this
    machine running this torch, so torch's count is the one that matters (Ray may list a
    GPU that this torch build cannot use)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def dashboard_missing() -> str | None:
    """Why Ray cannot start its dashboard here (None: it can). The minimal ``ray`` package
    lacks the dashboard's dependencies; ``ray.init(include_dashboard=True)`` then fails with
    a bare exception deep in Ray."""
    try:
        import ray.dashboard.optional_deps  # noqa: F401  (what Ray itself imports to decide)
    except ImportError as exc:
        return f"cannot import {exc.name or 'ray.dashboard.optional_deps'}"
    return None


def client_missing() -> str | None:
    """Why a ``ray://`` address cannot be joined from here (None: it can): Ray Client needs
    ``ray.util.client`` and gRPC (the ``ray[client]`` extra)."""
    try:
        import grpc  # noqa: F401  (Ray's own check for Ray Client's dependencies)
        import ray.util.client  # noqa: F401
    except ImportError as exc:
        return f"cannot import {exc.name or 'ray.util.client'}"
    return None
