"""Where a population trains: the ``training.device`` setting and what it resolves to.

``cpu`` (the default) trains on the host; ``cuda`` / ``cuda:N`` on a GPU, and is an error
where there is none (never a silent CPU run that a GPU budget was paid for); ``auto`` takes
a GPU where the process sees one and the CPU elsewhere. The setting is resolved where the
training runs — a Ray worker, not the driver, which may have no GPU at all.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import torch

DEVICES = ("cpu", "cuda", "auto")  # and "cuda:N"
_CUDA_INDEX = re.compile(r"cuda:\d+")


class DeviceUnavailableError(RuntimeError):
    """``training.device`` asks for a GPU this process cannot use."""


def check_device_setting(value: object) -> str:
    """``value`` if it is a device setting, else a ValueError that starts with the field's
    name (the config prefixes its table)."""
    if not isinstance(value, str) or not (value in DEVICES or _CUDA_INDEX.fullmatch(value)):
        raise ValueError(f"device must be one of {list(DEVICES)} or 'cuda:N', got {value!r}")
    return value


def resolve_device(setting: str) -> torch.device:
    """The torch device ``setting`` means in this process."""
    check_device_setting(setting)
    if setting == "cpu":
        return torch.device("cpu")
    available = torch.cuda.is_available()
    if setting == "auto":
        return torch.device("cuda" if available else "cpu")
    if not available:
        raise DeviceUnavailableError(
            f"training.device = {setting!r}, but this process sees no usable CUDA device "
            f"(torch.cuda.is_available() is False: no GPU, no driver, CUDA_VISIBLE_DEVICES "
            f"empty, or a CPU-only torch build {torch.__version__}); set training.device to "
            f"'cpu' or 'auto', or with Ray give executor.gpus_per_eval > 0 on GPU workers")
    device = torch.device(setting)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceUnavailableError(
            f"training.device = {setting!r}, but this process sees "
            f"{torch.cuda.device_count()} CUDA device(s)")
    return device


def to_device(value: Any, device: torch.device) -> Any:
    """``value`` with every tensor inside it on ``device``: tensors, lists, tuples, dicts
    and dataclass instances (a rule's training state) are rebuilt around moved tensors;
    anything else (numbers, random generators, which draw on the host) is kept as is.

    A rule sets its state up on the host — its seeded draws then give the same numbers
    on every device — and :meth:`rules.base.LearningRule.fit` moves it once."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, list | tuple):
        moved = [to_device(v, device) for v in value]
        return type(value)(moved) if type(value) in (list, tuple) else type(value)(*moved)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{
            f.name: to_device(getattr(value, f.name), device)
            for f in dataclasses.fields(value) if f.init})
    return value
