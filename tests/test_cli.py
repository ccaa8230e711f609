"""The `neurevo` command as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

NEUREVO = [sys.executable, "-m", "evolve.cli"]
SMALL = ["--generations", "2", "--population", "6", "--set", "training.epochs=3",
         "--set", "space.max_hidden_size=16", "--executor", "serial"]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*NEUREVO, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_search_prints_front_and_run_dir_last_then_pareto_json(tmp_path):
    result = run_cli("search", *SMALL, "--out", str(tmp_path), "--task", "iris")
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path and (run_dir / "checkpoint.json").is_file()
    assert "Pareto front" in result.stdout
    assert "gen 2/2" in result.stderr  # progress goes to stderr
    pareto = run_cli("pareto", str(run_dir), "--json")
    assert pareto.returncode == 0, pareto.stderr
    front = json.loads(pareto.stdout)
    assert front and [f["rank"] for f in front] == [1] * len(front)  # all non-dominated
    for member in front:
        assert set(member) >= {"rank", "objectives", "costs", "violations", "test_accuracy",
                               "rule", "genome"}
        assert member["rule"] == "pc" and member["violations"] == {}  # the default rule
        assert 0.0 <= member["test_accuracy"] <= 1.0


def test_default_output_root_is_runs_in_the_working_directory(tmp_path):
    result = run_cli("search", *SMALL, "--task", "wine", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    assert run_dir.parts[0] == "runs" and (tmp_path / run_dir / "config.toml").is_file()


@pytest.mark.parametrize("args, needle", [
    (["search", "--task", "no_such_task"], "no_such_task"),
    (["search", "--set", "strategy.no_such_key=1"], "strategy.no_such_key"),
    (["search", "--set", "population=many"], "population"),
    (["search", "--rule", "nope"], "nope"),
    (["search", "--generations", "0"], "generations"),
    (["search", "--objectives", "accuracy,nonsense"], "nonsense"),
    (["search", "--task", "missing.csv"], "missing.csv"),
    (["search", "--config", "missing.toml"], "missing.toml"),
    (["search", "--set", "rule.hyperparameters={lr=5.0}"], "lr"),
    (["pareto", "/no/such/run"], "/no/such/run"),
    (["resume", "/no/such/run"], "/no/such/run"),
    (["budgets", "/no/such/chip.toml"], "profile file '/no/such/chip.toml' does not exist"),
    (["budgets", "no_such_chip"], "unknown hardware profile 'no_such_chip'"),
    (["show", "/no/such/member.safetensors"], "'/no/such/member.safetensors' does not exist"),
])
def test_bad_input_exits_2_with_a_one_line_message(tmp_path, args, needle):
    result = run_cli(*args, "--out", str(tmp_path)) if args[0] == "search" else run_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 or lines[0].startswith("usage:"), result.stderr
    assert needle in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir()), "bad input must not leave a half-made run"


@pytest.mark.parametrize("argv", [["search", "foo"], ["pareto", "run", "extra"]])
def test_a_stray_argument_is_told_with_its_commands_usage(argv, capsys):
    from evolve.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: neurevo {argv[0]} "), err
    assert f"unrecognized arguments: {argv[-1]}" in err


def test_csv_task_with_label_column(tmp_path):
    import pyarrow as pa
    import pyarrow.csv as pacsv
    from sklearn.datasets import load_iris
    iris = load_iris()
    columns = {f"f{i}": iris.data[:, i] for i in range(iris.data.shape[1])}
    # a numeric column named like the default label column: read as a feature here
    columns["label"] = [i % 2 for i in range(len(iris.target))]
    columns["species"] = [str(iris.target_names[t]) for t in iris.target]
    path = tmp_path / "iris.csv"
    pacsv.write_csv(pa.table(columns), path)
    result = run_cli("search", *SMALL, "--task", str(path), "--label-column", "species",
                     "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    run_dir = Path(result.stdout.strip().splitlines()[-1])
    task = json.loads((run_dir / "run.json").read_text())["task"]
    assert task["class_names"] == ["setosa", "versicolor", "virginica"]  # not label's 0/1
    assert (task["n_classes"], task["n_features"]) == (3, 5)  # f0-f3 and the decoy `label`
    wrong = run_cli("search", *SMALL, "--task", str(path), "--label-column", "kind",
                    "--out", str(tmp_path / "wrong"))
    assert wrong.returncode == 2, (wrong.stdout, wrong.stderr)
    assert "'kind'" in wrong.stderr and "Traceback" not in wrong.stderr


@pytest.mark.parametrize("sent, code, said, executor", [
    (signal.SIGINT, 130, "interrupted", "serial"),
    (signal.SIGTERM, 143, "terminated", "serial"),
    (signal.SIGTERM, 143, "terminated", "ray"),  # ray.init installs handlers of its own
])
def test_ctrl_c_exits_130_after_checkpoint_and_resume_finishes(tmp_path, sent, code, said,
                                                              executor):
    """Ctrl-C, and SIGTERM (kill, timeout, a batch scheduler, `ray job stop`) alike: one
    line naming the run and how to resume it, and the resume finishes the run."""
    proc = subprocess.Popen([*NEUREVO, "search", "--generations", "30", "--population", "6",
                             "--set", "training.epochs=3", "--executor", executor,
                             "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 300
    checkpoints = []

    def checkpointed() -> list[Path]:
        """Evaluation files of runs whose checkpoint already names a finished generation
        (the records come first; interrupting between them and the checkpoint would leave
        nothing to resume)."""
        found = []
        for path in tmp_path.glob("*/evaluations/gen-00000.parquet"):
            try:
                state = json.loads((path.parent.parent / "checkpoint.json").read_text())
            except (OSError, ValueError):
                continue
            if state["strategy"]["generation"] >= 1:
                found.append(path)
        return found
    while time.time() < deadline and not checkpoints:
        time.sleep(0.2)
        checkpoints = checkpointed()
    assert checkpoints, "the search never finished a generation"
    proc.send_signal(sent)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(f"neurevo: {said}; "), err
    assert "neurevo resume" in err.strip().splitlines()[-1]
    run_dir = checkpoints[0].parent.parent
    done = json.loads((run_dir / "checkpoint.json").read_text())["strategy"]["generation"]
    assert 1 <= done < 30
    result = run_cli("resume", str(run_dir), "--generations", str(done + 1))
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == run_dir
    files = sorted(p.name for p in (run_dir / "evaluations").iterdir())
    assert files == [f"gen-{g:05d}.parquet" for g in range(done + 1)]


def test_rules_lists_bp_with_hyperparameters():
    result = run_cli("rules")
    assert result.returncode == 0
    assert "bp:" in result.stdout and "lr" in result.stdout and "default" in result.stdout


def test_budgets_shows_a_profile_file_as_search_reads_it(tmp_path):
    # `neurevo budgets` listed only the built-in profiles: the numbers a search would
    # price with on `--hardware mychip.toml` could not be checked before running one
    chip = tmp_path / "mychip.toml"
    chip.write_text('name = "mychip"\nneurons_per_core = 512\ncores_per_chip = 64\n'
                    'weight_bits = 4\naxons_per_core = 1024\nenergy_per_synop_j = 1e-11\n'
                    'energy_per_spike_j = 5e-11\ntime_step_s = 1e-5\n'
                    'estimates = ["time_step_s"]\n')
    result = run_cli("budgets", str(chip), "loihi")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[1] == ["mychip", "512", "1024", "64", "4", "10", "1e-05", "s*"]
    assert [r[0] for r in rows[1:-1]] == ["mychip", "loihi"]  # only the profiles asked for
    listing = run_cli("budgets")
    assert "mychip" not in listing.stdout and "truenorth" in listing.stdout
    # the footnote explains a star: a table without one has none
    chip.write_text(chip.read_text().replace('estimates = ["time_step_s"]\n', ""))
    plain = run_cli("budgets", str(chip))
    assert plain.returncode == 0 and "*" not in plain.stdout, plain.stdout
    assert "* estimate" in listing.stdout


def test_a_reader_that_leaves_early_is_no_error():
    """`neurevo rules | head -1`: stdout's reader is gone before the listing ends."""
    code = ("import os, sys; r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
            "from evolve.cli import main; sys.exit(main(['rules']))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 141, result.stderr  # 128 + SIGPIPE, as `yes | head`
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_front_values_keep_four_significant_digits():
    from evolve.cli import _fmt

    assert (_fmt(0.0013440047), _fmt(0.0013860055)) == ("0.001344", "0.001386")
    assert (_fmt(0.97777), _fmt(1.88416e-08), _fmt(12.0), _fmt(float("nan"))) == \
        ("0.9778", "1.884e-08", "12", "nan")


# A finder that raises KeyboardInterrupt when torch is imported: the Ctrl-C a user presses in
# the seconds a command spends importing torch, made deterministic.
_CTRL_C_IN_IMPORT = """
import sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
sys.meta_path.insert(0, CtrlC())
from evolve.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("argv, said", [
    (["search", "--executor", "serial", "--task", "iris"],
     "interrupted before a run was recorded; there is nothing to resume"),
    (["budgets"], "interrupted"),
])
def test_ctrl_c_while_a_command_imports_is_one_line(argv, said):
    """The CLI's entry point imports nothing heavy (evolve's names load on first use), so
    a Ctrl-C during the imports is the CLI's to report: exit 130, no traceback, and no
    resume promised by a command that writes no run."""
    check = subprocess.run([sys.executable, "-c", "import sys, evolve.cli; "
                            "print(sorted({'torch', 'ray', 'pyarrow'} & set(sys.modules)))"],
                           capture_output=True, text=True, timeout=120)
    assert check.stdout.strip() == "[]", check
    result = subprocess.run([sys.executable, "-c", _CTRL_C_IN_IMPORT, *argv],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"neurevo: {said}"


def test_resume_at_an_address_runs_on_ray_unless_told_otherwise():
    """A cluster is joined through Ray, so ``resume RUN --address auto`` moves a run that ran
    serially onto it; an executor named on the command line (refused with the address when
    it is serial) is kept."""
    from evolve.cli import build_parser, resume_settings

    def executor(*argv: str) -> dict:
        return resume_settings(build_parser().parse_args(["resume", "r", *argv]))[0]

    assert executor("--address", "auto") == {"address": "auto", "name": "ray"}
    assert executor("--executor", "serial", "--address", "auto")["name"] == "serial"
    assert executor("--set", "executor.name=serial", "--address", "auto")["name"] == "serial"
    assert "name" not in executor("--set", "executor.num_cpus=2")  # no address, no move
    assert "name" not in executor("--address", "")  # no cluster named: where it ran
