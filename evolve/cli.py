"""The ``neurevo`` command line.

Exit codes: 0 success; 2 bad input (one line naming what is wrong, no traceback: a config
value, a path that cannot be used, an unreadable or undecodable input file, a run that
another process holds); 130 interrupted (the last completed generation is checkpointed;
``neurevo resume`` goes on); 141 standard output closed (its reader left, or it was never
open); 1 anything else, including a machine that failed (a full disk: one line, and how to
resume when a run exists). Progress goes to stderr; the last stdout line of
``search``/``resume`` is the run directory, so scripts can capture it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evolve import spiking
from evolve.messages import RUN_ATTRIBUTE, one_line

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head` reports
EXIT_TERMINATED = 143  # 128 + SIGTERM, what a shell reports for a process `kill` stopped


class BadInput(Exception):
    """Raised for anything the user can fix; printed as one line, exit 2."""


def _search_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE.toml", help="TOML file overriding the defaults")
    p.add_argument("--task", help="digits | xor | iris | wine | breast_cancer | mnist1d, "
                   "a .npz/.csv/.parquet file, or a task a --plugin registers (default: digits)")
    p.add_argument("--label-column", help="label column of a .csv/.parquet task (default: label)")
    p.add_argument("--rule", help="learning rule (see `neurevo rules`; default: pc)")
    p.add_argument("--generations", type=int, help="generations to run (default: 10)")
    p.add_argument("--population", type=int, help="candidates per generation (default: 20)")
    p.add_argument("--seed", type=int, help="run seed (default: 0)")
    p.add_argument("--strategy", help="neat-pso (default), neat, pso, optuna or random")
    p.add_argument("--executor", help="where evaluations run: ray (default) or serial")
    p.add_argument("--address", help="join a Ray cluster: auto (RAY_ADDRESS when set, as in "
                   "Ray), HOST:PORT or ray://HOST:PORT (default: start a local Ray instance; "
                   "RAY_ADDRESS is then ignored)")
    p.add_argument("--objectives", help="comma-separated, from accuracy, params, energy, cores, "
                   "latency, synapses, or one a --plugin registers (default: accuracy,energy)")
    p.add_argument("--constraints", help="comma-separated names of constraints a --plugin "
                   "registers, checked next to the chip budget (default: none)")
    p.add_argument("--hardware", help="chip profile (see `neurevo budgets`) or a TOML profile "
                   "file (default: loihi)")
    p.add_argument("--chips", type=int, help="chip budget: architectures needing more are "
                   "infeasible (default: no budget)")
    p.add_argument("--out", help="output root; the run goes to OUT/<run-id>/ (default: runs)")
    p.add_argument("--run-id", help="the run's directory name under --out; refused if a run "
                   "has it (default: made from the start time, task, rule, strategy and seed)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config field by its dotted key, e.g. --set "
                   "strategy.neat.elitism=2 or --set rule.hyperparameters.lr=0.01 (a table "
                   "merges: other keys stay); repeatable, later ones win; see docs/config.md")


def _plugin_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import your code first (a .py file, or an installed module), so the "
                   "rules, objectives and constraints it registers are found by name; "
                   "repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurevo",
        description="Neuro-evolutionary architecture search with local learning rules.",
    )
    parser.add_argument("--version", action="version", version=f"neurevo {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("search", help="run a new search",
                       description="Run a new search. With no options: digits, rule pc, "
                       "strategy neat-pso, objectives accuracy and energy on Loihi, "
                       "10 generations x 20 candidates on a local Ray instance.")
    _search_options(p)
    _plugin_option(p)
    p = sub.add_parser("resume", help="continue an interrupted or finished run",
                       description="Continue a run from its last checkpoint.")
    p.add_argument("run", help="run directory")
    p.add_argument("--generations", type=int, help="run up to this many generations in total")
    p.add_argument("--task", metavar="FILE", help="the run's data file, when it is no longer at "
                   "the path the run recorded (its content hash must match)")
    p.add_argument("--executor", help="where evaluations run for this resume: ray or serial "
                   "(results do not depend on it)")
    p.add_argument("--address", help="join a Ray cluster for this resume: auto, HOST:PORT "
                   "or ray://HOST:PORT (runs on Ray even if the run ran --executor serial, "
                   "unless --executor says otherwise)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change what a resume may: executor.* for this resume only (e.g. "
                   "--set executor.num_cpus=4), stop_when.* and tolerate_failures for the "
                   "run; settings that decide results are refused")
    _plugin_option(p)
    p = sub.add_parser("pareto", help="print a run's Pareto front",
                       description="Print the Pareto front of a run (a table, or JSON).")
    p.add_argument("run", help="run directory")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p = sub.add_parser("export", help="write one Pareto member to a file (safetensors, ONNX, "
                       "NIR)", description="Write one member of a run's Pareto front to one "
                       "file. safetensors (default): trained weights, genome, scores, class "
                       "names and the input standardisation; load it with "
                       "evolve.load_architecture(PATH). onnx: the rule's own prediction as an "
                       "ONNX graph, raw features in. nir: integrate-and-fire neurons for "
                       "neuromorphic toolchains (feedforward rules, relu groups; check it with "
                       "`neurevo simulate`).")
    p.add_argument("run", help="run directory")
    p.add_argument("--candidate", type=int, help="candidate id of the member (see `neurevo "
                   "pareto RUN`; default: the front's best on the first objective)")
    p.add_argument("--format", choices=("safetensors", "onnx", "nir"), help="file format "
                   "(default: the --out suffix's, else safetensors)")
    p.add_argument("--out", help="file to write (default: <run-id>-<candidate>.<format> "
                   "in the current directory, never replacing a different export there)")
    p.add_argument("--percentile", type=float, help="nir: the percentile of each group's "
                   "training activations its threshold is set to (default: "
                   f"{spiking.PERCENTILE})")
    p.add_argument("--task", help="nir: the run's data file, when it is not where the run "
                   "found it (its content hash must match; default: as recorded)")
    _plugin_option(p)
    p = sub.add_parser("simulate", help="run a NIR export as a spiking network (Norse) on "
                       "its run's test split", description="Run a NIR export (neurevo export "
                       "--format nir) as integrate-and-fire neurons with Norse, a constant "
                       "input current per example, on the test split of the run it came from; "
                       "print the spiking accuracy, the ANN's accuracy and the spikes per "
                       "neuron per time step.")
    p.add_argument("export", metavar="EXPORT.nir", help="a NIR file written by neurevo export")
    p.add_argument("--task", help="the run's data (a built-in name or a file), when it is not "
                   "where the run found it (its content hash must match; default: as recorded)")
    p.add_argument("--timesteps", type=int, default=spiking.TIMESTEPS,
                   help=f"time steps per example (default: {spiking.TIMESTEPS})")
    p.add_argument("--reset", choices=spiking.RESETS, help="membrane reset after a spike: "
                   f"{spiking.RESETS[0]} the threshold (default, what the conversion assumes) "
                   "or back to 0 (NIR's IF node as written)")
    p.add_argument("--json", action="store_true", help="print the measurements as JSON")
    _plugin_option(p)
    p = sub.add_parser("show", help="draw a member's genome (SVG, PNG, PDF or DOT)",
                       description="Draw one Pareto member's genome: groups with size and "
                       "activation, laid out left to right by level; skip, recurrent and "
                       "disabled edges marked. .dot writes Graphviz text.")
    p.add_argument("run", help="run directory, or a .safetensors export")
    p.add_argument("--candidate", type=int, help="candidate id of the member (default: the "
                   "front's best on the first objective)")
    p.add_argument("--out", help="a .svg, .png, .pdf or .dot file (default: "
                   "<run-id>-<candidate>.svg in the current directory)")
    p = sub.add_parser("report", help="draw a run: front, hypervolume, species (PNG, SVG, PDF, "
                       "HTML)", description="Draw a run's evaluations and Pareto front, its "
                       "hypervolume against evaluations, its species over time and the front's "
                       "training curves; .html adds the settings and the front as a table with "
                       "a picture of each member, in one self-contained file.")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", help="a .png, .svg, .pdf or .html file (default: RUN/report.html)")
    p = sub.add_parser("compare", help="compare runs side by side (hypervolume at equal "
                       "evaluations)", description="One row per run: settings, evaluations, "
                       "hypervolume at the same evaluation budget and at the end, front size, "
                       "best first objective. Runs whose objectives, task (data or split) or "
                       "hardware differ from the first are marked: their hypervolumes are not "
                       "comparable.")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--at", type=int, help="evaluation budget to compare hypervolume at "
                   "(default: the fewest evaluations any of the runs spent)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.add_argument("--out", help="also draw the runs' hypervolume curves and fronts to a .png, "
                   ".svg, .pdf or .html file")
    p = sub.add_parser("runs", help="list the runs under an output folder",
                       description="One line per run under DIR: its state (complete, "
                       "stopped: resume goes on, running, not started, unreadable), task, "
                       "rule, strategy, generations done of its target, evaluations and the "
                       "front's best validation accuracy, by name (generated run ids start "
                       "with their start time: oldest first). Reads only: never takes a run's "
                       "lock.")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="output folders, as search's --out "
                   "(default: runs)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p = sub.add_parser("rules", help="list learning rules and their hyperparameters",
                       description="List the learning rules with their hyperparameters and "
                       "defaults.")
    _plugin_option(p)
    p = sub.add_parser("budgets", help="list neuromorphic hardware profiles",
                       description="List the hardware profiles (per-core budgets, chip size, "
                       "energy and time constants); * marks estimated numbers.")
    p.add_argument("profiles", nargs="*", metavar="PROFILE",
                   help="only these: a built-in name or a TOML profile file (*.toml), as "
                   "--hardware takes (default: every built-in profile)")
    for command in sub.choices.values():  # a stray argument is told with its command's usage
        command.set_defaults(command_parser=command)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("neurevo")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


class StdoutFailed(OSError):
    """Writing standard output failed (a full disk behind ``> file``, ``> /dev/full``)."""


class _GuardedStdout:
    """Standard output whose write errors say they came from standard output, so they are
    not mistaken for the failure of a file the command was writing."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc.errno, exc.strerror) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutFailed(exc.errno, exc.strerror) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a batch scheduler, ``ray job stop``), raised in the
    main thread so that it unwinds as a Ctrl-C does: the journal and the lock released, the
    executor shut down, and one line saying how to resume. Left to its default action the
    process would vanish without a word (or, once Ray is started, in Ray's own handler)."""


# set by the SIGTERM handler: Ray's blocking waits turn any exception a signal handler
# raises into a plain KeyboardInterrupt, so the exception's type cannot tell alone
_sigterm_received = threading.Event()


def _raise_terminated(signum: int, frame: Any) -> None:
    _sigterm_received.set()
    raise Terminated


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # only it gets signals
        yield
        return
    _sigterm_received.clear()
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        with _sigterm_unwinds():
            return _main(argv)
    except KeyboardInterrupt as exc:  # before a command started: while Python imported torch
        stopped, code = _how_stopped(exc)
        print(f"\nneurevo: {stopped}", file=sys.stderr)
        return code


def _how_stopped(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped the command, in a word, and the exit code that says so."""
    if isinstance(exc, Terminated) or _sigterm_received.is_set():
        return "terminated", EXIT_TERMINATED
    return "interrupted", EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args, stray = parser.parse_known_args(argv)
    if stray:
        getattr(args, "command_parser", parser).error(
            f"unrecognized arguments: {' '.join(stray)}")
    if args.command is None:
        parser.print_help()
        return EXIT_BAD_INPUT
    if sys.stdout is None:  # started with stdout closed (`neurevo budgets >&-`): whatever
        # the command printed would be lost, and the next file opened would get its number
        print("neurevo: error: standard output is closed; nothing was done", file=sys.stderr)
        return EXIT_BROKEN_PIPE
    stdout, sys.stdout = sys.stdout, _GuardedStdout(sys.stdout)
    try:
        return _run(args)
    finally:
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    try:
        from evolve.loop import GenerationFailed
        from evolve.ray_executor import ClusterUnreachable
    except KeyboardInterrupt as exc:  # the seconds spent importing torch
        return _interrupted(args, exc)
    try:
        if hasattr(args, "plugin"):  # the commands that resolve names
            _import_plugins(args.plugin)
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a full disk behind stdout shows here, not as an exit-time error
        return code
    except BrokenPipeError:  # `neurevo rules | head`: the reader left; no traceback, but
        # no success either (a search whose output could not be delivered did not succeed)
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except StdoutFailed as exc:
        _silence_stdout()
        done = getattr(args, "run_written", None)
        _error(f"cannot write to standard output: {exc.strerror}"
               + (f" (the run itself is complete: {done})" if done else ""), exc)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        return _interrupted(args, exc)
    except BadInput as exc:
        print(f"neurevo: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GenerationFailed as exc:  # the user's traceback, then one line naming the cause
        if exc.traceback:
            print(exc.traceback.rstrip(), file=sys.stderr)
        print(f"neurevo: error: {exc.summary()}", file=sys.stderr)
        return EXIT_ERROR
    except ClusterUnreachable as exc:  # not the machine: resuming the same way would fail
        run = _run_of(exc)
        if not exc.address:  # the local instance, or the process's own ray.init
            hint = (f"the run is recorded: `neurevo resume {run}` goes on" if run else
                    "nothing was recorded: search again")
        elif run:
            hint = (f"the run is recorded: `neurevo resume {run} --address {exc.address}` "
                    f"once a cluster there answers this driver and runs its tasks, or "
                    f"`neurevo resume {run} --executor serial` to go on in this process")
        else:
            hint = ("nothing was recorded: search again once a cluster there answers this "
                    "driver and runs its tasks, or without an address (no --address, "
                    "executor.address empty) to run on this machine")
        print(f"neurevo: error: {str(exc).rstrip('.')}; {hint}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        code, text = _os_error(exc)
        _error(text, exc)
        return code
    except Exception as exc:  # noqa: BLE001
        if _is_bad_input(exc):
            print(f"neurevo: error: {one_line(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if isinstance(exc, UnicodeDecodeError):
            _error(f"an input file is not UTF-8 text ({one_line(exc)})", None)
            return EXIT_BAD_INPUT
        raise


def _import_plugins(specs: Sequence[str]) -> None:
    from evolve.plugin_imports import PluginImportError, import_plugin, load_installed_plugins

    load_installed_plugins()  # installed packages' names first; a --plugin file may use them
    for spec in specs:
        try:
            import_plugin(spec)
        except PluginImportError as exc:
            raise BadInput(str(exc)) from None


def _interrupted(args: argparse.Namespace, exc: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM: what the command leaves behind, and how to go on where there is
    a way."""
    stopped, code = _how_stopped(exc)
    run = _run_of(exc)
    if run:
        done = _completed_generations(run)
        where = (f"is checkpointed after generation {done}" if done else
                 "is recorded, before its first generation completed")
        print(f"\nneurevo: {stopped}; {run} {where} (continue with `neurevo resume "
              f"{run}`)", file=sys.stderr)
    elif args.command == "search":
        print(f"\nneurevo: {stopped} before a run was recorded; there is nothing to "
              "resume", file=sys.stderr)
    elif args.command == "resume":
        print(f"\nneurevo: {stopped} before the resume wrote anything; {args.run} is "
              "as it was", file=sys.stderr)
    else:
        print(f"\nneurevo: {stopped}", file=sys.stderr)
    return code


def _completed_generations(run: str) -> int:
    """How far the interrupted run is recorded (0 when its checkpoint cannot say)."""
    from evolve.records import RecordError, RunStore

    try:
        return RunStore(run).completed_generations()
    except RecordError:
        return 0


def _run_of(exc: BaseException) -> str | None:
    return getattr(exc, RUN_ATTRIBUTE, None)


def _error(text: str, exc: BaseException | None) -> None:
    """One line; with how to go on when the failure hit a recorded run."""
    run = _run_of(exc) if exc is not None else None
    if run:
        text += (f"; the run is recorded up to its last completed generation: continue with "
                 f"`neurevo resume {run}`")
    print(f"neurevo: error: {one_line(text)}", file=sys.stderr)


def _os_error(exc: OSError) -> tuple[int, str]:
    """Exit 2 for a path the user gave that cannot be used; 1 for a machine that failed
    (no space left, an I/O error), where trying again elsewhere or later is the fix."""
    from evolve.search import PATH_ERRNOS

    where = " ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    reason = exc.strerror or one_line(exc)
    text = f"{where}: {reason}" if where else reason
    if exc.errno in PATH_ERRNOS:
        return EXIT_BAD_INPUT, f"cannot use {text}"
    return EXIT_ERROR, f"the machine failed: {text}"


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's own flush at exit has nowhere to fail."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass


def _is_bad_input(exc: Exception) -> bool:
    from evolve.config import ConfigError
    from evolve.hardware import ProfileError
    from evolve.messages import SetupPluginFailed
    from evolve.records import RecordError
    from evolve.tasks import TaskError
    from rules.base import HyperparameterError
    from rules.registry import RuleOptionError, UnknownRuleError
    from search_spaces.genome import GenomeError
    from search_spaces.space import SpaceError

    known = (ConfigError, TaskError, RecordError, HyperparameterError, UnknownRuleError,
             GenomeError, SpaceError, ProfileError, RuleOptionError, SetupPluginFailed)
    return isinstance(exc, known) or (isinstance(exc, KeyError) and one_line(exc).count(":") > 0)


def config_from_args(args: argparse.Namespace) -> Any:
    from evolve.config import SearchConfig, from_toml, override_steps

    config = from_toml(args.config) if args.config else SearchConfig()
    return override_steps(config, _flag_steps(args))


def _flag_steps(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The settings the command line gives over the config file's, as override steps."""
    from evolve.config import parse_assignments

    updates: dict[str, Any] = {}
    for flag, key in (("generations", "generations"), ("population", "population"),
                      ("seed", "seed"), ("out", "out"), ("run_id", "run_id"),
                      ("objectives", "objectives"),
                      ("constraints", "constraints")):
        if getattr(args, flag) is not None:
            updates[key] = getattr(args, flag)
    for flag, section, key in (("task", "task", "name"), ("label_column", "task", "label_column"),
                               ("rule", "rule", "name"), ("executor", "executor", "name"),
                               ("strategy", "strategy", "name"),
                               ("address", "executor", "address"),
                               ("hardware", "hardware", "profile"),
                               ("chips", "hardware", "chips")):
        if getattr(args, flag) is not None:
            updates.setdefault(section, {})[key] = getattr(args, flag)
    # one --set at a time: a later one overrides or merges into an earlier; the settings are
    # checked on the result, so that their order does not matter
    return [updates, *(parse_assignments([p]) for p in args.set)]


def _leaf_keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    """The dotted keys of the values ``table`` sets (``rule.options.symmetric``), not of the
    tables that hold them: a file's ``[rule]`` table sets ``rule.name`` and not, by itself,
    ``rule.options``."""
    keys: set[str] = set()
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        keys |= _leaf_keys(value, f"{dotted}.") if isinstance(value, dict) else {dotted}
    return keys


# the settings a new search looks up only as it starts; each is the one key its error names
LOOKED_UP = ("rule.name", "rule.options", "rule.hyperparameters", "task.name", "constraints")


def _from_config_file(args: argparse.Namespace, exc: Exception) -> str | None:
    """``exc``'s message with the config file named, where it leads with a setting looked up
    as the search starts (``rule.name: ...``) that the file gave and no flag or ``--set``
    replaced or added to; else None. Those are otherwise said without which of the three
    sources to fix. Refusals of settings that contradict each other are left alone: their
    two keys may come from different places."""
    from evolve.config import load_toml

    message = one_line(exc)
    key = next((k for k in LOOKED_UP if message.startswith((f"{k}:", f"{k} ("))), None)
    if not args.config or key is None or not _is_bad_input(exc):
        return None

    def sets(keys: set[str]) -> bool:
        return any(k == key or k.startswith(f"{key}.") for k in keys)
    flags = set().union(*(_leaf_keys(step) for step in _flag_steps(args)))
    if not sets(_leaf_keys(load_toml(args.config))) or sets(flags):
        return None
    return f"config file {str(args.config)!r}: {message}"


def resume_settings(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``[executor]`` settings this resume changes, and the ones that decide when the
    run stops (``stop_when``, ``tolerate_failures``); anything else is refused, since it
    would make the rest of the run a different search from its recorded part."""
    from evolve.config import parse_assignments
    from evolve.search import RESUME_SETTINGS

    executor: dict[str, Any] = {}
    stopping: dict[str, Any] = {}
    for pair in args.set:
        nested = parse_assignments([pair])
        for key, value in nested.items():
            if key in RESUME_SETTINGS:
                if key == "stop_when" and isinstance(value, dict):
                    stopping.setdefault(key, {}).update(value)
                else:
                    stopping[key] = value
                continue
            if key != "executor":
                why = ("it names where the run is" if key in ("out", "run_id") else
                       "it would change the run's results")
                raise BadInput(f"resume --set {pair.split('=', 1)[0]}: a resume can change "
                               "only executor.*, stop_when.* and tolerate_failures (and "
                               f"--generations); {why}")
            if not isinstance(value, dict):
                raise BadInput(f"resume --set {pair}: name one setting, e.g. "
                               "executor.num_cpus=4")
            executor.update(value)
    if args.executor is not None:
        executor["name"] = args.executor
    if args.address is not None:
        executor["address"] = args.address
        if args.address:  # a cluster is joined through Ray: a serial run moves onto it
            executor.setdefault("name", "ray")
    return executor, stopping


def cmd_search(args: argparse.Namespace) -> int:
    import evolve
    from evolve.reporters import ProgressBar

    config = config_from_args(args)
    try:
        run = evolve.search(config, reporters=[ProgressBar()])
    except Exception as exc:
        named = _from_config_file(args, exc)
        if named is None:
            raise
        raise BadInput(named) from exc
    args.run_written = run.path
    _print_front(run, sys.stdout)
    print(run.path)
    return EXIT_OK


def cmd_resume(args: argparse.Namespace) -> int:
    import evolve
    from evolve.reporters import ProgressBar

    executor, stopping = resume_settings(args)
    run = evolve.resume(args.run, generations=args.generations, reporters=[ProgressBar()],
                        task_file=args.task, executor=executor or None,
                        settings=stopping or None)
    args.run_written = run.path
    _print_front(run, sys.stdout)
    print(run.path)
    return EXIT_OK


def cmd_pareto(args: argparse.Namespace) -> int:
    import evolve

    run = evolve.load_run(args.run)
    if args.json:
        keys = ("rank", "candidate_id", "objectives", "costs", "violations", "metrics",
                "test_accuracy", "valid_accuracy", "rule", "rule_limits", "rule_options",
                "hyperparameters", "generation", "species", "genome")
        front = [{k: arch.to_dict()[k] for k in keys} for arch in run.pareto_front()]
        print(json.dumps(front, indent=2))
    else:
        _print_front(run, sys.stdout)
    return EXIT_OK


def _front_member(run: Any, candidate: int | None) -> Any:
    """The front's member ``candidate`` (default: the best on the first objective)."""
    front = run.pareto_front()
    if not front:
        raise BadInput(f"{run.path}: the Pareto front is empty (no feasible evaluation yet)")
    if candidate is None:
        return front[0]
    chosen = [a for a in front if a.candidate_id == candidate]
    if not chosen:
        raise BadInput(f"--candidate {candidate} is not on the Pareto front of "
                       f"{run.run_id} (members: {sorted(a.candidate_id for a in front)})")
    return chosen[0]


def _missing_extra(exc: ImportError, what: str) -> BadInput:
    return BadInput(f"{what} needs the package {exc.name or exc}: pip install "
                    "'neurevo[export]'")


def cmd_export(args: argparse.Namespace) -> int:
    import evolve
    from evolve.export import export_format
    from evolve.run import run_split

    run = evolve.load_run(args.run)
    arch = _front_member(run, args.candidate)
    fmt = args.format or (None if args.out else "safetensors")  # None: --out's suffix says
    out = Path(args.out) if args.out else Path(f"{run.run_id}-{arch.candidate_id}.{fmt}")
    if run.description is None:
        print("neurevo: warning: this run predates run.json; exporting without class names "
              "and input standardisation", file=sys.stderr)
    _check_output_file(out, given=bool(args.out))
    try:
        fmt = export_format(out, fmt)
        options: dict[str, Any] = {}
        if fmt == "nir":
            from evolve.loop import locate_task
            from evolve.nir_export import check_convertible

            if args.percentile is not None and not 0 < args.percentile <= 100:
                raise BadInput(f"--percentile must be in (0, 100], got {args.percentile}")
            check_convertible(arch)
            options = {"data": locate_task(run.config, run.description, args.task),
                       "split": run_split(run.config), "percentile": args.percentile}
        elif args.percentile is not None:
            raise BadInput("--percentile sets NIR thresholds; it goes with --format nir")
        elif args.task is not None:
            raise BadInput("--task gives a NIR export its run's data; it goes with --format nir")
        try:
            if args.out is None and out.exists():
                path = _export_beside(arch, out, fmt, options, run.run_id)
            else:
                path = evolve.export_architecture(arch, out, format=fmt, **options)
        except OSError as exc:  # name --out, not the temporary file it is written under
            raise _output_error(out, exc) from None
    except ImportError as exc:
        raise _missing_extra(exc, f"{fmt} export") from None
    except ValueError as exc:
        if _is_bad_input(exc):
            raise
        raise BadInput(one_line(exc)) from None
    print(path)
    return EXIT_OK


def _export_beside(arch: Any, out: Path, fmt: str, options: dict[str, Any],
                   run_id: str) -> Path:
    """The default file name exists: keep it if it holds this very export (the command run
    again), else refuse. Runs under different output folders may share a run id, and so a
    default name; the second export must not replace the first's file unasked."""
    import tempfile

    import evolve
    from evolve.export import same_export

    handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=out.suffix)
    os.close(handle)
    fresh = Path(name)
    try:
        evolve.export_architecture(arch, fresh, format=fmt, **options)
        if not same_export(out, fresh):
            raise BadInput(f"{str(out)!r} exists and differs from this export (another "
                           f"run's with the same run id {run_id!r}, other export options, "
                           "or a damaged file); nothing was written: give --out FILE to name "
                           "this one, or remove that file")
    finally:
        fresh.unlink(missing_ok=True)
    return out


def cmd_simulate(args: argparse.Namespace) -> int:
    from evolve.simulate import simulate

    if args.timesteps < 1:
        raise BadInput(f"--timesteps must be >= 1, got {args.timesteps}")
    try:
        result = simulate(args.export, task=args.task, timesteps=args.timesteps,
                          reset=args.reset)
    except ImportError as exc:
        raise _missing_extra(exc, "simulate") from None
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return EXIT_OK
    reset = {"subtract": "reset by subtraction", "zero": "reset to zero"}[result.reset]
    recorded = ("" if result.recorded_test_accuracy is None
                else f"; the run recorded {result.recorded_test_accuracy:.4f}")
    early = ", ".join(f"{acc:.4f} after {t}" for t, acc in result.accuracy_at.items()
                      if t < result.timesteps and t >= 8)
    print(f"spiking check of {args.export}: {result.examples} test examples, "
          f"{result.timesteps} time steps, {reset}, {result.neurons} IF neurons")
    print(f"ANN accuracy       {result.ann_accuracy:.4f}  (the graph's weights as a rate "
          f"network{recorded})")
    print(f"spiking accuracy   {result.spiking_accuracy:.4f}  (after {result.timesteps} steps"
          + (f"; {early})" if early else ")"))
    rates = ", ".join(f"{k} {v:.3f}" for k, v in result.group_rates.items())
    print(f"spikes per neuron per time step  {result.spikes_per_neuron_step:.4f}  ({rates})")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    import evolve
    from evolve.show import write_picture

    source = Path(args.run)
    if source.is_file() and source.suffix.lower() == ".safetensors":
        if args.candidate is not None:
            raise BadInput("--candidate picks a member of a run; an export holds one")
        arch = evolve.load_architecture(source)
        name = source.stem
    elif source.is_dir():
        run = evolve.load_run(source)
        arch = _front_member(run, args.candidate)
        name = f"{run.run_id}-{arch.candidate_id}"
    elif not source.exists():
        raise BadInput(f"{args.run!r} does not exist (expected a run directory or a "
                       ".safetensors export)")
    else:
        raise BadInput(f"{args.run!r} is neither a run directory nor a .safetensors export"
                       + (" (ONNX and NIR exports are one-way: draw the member's run or its "
                          ".safetensors export)" if source.suffix.lower() in (".onnx", ".nir")
                          else ""))
    accuracy = "" if not math.isfinite(arch.test_accuracy) \
        else f", test accuracy {arch.test_accuracy:.4f}"
    title = f"candidate {arch.candidate_id} ({arch.rule}{accuracy})"
    out = Path(args.out) if args.out else Path(f"{name}.svg")
    _check_output_file(out, given=bool(args.out))
    try:
        path = write_picture(arch.genome, out, title)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise _output_error(out, exc) from None
    print(path)
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import evolve
    from evolve.report import check_report_path, write_report

    run = evolve.load_run(args.run)
    out = Path(args.out) if args.out else run.path / "report.html"
    _check_output_file(out, given=bool(args.out))
    try:
        check_report_path(out, "--out")  # named as the user typed it, as compare does
        path = write_report(run, out)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    except OSError as exc:
        raise _output_error(out, exc) from None
    print(path)
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    import evolve
    from evolve.report import check_report_path, compare_runs, format_comparison, write_comparison
    from evolve.run import require_run_dir

    for run_dir in args.runs:
        require_run_dir(run_dir)
    if args.at is not None and args.at < 1:
        raise BadInput(f"--at must be >= 1 evaluation, got {args.at}")
    out = Path(args.out) if args.out else None
    if out is not None:  # before any output: a table printed, then an error, misleads
        _check_output_file(out)
        try:
            check_report_path(out, "--out")
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    runs = [evolve.load_run(r) for r in args.runs]
    rows = compare_runs(runs, at=args.at)
    print(json.dumps(rows, indent=2) if args.json else format_comparison(rows))
    if out is not None:
        try:
            path = write_comparison(runs, out, at=args.at)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        except OSError as exc:
            raise _output_error(out, exc) from None
        print(f"neurevo: wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from evolve.listing import format_runs, list_runs

    found = []
    for folder in args.dirs or ["runs"]:
        found += list_runs(folder)  # a folder that is none of runs: one line, exit 2
    if args.json:
        print(json.dumps([r.to_dict() for r in found], indent=2))
    elif found:
        print(format_runs(found))
    else:
        print(f"neurevo: no runs under {', '.join(args.dirs or ['runs'])}", file=sys.stderr)
    return EXIT_OK


def cmd_rules(args: argparse.Namespace) -> int:
    """Every rule, each as it describes itself; a rule that cannot (a user's, half-written)
    is named on stderr after the others are listed, and the exit code says so."""
    import rules

    broken = []
    for name in rules.available():
        try:
            lines = _describe_rule(rules.get_rule(name))
        except Exception as exc:  # noqa: BLE001 - one rule's bug must not hide the rest
            text = one_line(exc)  # the registry's own errors name the rule already
            broken.append(text if text.startswith(f"rule {name}:") else f"rule {name}: {text}")
            continue
        print("\n".join(lines))
    for problem in broken:
        print(f"neurevo: error: {problem}", file=sys.stderr)
    return EXIT_BAD_INPUT if broken else EXIT_OK


def _describe_rule(rule: Any) -> list[str]:
    """The rule's lines of `neurevo rules`, all computed before any is printed."""
    params = rule.hyperparameters().params
    lines = [f"{rule.name}: {rule.description}"]
    width = max([14, *(len(h.name) for h in params)])
    for h in params:
        scale = "log" if h.log else "linear"
        lines.append(f"    {h.name:<{width}} default {h.default:<10g} range [{h.low:g}, "
                     f"{h.high:g}] {scale}  {h.doc}")
    held = rule.hyperparameters().held()
    if held:  # genes a search leaves at their defaults unless told
        lines.append(f"    held at their defaults unless searched: {', '.join(held)} "
                     f"(--set rule.searched={','.join(held)})")
    options = rule.options()
    if options:  # constructor settings, not genes: --set rule.options.NAME=VALUE
        lines.append("    options (--set rule.options.NAME=VALUE): " + ", ".join(
            f"{k}={v!r}" if isinstance(v, str) else f"{k}={v:g}"
            if isinstance(v, float) else f"{k}={v}" for k, v in options.items()))
    limits = rule.rule_limits()
    if not limits:
        return [*lines, "    limits of backprop: not declared"]
    removed = [k for k, v in limits.items() if v["removed"]]
    kept = [k for k, v in limits.items() if not v["removed"]]
    lines.append(f"    removes: {', '.join(removed) or 'none'}   keeps: "
                 f"{', '.join(kept) or 'none'}")
    for key, limit in limits.items():
        state = "removed" if limit["removed"] else "kept"
        lines.append(f"      {key:<4} {state:<8} {limit['reason']}")
    return lines


def cmd_budgets(args: argparse.Namespace) -> int:
    """The profiles' numbers as a table; a profile file is read as ``search --hardware``
    reads it (:func:`evolve.hardware.resolve_profile`), so a user checks the numbers a search
    would price with before running one."""
    from evolve import hardware
    from evolve.hardware import resolve_profile

    header = ("profile", "neurons/core", "fan-in/core", "cores/chip", "weight bits",
              "pJ/synop", "time step")
    rows = []
    for p in [resolve_profile(name) for name in
              args.profiles or hardware.available_profiles()]:
        est = set(p.estimates)

        def cell(field: str, text: str) -> str:
            return text + ("*" if field in est else "")
        rows.append((
            p.name,
            cell("neurons_per_core", str(p.neurons_per_core)),
            cell("axons_per_core", str(p.axons_per_core) if p.axons_per_core else "-"),
            cell("cores_per_chip", str(p.cores_per_chip)),
            cell("weight_bits", str(p.weight_bits)),
            cell("energy_per_synop_j", f"{p.energy_per_synop_j * 1e12:g}"),
            cell("time_step_s", f"{p.time_step_s:g} s"),
        ))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if any(c.endswith("*") for row in rows for c in row):  # a note only for what is starred
        print("* estimate (see docs/hardware.md for sources)")
    return EXIT_OK


def _check_output_file(path: Path, given: bool = True) -> None:
    """A file the command is asked to write: not a directory, and in one that exists (or
    can be made), so the answer is one line before any work rather than a traceback after.
    ``given``: named by ``--out``; else the command's default name, called that."""
    what = f"--out {str(path)!r}" if given else f"the default file name {str(path)!r}"
    if path.is_dir():
        raise BadInput(f"{what} is a directory; give a file name"
                       + ("" if given else " with --out"))
    probe = path.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise BadInput(f"{what}: {str(probe)!r} is not a directory")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise BadInput(f"{what}: {str(probe)!r} is not writable")
    _refuse_run_record(path)


def _refuse_run_record(path: Path) -> None:
    """A run's own files are its records (:func:`evolve.records.owning_run`)."""
    from evolve.records import record_refusal

    refusal = record_refusal(path, "--out")
    if refusal:
        raise BadInput(refusal)


def _output_error(path: Path, exc: OSError) -> Exception:
    """Name the file the user asked for, not the temporary name it is written under."""
    from evolve.search import PATH_ERRNOS

    if exc.errno in PATH_ERRNOS:
        return BadInput(f"--out {str(path)!r}: cannot write it: {exc.strerror}")
    return exc


def _print_front(run: Any, stream: Any) -> None:
    front = run.pareto_front()
    names = run.objective_names()
    print(f"Pareto front of {run.run_id} ({len(front)} "
          f"architecture{'' if len(front) == 1 else 's'}):", file=stream)
    header = ["rank", "cand", *names, "test_acc", "hidden", "edges"]
    print("  ".join(f"{h:>10}" for h in header), file=stream)
    for arch in front:
        cells = [str(arch.rank), str(arch.candidate_id)]
        cells += [_fmt(arch.objectives.get(n, math.nan)) for n in names]
        cells += [_fmt(arch.test_accuracy), str(len(arch.genome.hidden_ids)),
                  str(len(arch.genome.enabled_connections(None)))]
        print("  ".join(f"{c:>10}" for c in cells), file=stream)


def _fmt(value: float) -> str:
    """Four significant digits: energies of neighbouring front members differ in the 4th
    digit (1.344e-03 vs 1.386e-03 J), which fixed decimals would print alike."""
    if not math.isfinite(value):
        return "nan"
    if abs(value) >= 1 and value == int(value):
        return str(int(value))  # counts: cores, params, synapses
    return f"{value:.4g}"


COMMANDS = {"search": cmd_search, "resume": cmd_resume, "pareto": cmd_pareto,
            "export": cmd_export, "simulate": cmd_simulate, "show": cmd_show,
            "report": cmd_report, "compare": cmd_compare, "runs": cmd_runs,
            "rules": cmd_rules, "budgets": cmd_budgets}

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
