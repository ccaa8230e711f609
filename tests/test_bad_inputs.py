"""Bad inputs as a user meets them: the right exit code, one ``neurevo: error:`` line on
stderr and no traceback, and no file that existed before changed (the whole working folder
is hashed before and after), so a mistake never costs a run.

Each catalogue case is named. Most run ``evolve.cli.main`` in this process (a search takes
a tenth of a second there); the ones about standard output run the real command. Where the
operating system has to refuse (a read-only directory, a full disk), the refusal is
simulated when the tests run as root, who may write anywhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evolve
from evolve import ray_support
from evolve.cli import main
from evolve.config import ConfigError, SearchConfig, flat_items, from_toml, override
from evolve.lock import RunLock
from evolve.ray_executor import LOOPBACK
from evolve.records import RunStore

SMALL = ["--executor", "serial", "--task", "iris", "--generations", "1", "--population", "4",
         "--set", "training.epochs=1", "--rule", "bp"]
NEUREVO = [sys.executable, "-m", "evolve.cli"]
SEARCH_MODULE = importlib.import_module("evolve.search")  # `evolve.search` is the function


def _closed_port() -> int:
    """A loopback port where nothing listens: bound, then let go."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def call(argv: list[str]) -> tuple[int, str, str]:
    """``neurevo ARGV`` in this process: exit code, stdout, stderr. An exception that
    escapes is what the interpreter would print: a traceback, exit 1."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001
            err.write(traceback.format_exc())
            code = 1
    return code, out.getvalue(), err.getvalue()


def snapshot(root: Path) -> dict[str, str]:
    """Every file (content hash) and folder under ``root``."""
    seen = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_dir() and not path.is_symlink():
            seen[rel + "/"] = "dir"
        elif path.is_file():
            seen[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return seen


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A finished one-generation run, copied into each case's own folder."""
    out = tmp_path_factory.mktemp("base")
    code, stdout, err = call(["search", *SMALL, "--out", str(out)])
    assert code == 0, err
    return Path(stdout.strip().splitlines()[-1])


@dataclass
class Ctx:
    root: Path  # the case's folder: everything in it is hashed before and after
    out: Path  # an output root that holds a finished run
    run: Path  # that run
    monkeypatch: pytest.MonkeyPatch
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def edit_config(self, old: str, new: str) -> None:
        path = self.run / "config.toml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))

    def deny_writes(self, folder: Path) -> Path:
        """``folder`` exists but refuses new files and folders."""
        folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            folder.chmod(0o500)
            self.cleanups.append(lambda: folder.chmod(0o700))
            return folder
        target = folder.resolve()
        real_mkdir, real_open = os.mkdir, os.open

        def inside(path) -> bool:
            return Path(os.path.abspath(path)).resolve().is_relative_to(target)

        def denied(path) -> PermissionError:
            return PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

        def mkdir(path, *args, **kwargs):
            if inside(path):
                raise denied(path)
            return real_mkdir(path, *args, **kwargs)

        def open_(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
                raise denied(path)
            return real_open(path, flags, *args, **kwargs)

        self.monkeypatch.setattr(os, "mkdir", mkdir)
        self.monkeypatch.setattr(os, "open", open_)
        return folder

    def disk_full(self, target: object, name: str) -> None:
        """``target.name`` fails as a full disk does."""
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.run))
        self.monkeypatch.setattr(target, name, full)

    def interrupt(self, target: object, name: str) -> None:
        """``target.name`` is where Ctrl-C lands."""
        def stop(*args, **kwargs):
            raise KeyboardInterrupt
        self.monkeypatch.setattr(target, name, stop)


@dataclass(frozen=True)
class Case:
    name: str
    argv: Callable[[Ctx], list[str]]
    code: int
    needle: str | Callable[[Ctx], str]
    prepare: Callable[[Ctx], object] | None = None
    new_files: bool = False  # a run is recorded before the failure: files may be added
    stdout: str | None = None  # "full": /dev/full; "closed": never opened (a subprocess)
    line: str = "neurevo: error:"


def search(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ["search", *SMALL, "--out", str(ctx.out), *extra]


def with_file(name: str, content: bytes | str, *args: str) -> Callable[[Ctx], list[str]]:
    """``search ... ARGS`` where ``{}`` in ARGS is a file written for the case."""
    def argv(ctx: Ctx) -> list[str]:
        path = ctx.file(name, content)
        return ["search", *SMALL, "--out", str(ctx.out), *(a.format(path) for a in args)]
    return argv


def from_config(toml: str, *extra: str) -> Callable[[Ctx], list[str]]:
    """``search --config c.toml ARGS``, the file naming what SMALL's flags would set."""
    def argv(ctx: Ctx) -> list[str]:
        path = ctx.file("c.toml", toml)
        return ["search", "--executor", "serial", "--generations", "1", "--population", "4",
                "--set", "training.epochs=1", "--out", str(ctx.out), "--config", str(path),
                *extra]
    return argv


def resume(*extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: ["resume", str(ctx.run), *extra]


def run_cmd(verb: str, *extra: str) -> Callable[[Ctx], list[str]]:
    return lambda ctx: [verb, str(ctx.run), *(e.format(root=ctx.root) for e in extra)]


def _lock_run(ctx: Ctx) -> None:
    lock = RunLock(ctx.run, "search").acquire()
    ctx.cleanups.append(lock.release)


def _more_generations_then_full_disk(ctx: Ctx) -> None:
    ctx.edit_config("generations = 1\n", "generations = 2\n")  # not fingerprinted
    ctx.disk_full(RunStore, "write_generation")


def _interrupt_in_build(ctx: Ctx) -> None:
    import evolve.loop
    ctx.interrupt(evolve.loop, "locate_task")


def _interrupt_before_checkpoint(ctx: Ctx) -> None:
    ctx.interrupt(SEARCH_MODULE, "write_description")


def _full_before_checkpoint(ctx: Ctx) -> None:
    ctx.disk_full(SEARCH_MODULE, "write_description")


NOT_UTF8 = b"generations = 2\n# caf\xe9 \xff\xfe\n"

CASES = [
    # -- paths: a run goes into one new directory inside --out, or nowhere -----------------
    Case("out_is_a_file", with_file("f", "x", "--out", "{}"), 2, "not a directory"),
    Case("out_under_a_file", with_file("f", "x", "--out", "{}/runs"), 2, "not a directory"),
    Case("out_unwritable", lambda ctx: ["search", *SMALL, "--out",
                                        str(ctx.deny_writes(ctx.root / "ro"))], 2, "out"),
    Case("out_parent_unwritable", lambda ctx: [
        "search", *SMALL, "--out", str(ctx.deny_writes(ctx.root / "ro") / "runs")], 2, "out"),
    Case("run_id_climbs_out", search("--set", "run_id=../../x"), 2, "run_id"),
    Case("run_id_absolute", search("--set", "run_id=/tmp/neurevo-abs"), 2, "run_id"),
    Case("run_id_dot", search("--set", "run_id=."), 2, "run_id"),
    Case("run_id_dotdot", search("--set", "run_id=.."), 2, "run_id"),
    Case("run_id_separator_inside", search("--set", "run_id=a/b"), 2, "run_id"),
    Case("run_id_backslash", search("--set", "run_id=a\\b"), 2, "run_id"),
    Case("run_id_newline", search("--set", "run_id=a\nb"), 2, "control characters"),
    Case("run_id_escape_character", search("--set", "run_id=a\x1b[31mb"), 2,
         "control characters"),
    Case("run_id_too_long", search("--set", "run_id=" + "r" * 300), 2, "longer than"),
    Case("run_id_looks_like_an_option", search("--set", "run_id=-rf"), 2, "run_id"),
    Case("run_id_from_a_config_file", with_file("c.toml", 'run_id = "../up"\n', "--config",
                                                "{}"), 2, "run_id"),
    Case("run_id_of_an_existing_run", lambda ctx: ["search", *SMALL, "--out", str(ctx.out),
                                                   "--set", f"run_id={ctx.run.name}"],
         2, "already exists"),
    # -- resume checks before it writes --------------------------------------------------
    Case("resume_emptied_config", resume(),
         2, "population", prepare=lambda ctx: (ctx.run / "config.toml").write_text("")),
    Case("resume_config_names_another_task", resume(), 2, "task.name",
         prepare=lambda ctx: ctx.edit_config('name = "iris"', 'name = "digits"')),
    Case("resume_config_with_another_seed", resume(), 2, "seed",
         prepare=lambda ctx: ctx.edit_config("seed = 0\n", "seed = 1\n")),
    Case("resume_config_with_another_strategy_setting", resume(), 2,
         "strategy.neat.crossover_rate",
         prepare=lambda ctx: ctx.edit_config("crossover_rate = 0.3", "crossover_rate = 0.5")),
    Case("resume_config_with_another_budget", resume("--generations", "2"), 2,
         "training.epochs", prepare=lambda ctx: ctx.edit_config("epochs = 1\n", "epochs = 9\n")),
    Case("resume_config_not_utf8", resume(), 2, "UTF-8",
         prepare=lambda ctx: (ctx.run / "config.toml").write_bytes(NOT_UTF8)),
    Case("resume_config_not_toml", resume(), 2, "not valid TOML",
         prepare=lambda ctx: (ctx.run / "config.toml").write_text("population = = 3\n")),
    Case("resume_fewer_generations_than_recorded", resume("--generations", "0"), 2,
         "generations"),
    Case("resume_set_changes_results", resume("--set", "population=8"), 2,
         "--set population: a resume can change only executor.*"),
    Case("resume_set_changes_the_rule", resume("--set", "rule.name=pc"), 2,
         "--set rule.name: a resume can change only executor.*"),
    Case("resume_set_moves_the_run", resume("--set", "out=elsewhere"), 2,
         "and --generations); it names where the run is"),
    Case("resume_set_unknown_executor_key", resume("--set", "executor.nope=1"), 2,
         "unknown config key 'executor.nope'"),
    Case("resume_set_bad_executor_value", resume("--set", "executor.num_cpus=-2"), 2,
         "executor.num_cpus must be >= 0"),
    Case("resume_address_with_serial_executor",
         resume("--executor", "serial", "--address", "auto"), 2, "executor.address"),
    Case("resume_without_checkpoint", resume(), 2,
         "checkpoint.json: missing, though evaluations/ holds 1 generation file(s)",
         prepare=lambda ctx: (ctx.run / "checkpoint.json").unlink()),
    Case("resume_damaged_run_json", resume(), 2, "run.json",
         prepare=lambda ctx: (ctx.run / "run.json").write_text("{not json")),
    Case("resume_held_by_another_process", resume("--generations", "2"), 2,
         lambda ctx: f"pid {os.getpid()}", prepare=_lock_run),
    Case("resume_run_dir_unwritable", resume(), 2, ".lock",
         prepare=lambda ctx: ctx.deny_writes(ctx.run)),
    # -- config values: checked before the run directory exists --------------------------
    Case("swarm_inertia_nan", search("--set", "strategy.swarm.inertia=nan"), 2,
         "strategy.swarm.inertia"),
    Case("swarm_inertia_inf", search("--set", "strategy.swarm.inertia=inf"), 2,
         "strategy.swarm.inertia"),
    Case("neat_crossover_rate_inf", search("--set", "strategy.neat.crossover_rate=inf"), 2,
         "strategy.neat.crossover_rate"),
    Case("executor_num_cpus_negative", search("--set", "executor.num_cpus=-1"), 2,
         "executor.num_cpus"),
    Case("executor_cpus_per_eval_negative", search("--set", "executor.cpus_per_eval=-1"), 2,
         "executor.cpus_per_eval"),
    Case("executor_reserves_nothing", search("--set", "executor.cpus_per_eval=0"), 2,
         "cpus_per_eval"),
    Case("executor_eval_timeout_negative", search("--set", "executor.eval_timeout=-5"), 2,
         "executor.eval_timeout"),
    Case("executor_eval_timeout_nan", search("--set", "executor.eval_timeout=nan"), 2,
         "executor.eval_timeout"),
    Case("executor_max_retries_negative", search("--set", "executor.max_retries=-1"), 2,
         "executor.max_retries"),
    Case("executor_name_unknown", search("--set", "executor.name=threads"), 2,
         "executor.name"),
    Case("executor_address_without_port", search("--executor", "ray", "--address", "localhost"),
         2, "executor.address"),
    Case("executor_address_port_not_a_number",
         search("--executor", "ray", "--address", "host:notaport"), 2, "'notaport'"),
    Case("resume_address_port_out_of_range", resume("--address", "host:70000"), 2,
         "from 1 to 65535"),
    Case("executor_ray_client_not_installed",
         search("--executor", "ray", "--address", "ray://head:10001"), 2, "ray[client]",
         prepare=lambda ctx: ctx.monkeypatch.setattr(ray_support, "client_missing",
                                                     lambda: "cannot import grpc")),
    Case("executor_dashboard_not_installed",
         search("--executor", "ray", "--set", "executor.dashboard=true"), 2, "ray[default]",
         prepare=lambda ctx: ctx.monkeypatch.setattr(ray_support, "dashboard_missing",
                                                     lambda: "cannot import aiohttp")),
    Case("executor_cpus_per_eval_over_num_cpus",
         search("--executor", "ray", "--set", "executor.num_cpus=1",
                "--set", "executor.cpus_per_eval=2"), 2, "executor.cpus_per_eval is 2"),
    Case("executor_gpus_on_a_local_instance_without_gpu",
         search("--executor", "ray", "--set", "training.device=cuda",
                "--set", "executor.gpus_per_eval=0.5"), 2, "executor.gpus_per_eval is 0.5",
         prepare=lambda ctx: ctx.monkeypatch.setattr(ray_support, "local_gpus", lambda: 0)),
    Case("neat_species_elitism_negative", search("--set", "strategy.neat.species_elitism=-1"),
         2, "strategy.neat.species_elitism"),
    Case("neat_min_species_size_negative",
         search("--set", "strategy.neat.min_species_size=-3"), 2,
         "strategy.neat.min_species_size"),
    Case("ep_without_free_sweeps", search("--rule", "ep", "--set",
                                          "rule.options.free_steps=0"), 2, "free_steps"),
    Case("chl_feedback_gain_negative", search("--rule", "chl", "--set",
                                              "rule.options.gamma=-5.0"), 2, "gamma"),
    Case("neat_elitism_fills_each_species", search("--set", "strategy.neat.elitism=2"), 2,
         "strategy.neat.min_species_size (2): the elites a species carries over must be fewer"),
    Case("neat_min_species_size_below_elitism",
         search("--set", "strategy.neat.min_species_size=1"), 2,
         "lower elitism or raise min_species_size"),
    Case("neat_min_species_size_zero",
         search("--set", "strategy.neat.elitism=0", "--set", "strategy.neat.min_species_size=0"),
         2, "strategy.neat.min_species_size must be >= 1, got 0"),
    Case("neat_elitism_fills_the_population", search("--set", "strategy.neat.elitism=9"), 2,
         "strategy.neat.elitism"),
    Case("seed_negative", search("--seed", "-1"), 2, "seed"),
    Case("seed_past_32_bits", search("--seed", str(2**32)), 2, "seed"),
    Case("generations_past_32_bits", search("--set", f"generations={2**40}"), 2,
         "generations"),
    Case("rule_hyperparameter_nan", search("--set", "rule.hyperparameters.lr=nan"), 2,
         "rule.hyperparameters.lr"),
    Case("stop_when_infinite", search("--set", "stop_when.accuracy=inf"), 2,
         "stop_when.accuracy"),
    Case("stop_when_accuracy_as_a_percentage", search("--set", "stop_when.accuracy=95"), 2,
         "stop_when.accuracy is 95, but accuracy is at most 1"),
    Case("stop_when_cost_below_zero", search("--set", "stop_when.energy=-1"), 2,
         "stop_when.energy is -1, but energy is never below 0"),
    Case("space_coefficient_infinite", search("--set", "space.disjoint_coefficient=inf"), 2,
         "space.disjoint_coefficient"),
    Case("task_fractions_leave_nothing_to_train",
         search("--set", "task.valid_fraction=0.5", "--set", "task.test_fraction=0.5"), 2,
         "task.valid_fraction"),
    Case("objective_named_twice", search("--objectives", "accuracy,accuracy"), 2,
         "objectives"),
    Case("address_with_serial_executor", search("--address", "auto"), 2, "executor.address"),
    Case("label_column_with_builtin_task", search("--label-column", "species"), 2,
         "task.label_column"),
    Case("config_file_not_utf8", with_file("c.toml", NOT_UTF8, "--config", "{}"), 2, "UTF-8"),
    # a name checked only as the search starts is said with the file that gave it
    Case("config_file_unknown_rule", from_config('[rule]\nname = "pcc"\n'), 2,
         "c.toml': rule.name: unknown learning rule 'pcc'"),
    Case("config_file_unknown_rule_option",
         from_config('[rule]\nname = "ep"\noptions = {symetric = false}\n'), 2,
         "c.toml': rule.options: rule ep: unknown option 'symetric'"),
    Case("config_file_unknown_hyperparameter",
         from_config('[rule]\nname = "bp"\nhyperparameters = {stepz = 3}\n'), 2,
         "c.toml': rule.hyperparameters (rule bp): unknown hyperparameter 'stepz'"),
    Case("config_file_missing_data", from_config('[task]\nname = "nosuch.csv"\n'), 2,
         "c.toml': task.name: data file not found: 'nosuch.csv'"),
    Case("config_file_unknown_constraint", from_config('constraints = ["nope"]\n'), 2,
         "c.toml': constraints: 'nope' is neither given nor registered"),
    Case("config_files_options_are_blamed_on_it_though_a_flag_names_the_rule",
         from_config('[rule]\nname = "ep"\noptions = {symetric = false}\n', "--rule", "ep"),
         2, "c.toml': rule.options: rule ep: unknown option 'symetric'"),
    Case("a_contradiction_with_a_flag_is_not_blamed_on_the_config_file",
         from_config("[strategy.neat]\nelitism = 3\n", "--population", "3"), 2,
         "neurevo: error: strategy.neat.elitism (3) must be below population (3)"),
    Case("a_data_error_naming_its_own_key_is_not_led_by_task_name",
         from_config("[task]\nvalid_fraction = 0.001\n"), 2,
         "neurevo: error: digits: too few samples to stratify"),
    Case("flag_over_the_config_files_rule_is_not_blamed_on_it",
         from_config('[rule]\nname = "pcc"\n', "--rule", "pcd"), 2,
         "neurevo: error: rule.name: unknown learning rule 'pcd'"),
    Case("task_is_a_directory_without_a_suffix",  # the last --task is taken
         lambda ctx: search("--task", str(_mkdir(ctx.root / "moved")))(ctx), 2,
         "moved' is a directory; expected a data file"),
    Case("kernel_looked_for_under_training", search("--set", "training.kernel=triton"), 2,
         "unknown config key 'training.kernel'; expected one of ['training.batch_size', "
         "'training.device', 'training.epochs', 'training.patience']; did you mean "
         "rule.options.kernel"),
    Case("config_file_is_a_directory", lambda ctx: ["search", *SMALL, "--out", str(ctx.out),
                                                    "--config", str(ctx.root)], 2,
         "not a file"),
    Case("profile_file_not_utf8", with_file("chip.toml", b"name = \"c\xe9\xff\"\n",
                                            "--hardware", "{}"), 2, "hardware.profile"),
    # -- output files of export and report -----------------------------------------------
    Case("pareto_of_an_export_file", lambda ctx: [
        "pareto", str(ctx.file("m.safetensors", "x"))], 2,
         "is a file, not a run directory (an export: `neurevo show` draws it"),
    Case("export_to_a_directory", run_cmd("export", "--out", "{root}"), 2, "is a directory"),
    Case("export_under_a_file", lambda ctx: ["export", str(ctx.run), "--out",
                                             str(ctx.file("f", "x") / "m.safetensors")],
         2, "not a directory"),
    Case("export_unwritable", lambda ctx: ["export", str(ctx.run), "--out", str(
        ctx.deny_writes(ctx.root / "ro") / "m.safetensors")], 2, "m.safetensors': cannot write"),
    Case("export_over_a_members_weights", lambda ctx: [
        "export", str(ctx.run), "--out",
        str(next((ctx.run / "weights").glob("*.safetensors")))], 2, "records"),
    Case("export_over_the_checkpoint", lambda ctx: [
        "export", str(ctx.run), "--format", "safetensors", "--out",
        str(ctx.run / "checkpoint.json")], 2, "records"),
    Case("export_over_the_run_description", lambda ctx: [
        "export", str(ctx.run), "--format", "safetensors", "--out",
        str(ctx.run / "run.json")], 2, "records"),
    Case("export_into_the_weights_folder_in_capitals", lambda ctx: [  # one folder on macOS
        "export", str(ctx.run), "--out", str(ctx.run / "Weights" / "mine.safetensors")], 2,
         "records"),
    Case("export_new_file_in_the_weights_folder", lambda ctx: [
        "export", str(ctx.run), "--out", str(ctx.run / "weights" / "mine.safetensors")], 2,
         "records"),
    Case("report_to_a_directory", lambda ctx: ["report", str(ctx.run), "--out",
                                               str(_mkdir(ctx.root / "r.html"))], 2,
         "is a directory"),
    Case("report_unwritable", lambda ctx: ["report", str(ctx.run), "--out", str(
        ctx.deny_writes(ctx.root / "ro") / "r.html")], 2, "r.html"),
    # -- the machine fails: exit 1, one line, and how to go on ---------------------------
    Case("no_cluster_at_the_address",  # the port is picked when the case runs; refused
         lambda ctx: search("--executor", "ray",  # before the run is recorded: no new files
                            "--address", f"{LOOPBACK}:{_closed_port()}")(ctx), 1,
         "no Ray cluster answers"),
    Case("resume_no_cluster_at_the_address",  # joined before config.toml takes the new
         lambda ctx: resume("--generations", "3", "--executor", "ray",  # target: unchanged
                            "--address", f"{LOOPBACK}:{_closed_port()}")(ctx), 1,
         "no Ray cluster answers"),
    Case("disk_full_during_search", search(), 1, "neurevo resume", new_files=True,
         prepare=lambda ctx: ctx.disk_full(RunStore, "write_generation")),
    Case("disk_full_during_resume", resume(), 1, "neurevo resume", new_files=True,
         prepare=_more_generations_then_full_disk),
    Case("disk_full_before_the_run_is_recorded", search(), 1, "No space left",
         prepare=_full_before_checkpoint),
    Case("stdout_full", run_cmd("pareto"), 1, "standard output", stdout="full"),
    Case("stdout_closed_budgets", lambda ctx: ["budgets"], 141, "standard output is closed",
         stdout="closed"),
    Case("stdout_closed_search", search(), 141, "standard output is closed", stdout="closed"),
    # -- Ctrl-C before anything is recorded promises nothing -----------------------------
    Case("ctrl_c_while_loading", search(), 130, "nothing to resume",
         prepare=_interrupt_in_build, line="neurevo: interrupted"),
    Case("ctrl_c_before_first_checkpoint", search(), 130, "nothing to resume",
         prepare=_interrupt_before_checkpoint, line="neurevo: interrupted"),
]


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _in_subprocess(argv: list[str], how: str) -> tuple[int, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if how == "full":
        with open("/dev/full", "w") as sink:
            result = subprocess.run([*NEUREVO, *argv], stdout=sink, stderr=subprocess.PIPE,
                                    text=True, timeout=300, env=env)
    else:
        result = subprocess.run([*NEUREVO, *argv], stderr=subprocess.PIPE, text=True,
                                timeout=300, env=env, preexec_fn=lambda: os.close(1))
    return result.returncode, result.stderr


def test_the_catalogue_has_its_cases():
    names = [c.name for c in CASES]
    assert len(set(names)) == len(names) >= 45


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(case: Case, base_run: Path, tmp_path: Path, monkeypatch):
    out = tmp_path / "runs"
    shutil.copytree(base_run.parent, out)
    ctx = Ctx(tmp_path, out, out / base_run.name, monkeypatch)
    try:
        if case.prepare is not None:
            case.prepare(ctx)
        argv = case.argv(ctx)
        before = snapshot(tmp_path)
        if case.stdout:
            code, err = _in_subprocess(argv, case.stdout)
        else:
            code, _, err = call(argv)
        after = snapshot(tmp_path)
    finally:
        for undo in reversed(ctx.cleanups):
            undo()
    assert code == case.code, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith(case.line)]
    assert len(ours) == 1 and lines[-1] == ours[0], err
    needle = case.needle(ctx) if callable(case.needle) else case.needle
    assert needle in ours[0], err
    changed = sorted(p for p in before if after.get(p) != before[p])
    assert not changed, f"files changed: {changed}"
    if not case.new_files:
        assert sorted(after) == sorted(before), sorted(set(after) ^ set(before))


# -- what the catalogue's failures leave behind still works ---------------------------------
def test_a_run_stopped_by_a_full_disk_resumes(base_run, tmp_path, monkeypatch):
    out = tmp_path / "runs"
    with monkeypatch.context() as patch:
        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x")
        patch.setattr(RunStore, "write_generation", full)
        code, _, err = call(["search", *SMALL, "--out", str(out)])
    assert code == 1 and "neurevo resume" in err
    run = next(out.iterdir())
    assert (run / "checkpoint.json").is_file()
    code, stdout, err = call(["resume", str(run)])
    assert code == 0, err
    assert stdout.strip().splitlines()[-1] == str(run)
    assert (run / "evaluations" / "gen-00000.parquet").is_file()
    assert not (run / "evaluations" / "_gen-00000.partial").exists()


def test_resume_clears_journals_of_recorded_generations(base_run, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(base_run.parent, out)
    run = out / base_run.name
    stale = run / "evaluations" / "_gen-00000.partial"
    stale.mkdir()
    (stale / "chunk-0.parquet").write_bytes(b"left by a crash")
    code, _, err = call(["resume", str(run), "--generations", "2"])
    assert code == 0, err
    assert not stale.exists()
    assert not (run / "evaluations" / "_gen-00001.partial").exists()


def test_resume_takes_executor_settings_for_itself_only(base_run, tmp_path):
    out = tmp_path / "runs"
    shutil.copytree(base_run.parent, out)
    run = out / base_run.name
    code, _, err = call(["resume", str(run), "--generations", "2", "--executor", "serial",
                         "--set", "executor.chunk_size=2", "--set", "executor.num_cpus=1"])
    assert code == 0, err
    config = from_toml(run / "config.toml")
    assert config.generations == 2  # what the run now is
    assert config.executor.chunk_size == 16  # where it ran that once is not
    assert RunStore(run).read_checkpoint()["strategy"]["generation"] == 2


def test_a_resumed_progress_line_starts_from_the_runs_best(base_run):
    """Not from this process's first evaluation: a resume would look like a run getting
    worse."""
    from evolve.reporters import ProgressBar

    history = RunStore(base_run).read_checkpoint()["history"]
    bar = ProgressBar(stream=io.StringIO())
    bar.search_resumed(history)
    bar.search_start(str(base_run), from_toml(base_run / "config.toml"), len(history))
    assert bar.best == max(h["best"]["accuracy"] for h in history)
    assert bar.hypervolume == history[-1]["hypervolume"] > 0


def test_a_resume_hands_reporters_the_runs_history_before_it_starts(base_run, tmp_path):
    from evolve.reporters import Reporter

    out = tmp_path / "runs"
    shutil.copytree(base_run.parent, out)
    run = out / base_run.name
    recorded = RunStore(run).read_checkpoint()["history"]
    calls = []

    class Recording(Reporter):
        def search_resumed(self, history):
            calls.append(("resumed", [h["generation"] for h in history]))

        def search_start(self, run_dir, config, first_generation):
            calls.append(("start", first_generation))

    evolve.resume(run, generations=len(recorded) + 1, reporters=[Recording()])
    assert calls == [("resumed", [h["generation"] for h in recorded]),
                     ("start", len(recorded))]
    calls.clear()
    # out: config.toml names the module's shared folder, which every other test copies
    evolve.search(override(from_toml(run / "config.toml"), {"run_id": "fresh", "out": str(out),
                                                             "generations": 1}),
                  reporters=[Recording()])
    assert calls == [("start", 0)]  # a new run has no history to hand over
    assert not (base_run.parent / "fresh").exists()  # the module's shared run is left alone


@pytest.mark.parametrize("species, shown", [(3, " species 3 "), (0, None)])
def test_a_generations_progress_line_names_species_only_where_there_are_some(species, shown):
    """pso, optuna and random search keep no species: "species 0" would read as a NEAT
    run whose population died out."""
    from evolve.reporters import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream=stream)
    bar.generations, bar.first = 2, 0
    bar.generation_end(0, {"evaluations": 4, "hypervolume": 0.5, "species": species,
                           "failed": 1, "infeasible": 0})
    line = stream.getvalue()
    assert "failed 1" in line and "hv 0.5000" in line, line
    assert (shown in line) if shown else ("species" not in line), line


def test_ray_settings_of_a_serial_search_are_named_as_unused(tmp_path):
    code, _, err = call(["search", *SMALL, "--out", str(tmp_path), "--set",
                         "executor.eval_timeout=5", "--set", "executor.max_retries=9",
                         "--set", "executor.num_cpus=2"])
    assert code == 0, err
    assert ("warning: executor.max_retries, executor.eval_timeout: settings of the ray "
            "executor") in err, err
    assert "num_cpus" not in err, err  # serial plans its chunks for that many workers


def test_resume_may_change_when_the_run_stops(base_run, tmp_path):
    """stop_when and tolerate_failures decide when a run stops, not what it computes: a
    resume may change them (the all-failed error tells the user to), and they are kept."""
    out = tmp_path / "runs"
    shutil.copytree(base_run.parent, out)
    run = out / base_run.name
    code, _, err = call(["resume", str(run), "--generations", "4", "--set",
                         "tolerate_failures=true", "--set", "stop_when.accuracy=0.0"])
    assert code == 0, err
    assert "stop_when already reached (accuracy" in err, err  # by generation 1's best
    config = from_toml(run / "config.toml")
    assert config.tolerate_failures and config.stop_when == {"accuracy": 0.0}
    assert RunStore(run).read_checkpoint()["strategy"]["generation"] == 1  # nothing trained
    with pytest.raises(ConfigError, match="not population"):
        evolve.resume(run, settings={"population": 8})
    code, _, err = call(["resume", str(run), "--generations", "2", "--set", "stop_when={}"])
    assert code == 0 and "stop_when" not in err, err  # the target dropped: the run goes on
    assert from_toml(run / "config.toml").stop_when == {}
    assert RunStore(run).read_checkpoint()["strategy"]["generation"] == 2
    code, stdout, err = call(["search", *SMALL, "--generations", "3", "--out",
                              str(tmp_path / "new"), "--set", "stop_when.accuracy=0.0"])
    assert code == 0 and "stop_when reached after generation 1 (accuracy" in err, err
    stopped = Path(stdout.strip().splitlines()[-1])
    assert RunStore(stopped).read_checkpoint()["strategy"]["generation"] == 1


def test_a_search_whose_cluster_does_not_answer_records_nothing(tmp_path):
    """The cluster is joined before the run is recorded: a mistyped address, or a cluster
    that is down, leaves no run directory to clear away, and the message says what to do."""
    out = tmp_path / "runs"
    code, _, err = call(["search", *SMALL, "--out", str(out), "--executor", "ray",
                         "--address", f"{LOOPBACK}:{_closed_port()}"])
    assert code == 1 and "no Ray cluster answers there" in err, err
    assert "nothing was recorded" in err and "without an address" in err, err
    assert "neurevo resume" not in err and ".;" not in err, err
    assert not out.exists() or not any(out.iterdir())


def test_a_run_whose_cluster_went_away_resumes_in_process(base_run, tmp_path):
    run = tmp_path / base_run.name
    shutil.copytree(base_run, run)
    code, _, err = call(["resume", str(run), "--generations", "2", "--executor", "ray",
                         "--address", f"{LOOPBACK}:{_closed_port()}"])
    assert code == 1 and f"neurevo resume {run} --executor serial" in err, err
    assert "machine failed" not in err, err
    code, stdout, err = call(["resume", str(run), "--generations", "2",
                              "--executor", "serial"])
    assert code == 0, err
    assert evolve.load_run(run).completed_generations() == 2


def test_a_users_own_files_in_a_run_may_be_written_again(base_run, tmp_path):
    """Only the run's records are protected: an export or a picture the user put in the
    run's folder is theirs to replace."""
    run = tmp_path / base_run.name
    shutil.copytree(base_run, run)
    for argv in (["export", str(run), "--out", str(run / "best.safetensors")],
                 ["show", str(run), "--out", str(run / "best.dot")],
                 ["export", str(run), "--out", str(run / "mine" / "best.safetensors")]):
        for _ in range(2):
            code, _, err = call(argv)
            assert code == 0, (argv, err)
    assert (run / "best.dot").read_text().startswith("digraph")


def test_a_data_file_named_with_control_characters_round_trips(tmp_path):
    import numpy as np
    from sklearn.datasets import load_iris

    iris = load_iris()
    data = tmp_path / "odd\x01name\nwith\ttabs\x7f.npz"
    np.savez(data, x=iris.data, y=iris.target)
    out = tmp_path / "runs"
    argv = [a for a in SMALL]
    argv[argv.index("iris")] = str(data)
    code, stdout, err = call(["search", *argv, "--out", str(out)])
    assert code == 0, err
    run = Path(stdout.strip().splitlines()[-1])
    assert from_toml(run / "config.toml").task.name == str(data)
    code, _, err = call(["resume", str(run), "--generations", "2"])
    assert code == 0, err


def test_ctrl_c_after_the_first_checkpoint_promises_a_resume_that_works(tmp_path, monkeypatch):
    import evolve.loop

    out = tmp_path / "runs"
    with monkeypatch.context() as patch:
        def stop(*args, **kwargs):
            raise KeyboardInterrupt
        patch.setattr(evolve.loop.Session, "_evaluate", stop)
        code, _, err = call(["search", *SMALL, "--out", str(out)])
    assert code == 130
    run = next(out.iterdir())
    assert f"neurevo resume {run}" in err
    assert "before its first generation completed" in err  # none had: it says so
    code, _, err = call(["resume", str(run)])
    assert code == 0, err


# -- fuzzing: whatever is typed, exit 0 or 2, never a traceback -------------------------------
FORCED = ["--set", "generations=1", "--set", "population=4", "--set", "training.epochs=1",
          "--set", "executor.name=serial", "--set", "executor.address=",
          "--set", "tolerate_failures=true"]
KEYS = [k for k, _ in flat_items(SearchConfig()) if k not in ("out", "executor.name")]
ODD_VALUES = ["nan", "inf", "-inf", "-1", "0", "1e400", "2147483648", "4294967296", "", " ",
              "../x", "/abs", ".", "..", "a\nb", "\x00", "\x1b", "true", "[1, 2]", "{a = 1}",
              "{}", "[]", '"quoted"', "1.5", "-0.0", "é", "\udcff", "relu,tanh", "neat",
              "ray", "serial", "bp", "iris.csv"]


def fuzz_search(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "runs"
        code, _, err = call(["search", "--task", "iris", "--rule", "bp", *argv, *FORCED,
                             "--set", f"out={out}"])
        assert code in (0, 2), err
        assert "Traceback" not in err, err
        if code == 2:
            assert err.strip().splitlines()[-1].startswith("neurevo: error:"), err
            assert not out.exists() or not any(out.iterdir()), "bad input left a run behind"
        else:
            run = next(out.iterdir())
            assert from_toml(run / "config.toml").run_id == run.name


PLAUSIBLE = {
    "task.name": ["iris", "wine", "xor", "breast_cancer", "digits", "missing.csv"],
    "task.label_column": ["label", "species"],
    "rule.name": ["bp", "pc", "fa", "dfa", "ep", "chl", "ff", "lra", "dtp", "nope"],
    "strategy.name": ["neat-pso", "neat", "pso", "optuna", "random", "cmaes"],
    "strategy.optuna.sampler": ["nsga2", "tpe", "grid"],
    "hardware.profile": ["loihi", "truenorth", "spinnaker", "dynapse", "xylo", "chip.toml"],
    "space.output_activation": ["identity", "relu", "tanh", "softmax"],
    "space.hidden_activations": ["relu", "tanh,sigmoid", "elu", "", "relu,nope"],
    "objectives": ["accuracy", "accuracy,energy", "params,cores", "latency,synapses", "x"],
    "rule.hyperparameters": ["{lr = 0.01}", "{lr = 10.0}", "{}", "{nope = 1}"],
    "rule.options": ["{}", "{free_steps = 3}", "{nope = 1}"],
    "stop_when": ["{accuracy = 0.5}", "{}", "{energy = 1e-9}", "{nope = 1}"],
    "executor.address": ["", "auto", "127.0.0.1:1"],
}
DEFAULTS = dict(flat_items(SearchConfig()))
odd = st.sampled_from(ODD_VALUES)


def value_for(key: str) -> st.SearchStrategy[str]:
    """Text for ``--set KEY=``: mostly what the field could hold (so that searches run and
    their later stages are fuzzed too), sometimes anything at all."""
    default = DEFAULTS.get(key)
    if key in PLAUSIBLE:
        typed = st.sampled_from(PLAUSIBLE[key])
    elif isinstance(default, bool):
        typed = st.sampled_from(["true", "false", "maybe"])
    elif isinstance(default, int):
        typed = st.integers(-2, 12).map(str)
    elif isinstance(default, float):
        typed = st.floats(-0.5, 3.0).map(repr)
    else:
        typed = st.text(max_size=12)
    return st.one_of(*[typed] * 8, odd, st.text(max_size=12))


keyed = st.sampled_from(KEYS).flatmap(lambda k: st.tuples(st.just(k), value_for(k)))
assignment = st.one_of(*[keyed] * 8, st.tuples(st.text(min_size=1, max_size=8),
                                               st.one_of(odd, st.text(max_size=8))))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(assignment, min_size=1, max_size=3))
def test_fuzz_set_values(pairs):
    argv = []
    for key, value in pairs:
        argv.append(f"--set={key}={value}")  # one token: "-=x" is no option
    fuzz_search(argv)


any_toml = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1),
                     st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10),
                     st.lists(st.text(max_size=5), max_size=3))


def toml_value_for(key: str) -> st.SearchStrategy[object]:
    """A TOML value for ``key``: mostly of the field's type, sometimes anything."""
    default = DEFAULTS.get(key)
    if isinstance(default, bool):
        typed = st.booleans()
    elif isinstance(default, int):
        typed = st.integers(-2, 12)
    elif isinstance(default, float):
        typed = st.floats(-0.5, 3.0)
    elif isinstance(default, tuple):
        typed = st.lists(st.sampled_from(["relu", "tanh", "accuracy", "energy", "x"]),
                         max_size=3)
    elif isinstance(default, dict):
        typed = st.dictionaries(st.sampled_from(["lr", "accuracy", "free_steps", "x"]),
                                st.floats(-1.0, 2.0), max_size=2)
    elif key in PLAUSIBLE:
        typed = st.sampled_from(PLAUSIBLE[key])
    else:
        typed = st.text(max_size=10)
    return st.one_of(*[typed] * 6, any_toml)


def toml_line(key: str, value: object) -> str:
    from evolve.config import _toml_value  # the writer's own quoting, for valid TOML

    section, _, name = key.rpartition(".")
    head = f"[{section}]\n" if section else ""
    return f"{head}{name} = {_toml_value(value)}\n"


def toml_text(items: list[tuple[str, object]]) -> bytes:
    """Top-level keys first: after a ``[table]`` header a bare key belongs to the table."""
    items = sorted(items, key=lambda kv: ("." in kv[0], kv[0]))
    return "".join(toml_line(k, v) for k, v in items).encode("utf-8", "surrogatepass")


config_items = st.lists(
    st.sampled_from(KEYS).flatmap(lambda k: st.tuples(st.just(k), toml_value_for(k))),
    min_size=1, max_size=4, unique_by=lambda kv: kv[0].rpartition(".")[0])


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(*[config_items.map(toml_text)] * 6,
                 st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.binary(max_size=60)))
def test_fuzz_config_file(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.toml"
        path.write_bytes(text)
        fuzz_search(["--config", str(path)])


def test_an_unknown_or_out_of_range_rule_hyperparameter_names_the_config_key(tmp_path):
    for setting, says in (("rule.hyperparameters.bogus=1", "unknown hyperparameter 'bogus'"),
                          ("rule.hyperparameters.lr=5", "hyperparameter lr=5.0 is outside")):
        code, _, err = call(["search", *SMALL, "--out", str(tmp_path), "--set", setting])
        assert code == 2, err
        assert f"rule.hyperparameters (rule bp): {says}" in err, err
        assert "Traceback" not in err
    # a sweep count is a whole number: 10.5 would train as 10 under a config saying 10.5
    code, _, err = call(["search", *SMALL, "--rule", "ep", "--out", str(tmp_path), "--set",
                         "rule.hyperparameters.free_steps=10.5"])
    assert code == 2 and ("rule.hyperparameters (rule ep): hyperparameter free_steps is a "
                          "whole number (a count), got 10.5") in err, err
    assert not list(tmp_path.iterdir())  # refused before a run was written


def test_the_progress_names_at_most_a_few_distinct_errors_then_says_so():
    """Errors that differ per candidate (a shape in the message) would print a line each:
    the progress names the first MAX_ERRORS_SHOWN, says once that it stops there, and names
    an error again in no later generation."""
    from types import SimpleNamespace

    from evolve.reporters import MAX_ERRORS_SHOWN, ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream=stream)
    bar.generations, bar.first = 2, 0
    summary = {"evaluations": 8, "hypervolume": 0.5, "species": 0, "failed": 7,
               "infeasible": 0}
    for generation in range(2):
        bar.generation_start(generation, 8)
        for i in range(7):
            bar.evaluation_done(generation, i + 1, 8, SimpleNamespace(
                status="failed", error=f"ValueError: size {generation * 10 + i} differs",
                valid_accuracy=float("nan")))
        bar.generation_end(generation, summary)
    named = [line for line in stream.getvalue().splitlines() if "failed with:" in line]
    assert len(named) == MAX_ERRORS_SHOWN
    assert all(line.startswith("neurevo: generation 1: 1 of 8") for line in named)
    assert stream.getvalue().count("further distinct errors are not shown") == 1
