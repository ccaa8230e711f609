"""Typed search configuration: dataclass defaults, overridden by a TOML file and ``--set``.

Every field has a default, so ``neurevo search`` with no arguments is a complete search.
Files and ``--set key=value`` only *override*; an unknown key is an error that names it
(neat-python's unknown-key check, CleanRL's typed args). The fully resolved config is written
into the run as ``config.toml`` so a run can always be reproduced or resumed from itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type; the message names the key."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "digits"  # builtin task name, or a path to .npz / .csv / .parquet
    label_column: str = "label"  # label column of a .csv / .parquet file
    valid_fraction: float = 0.2  # share of the data used for selection (validation)
    test_fraction: float = 0.2  # share held out for the reported test accuracy


@dataclass(frozen=True)
class RuleConfig:
    name: str = "pc"  # predictive coding: the default local rule (`neurevo rules` lists all)
    # fixed overrides of the rule's hyperparameter defaults, e.g. {lr = 0.01}
    hyperparameters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingConfig:
    epochs: int = 15
    batch_size: int = 64
    patience: int = 5


@dataclass(frozen=True)
class SpaceConfig:
    hidden_activations: tuple[str, ...] = ("relu", "tanh", "sigmoid", "elu")
    output_activation: str = "identity"
    min_hidden_size: int = 4
    max_hidden_size: int = 64
    max_hidden_nodes: int = 6
    max_connections: int = 24
    allow_recurrent: bool = False


@dataclass(frozen=True)
class StrategyConfig:
    name: str = "neat-pso"  # neat-pso | neat | pso | optuna | random (evolve.strategies)
    compatibility_threshold: float = 1.0  # δ_t, adapted each generation
    target_species: int = 3  # the threshold moves to keep about this many species
    threshold_step: float = 0.1  # how far δ_t moves per generation
    stagnation: int = 10  # generations without improvement before a species is dropped
    species_elitism: int = 2  # this many best species are never dropped for stagnation
    elitism: int = 1  # members per species carried over unchanged (not re-evaluated)
    survival_threshold: float = 0.4  # share of a species allowed to reproduce
    crossover_rate: float = 0.3
    interspecies_rate: float = 0.05
    min_species_size: int = 2
    add_node: float = 0.2
    add_edge: float = 0.2
    toggle_edge: float = 0.05
    resize_node: float = 0.3
    change_activation: float = 0.1
    resize_sigma: float = 0.5
    # particle swarms (neat-pso, pso): v <- w·v + c1·r1·(p - x) + c2·r2·(leader - x)
    inertia: float = 0.7298  # w (Clerc & Kennedy 2002)
    cognitive: float = 1.49618  # c1: pull toward the personal / lineage best
    social: float = 1.49618  # c2: pull toward the leader (species best; archive member)
    velocity_clamp: float = 0.25  # |v| <= this share of each gene's range (ln range if log)
    archive_size: int = 0  # pso: most leaders kept in the archive (0 = 2 × population)
    # the fixed-depth layered space of pso and optuna
    depth: int = 2  # hidden layers, capped by space.max_hidden_nodes
    sampler: str = "nsga2"  # optuna: "nsga2" (NSGAIISampler) or "tpe" (TPESampler)


@dataclass(frozen=True)
class HardwareConfig:
    profile: str = "loihi"  # a profile name (`neurevo budgets`) or a path to a TOML profile
    chips: int = 0  # chip budget: needing more is a constraint violation (0 = no budget)
    activity: float = 0.1  # share of synapses that carry a spike per time step
    timesteps: int = 32  # time steps per inference (rate-coded inference needs tens)


@dataclass(frozen=True)
class ExecutorConfig:
    name: str = "ray"  # "ray" (local instance or a cluster) or "serial" (in-process)
    chunk_size: int = 16  # most candidates trained together as one padded population batch
    address: str = ""  # ray: "" starts a local instance; "auto" or "HOST:PORT" joins a cluster
    num_cpus: int = 0  # ray, local instance: CPUs to use (0 = all of this machine's)
    cpus_per_eval: float = 1.0  # ray: CPUs reserved by each batch of candidates
    gpus_per_eval: float = 0.0  # ray: GPUs reserved by each batch of candidates
    max_retries: int = 3  # ray: re-runs of a batch whose worker process or node died
    eval_timeout: float = 0.0  # ray: seconds per candidate before its batch is cancelled; 0 = none
    dashboard: bool = False  # ray, local instance: start the dashboard (on 127.0.0.1)


@dataclass(frozen=True)
class SearchConfig:
    generations: int = 10
    population: int = 20
    seed: int = 0
    objectives: tuple[str, ...] = ("accuracy", "energy")
    out: str = "runs"
    run_id: str = ""  # empty: made from the time, task, rule and seed
    # stop early once a generation's best value reaches these, e.g. {accuracy = 1.0}
    stop_when: dict[str, float] = field(default_factory=dict)
    task: TaskConfig = field(default_factory=TaskConfig)
    rule: RuleConfig = field(default_factory=RuleConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    space: SpaceConfig = field(default_factory=SpaceConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        checks = {
            "generations": self.generations >= 1,
            "population": self.population >= 2,
            "training.epochs": self.training.epochs >= 1,
            "training.batch_size": self.training.batch_size >= 1,
            "training.patience": self.training.patience >= 1,
            "executor.chunk_size": self.executor.chunk_size >= 1,
            "strategy.target_species": self.strategy.target_species >= 1,
            "strategy.velocity_clamp": self.strategy.velocity_clamp > 0,
            "strategy.archive_size": self.strategy.archive_size >= 0,
            "strategy.depth": self.strategy.depth >= 0,
            "strategy.sampler": self.strategy.sampler in ("nsga2", "tpe"),
            "hardware.chips": self.hardware.chips >= 0,
            "hardware.activity": 0.0 <= self.hardware.activity <= 1.0,
            "hardware.timesteps": self.hardware.timesteps >= 1,
        }
        for key, ok in checks.items():
            if not ok:
                raise ConfigError(f"{key} is out of range: {_get(self, key)!r}")
        if not self.objectives:
            raise ConfigError("objectives must name at least one objective")


# -- overriding -------------------------------------------------------------------------------
def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Check/convert ``value`` to the annotated type; strings (from ``--set``) are parsed."""
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            return value
        elif isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            return tuple(_coerce(key, typing.get_args(hint)[0], v.strip() if isinstance(v, str)
                                 else v) for v in items if v != "")
    elif origin is dict:
        if isinstance(value, str):
            with contextlib.suppress(tomllib.TOMLDecodeError):
                value = tomllib.loads(f"v = {value}")["v"]
        if isinstance(value, dict):
            return {str(k): _coerce(f"{key}.{k}", typing.get_args(hint)[1], v)
                    for k, v in value.items()}
    expected = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"{key}: expected {expected}, got {value!r}")


def _apply(obj: Any, updates: dict[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            raise ConfigError(
                f"unknown config key {dotted!r}; expected one of "
                f"{sorted(prefix + k for k in known)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected a table of settings, got {value!r}")
            changes[key] = _apply(getattr(obj, key), value, f"{dotted}.")
        else:
            changes[key] = _coerce(dotted, hint, value)
    try:
        return dataclasses.replace(obj, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # pragma: no cover - defensive
        raise ConfigError(str(exc)) from None


def override(config: SearchConfig, updates: dict[str, Any]) -> SearchConfig:
    """A new config with nested ``updates`` applied (unknown keys raise ConfigError)."""
    return _apply(config, updates)


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["strategy.elitism=2", ...]`` -> nested dict (values stay strings, coerced later)."""
    nested: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        parts = key.strip().split(".")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a table")
        node[parts[-1]] = value.strip()
    return nested


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None


def from_toml(path: str | Path) -> SearchConfig:
    return override(SearchConfig(), load_toml(path))


def to_toml(config: SearchConfig) -> str:
    """The resolved config as TOML (top-level scalars first, then one table per section)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for f in fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            tables.append((f.name, value))
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        for f in fields(table):
            lines.append(f"{f.name} = {_toml_value(getattr(table, f.name))}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def flat_items(config: SearchConfig) -> list[tuple[str, Any]]:
    """Every ``section.key`` and its value (for docs and ``neurevo search --help``)."""
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.extend((f"{f.name}.{g.name}", getattr(value, g.name)) for g in fields(value))
        else:
            out.append((f.name, value))
    return out


_ = types  # keep the import for type evaluation in older Pythons
