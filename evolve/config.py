"""Typed search configuration: dataclass defaults, overridden by a TOML file and ``--set``.

Every field has a default, so ``neurevo search`` with no arguments is a complete search.
Files and ``--set key=value`` only *override*; an unknown key is an error that names it
(neat-python's unknown-key check, CleanRL's typed args). The fully resolved config is written
into the run as ``config.toml`` so a run can always be reproduced or resumed from itself.

The ``training``, ``space`` and ``strategy`` tables are the domain types themselves
(:class:`rules.Budget`, :class:`search_spaces.space.SpaceSettings` and
:class:`evolve.strategies.StrategyConfig`, whose tables are each strategy's own settings
types), so each default has one home: a search built from those types in Python and one
built from the command line's defaults are the same search. The types check their own
ranges; an error names the dotted key (``training.epochs must be >= 1, got 0``).

A table-valued field (``rule.hyperparameters``, ``rule.options``, ``stop_when``) *merges*:
``--set rule.hyperparameters.steps=10`` after a file's ``{lr = 0.01}`` keeps ``lr``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import numbers
import os
import re
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from evolve.hardware.cost import DEFAULT_ACTIVITY, DEFAULT_TIMESTEPS
from evolve.strategies import STRATEGIES, StrategyConfig
from evolve.tasks import (
    ARRAYS_TASK,
    LABEL_COLUMN,
    TEST_FRACTION,
    VALID_FRACTION,
    is_named_task,
)
from rules.base import Budget
from search_spaces.settings import KINDS, PLURALS, check_field_types
from search_spaces.space import SpaceSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A config key is unknown or its value has the wrong type; the message names the key."""


@dataclass(frozen=True)
class TaskConfig:
    name: str = "digits"  # builtin task name, or a path to .npz / .csv / .parquet
    label_column: str = LABEL_COLUMN  # label column of a .csv / .parquet file
    valid_fraction: float = VALID_FRACTION  # share of the data used for selection (validation)
    test_fraction: float = TEST_FRACTION  # share held out for the reported test accuracy

    def __post_init__(self) -> None:
        check_field_types(self, ConfigError)  # a wrong type named before any range check
        # messages start with the field's name: the config prefixes its table ("task.")
        for name in ("valid_fraction", "test_fraction"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}")
        if not self.label_column:
            raise ValueError("label_column must name a column, got ''")


@dataclass(frozen=True)
class RuleConfig:
    name: str = "pc"  # predictive coding: the default local rule (`neurevo rules` lists all)
    # fixed overrides of the rule's hyperparameter defaults, e.g. {lr = 0.01}
    hyperparameters: dict[str, float] = field(default_factory=dict)
    # the rule's constructor settings (not genes), e.g. {symmetric = false} for ep; TOML scalars
    options: dict[str, Any] = field(default_factory=dict)
    # genes the rule holds at their defaults unless named here (ep's and chl's gamma,
    # free_steps, nudge_steps: `neurevo rules` marks them), which the search then moves
    searched: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_field_types(self, ConfigError)  # a wrong type named where it is given


@dataclass(frozen=True)
class HardwareConfig:
    profile: str = "loihi"  # a profile name (`neurevo budgets`) or a path to a TOML profile
    chips: int = 0  # chip budget: needing more is a constraint violation (0 = no budget)
    activity: float = DEFAULT_ACTIVITY  # synapses spiking per step ("fixed")
    # "fixed": every group fires at `activity`; "measured": each group at the share of its
    # neurons active per validation input in the trained network (recorded either way)
    activity_source: str = "fixed"
    timesteps: int = DEFAULT_TIMESTEPS  # time steps per inference
    # "": neurevo's cost model (evolve.hardware.cost); else the name of a cost function
    # registered with evolve.register_cost_fn (a CLI search: in a --plugin file)
    cost_fn: str = ""

    def __post_init__(self) -> None:
        check_field_types(self, ConfigError)  # a wrong type named where it is given


@dataclass(frozen=True)
class ExecutorConfig:
    name: str = "ray"  # "ray" (local instance or a cluster) or "serial" (in-process)
    chunk_size: int = 16  # most candidates trained together as one padded population batch
    # ray: "" starts a local instance; "auto", "HOST:PORT" or "ray://HOST:PORT" (Ray Client)
    # joins a cluster
    address: str = ""
    num_cpus: int = 0  # ray, local instance: CPUs to use (0 = all of this machine's)
    cpus_per_eval: float = 1.0  # ray: CPUs reserved by each batch of candidates
    gpus_per_eval: float = 0.0  # ray: GPUs reserved by each batch of candidates
    max_retries: int = 3  # ray: re-runs of a batch whose worker process or node died
    eval_timeout: float = 0.0  # ray: seconds per candidate before its batch is cancelled; 0 = none
    dashboard: bool = False  # ray, local instance: start the dashboard (on 127.0.0.1)

    def __post_init__(self) -> None:
        check_field_types(self, ConfigError)  # a wrong type named before any range check
        # messages start with the field's name: the config prefixes its table ("executor.")
        checks = {
            "chunk_size": (self.chunk_size >= 1, ">= 1"),
            "num_cpus": (self.num_cpus >= 0, ">= 0 (0 = all of this machine's)"),
            "cpus_per_eval": (0.0 <= self.cpus_per_eval < math.inf, "a finite number >= 0"),
            "gpus_per_eval": (0.0 <= self.gpus_per_eval < math.inf, "a finite number >= 0"),
            "max_retries": (self.max_retries >= 0, ">= 0"),
            "eval_timeout": (0.0 <= self.eval_timeout < math.inf,
                             "a finite number of seconds >= 0 (0 = no limit)"),
        }
        for name, (ok, what) in checks.items():
            if not ok:
                raise ValueError(f"{name} must be {what}, got {getattr(self, name)!r}")
        if self.cpus_per_eval == 0 and self.gpus_per_eval == 0:
            raise ValueError("cpus_per_eval and gpus_per_eval are both 0: a batch must reserve "
                             "something, or Ray would start every batch at once")
        problem = address_problem(self.address)
        if problem:
            raise ValueError(f"address must be '' (a local instance), 'auto', 'HOST:PORT' or "
                             f"'ray://HOST:PORT', got {self.address!r}: {problem}")


RAY_CLIENT = "ray://"  # the scheme of a Ray Client address (the only scheme ray.init joins)


def address_problem(address: str) -> str | None:
    """What is wrong with the form of ``executor.address`` (None: nothing). Ray would
    otherwise refuse a malformed one only inside ``ray.init``, after the run directory
    exists, with a traceback. Whether something answers there is the executor's to find out.
    """
    if address in ("", "auto"):
        return None
    rest = address[len(RAY_CLIENT):] if address.startswith(RAY_CLIENT) else address
    if "://" in rest:
        return f"Ray joins a cluster by HOST:PORT or {RAY_CLIENT}HOST:PORT only"
    host, sep, port = rest.rpartition(":")
    if not sep:
        return "no port (e.g. 'localhost:6379')"
    if not host or host == "[]" or any(ch.isspace() or ch in "/?#@" for ch in host):
        return "no host name before the port"
    if host.count(":") and not (host.startswith("[") and host.endswith("]")):
        return "an IPv6 address goes in brackets, e.g. '[::1]:6379'"
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"the port must be a number from 1 to 65535, got {port!r}"
    return None


@dataclass(frozen=True)
class SearchConfig:
    generations: int = 10
    population: int = 20
    seed: int = 0
    objectives: tuple[str, ...] = ("accuracy", "energy")
    # registered constraints (evolve.register_constraint) by name, next to the chip budget;
    # Python: constraints passed to evolve.search are recorded here too
    constraints: tuple[str, ...] = ()
    out: str = "runs"
    run_id: str = ""  # empty: made from the time, task, rule and seed
    # stop early once a generation's best value reaches these, e.g. {accuracy = 1.0}
    stop_when: dict[str, float] = field(default_factory=dict)
    # a generation in which every evaluation failed stops the search with the first
    # traceback (a bug in a rule or objective should not burn a whole budget); true: go on
    tolerate_failures: bool = False
    task: TaskConfig = field(default_factory=TaskConfig)
    rule: RuleConfig = field(default_factory=RuleConfig)
    training: Budget = field(default_factory=Budget)
    space: SpaceSettings = field(default_factory=SpaceSettings)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        check_field_types(self, ConfigError)  # a wrong type named before any range check
        # every number first: a NaN or an infinity passes most range checks below, and an
        # integer past 32 bits overflows the records' columns after the run has started
        for key, value in _values(self):
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"{key} must be a finite number, got {value!r}")
            if isinstance(value, int) and not isinstance(value, bool) and key != "seed" \
                    and not -MAX_INT <= value <= MAX_INT:
                raise ConfigError(f"{key} must be within ±{MAX_INT}, got {value!r}")
            if isinstance(value, str):
                _check_text(key, value)
        checks = {  # key -> (holds, what it must be)
            "generations": (self.generations >= 1, ">= 1"),
            "population": (self.population >= 2, ">= 2"),
            "seed": (0 <= self.seed <= MAX_SEED, f"in [0, {MAX_SEED}]"),
            "hardware.chips": (self.hardware.chips >= 0, ">= 0 (0: as many as needed)"),
            "hardware.activity": (0.0 <= self.hardware.activity <= 1.0, "in [0, 1]"),
            "hardware.activity_source": (self.hardware.activity_source in ("fixed", "measured"),
                                         "'fixed' or 'measured'"),
            "hardware.timesteps": (self.hardware.timesteps >= 1, ">= 1"),
        }
        for key, (ok, expected) in checks.items():
            if not ok:
                raise ConfigError(f"{key} must be {expected}, got {_get(self, key)!r}")
        if not self.objectives:
            raise ConfigError("objectives must name at least one objective")
        if len(set(self.objectives)) != len(self.objectives):
            raise ConfigError(f"objectives must not repeat a name, got {list(self.objectives)}")
        if len(set(self.constraints)) != len(self.constraints):
            raise ConfigError(f"constraints must not repeat a name, got "
                              f"{list(self.constraints)}")
        if self.run_id:
            check_run_id(self.run_id)


MAX_SEED = 2**32 - 1  # the data split's random state (NumPy's and scikit-learn's limit)
MAX_INT = 2**31 - 1  # generation, epoch and count columns of the records are 32-bit
MAX_RUN_ID = 200  # bytes; a suffix and the temporary names of atomic writes must still fit


def _values(config: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf value by dotted key, entries of tables and lists included."""
    out = []
    for key, value in flat_items(config, prefix):
        if isinstance(value, dict):
            out.extend((f"{key}.{k}", v) for k, v in value.items())
        elif isinstance(value, (tuple, list)):
            out.extend((key, v) for v in value)
        else:
            out.append((key, value))
    return out


def _check_text(key: str, text: str) -> None:
    """Text must be writable as UTF-8: a file name read with undecodable bytes holds lone
    surrogates, which would make config.toml unwritable after the run directory exists."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{key} is not valid Unicode text (undecodable bytes?): "
                          f"{text!r}") from None


def check_run_id(run_id: str) -> None:
    """A run id names one directory inside ``out``: anything that could name another
    place (a separator, ``.``, ``..``) or break a file name or a terminal is refused."""
    problem = ""
    if run_id in (".", ".."):
        problem = "is not a directory name"
    elif "/" in run_id or "\\" in run_id or (os.altsep and os.altsep in run_id):
        problem = "must be one directory name, without path separators"
    elif any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in run_id):
        problem = "must not contain control characters (newlines, tabs, escapes)"
    elif run_id != run_id.strip():
        problem = "must not start or end with whitespace"
    elif run_id.startswith("-"):
        problem = "must not start with '-' (it would read as an option)"
    elif len(run_id.encode("utf-8", "surrogatepass")) > MAX_RUN_ID:
        problem = f"is longer than {MAX_RUN_ID} bytes"
    if problem:
        raise ConfigError(f"run_id {problem}: {run_id!r}")


# the [executor] settings the serial executor has no use for (num_cpus is not one: serial
# plans chunks, and steady mode holds them in flight, as for that many workers)
RAY_ONLY = ("cpus_per_eval", "gpus_per_eval", "max_retries", "eval_timeout", "dashboard")


def ignored_executor_settings(e: ExecutorConfig) -> list[str]:
    """The Ray-only settings changed from their defaults while ``e`` runs in-process: not
    an error (a config may carry a cluster's settings and be run serially to debug), but
    an ``eval_timeout`` that never fires should not pass unsaid."""
    if e.name != "serial":
        return []
    default = ExecutorConfig()
    return [f"executor.{k}" for k in RAY_ONLY if getattr(e, k) != getattr(default, k)]


def check(config: SearchConfig) -> None:
    """What no single field can decide: settings that contradict each other or that the
    search would silently ignore. Checked on the final config, so the order of ``--set``
    never matters, and before a run directory exists."""
    from evolve.executors import EXECUTORS

    t, e, neat = config.task, config.executor, config.strategy.neat
    if e.name not in EXECUTORS:
        raise ConfigError(f"executor.name must be one of {sorted(EXECUTORS)}, got {e.name!r}")
    if e.name == "serial" and e.address:
        raise ConfigError(f"executor.address is {e.address!r}, but executor.name is 'serial', "
                          "which runs in this process: drop --address, or use --executor ray")
    _check_device(config.training.device, e)
    _check_kernel(config.rule.options.get("kernel"), config.training.device, e)
    if e.name == "ray":
        _check_ray(e)
    if t.valid_fraction + t.test_fraction >= 1.0:
        raise ConfigError(f"task.valid_fraction + task.test_fraction must be < 1 (something "
                          f"must be left to train on), got {t.valid_fraction} + "
                          f"{t.test_fraction}")
    label_default = TaskConfig.label_column
    # refused only where it is known to be ignored: an unknown name or a file of another
    # suffix is refused when the task loads, saying what it takes, which is the error to see
    # first (dropping --label-column would not help there)
    if t.label_column != label_default and (is_named_task(t.name) or t.name == ARRAYS_TASK or
                                            Path(t.name).suffix.lower() == ".npz"):
        raise ConfigError(f"task.label_column ({t.label_column!r}) applies only to a .csv or "
                          f".parquet file, and task.name is {t.name!r}: drop it (--label-column)")
    contradiction = config.strategy.contradiction()
    if contradiction:
        raise ConfigError(f"strategy.{contradiction}")
    if config.space.start_widths and not STRATEGIES[config.strategy.name].grows_from_start:
        raise ConfigError(f"space.start_widths is where neat, neat-pso and random start; "
                          f"strategy {config.strategy.name} searches a fixed-depth layered "
                          "space and would never read it (strategy.layered.widths fixes its "
                          "widths instead)")
    if "neat" in STRATEGIES[config.strategy.name].tables:  # the strategies that read [neat]
        if neat.elitism >= config.population:
            raise ConfigError(f"strategy.neat.elitism ({neat.elitism}) must be below population "
                              f"({config.population}), or a generation breeds no new candidate")
        if neat.min_species_size > config.population:
            raise ConfigError(f"strategy.neat.min_species_size ({neat.min_species_size}) must "
                              f"be at most population ({config.population})")
        if neat.elitism >= neat.min_species_size:
            # elites count per species: a species given its smallest share would carry
            # over elites only, and once every species is that small nothing new is bred
            raise ConfigError(f"strategy.neat.elitism ({neat.elitism}) and "
                              f"strategy.neat.min_species_size ({neat.min_species_size}): the "
                              "elites a species carries over must be fewer than its smallest "
                              "share, or a generation can breed no new candidate; lower "
                              "elitism or raise min_species_size")


def _check_ray(e: ExecutorConfig) -> None:
    """What this machine must have for the Ray settings to work at all: checked here, where a
    mistake leaves nothing behind, rather than as a traceback (or a wait without end) once
    the run directory exists."""
    from evolve import ray_support

    if e.address.startswith(RAY_CLIENT):
        missing = ray_support.client_missing()
        if missing:
            raise ConfigError(f"executor.address {e.address!r} is a Ray Client address, but "
                              f"Ray Client is not installed ({missing}): install "
                              "'ray[client]', or join with 'HOST:PORT' (the GCS port, 6379 "
                              "by default) from a machine of the cluster")
    if e.address:
        return  # a cluster's resources are known only once joined (evolve/ray_executor.py)
    if ray_support.ray_initialised():
        return  # the user's own instance, which the search will run on (it warns, if need be)
    if e.dashboard:
        missing = ray_support.dashboard_missing()
        if missing:
            raise ConfigError(f"executor.dashboard is true, but the Ray dashboard is not "
                              f"installed ({missing}): install 'ray[default]', or drop "
                              "executor.dashboard")
    cpus = ray_support.local_cpus(e.num_cpus)
    if e.cpus_per_eval > cpus:
        where = (f"executor.num_cpus ({e.num_cpus})" if e.num_cpus
                 else f"this machine's {cpus} CPUs (executor.num_cpus = 0)")
        raise ConfigError(f"executor.cpus_per_eval is {e.cpus_per_eval:g}, more than the local "
                          f"Ray instance has: {where}; no batch could ever start. Lower "
                          "executor.cpus_per_eval, or raise executor.num_cpus")
    if e.gpus_per_eval > 0:
        gpus = ray_support.local_gpus()
        if e.gpus_per_eval > gpus:
            have = f"{gpus} GPU{'s' if gpus != 1 else ''}" if gpus else "no GPU"
            raise ConfigError(f"executor.gpus_per_eval is {e.gpus_per_eval:g}, but this "
                              f"machine has {have} that torch can use, and the local Ray "
                              "instance's batches train here: no batch could ever start. "
                              "Lower executor.gpus_per_eval, or join a cluster with GPU "
                              "workers (executor.address)")


def _check_device(device: str, e: ExecutorConfig) -> None:
    """training.device against the executor: a GPU run under Ray must reserve GPUs (Ray
    schedules by reservation and gives a task only the GPUs it reserved), a GPU reservation
    must be used, and a serial run checks for its GPU here, before any run directory."""
    from rules.device import resolve_device

    gpu = device.startswith("cuda")
    if e.name == "ray" and gpu and e.gpus_per_eval == 0:
        raise ConfigError(f"training.device is {device!r}, but executor.gpus_per_eval is 0: "
                          "under Ray a batch trains on a GPU only if it reserves one; set "
                          "executor.gpus_per_eval (e.g. 0.25: four batches share a GPU)")
    if e.name == "ray" and device == "cpu" and e.gpus_per_eval > 0:
        raise ConfigError(f"executor.gpus_per_eval is {e.gpus_per_eval}, but training.device "
                          "is 'cpu': the GPUs reserved would sit idle; set training.device to "
                          "'cuda' or 'auto'")
    if e.name == "serial" and gpu:
        try:
            resolve_device(device)
        except RuntimeError as exc:
            raise ConfigError(str(exc)) from None


def _check_kernel(kernel: Any, device: str, e: ExecutorConfig) -> None:
    """An explicit ``kernel = 'triton'`` on a run that trains on this machine's CPU would fail
    every candidate (compiled kernels need CUDA tensors): refused here, before the run. A
    cluster's workers may have the GPUs this machine lacks, so a joined one is not judged."""
    from rules.device import resolve_device
    from rules.kernels.dispatch import triton_runs

    if kernel != "triton" or e.address or device.startswith("cuda"):
        return  # a cuda device this machine lacks is _check_device's to refuse
    if not triton_runs(resolve_device(device).type == "cuda"):
        raise ConfigError(f"rule.options.kernel is 'triton', but training.device {device!r} "
                          "trains on this machine's CPU, where compiled Triton kernels cannot "
                          "run: set rule.options.kernel to 'torch' or 'auto' (auto takes "
                          "Triton where there is a GPU), or TRITON_INTERPRET=1 to check the "
                          "kernels on the CPU (slow)")


# -- overriding -------------------------------------------------------------------------------
def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


class Assigned(str):
    """A value as typed after ``--set key=``: text whose type the field decides (a number,
    a list, a TOML inline table), unlike a string read from a TOML file, which stays a
    string where the field takes any TOML scalar (``rule.options``)."""


_SCALARS = (bool, int, float, str)


def _scalar(key: str, value: Any) -> Any:
    """A TOML scalar for an ``Any``-typed table value; ``--set`` text is parsed as TOML,
    and kept as the text itself when it is not TOML (``--set rule.options.mode=fast``)."""
    if isinstance(value, Assigned):
        try:
            value = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            return str(value)
    if isinstance(value, _SCALARS):
        return value
    raise ConfigError(f"{key}: expected a TOML scalar (bool, integer, float or string), "
                      f"got {value!r}")


def _coerce(key: str, hint: Any, value: Any) -> Any:
    """Check/convert ``value`` to the annotated type; strings (from ``--set``) are parsed."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _scalar(key, value)
    if hint is bool:
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, (bool, np.bool_)):
            pass
        elif isinstance(value, numbers.Integral):  # a numpy integer too (np.arange grids)
            return int(value)
        elif isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif hint is float:
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return str(value)
    elif origin is tuple:
        if isinstance(value, str) and value.lstrip().startswith("["):  # a TOML array
            value = _inline_toml(key, value)
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, (list, tuple)):
            return tuple(_coerce(key, typing.get_args(hint)[0], v.strip() if isinstance(v, str)
                                 else v) for v in items if v != "")
    elif origin is dict:
        if isinstance(value, str):
            value = _inline_toml(key, value)
        if isinstance(value, dict):
            return {str(k): _coerce(f"{key}.{k}", typing.get_args(hint)[1], v)
                    for k, v in value.items()}
    raise ConfigError(f"{key}: expected {_toml_kind(hint)}, got {value!r}")


def _inline_toml(key: str, text: str) -> Any:
    """``--set`` text read as a TOML value. Text that opens a table or an array but does
    not parse is refused with TOML's reason (``{lr = 0.01`` lacks its brace), rather than
    called "not a table"; other text that is no TOML is returned for the field to judge."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError as exc:
        opened = text.lstrip()[:1]
        if opened in ("{", "["):
            kind = "inline table" if opened == "{" else "array"
            # the column counts from the text as typed, not from the "v = " read before it
            reason = re.sub(r" \(at line 1, column (\d+)\)",
                            lambda m: f" (at character {int(m.group(1)) - 4} of it)", str(exc))
            quotes = ("; text values need quotes ({name = \"x\"}, [\"a\", \"b\"])"
                      if "Invalid value" in reason else "")
            raise ConfigError(f"{key}: {text!r} is not a valid TOML {kind}: {reason}{quotes}"
                              ) from None
        return text


def _toml_kind(hint: Any) -> str:
    """What a config field takes, in the words of TOML and ``--set`` (a list, not a tuple)."""
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return (f"a list of {PLURALS.get(item, getattr(item, '__name__', str(item)))} "
                "(TOML [a, b] or --set KEY=a,b)")
    if typing.get_origin(hint) is dict:
        return "a table"
    return KINDS.get(hint, getattr(hint, "__name__", str(hint)))


# settings users look for under another table than the one that holds them
MISPLACED_KEYS = {
    "training.kernel": "rule.options.kernel (pc, ep and chl: auto, torch or triton)",
    "executor.device": "training.device",
}


def _apply(obj: Any, updates: dict[str, Any], prefix: str = "", checked: bool = True) -> Any:
    """``obj`` with ``updates`` applied, each value coerced to its field's type. Unchecked
    (``checked=False``), the domain types' own checks are left to :func:`_rebuild`: a
    step of several (:func:`override_steps`) may pass through a contradiction that a later
    step resolves."""
    hints = typing.get_type_hints(type(obj))
    known = {f.name for f in fields(obj)}
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            moved = MISPLACED_KEYS.get(dotted)
            raise ConfigError(
                f"unknown config key {dotted!r}; expected one of "
                f"{sorted(prefix + k for k in known)}"
                + (f"; did you mean {moved}?" if moved else "")
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            given = value
            if isinstance(value, Assigned):  # --set strategy.neat={target_species = 5}
                # a TOML inline table, its values typed as in a config file; anything else
                # is refused just below, as any value that is no table
                value = _inline_toml(dotted, value)
            if not isinstance(value, dict):
                raise ConfigError(_not_a_table(dotted, getattr(obj, key), value,
                                               isinstance(given, Assigned)))
            changes[key] = _apply(getattr(obj, key), value, f"{dotted}.", checked)
        elif typing.get_origin(hint) is dict:  # a table merges into the one it overrides
            table = _coerce(dotted, hint, value)
            # ... and an empty one empties it: merging nothing would change nothing, so
            # `--set stop_when={}` could never drop a target
            changes[key] = {**getattr(obj, key), **table} if table else {}
        else:
            changes[key] = _coerce(dotted, hint, value)
    if not checked:
        unchecked = copy.copy(obj)
        for key, value in changes.items():
            object.__setattr__(unchecked, key, value)  # frozen: no __post_init__ runs
        return unchecked
    return _built(prefix, known, lambda: dataclasses.replace(obj, **changes))


_CHOOSERS = ("name", "profile")  # the key that picks what a table is: strategy.name, ...


def _not_a_table(dotted: str, table: Any, value: Any, from_set: bool) -> str:
    """The error for a table of settings given one value (``--set strategy=neat``): it
    names the table's keys, and the one a text value most likely meant (``strategy.name``),
    in the form it was given in (``from_set``: ``--set`` text; else a TOML value), since
    "expected a table" alone does not say which key picks the strategy."""
    keys = [f.name for f in fields(table)]
    message = f"{dotted}: expected a table of settings, got {value!r}"
    chooser = next((k for k in _CHOOSERS if k in keys), None)
    if chooser is not None and isinstance(value, str):
        meant = (f"--set {dotted}.{chooser}={value}" if from_set
                 else f"{dotted}.{chooser} = {_toml_string(value)}")
        message += f"; did you mean {meant}?"
    return f"{message} ({dotted} has the keys {', '.join(keys)})"


def _built(prefix: str, known: set[str], build: Callable[[], Any]) -> Any:
    """``build()``, a domain type's own range check turned into a :class:`ConfigError`
    naming the dotted key (:func:`_locate`)."""
    try:
        return build()
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(_locate(prefix, known, str(exc))) from None


def _locate(prefix: str, known: set[str], message: str) -> str:
    """A domain type's error with its table in front: the types name the field first
    (``epochs must be >= 1``), which becomes ``training.epochs must be >= 1``."""
    if not prefix:
        return message
    first = re.match(r"\w+", message)
    if first and first.group() in known:
        return prefix + message
    return f"{prefix[:-1]}: {message}"


def override(config: SearchConfig, updates: dict[str, Any]) -> SearchConfig:
    """A new config with nested ``updates`` applied (unknown keys raise ConfigError).

    Tables of settings and table-valued fields merge: only the keys given change; an empty
    table given to a table-valued field empties it."""
    return _apply(config, updates)


def override_steps(config: SearchConfig, steps: list[dict[str, Any]]) -> SearchConfig:
    """``override`` with each of ``steps`` in turn, the settings' own checks made once, on
    the result: ``--set space.min_hidden_size=200 --set space.max_hidden_size=256`` must
    not be refused for the step in between (min above the default max). Keys and types are
    still checked step by step, so an error names the step's key."""
    for updates in steps:
        config = _apply(config, updates, checked=False)
    return _rebuild(config)


def _rebuild(obj: Any, prefix: str = "") -> Any:
    """``obj`` built again from its fields, innermost tables first, so that every domain
    type's ``__post_init__`` checks its final values; errors name the dotted key."""
    known = {f.name for f in fields(obj)}
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    for key, value in values.items():
        if dataclasses.is_dataclass(value):
            values[key] = _rebuild(value, f"{prefix}{key}.")
    return _built(prefix, known, lambda: type(obj)(**values))


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    """``["strategy.neat.elitism=2", ...]`` -> nested dict of :class:`Assigned` values
    (coerced later, by each field's type). A dotted key may reach into a table-valued field:
    ``rule.hyperparameters.lr=0.01``."""
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
                raise ConfigError(f"--set {key}: {part} was set to a value by an earlier "
                                  "--set, so it has no keys to set")
        node[parts[-1]] = Assigned(value.strip())
    return nested


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    return parse_toml(data, f"config file {str(path)!r}")


def parse_toml(data: bytes | str, what: str) -> dict[str, Any]:
    """TOML is UTF-8 by definition: the locale must not decide how a config file reads."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at "
                              f"offset {exc.start})") from None
    try:
        return tomllib.loads(data)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{what} is not valid TOML: {exc}") from None


def from_toml(path: str | Path) -> SearchConfig:
    """The config a TOML file describes (defaults for what it leaves out). An error names
    the file as well as the key: the key alone does not say whether the file, a flag or a
    ``--set`` was wrong."""
    data = load_toml(path)  # its own errors name the file
    try:
        return override(SearchConfig(), data)
    except ConfigError as exc:
        raise ConfigError(f"config file {str(path)!r}: {exc}") from None


def to_checked_toml(config: SearchConfig) -> bytes:
    """``config`` as the UTF-8 bytes of config.toml, refused unless they read back as the
    same config: resume trusts this file, so a value that would not survive the trip (a
    string the writer cannot represent, a float that prints differently) must stop the
    search before the run exists rather than strand it."""
    text = to_toml(config)
    try:
        back = override(SearchConfig(), parse_toml(text.encode("utf-8"), "config.toml"))
    except (ConfigError, UnicodeEncodeError) as exc:
        raise ConfigError(f"the resolved config cannot be written as TOML: {exc}") from None
    if back != config:
        first = next((k for (k, v), (_, w) in zip(flat_items(config), flat_items(back),
                                                   strict=True) if v != w), "?")
        raise ConfigError(f"{first}: its value does not survive being written to config.toml "
                          f"({_get(config, first)!r} reads back as {_get(back, first)!r})")
    return text.encode("utf-8")


def to_toml(config: SearchConfig) -> str:
    """The resolved config as TOML: top-level values first, then one table per section and
    one per nested settings type (``[strategy.neat]``)."""
    lines: list[str] = []
    _write_table(config, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(table: Any, name: str, lines: list[str]) -> None:
    if name:
        lines.append(f"\n[{name}]")
    nested = []
    for f in fields(table):
        value = getattr(table, f.name)
        if dataclasses.is_dataclass(value):
            nested.append((f"{name}.{f.name}" if name else f.name, value))
        else:
            lines.append(f"{f.name} = {_toml_value(value)}")
    for sub_name, sub in nested:
        _write_table(sub, sub_name, lines)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:  # control characters must be escaped
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def flat_items(config: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every dotted key and its value, nested tables included (for docs and tests)."""
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            out.extend(flat_items(value, f"{prefix}{f.name}."))
        else:
            out.append((f"{prefix}{f.name}", value))
    return out
