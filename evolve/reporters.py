"""Observers of a search: the loop calls these hooks and knows nothing about
terminals or files. Hooks, in the order the loop calls them:

- ``search_resumed(history)`` — once, on a resume of a run that has recorded generations,
  with their summaries (as ``generation_end`` received them), so a reporter starts from the
  run's state rather than this process's;
- ``search_start(run_dir, config, first_generation)`` — once;
- ``generation_start(generation, n_candidates)`` — before evaluations go out;
- ``evaluation_done(generation, done, total, outcome)`` — for every candidate: first those
  decided before training (status ``infeasible`` by a genome-only constraint or the chip
  budget, or ``failed`` when pricing them raised), then those a resume found in the
  generation's journal, then as each chunk's results arrive;
- ``generation_end(generation, summary)`` — after tell/archive/records of a generation;
- ``search_end(run_dir)`` — once, after the last generation (not on interruption).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from evolve.messages import cut, one_line, plural


class Reporter:
    def search_resumed(self, history: Sequence[dict[str, Any]]) -> None: ...

    def search_start(self, run_dir: str, config: Any, first_generation: int) -> None: ...

    def generation_start(self, generation: int, n_candidates: int) -> None: ...

    def evaluation_done(self, generation: int, done: int, total: int, outcome: Any) -> None: ...

    def generation_end(self, generation: int, summary: dict[str, Any]) -> None: ...

    def search_end(self, run_dir: str) -> None: ...


class ProgressBar(Reporter):
    """One line per generation on stderr, redrawn as evaluations arrive:
    evaluations done, best validation accuracy, hypervolume and estimated time left.

    Each distinct error that fails evaluations is printed once, the first generation it
    appears in, with how many it failed there: a count alone ("failed 17") hid, on a GPU,
    a bug that failed every candidate with a hidden level while the linear ones trained."""

    def __init__(self, stream: TextIO | None = None, width: int = 24) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.generations = 0
        self.started = 0.0
        self.first = 0
        self.best = float("nan")
        self.hypervolume = 0.0
        self.gen_started = 0.0
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.errors_shown: set[str] = set()  # each distinct error is printed once a run
        # this generation's outcomes, read at its end: scoring (a user objective, cost
        # function or constraint raising) fails a trained candidate after it arrived here
        self.generation_outcomes: list[Any] = []

    def search_resumed(self, history: Sequence[dict[str, Any]]) -> None:
        """Start from the run's best so far, not this process's: a resumed run would
        otherwise look like one getting worse."""
        accuracies = [h["best"].get("accuracy", float("nan")) for h in history]
        accuracies = [a for a in accuracies if a == a]  # NaN: a generation without one
        if accuracies:
            self.best = max(accuracies)
        if history:
            self.hypervolume = float(history[-1]["hypervolume"])

    def search_start(self, run_dir: str, config: Any, first_generation: int) -> None:
        self.generations = config.generations
        self.first = first_generation
        self.started = time.perf_counter()
        what = (f"{config.task.name} with rule {config.rule.name}, "
                f"{plural(config.generations, 'generation')} x "
                f"{plural(config.population, 'candidate')}")
        if first_generation >= config.generations:
            line = (f"{run_dir} already has all its {plural(config.generations, 'generation')} "
                    "(searching " + what + "): nothing to train; resume it with more "
                    "generations (--generations N) to go further")
        elif first_generation:
            line = (f"resuming {run_dir} at generation {first_generation + 1} of "
                    f"{config.generations}: searching {what}")
        else:
            line = f"searching {what} -> {run_dir}"
        print(f"neurevo: {line}", file=self.stream)

    def generation_start(self, generation: int, n_candidates: int) -> None:
        self.gen_started = time.perf_counter()
        self.generation_outcomes = []
        self._draw(generation, 0, n_candidates)

    def evaluation_done(self, generation: int, done: int, total: int, outcome: Any) -> None:
        if outcome.status == "ok" and not (outcome.valid_accuracy <= self.best):
            self.best = outcome.valid_accuracy
        self.generation_outcomes.append(outcome)
        if self.tty or done == total:
            self._draw(generation, done, total)

    def generation_end(self, generation: int, summary: dict[str, Any]) -> None:
        self.hypervolume = summary["hypervolume"]
        # strategies without speciation (pso, optuna, random) count 0 species: not shown
        species = f" species {summary['species']} " if summary["species"] else ""
        self._draw(generation, summary["evaluations"], summary["evaluations"], final=True,
                   extra=f"{species} failed {summary['failed']}"
                   f"  infeasible {summary.get('infeasible', 0)}")
        errors: dict[str, int] = {}  # error -> how many it failed
        for outcome in self.generation_outcomes:
            if outcome.status in ("failed", "timeout"):
                error = outcome.error or outcome.status
                errors[error] = errors.get(error, 0) + 1
        for error, count in errors.items():
            if error in self.errors_shown or len(self.errors_shown) > MAX_ERRORS_SHOWN:
                continue
            self.errors_shown.add(error)
            if len(self.errors_shown) > MAX_ERRORS_SHOWN:  # once: errors that differ per
                # candidate (a shape, a value in the message) would fill the terminal
                print("neurevo: further distinct errors are not shown here; the run's "
                      "records have every failure's error and traceback", file=self.stream)
                continue
            # per error, so "with:" (the generation's line above counts every failure)
            print(f"neurevo: generation {generation + 1}: {count} of "
                  f"{summary['evaluations']} evaluations failed with: {cut(one_line(error), 300)} "
                  "(every failure's error and traceback are in the run's records)",
                  file=self.stream)
        self.stream.flush()

    def _draw(self, generation: int, done: int, total: int, final: bool = False,
              extra: str = "") -> None:
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "-" * (self.width - filled)
        elapsed = time.perf_counter() - self.started
        completed = generation - self.first + (done / max(total, 1))
        remaining = self.generations - self.first - completed
        left = elapsed / completed * remaining if completed else 0.0
        line = (f"gen {generation + 1}/{self.generations} [{bar}] {done}/{total}  "
                f"best acc {self.best:.4f}  hv {self.hypervolume:.4f}  "
                f"left {_clock(left)}{extra}")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()


MAX_ERRORS_SHOWN = 5  # distinct evaluation errors the progress names in one run


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def check_reporters(reporters: Sequence[Reporter] | None) -> list[Reporter]:
    """The reporters of a search (None: :func:`default_reporters`), each a :class:`Reporter`:
    the loop calls every hook, so an object that defines only some of them would fail mid-run
    (after its first generation was trained) where a subclass inherits the others as no-ops."""
    if reporters is None:
        return default_reporters()
    if isinstance(reporters, Reporter):
        raise TypeError(f"reporters is one {type(reporters).__name__}, expected a list of "
                        f"evolve.Reporter objects: reporters=[{type(reporters).__name__}()]")
    checked = list(reporters)
    for i, r in enumerate(checked):
        if isinstance(r, type) and issubclass(r, Reporter):
            raise TypeError(f"reporters[{i}] is the class {r.__name__}, expected an "
                            f"instance of it: reporters=[{r.__name__}()]")
        missing = [] if isinstance(r, Reporter) else \
            [hook for hook in HOOKS if not callable(getattr(r, hook, None))]
        if missing:  # an object with every hook is a reporter too, as before the check
            raise TypeError(f"reporters[{i}] is a {type(r).__name__} without the hooks "
                            f"{', '.join(missing)}; subclass evolve.Reporter (the hooks you "
                            "do not define then do nothing)")
    return checked


HOOKS = tuple(name for name in vars(Reporter) if not name.startswith("_"))


def default_reporters() -> list[Reporter]:
    """What a Python search shows when the caller did not choose: a progress bar on stderr
    when a person is watching (a terminal, or a Jupyter/IPython kernel), nothing otherwise
    (a script's log stays clean)."""
    interactive = getattr(sys.stderr, "isatty", lambda: False)() or "ipykernel" in sys.modules
    return [ProgressBar()] if interactive else []

