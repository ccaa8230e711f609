"""The runs under an output folder, one line each: what ``neurevo runs`` prints.

A user who started searches over days needs to know which run is which, which finished and
which can be resumed, without opening each folder. The listing only reads: it never takes a
run's lock (a listing that held it for a moment could refuse a search starting just then),
so a run is said to be running when its lock file names a live process on this host (or a
process on another host, which cannot be checked from here: the note says so).
"""

from __future__ import annotations

import dataclasses
import math
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evolve.archive import targets_reached
from evolve.lock import read_holder
from evolve.messages import one_line
from evolve.records import CONFIG_FILE, RecordError


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One run as ``neurevo runs`` lists it: ``run_id`` as its records carry it (a copy
    keeps the original's), ``path`` the folder it is in. ``state``: ``complete`` (all its
    generations, or its ``stop_when`` targets reached), ``stopped`` (``neurevo resume`` goes
    on), ``running`` (a live process on this host holds it, or its lock file names one on
    another host), ``not started`` (stopped before its first checkpoint: start the search
    again) or ``unreadable`` (``note`` says why)."""

    run_id: str
    path: str
    state: str
    task: str = ""
    rule: str = ""
    strategy: str = ""
    generations: int = 0  # completed
    target: int = 0  # config.toml's generations
    evaluations: int = 0
    best_accuracy: float = math.nan  # the front's best validation accuracy (nan: none)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """For ``--json``: the folder as an absolute path, as ``compare --json`` gives it (a
        reader of the JSON may not share the lister's working directory)."""
        data = dataclasses.asdict(self)
        data["path"] = str(Path(self.path).resolve())
        if not math.isfinite(self.best_accuracy):
            data["best_accuracy"] = None  # JSON has no NaN
        return data


def list_runs(root: str | Path) -> list[RunSummary]:
    """Every run directly under ``root`` (a folder holding ``config.toml``, or a search's
    folder stopped before it wrote one), sorted by name: generated run ids start with their
    start time, so those are oldest first; a chosen run id sorts among them by its name."""
    from evolve.search import unfinished_start

    root = Path(root)
    if not root.is_dir():
        raise RecordError(f"{str(root)!r} " + ("is not a folder" if root.exists() else
                                               "does not exist")
                          + " (expected a folder of runs, as search's --out)")
    if (root / CONFIG_FILE).is_file():
        raise RecordError(f"{str(root)!r} is a run, not a folder of runs: list its parent, "
                          f"or see `neurevo pareto {root}`")
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())
    except OSError as exc:
        raise RecordError(f"{str(root)!r}: cannot read it: {exc.strerror}") from None
    found = []
    for path in folders:
        try:
            if (path / CONFIG_FILE).is_file():
                found.append(_summary(path))
            elif unfinished_start(path):
                found.append(_unstarted(path))
        except OSError as exc:  # one folder it may not read does not end the listing
            found.append(RunSummary(path.name, str(path), "unreadable",
                                    note=exc.strerror or one_line(exc)))
    return found


def _summary(path: Path) -> RunSummary:
    import evolve
    from evolve.search import lost_checkpoint

    try:
        run = evolve.load_run(path)
        config = run.config
        checkpoint = run.store.read_checkpoint() if run.store.checkpoint_path.is_file() \
            else None
        if checkpoint is None:
            if (lost := lost_checkpoint(run.store)) is not None:
                return RunSummary(run.run_id, str(path), "unreadable", config.task.name,
                                  config.rule.name, config.strategy.name,
                                  target=config.generations, note=one_line(lost))
            return _unstarted(path, config.task.name, config.rule.name, config.strategy.name,
                              run_id=run.run_id,
                              target=config.generations)
        holder = _live_holder(path)
        history = checkpoint["history"]
        front = [entry["objectives"] for entry in checkpoint["archive"]]
        # the front's best (feasible) validation accuracy, whether or not accuracy is one of
        # the objectives (every evaluation records it)
        accuracies = [_valid_accuracy(entry) for entry in checkpoint["archive"]] or \
            [float(h["best"].get("accuracy", math.nan)) for h in history]
        base = RunSummary(run.run_id, str(path), "", config.task.name, config.rule.name,
                          config.strategy.name, int(checkpoint["strategy"]["generation"]),
                          config.generations, sum(int(h["evaluations"]) for h in history),
                          max((a for a in accuracies if math.isfinite(a)), default=math.nan))
        if holder:
            return dataclasses.replace(base, state="running", note=holder)
        last = history[-1] if history else {}
        # a search stops when a whole generation fails: complete or not, that is the news
        failed = f"every evaluation of generation {len(history)} failed: its records' " \
            "error column says why" if last.get("evaluations") and \
            last.get("failed") == last["evaluations"] else ""
        if base.generations >= config.generations or targets_reached(
                front, config.stop_when, run.objective_directions()):
            return dataclasses.replace(base, state="complete", note=failed)
        return dataclasses.replace(base, state="stopped", note="; ".join(
            filter(None, [failed, f"neurevo resume {path} goes on"])))
    except (RecordError, OSError, ValueError, KeyError, TypeError) as exc:
        return RunSummary(path.name, str(path), "unreadable", note=one_line(exc))


def _valid_accuracy(entry: dict) -> float:
    """A front member's validation accuracy from the checkpoint's archive: its record's,
    else its accuracy objective (archives that kept no records), else NaN."""
    for value in ((entry.get("record") or {}).get("valid_accuracy"),
                  (entry.get("objectives") or {}).get("accuracy")):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return math.nan


def _unstarted(path: Path, *known: str, target: int = 0, run_id: str = "") -> RunSummary:
    """A run without a first checkpoint: a search creating it right now (it holds the
    lock), or one killed before it got that far."""
    holder = _live_holder(path)
    return RunSummary(run_id or path.name, str(path), "running" if holder else "not started",
                      *known,
                      target=target, note=holder or "stopped before its first checkpoint")


def _live_holder(path: Path) -> str:
    """Who holds the run, from what its lock file names: a process alive on this host (one
    that was killed leaves its name behind, but not a live pid), or one on another host,
    which cannot be checked from here and is said as such."""
    holder = read_holder(path)
    if not isinstance(holder.get("pid"), int):
        return ""
    command = f"`neurevo {holder.get('command', '?')}`, pid {holder['pid']}"
    if holder.get("host") != socket.gethostname():
        return f"{command} on {holder.get('host', '?')}, per its lock file: not checked here"
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return ""
    except PermissionError:  # alive, another user's
        pass
    return command


def format_runs(runs: Sequence[RunSummary]) -> str:
    """A table, one run per line, with what to do next for the ones not complete."""
    header = ("run", "state", "task", "rule", "strategy", "generations", "evaluations",
              "best acc")
    # named by folder (what to open; copies of one run share its run_id)
    rows = [(Path(r.path).name, r.state, _short(r.task), r.rule, r.strategy,
             f"{r.generations}/{r.target}" if r.target else "-",
             str(r.evaluations) if r.target else "-",
             f"{r.best_accuracy:.4f}" if math.isfinite(r.best_accuracy) else "-")
            for r in runs]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for run, row in zip(runs, rows, strict=True):
        line = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        lines.append(line + (f"  ({run.note})" if run.note else ""))
    return "\n".join(lines)


def _short(task: str) -> str:
    """A data file's name, not its whole path (the run's config.toml has the path)."""
    return Path(task).name if ("/" in task or os.sep in task) else task
