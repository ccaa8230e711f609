"""Starting and resuming searches from Python (the CLI calls these too).

>>> import evolve
>>> from evolve.config import SearchConfig, override
>>> config = override(SearchConfig(), {"generations": 2, "population": 8})  # doctest: +SKIP
>>> run = evolve.search(config)                                             # doctest: +SKIP
>>> [a.objectives for a in run.pareto_front()]                              # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evolve import hardware
from evolve.config import ConfigError, SearchConfig, from_toml, override, to_toml
from evolve.constraints import Constraint
from evolve.loop import CostFn, Session
from evolve.metadata import (
    PROFILE_FILE,
    missing_objectives,
    read_description,
    write_description,
)
from evolve.objectives import Objective
from evolve.records import RecordError, RunStore, write_text
from evolve.reporters import Reporter, default_reporters
from evolve.run import Run
from evolve.tasks import ARRAYS_TASK


def make_run_id(config: SearchConfig) -> str:
    task = Path(config.task.name).stem if "." in config.task.name else config.task.name
    task = re.sub(r"[^A-Za-z0-9_]+", "_", task)
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{task}-{config.rule.name}-s{config.seed}"


def search(config: SearchConfig | None = None, *, data: Sequence[Any] | None = None,
           objectives: Sequence[str | Objective] | None = None,
           reporters: Sequence[Reporter] | None = None, constraints: Sequence[Constraint] = (),
           cost_fn: CostFn | None = None) -> Run:
    """Run a whole search and return its :class:`Run`.

    ``objectives`` may hold :class:`~evolve.objectives.Objective` objects (custom ones); by
    default the config's objective names are used. ``constraints`` are extra
    :class:`~evolve.constraints.Constraint` s (``<= 0`` feasible) next to the chip budget;
    ``cost_fn`` replaces :func:`evolve.hardware.cost` (same signature). Callables are not
    stored in the run: pass them again to :func:`resume`.

    ``data``: in-memory arrays ``(X, y)`` or ``(X, y, X_test, y_test)`` (numpy or torch)
    instead of ``config.task.name``; validated and split like a data file, recorded as task
    ``arrays`` with their content hash. ``reporters``: None shows a progress bar on stderr
    when it is a terminal or a notebook; ``()`` is silent.
    """
    config = config or SearchConfig()
    if data is not None:
        config = override(config, {"task": {"name": ARRAYS_TASK}})
    reporters = default_reporters() if reporters is None else reporters
    run_id = config.run_id or make_run_id(config)
    root = Path(config.out) / run_id
    suffix = 1
    while root.exists() and not config.run_id:
        root = Path(config.out) / f"{run_id}-{suffix}"
        suffix += 1
    if root.exists() and (root / "checkpoint.json").exists():
        raise RecordError(f"run directory {root} already exists; use `neurevo resume {root}`")
    store = RunStore(root)
    config = override(config, {"run_id": root.name})
    session = Session.build(config, store, root.name, objectives, reporters, constraints,
                            cost_fn, data=data)
    root.mkdir(parents=True, exist_ok=True)
    write_text(store.config_path, to_toml(config))
    write_text(root / PROFILE_FILE, hardware.to_toml(session.profile))
    write_description(root, session.describe())
    checkpoint = session.initial_checkpoint()
    store.write_checkpoint(checkpoint)
    session.run(checkpoint)
    return Run(root)


def resume(path: str | Path, *, generations: int | None = None,
           objectives: Sequence[str | Objective] | None = None,
           reporters: Sequence[Reporter] | None = None, constraints: Sequence[Constraint] = (),
           cost_fn: CostFn | None = None, task_file: str | None = None,
           data: Sequence[Any] | None = None) -> Run:
    """Continue a run from its last checkpoint (optionally to more generations).

    The run's own description decides what it is: its objectives (a user's objective must
    be passed again, under the same name), its data (found at its recorded path, or given
    as ``task_file`` — or ``data`` for in-memory arrays — with the same content hash) and its
    chip profile (read from the run)."""
    reporters = default_reporters() if reporters is None else reporters
    store = RunStore(path)
    if not store.config_path.is_file():
        raise RecordError(f"{path}: not a neurevo run (no config.toml)")
    config = from_toml(store.config_path)
    recorded = read_description(store.root)
    if recorded is not None:
        missing = missing_objectives(recorded, objectives)
        if missing:
            raise ConfigError(f"this run's objective {missing[0]!r} is a user-defined "
                              "function: pass it again (evolve.resume(..., objectives=[...]))")
        if objectives is None:
            objectives = recorded.objective_names
        names = [o if isinstance(o, str) else o.name for o in objectives]
        if names != recorded.objective_names:
            raise ConfigError(f"objectives {names} differ from the run's "
                              f"{recorded.objective_names}")
    checkpoint = store.read_checkpoint()
    if generations is not None:
        config = override(config, {"generations": generations})
    session = Session.build(config, store, checkpoint["run_id"], objectives, reporters,
                            constraints, cost_fn, recorded=recorded, task_file=task_file,
                            data=data)
    if generations is not None:
        write_text(store.config_path, to_toml(config))
    session.run(checkpoint)
    return Run(store.root)
