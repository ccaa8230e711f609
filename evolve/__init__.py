"""neurevo's search: strategies, selection, executors, run records and the CLI.

>>> import evolve
>>> run = evolve.search()                     # doctest: +SKIP  (digits, pc, neat-pso)
>>> run = evolve.load_run(run.path)           # doctest: +SKIP
>>> front = run.pareto_front()                # doctest: +SKIP

The public names are imported on first use (PEP 562): importing any ``evolve`` module runs
this file first, and torch, pyarrow and Ray take seconds to import. Loaded eagerly here, they
would make every CLI command's start-up slow and put a Ctrl-C in those seconds outside the
CLI's handler, as a traceback.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from evolve.config import SearchConfig
    from evolve.constraints import Constraint, register_constraint
    from evolve.cost_functions import register_cost_fn
    from evolve.estimator import NeurevoClassifier
    from evolve.export import export_architecture, load_architecture
    from evolve.listing import RunSummary, list_runs
    from evolve.objectives import Objective, register_objective
    from evolve.reporters import Reporter
    from evolve.run import Architecture, Run, load_run
    from evolve.search import resume, search
    from evolve.tasks import register_task

# each public name and the module it lives in
_HOMES = {
    "SearchConfig": "evolve.config", "Constraint": "evolve.constraints",
    "register_constraint": "evolve.constraints", "register_cost_fn": "evolve.cost_functions",
    "NeurevoClassifier": "evolve.estimator", "export_architecture": "evolve.export",
    "load_architecture": "evolve.export", "RunSummary": "evolve.listing",
    "list_runs": "evolve.listing", "Objective": "evolve.objectives",
    "register_objective": "evolve.objectives", "Reporter": "evolve.reporters",
    "Architecture": "evolve.run",
    "Run": "evolve.run", "load_run": "evolve.run", "resume": "evolve.search",
    "search": "evolve.search", "register_task": "evolve.tasks",
}

__all__ = ["Architecture", "Constraint", "NeurevoClassifier", "Objective", "Reporter", "Run",
           "RunSummary", "SearchConfig", "export_architecture", "list_runs",
           "load_architecture", "load_run",
           "register_constraint", "register_cost_fn", "register_objective", "register_task",
           "resume", "search"]


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """Python binds a submodule to its package's attribute of the same name once it is
    imported, so the first ``import evolve.search`` would turn ``evolve.search`` from the
    function into the module. The module stays in ``sys.modules``, where imports find it."""

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
