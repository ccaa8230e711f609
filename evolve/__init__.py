"""neurevo's search: strategies, selection, executors, run records and the CLI.

>>> import evolve
>>> run = evolve.search()                     # doctest: +SKIP  (digits, bp, NEAT)
>>> run = evolve.load_run(run.path)           # doctest: +SKIP
>>> front = run.pareto_front()                # doctest: +SKIP
"""

from evolve.config import SearchConfig
from evolve.constraints import Constraint
from evolve.export import export_architecture, load_architecture
from evolve.objectives import Objective, register_objective
from evolve.run import Architecture, Run, load_run
from evolve.search import resume, search

__all__ = ["Architecture", "Constraint", "NeurevoClassifier", "Objective", "Run", "SearchConfig",
           "export_architecture", "load_architecture", "load_run", "register_objective",
           "resume", "search"]


def __getattr__(name: str) -> object:
    # imported on first use: scikit-learn adds about a second to every CLI command's start-up
    if name == "NeurevoClassifier":
        from evolve.estimator import NeurevoClassifier

        return NeurevoClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
