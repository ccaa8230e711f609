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

__all__ = ["Architecture", "Constraint", "Objective", "Run", "SearchConfig",
           "export_architecture", "load_architecture", "load_run", "register_objective",
           "resume", "search"]
