"""Starting and resuming searches from Python (the CLI calls these too).

>>> import evolve
>>> from evolve.config import SearchConfig, override
>>> config = override(SearchConfig(), {"generations": 2, "population": 8})  # doctest: +SKIP
>>> run = evolve.search(config)                                             # doctest: +SKIP
>>> [a.objectives for a in run.pareto_front()]                              # doctest: +SKIP

A run directory belongs to one process at a time (evolve/lock.py). ``search`` checks all it
can before the directory exists — the config, the output path, the input files, the data,
rule and strategy, and that config.toml will read back as the same config — so bad input
never leaves a half-made run; it creates the directory with an exclusive ``mkdir``, so two
searches started in the same second never share one. ``resume`` checks that config.toml still
describes the run it holds (the fingerprint in run.json) and writes nothing until every
check has passed, so a refused resume leaves the run as it was.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from evolve import hardware
from evolve.config import (
    ConfigError,
    SearchConfig,
    check,
    from_toml,
    ignored_executor_settings,
    override,
    to_checked_toml,
)
from evolve.constraints import (
    Constraint,
    check_constraints,
    registered_constraints,
    resolve_constraints,
)
from evolve.cost_functions import registered_name, resolve_cost_fn
from evolve.executors import Executor, make_executor
from evolve.lock import RunLock, RunLocked
from evolve.loop import CostFn, Session
from evolve.messages import RUN_ATTRIBUTE, one_line
from evolve.metadata import (
    RunDescription,
    fingerprint,
    fingerprint_mismatch,
    gene_mismatch,
    missing_objectives,
    objective_swapped,
    plugin_mismatch,
    read_description,
    rule_moved,
    write_description,
)
from evolve.objectives import Objective, builtin_objective_names, objective_names
from evolve.records import (
    CHECKPOINT_FILE,
    CHECKPOINT_LOG,
    CONFIG_FILE,
    DESCRIPTION_FILE,
    LOCK_FILE,
    PROFILE_FILE,
    RecordError,
    RunStore,
    atomic_write,
    temporary_of,
    write_text,
)
from evolve.reporters import Reporter, check_reporters
from evolve.run import Run, not_a_run, require_run_dir
from evolve.strategies import unread_tables_warning
from evolve.strategies.base import Scored
from evolve.tasks import ARRAYS_TASK, Task, TaskError
from rules.registry import RuleOptionError, UnknownRuleError

# errors that say a path the user gave cannot be used (exit 2), as opposed to a machine
# that failed (a full disk, an I/O error: exit 1)
PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                         errno.EISDIR, errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG,
                         errno.ELOOP, errno.EINVAL})


def make_run_id(config: SearchConfig) -> str:
    """Time, task, rule, strategy and seed, which a person reads, then a random part: runs
    started in the same second with the same settings still get different ids."""
    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_]+", "_", text)[:40].strip("_") or "x"

    task = Path(config.task.name).stem if "." in config.task.name else config.task.name
    return (f"{time.strftime('%Y%m%d-%H%M%S')}-{clean(task)}-{clean(config.rule.name)}-"
            f"{clean(config.strategy.name).replace('_', '-')}-s{config.seed}-"
            f"{secrets.token_hex(2)}")


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
    instead of ``config.task.name`` (whatever it names: the arrays are what is searched, so a
    config made for a named task serves); validated and split like a data file, recorded as task
    ``arrays`` with their content hash. ``reporters``: None shows a progress bar on stderr
    when it is a terminal or a notebook; ``()`` is silent.

    An exception raised once the run is recorded carries its directory as the attribute
    ``neurevo_run`` (resume it); one raised before leaves no directory behind.
    """
    config = config or SearchConfig()
    if data is not None:
        config = override(config, {"task": {"name": ARRAYS_TASK}})
    if objectives is not None:  # config.toml names the objectives the run has
        config = override(config, {"objectives": objective_names(objectives, new_run=True)})
        objectives = list(objectives)  # an array of names too
    constraints = resolve_constraints(config.constraints, constraints)
    config = override(config, {"constraints": [c.name for c in constraints]})  # and these
    cost_fn = resolve_cost_fn(config.hardware.cost_fn, cost_fn)
    by_name = registered_name(cost_fn)
    if by_name and not config.hardware.cost_fn:  # so a resume finds it by its name
        config = override(config, {"hardware": {"cost_fn": by_name}})
    check(config)
    _warn_ignored(config)
    reporters = check_reporters(reporters)
    out = Path(config.out)
    _check_out(out)
    _check_inputs(config)
    chosen = config.run_id
    config = override(config, {"run_id": chosen or make_run_id(config)})
    try:
        session = Session.build(config, RunStore(out / config.run_id), config.run_id,
                                objectives, reporters, constraints, cost_fn, data=data)
    except (TaskError, UnknownRuleError, RuleOptionError) as exc:
        raise _by_config_key(exc, in_memory=data is not None) from exc.__cause__
    to_checked_toml(config)
    return _record_and_run(session, config, out, chosen, _joined_executor(config))


def _by_config_key(exc: Exception, in_memory: bool) -> Exception:
    """A new search's lookup error led by the config key that named what was not found (the
    rule, its options, the data), as every other refused setting is: the CLI then names the
    config file where that key came from it. A data error that names its key already (say
    ``task.valid_fraction``), or arrays given in memory, are left as they are."""
    text = one_line(exc)
    if isinstance(exc, UnknownRuleError):
        return type(exc)(f"rule.name: {text}")
    if isinstance(exc, RuleOptionError):
        return type(exc)(f"rule.options: {text}")
    if in_memory or "task." in text:
        return exc
    return type(exc)(f"task.name: {text}")


def _joined_executor(config: SearchConfig) -> Executor:
    """The run's executor, joined to its cluster when ``executor.address`` names one: a
    mistyped address, or a cluster that is down, is refused before anything is recorded, so
    it leaves no run directory behind (a local instance starts when the first generation
    needs it, as before)."""
    executor = make_executor(config.executor)
    if config.executor.name == "ray" and config.executor.address:
        try:
            executor.parallelism()
        except BaseException:
            executor.close()
            raise
    return executor


def _record_and_run(session: Session, config: SearchConfig, out: Path, chosen: str,
                    executor: Executor) -> Run:
    """Create the run's directory, record its start in it, and run it.

    ``executor`` is this function's to close: once the run is recorded the run closes it,
    inside the run's lock and mark as a resume's run does (so an interrupt while Ray shuts
    down still names the run to resume); on any way out before that, here."""
    handed = False
    try:
        root = _create_run_dir(out, config.run_id, explicit=bool(chosen))
        if root.name != config.run_id:
            config = override(config, {"run_id": root.name})
            session = dataclasses.replace(session, config=config, store=RunStore(root),
                                          run_id=root.name)
        with _claimed(root, explicit=bool(chosen)):
            try:
                _write_config(session.store, config)
                write_text(root / PROFILE_FILE, hardware.to_toml(session.profile))
                write_description(root, session.describe())
                checkpoint = session.initial_checkpoint()
                session.store.write_checkpoint(checkpoint, session.strategy.growing_keys)
            except BaseException:
                shutil.rmtree(root, ignore_errors=True)  # ours alone: made by the mkdir above
                raise
            with _marked(root):
                handed = True
                session.run(checkpoint, executor, close_executor=True)
    finally:
        if not handed:
            executor.close()
    return Run(root)


def resume(path: str | Path, *, generations: int | None = None,
           objectives: Sequence[str | Objective] | None = None,
           reporters: Sequence[Reporter] | None = None, constraints: Sequence[Constraint] = (),
           cost_fn: CostFn | None = None, task_file: str | None = None,
           data: Sequence[Any] | None = None,
           executor: Mapping[str, Any] | None = None,
           settings: Mapping[str, Any] | None = None) -> Run:
    """Continue a run from its last checkpoint (optionally to more generations).

    The run's own description decides what it is: its objectives (a user's objective must be
    passed again, or registered under its name in this process), its data (found at its
    recorded path, or given as ``task_file`` — or ``data`` for in-memory arrays — with the same
    content hash) and its chip profile (read from the run). config.toml must still match the
    settings the run started with (its fingerprint in run.json); ``generations`` may not go
    below what is already recorded. ``executor`` overrides ``[executor]`` settings for this
    resume only (``{"name": "serial"}``, ``{"address": "auto"}``): where evaluations run never
    changes their results. ``settings`` changes what decides when the run stops, never what it
    computes: ``stop_when`` (targets added or changed) and ``tolerate_failures``, kept in
    config.toml like a new ``generations``. Nothing in the run is written before all of this is
    checked.
    """
    constraints = check_constraints(constraints)
    reporters = check_reporters(reporters)
    if objectives is not None:
        objective_names(objectives)  # a string, or a stray type, named before anything
        objectives = list(objectives)
    store = RunStore(path)
    require_run_dir(path)
    if unfinished_start(store.root):
        raise RecordError(f"{path}: its search was stopped before it recorded a first "
                          "checkpoint, so there is nothing to resume: start the search again "
                          f"(run_id {store.root.name!r} takes this directory over) or remove "
                          "it")
    if not store.config_path.is_file():
        raise not_a_run(path)
    if not store.checkpoint_path.is_file():
        raise lost_checkpoint(store) or RecordError(
            f"{path}: no checkpoint.json: this run was never started, so there is nothing "
            "to resume")
    with RunLock(store.root, "resume"), _marked(store.root):
        recorded = read_description(store.root)
        checkpoint = store.read_checkpoint()
        done = _completed(store, checkpoint)
        store.check_evaluations(upto=done)
        config = _read_config(store)
        if store.logged and (recorded is None or not recorded.fingerprint):
            what = "missing" if recorded is None else "without its fingerprint"
            raise RecordError(f"{store.root / DESCRIPTION_FILE}: {what}, but this run's "
                              "checkpoint was written by a version that records it: without "
                              "it config.toml cannot be checked against the settings the run "
                              "started with; restore run.json from a copy of the run")
        if recorded is not None and recorded.fingerprint:
            why = fingerprint_mismatch(recorded.fingerprint,
                                       fingerprint(config, recorded.task.content_hash))
            if why:
                raise ConfigError(f"{store.config_path} does not describe the run it belongs "
                                  f"to: {why}; restore it (resume continues a run as it "
                                  "started), or start a new search")
        if recorded is not None:
            missing = missing_objectives(recorded, objectives)
            if missing and missing[0] in builtin_objective_names():
                raise ConfigError(f"this run's objective {missing[0]!r} is a user-defined "
                                  "function under a built-in's name: only passing it again "
                                  "resumes the run (evolve.resume(..., objectives=[...]) with "
                                  "your Objective)")
            if missing:
                raise ConfigError(f"this run's objective {missing[0]!r} is a user-defined "
                                  "function: pass it again (evolve.resume(..., objectives=[...])) "
                                  "or register it (evolve.register_objective; CLI: --plugin "
                                  "FILE that does) before resuming")
            if objectives is None:
                objectives = recorded.objective_names
            names = objective_names(objectives)
            if names != recorded.objective_names:
                raise ConfigError(f"objectives {names} differ from the run's "
                                  f"{recorded.objective_names}")
            swapped = objective_swapped(recorded, objectives)
            if swapped:
                raise ConfigError(swapped)
            # registered ones supply the run's own too; what neither supplies is told by
            # plugin_mismatch, in a resume's words
            supplied = {*registered_constraints(), *(c.name for c in constraints)}
            constraints = resolve_constraints(
                [n for n in recorded.constraints if n in supplied], constraints)
            cost_fn = resolve_cost_fn(config.hardware.cost_fn, cost_fn)
            why = plugin_mismatch(recorded, [c.name for c in constraints],
                                  cost_fn not in (None, hardware.cost))
            if why:
                raise ConfigError(why)
        target = config
        if generations is not None:
            if generations < done:
                raise ConfigError(f"generations {generations} is below the {done} "
                                  "generations this run has already recorded (a resume only "
                                  "goes on)")
            target = override(config, {"generations": generations})
        if settings:
            other = sorted(set(settings) - set(RESUME_SETTINGS))
            if other:
                raise ConfigError(f"a resume changes only {', '.join(RESUME_SETTINGS)} (and "
                                  f"generations, executor.*), not {other[0]}: it would change "
                                  "the run's results")
            target = override(target, dict(settings))
        if target != config and recorded is not None and \
                "constraints" not in recorded.fingerprint:
            # a run from before config.toml named its constraints: the rewritten file names
            # those run.json records, as a new run's does (not compared: not fingerprinted)
            target = override(target, {"constraints": list(recorded.constraints)})
        if executor and executor.get("name") == "serial" and "address" not in executor:
            executor = {**executor, "address": ""}  # in-process: no cluster to join
        running = override(target, {"executor": dict(executor)}) if executor else target
        check(running)
        _warn_ignored(running)
        session = Session.build(running, store, checkpoint["run_id"], objectives, reporters,
                                constraints, cost_fn, recorded=recorded, task_file=task_file,
                                data=data)
        changed = None if recorded is None else \
            gene_mismatch(recorded.rule, session.rule.hyperparameters())
        if changed:
            raise ConfigError(f"rule {recorded.rule.name}'s genes are not those this run "
                              f"started with: {changed}; resume under the rule as it was (a "
                              "plug-in's file or package as the run used it), or start a new "
                              "search")
        moved = None if recorded is None else rule_moved(recorded.rule, session.rule)
        if moved:
            print(f"neurevo: warning: {moved}", file=sys.stderr)
        _check_strategy_state(session, store, checkpoint)
        # a cluster that cannot be joined is one more check: nothing is written before it
        executor = _joined_executor(running)
        try:
            if target != config:  # every check passed: only now is anything written
                _write_config(store, target)
            _record_moved_data(store, recorded, session.task)
            store.tidy_journals(done)
            store.tidy_leftovers(int(m["candidate_id"]) for m in checkpoint["archive"])
        except BaseException:
            executor.close()
            raise
        session.run(checkpoint, executor, close_executor=True)
    return Run(store.root)


def _record_moved_data(store: RunStore, recorded: RunDescription | None, task: Task) -> None:
    """Point run.json at the data file this resume found (``--task``, same content hash)
    when it is not where the run recorded it, so that the next resume, a report or a NIR
    export finds it without being told again."""
    if recorded is None or not recorded.task.path or task.path in ("", recorded.task.path):
        return
    # the same content (hash-checked), so the same columns: a run recorded before feature
    # names were kept gets them here rather than an empty list, which would say "unnamed"
    moved = dataclasses.replace(recorded.task, path=task.path,
                                feature_names=recorded.task.feature_names
                                or tuple(task.feature_names))
    write_description(store.root, dataclasses.replace(recorded, task=moved))
    print(f"neurevo: {store.root.name} now records its data at {task.path} (was "
          f"{recorded.task.path})", file=sys.stderr)


def _warn_ignored(config: SearchConfig) -> None:
    """Settings the run will not use, said once on stderr before it starts."""
    ignored = unread_tables_warning(config.strategy)
    if ignored:
        print(f"neurevo: warning: {ignored}", file=sys.stderr)
    unused = ignored_executor_settings(config.executor)
    if unused:
        print(f"neurevo: warning: {', '.join(unused)}: settings of the ray executor; "
              "executor 'serial' runs in this process without them (no time limit, no "
              "retries)", file=sys.stderr)


# what a resume may change besides generations and the executor: when the run stops, not
# what it computes (neither is in the run's fingerprint, evolve.metadata)
RESUME_SETTINGS = ("stop_when", "tolerate_failures")


def _check_strategy_state(session: Session, store: RunStore, checkpoint: dict) -> None:
    """The strategy's part of the checkpoint is its own JSON state, whose shape only the
    strategy knows: ask it once and tell it the answers on a copy, so a damaged state is
    one line now rather than a traceback after the next generation was trained (``tell``
    reads what ``ask`` never does: the generator's state, the id counter, the species)."""
    state = copy.deepcopy(checkpoint["strategy"])
    try:
        asked = session.strategy.ask(state)
        stand_in = tuple(0.0 for _ in session.objectives)
        session.strategy.tell(state, [Scored(c, stand_in) for c in asked])
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise RecordError(f"{store.checkpoint_path}: damaged strategy state "
                          f"({type(exc).__name__}: {exc})") from None


def _write_config(store: RunStore, config: SearchConfig) -> None:
    """config.toml as UTF-8 whatever the locale (TOML is UTF-8), checked to read back."""
    data = to_checked_toml(config)
    atomic_write(store.config_path, lambda tmp: Path(tmp).write_bytes(data))


def _read_config(store: RunStore) -> SearchConfig:
    try:
        return from_toml(store.config_path)
    except ConfigError as exc:
        text = str(exc)
        if str(store.config_path) in text:
            raise
        raise ConfigError(f"{store.config_path}: {text}") from None


def _completed(store: RunStore, checkpoint: Any) -> int:
    try:
        done = checkpoint["strategy"]["generation"]
        checkpoint["run_id"]  # noqa: B018 - required below
    except (KeyError, TypeError):
        raise RecordError(f"{store.checkpoint_path}: damaged checkpoint (no generation or "
                          "run id)") from None
    if isinstance(done, bool) or not isinstance(done, int) or done < 0:
        raise RecordError(f"{store.checkpoint_path}: damaged checkpoint (generation "
                          f"{done!r})")
    return done


@contextlib.contextmanager
def _marked(root: Path) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(AttributeError, TypeError):
            setattr(exc, RUN_ATTRIBUTE, str(root))
        raise


def _path_error(key: str, path: Path, exc: OSError) -> ConfigError | OSError:
    if exc.errno in PATH_ERRNOS:
        return ConfigError(f"{key}: cannot use {str(path)!r}: {exc.strerror}")
    return exc


def _check_out(out: Path) -> None:
    """``out`` must be a directory that can be written, or a path one can be made at; it
    is not created yet, so bad input elsewhere leaves nothing behind."""
    probe = out
    while not probe.exists():
        if probe.is_symlink():
            raise ConfigError(f"out: {str(probe)!r} is a broken symbolic link")
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is" if probe == out else f"is under {str(probe)!r}, which is"
        raise ConfigError(f"out: {str(out)!r} {what} not a directory")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"out: {str(probe)!r} is not writable")


def _check_inputs(config: SearchConfig) -> None:
    """Files the search reads: readable, and TOML ones UTF-8, now rather than as a
    traceback from deep inside a reader."""
    profile = Path(config.hardware.profile)
    if config.hardware.profile.endswith(".toml") and profile.is_file():
        try:
            profile.read_bytes().decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"hardware.profile: cannot read {str(profile)!r}: "
                              f"{exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"hardware.profile: {str(profile)!r} is not UTF-8 text (byte "
                              f"at offset {exc.start})") from None
    task = Path(config.task.name)
    if task.suffix and task.is_file():
        try:
            with open(task, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            raise ConfigError(f"task.name: cannot read {str(task)!r}: {exc.strerror}") \
                from None


def _create_run_dir(out: Path, run_id: str, explicit: bool) -> Path:
    """The run's directory, made by this process alone: ``mkdir`` fails if it exists, so
    of two searches that chose one name, the second takes the next suffix (or, for a
    run_id the user chose, is refused) instead of writing into the first one's run."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ConfigError(f"out: {str(out)!r} is not a directory") from None
    except OSError as exc:
        raise _path_error("out", out, exc) from None
    for attempt in range(10_000):
        root = out / (run_id if attempt == 0 else f"{run_id}-{attempt}")
        try:
            os.mkdir(root)
            return root
        except FileExistsError:
            if explicit:
                if unfinished_start(root):
                    return root
                raise _exists(root) from None
        except OSError as exc:
            raise _path_error("out", root, exc) from None
    raise RecordError(f"out: no free run directory name for {run_id!r} in {str(out)!r}")


def _exists(root: Path) -> RecordError:
    try:
        empty = not any(root.iterdir())
    except OSError:
        empty = False
    if empty:  # made by hand, or by a search killed between its mkdir and its lock
        return RecordError(f"run directory {root} already exists, empty: remove it, or "
                           "choose another run_id")
    return RecordError(f"run directory {root} already exists: continue it with "
                       f"`neurevo resume {root}`, or choose another run_id")


# what a search writes into its directory before the first checkpoint exists
START_FILES = (LOCK_FILE, CONFIG_FILE, PROFILE_FILE, DESCRIPTION_FILE, CHECKPOINT_LOG)
# ... and the temporary files of those and of the first checkpoint: a kill after the
# checkpoint's temporary file is made and before it is renamed leaves no checkpoint
START_TEMPORARIES = (*START_FILES, CHECKPOINT_FILE)


def lost_checkpoint(store: RunStore) -> RecordError | None:
    """A run with recorded generations whose checkpoint is gone is damaged, not unstarted:
    said so, lest the user remove the records as a run that never began."""
    recorded = store.generation_files()
    if not recorded:
        return None
    return RecordError(f"{store.checkpoint_path}: missing, though evaluations/ holds "
                       f"{len(recorded)} generation file(s): restore it from a copy; the run "
                       "cannot be resumed without it (its records stay as they are)")


def unfinished_start(root: Path) -> bool:
    """A directory a search made and was killed in (``kill -9``, power loss) before its
    first checkpoint: it holds the lock file and at most the files written before the
    checkpoint (or their temporary files, or the first checkpoint's). Nothing in it can be
    resumed, so a search that names the same run_id takes it over, instead of the user being
    sent from a search that says "resume it" to a resume that says "nothing to resume"."""
    try:
        names = [p.name for p in root.iterdir()]
    except OSError:
        return False
    return LOCK_FILE in names and all(
        name in START_FILES or temporary_of(name) in START_TEMPORARIES for name in names)


@contextlib.contextmanager
def _claimed(root: Path, explicit: bool) -> Iterator[None]:
    """Hold the run's lock while it is created. A directory taken over from a killed start
    is checked again under the lock (its creator may still be alive, or may have finished
    in between) and emptied of that start's files; a holder met here is another search
    creating the same run_id, which for this one means the name is taken."""
    try:
        lock = RunLock(root, "search").acquire()
    except RunLocked:
        if explicit:
            raise _exists(root) from None
        raise
    try:
        if explicit:
            if not unfinished_start(root):
                raise _exists(root)
            for path in root.iterdir():
                if path.name != LOCK_FILE:
                    path.unlink()
        yield
    finally:
        lock.release()
