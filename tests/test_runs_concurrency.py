"""One process per run, as users start them: many ``neurevo search`` at once into one
``--out``, two ``neurevo resume`` of one run at once, a resume beside the search that owns
the run. Every run ends complete and resumable; a refused process exits 2 naming the
holder, and nothing it refused is written.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import evolve
from evolve.cli import main
from evolve.config import ConfigError, SearchConfig, flat_items, from_toml, override, to_toml
from evolve.lock import LOCK_FILE, RunLock, RunLocked
from evolve.metadata import NOT_FINGERPRINTED, read_description
from evolve.records import RecordError, RunStore

NEUREVO = [sys.executable, "-m", "evolve.cli"]
TINY = ["--executor", "serial", "--task", "iris", "--generations", "1", "--population", "4",
        "--set", "training.epochs=1", "--rule", "bp"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*NEUREVO, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV)


def holder_pid(run: Path) -> int | None:
    try:
        return json.loads((run / LOCK_FILE).read_text() or "{}").get("pid")
    except (OSError, ValueError):
        return None


def generation(run: Path) -> int:
    try:
        return int(json.loads((run / "checkpoint.json").read_text())["strategy"]["generation"])
    except (OSError, ValueError, KeyError):
        return -1


def wait_until(condition, timeout: float = 240.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


def test_ten_searches_started_at_once_get_ten_complete_runs(tmp_path):
    """Same task, rule, seed and strategy, the same second: ten runs, none overwritten."""
    procs = [start("search", *TINY, "--out", str(tmp_path)) for _ in range(10)]
    results = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err
    printed = [Path(out.strip().splitlines()[-1]) for out, _ in results]
    runs = sorted(tmp_path.iterdir())
    assert len(set(printed)) == 10 and sorted(printed) == runs
    for run in runs:
        config = from_toml(run / "config.toml")
        assert config.run_id == run.name  # each wrote its own config
        assert read_description(run).run_id == run.name
        assert RunStore(run).read_checkpoint()["run_id"] == run.name
        assert (run / "evaluations" / "gen-00000.parquet").is_file()
        assert (run / LOCK_FILE).read_text() == ""  # released
    for run in runs:  # each passes its own resume check
        assert main(["resume", str(run), "--generations", "2"]) == 0
        assert RunStore(run).read_checkpoint()["strategy"]["generation"] == 2


def test_searches_that_choose_one_run_id_do_not_share_it(tmp_path):
    procs = [start("search", *TINY, "--out", str(tmp_path), "--set", "run_id=mine")
             for _ in range(3)]
    results = [(p, *p.communicate(timeout=600)) for p in procs]
    won = [r for r in results if r[0].returncode == 0]
    lost = [r for r in results if r[0].returncode != 0]
    assert len(won) == 1 and len(lost) == 2
    for p, _, err in lost:
        assert p.returncode == 2 and "already exists" in err and "Traceback" not in err
    assert [d.name for d in tmp_path.iterdir()] == ["mine"]


def test_exclusive_run_directories_under_threads(tmp_path):
    from evolve.search import _create_run_dir

    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(
        _create_run_dir(tmp_path, "same", explicit=False))) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 20 and all(p.is_dir() for p in made)
    with pytest.raises(RecordError, match="already exists, empty: remove it"):
        _create_run_dir(tmp_path, "same", explicit=True)


@pytest.fixture
def long_run(tmp_path) -> Path:
    """A recorded run whose resume to many generations takes long enough to watch."""
    out = tmp_path / "runs"
    code = main(["search", *TINY, "--out", str(out)])
    assert code == 0
    return next(out.iterdir())


def interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 130, err
    return out, err


def test_two_resumes_at_once_one_runs_the_other_names_it(long_run):
    targets = {}
    for generations in (100000, 99999):
        proc = start("resume", str(long_run), "--generations", str(generations))
        targets[proc] = generations
    wait_until(lambda: any(p.poll() is not None for p in targets))
    loser = next(p for p in targets if p.poll() is not None)
    winner = next(p for p in targets if p is not loser)
    _, err = loser.communicate(timeout=60)
    assert loser.returncode == 2, err
    assert f"pid {winner.pid}" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) == 1
    wait_until(lambda: generation(long_run) >= 3)  # the holder runs
    interrupt(winner)
    config = from_toml(long_run / "config.toml")
    assert config.generations == targets[winner]  # the holder's, never the refused one's
    done = RunStore(long_run).read_checkpoint()["strategy"]["generation"]
    assert done >= 1
    assert main(["resume", str(long_run), "--generations", str(done + 1)]) == 0


def test_a_resume_beside_the_search_that_owns_the_run_is_refused(tmp_path):
    out = tmp_path / "runs"
    search = start("search", *TINY[:4], "--generations", "100000", *TINY[6:],
                   "--out", str(out))
    wait_until(lambda: out.is_dir() and any(out.iterdir()) and
               holder_pid(next(out.iterdir())) == search.pid and
               (next(out.iterdir()) / "checkpoint.json").is_file())
    run = next(out.iterdir())
    before = {p: p.read_bytes() for p in [run / "config.toml", run / "run.json"]}
    refused = subprocess.run([*NEUREVO, "resume", str(run), "--generations", "3"],
                             capture_output=True, text=True, env=ENV, timeout=240)
    assert refused.returncode == 2, refused.stderr
    assert f"pid {search.pid}" in refused.stderr and "`neurevo search`" in refused.stderr
    assert {p: p.read_bytes() for p in before} == before
    _, err = interrupt(search)
    assert f"neurevo resume {run}" in err
    done = RunStore(run).read_checkpoint()["strategy"]["generation"]
    assert main(["resume", str(run), "--generations", str(done + 1)]) == 0


def test_a_killed_holder_leaves_the_run_free(long_run):
    code = ("import sys, time; from evolve.lock import RunLock\n"
            f"RunLock({str(long_run)!r}, 'resume').acquire(); print('held', flush=True)\n"
            "time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env=ENV)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
        RunLock(long_run, "resume").acquire()
    holder.kill()
    holder.wait(timeout=60)
    with RunLock(long_run, "resume"):
        assert holder_pid(long_run) == os.getpid()
    assert (long_run / LOCK_FILE).read_text() == ""


def test_a_refused_process_names_a_holder_that_is_still_writing_its_name(tmp_path):
    """The holder takes the flock first and writes its pid a moment later; a process refused
    in between must wait for the name, not report an anonymous holder."""
    import fcntl

    fd = os.open(tmp_path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write_name_late() -> None:
        time.sleep(0.3)
        os.pwrite(fd, (json.dumps({"pid": 424242, "command": "resume"}) + "\n").encode(), 0)

    writer = threading.Thread(target=write_name_late)
    writer.start()
    try:
        with pytest.raises(RunLocked, match="pid 424242"):
            RunLock(tmp_path, "resume").acquire()
    finally:
        writer.join()
        os.close(fd)


def test_run_ids_differ_for_equal_settings():
    from evolve.search import make_run_id

    config = override(SearchConfig(), {"task": {"name": "iris"}, "rule": {"name": "bp"}})
    ids = {make_run_id(config) for _ in range(50)}
    assert len(ids) > 45  # a random part: equal settings in one second still differ
    assert all("-iris-bp-neat-pso-s0-" in i for i in ids)


def test_resume_compares_every_fingerprinted_setting(long_run):
    """Each setting that decides results, changed in config.toml alone, is named."""

    recorded = read_description(long_run).fingerprint
    keys = [k for k, _ in flat_items(SearchConfig()) if not k.startswith(NOT_FINGERPRINTED)]
    assert set(keys) | {"task.content_hash"} == set(recorded)
    original = (long_run / "config.toml").read_bytes()
    config = from_toml(long_run / "config.toml")
    for key, value in [("population", 5), ("seed", 3), ("strategy.name", "neat"),
                       ("space.max_hidden_size", 32), ("hardware.chips", 2),
                       ("rule.hyperparameters", {"lr": 0.05}), ("objectives", ["accuracy"])]:
        nested: dict = {}
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
        (long_run / "config.toml").write_text(to_toml(override(config, nested)))
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            evolve.resume(long_run, reporters=())
        (long_run / "config.toml").write_bytes(original)
    # where and how far are not results: a resume may change them
    (long_run / "config.toml").write_text(to_toml(override(config, {
        "generations": 2, "stop_when": {"accuracy": 0.99}, "tolerate_failures": True,
        "executor": {"chunk_size": 3}})))
    assert main(["resume", str(long_run)]) == 0


# SIGKILL just before the first checkpoint's temporary file is renamed into place (its log
# line already appended): the directory holds that temporary file and no checkpoint
KILL_AT_FIRST_CHECKPOINT_RENAME = (
    "import os, signal, sys\nfrom evolve.cli import main\n"
    "real = os.replace\n"
    "def replace(src, dst, *a, **k):\n"
    "    if str(dst).endswith('checkpoint.json'): os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return real(src, dst, *a, **k)\n"
    "os.replace = replace\n"
    "sys.exit(main(sys.argv[1:]))\n")


@pytest.mark.parametrize("killed_at", ["_write_config", "write_description",
                                       "first_checkpoint_rename"])
def test_a_search_killed_before_its_first_checkpoint_can_be_started_again(tmp_path, killed_at):
    """SIGKILL while the run's first files are written leaves a directory with the lock file
    and at most config.toml, profile.toml, run.json, the checkpoint log and the first
    checkpoint's temporary file: resume says there is nothing to resume and how to go on,
    and the same search with the same run_id takes the directory over."""
    code = ("import importlib, os, signal, sys\nfrom evolve.cli import main\n"
            "s = importlib.import_module('evolve.search')\n"
            f"real = s.{killed_at}\n"
            "def killed(*a, **k):\n"
            f"    {'real(*a, **k); ' if killed_at == 'write_description' else ''}"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
            f"s.{killed_at} = killed\n"
            "sys.exit(main(sys.argv[1:]))\n")
    if killed_at == "first_checkpoint_rename":
        code = KILL_AT_FIRST_CHECKPOINT_RENAME
    args = ["search", *TINY, "--out", str(tmp_path), "--set", "run_id=mine"]
    killed = subprocess.run([sys.executable, "-c", code, *args], env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL
    run = tmp_path / "mine"
    left = sorted(p.name for p in run.iterdir())
    assert LOCK_FILE in left and "checkpoint.json" not in left
    assert ("run.json" in left) == (killed_at != "_write_config")
    if killed_at == "first_checkpoint_rename":
        assert any(n.startswith(".checkpoint.json.") and n.endswith(".tmp") for n in left), left
    if killed_at != "_write_config":  # a run that reads: no rows yet, and no report of them
        table = evolve.load_run(run).evaluations()
        assert table.num_rows == 0 and "objective.accuracy" in table.column_names
        report = subprocess.run([*NEUREVO, "report", str(run)], env=ENV, capture_output=True,
                                text=True, timeout=300)
        assert report.returncode == 2 and "no evaluations recorded yet" in report.stderr

    resumed = subprocess.run([*NEUREVO, "resume", str(run)], env=ENV, capture_output=True,
                             text=True, timeout=300)
    assert resumed.returncode == 2 and "Traceback" not in resumed.stderr
    assert "nothing to resume" in resumed.stderr and "start the search again" in resumed.stderr

    again = subprocess.run([*NEUREVO, *args], env=ENV, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert RunStore(run).read_checkpoint()["strategy"]["generation"] == 1
    assert read_description(run).run_id == "mine"
    assert main(["resume", str(run), "--generations", "2"]) == 0


def test_a_run_id_taken_over_only_from_a_killed_start(tmp_path):
    """A directory holding anything a start does not write, or a checkpoint, is never taken
    over: the user's files and recorded runs stay as they are."""
    from evolve.search import _create_run_dir

    for name, files in {"user": ["notes.txt"], "nolock": ["config.toml"],
                        "recorded": [LOCK_FILE, "config.toml", "checkpoint.json"]}.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f).write_text("x")
        with pytest.raises(RecordError, match="already exists"):
            _create_run_dir(tmp_path, name, explicit=True)
        assert sorted(p.name for p in (tmp_path / name).iterdir()) == sorted(files)


# SIGKILL at the first removal of a dropped member's weights (after the checkpoint that
# dropped it), or just before the second rename of pareto.parquet (its temporary file
# written)
KILL_LEAVING = {
    "dropped_members_weights": (
        "import os, signal, sys\nfrom evolve.cli import main\n"
        "from evolve.records import RunStore\n"
        "def remove_weights(self, cid): os.kill(os.getpid(), signal.SIGKILL)\n"
        "RunStore.remove_weights = remove_weights\n"
        "sys.exit(main(sys.argv[1:]))\n"),
    "a_temporary_file": (
        "import os, signal, sys\nfrom evolve.cli import main\n"
        "real, seen = os.replace, []\n"
        "def replace(src, dst, *a, **k):\n"
        "    if str(dst).endswith('pareto.parquet'):\n"
        "        seen.append(dst)\n"
        "        if len(seen) == 2: os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(src, dst, *a, **k)\n"
        "os.replace = replace\n"
        "sys.exit(main(sys.argv[1:]))\n"),
}


@pytest.mark.parametrize("left", sorted(KILL_LEAVING))
def test_a_resume_removes_what_a_killed_writer_left_behind(tmp_path, left):
    """A search killed between a checkpoint and removing the weights of the members it
    dropped, or between writing a record's temporary file and renaming it, leaves files no
    record refers to; the resume removes them: weights/ then holds exactly the front's
    members, and no temporary file is left anywhere in the run."""
    args = ["search", "--executor", "serial", "--task", "iris", "--rule", "bp",
            "--strategy", "neat-pso", "--generations", "4", "--population", "6",
            "--set", "training.epochs=2", "--set", "space.max_hidden_size=8", "--seed", "1",
            "--out", str(tmp_path), "--set", "run_id=mine"]
    killed = subprocess.run([sys.executable, "-c", KILL_LEAVING[left], *args], env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    run = tmp_path / "mine"
    temporaries = sorted(run.rglob(".*.tmp"))
    if left == "a_temporary_file":
        assert temporaries
    else:
        members = {m["candidate_id"] for m in RunStore(run).read_checkpoint()["archive"]}
        assert {p.name for p in (run / "weights").iterdir()} > \
            {f"{cid}.safetensors" for cid in members}
    assert main(["resume", str(run)]) == 0
    front = {a.candidate_id for a in evolve.load_run(run).pareto_front()}
    assert sorted(p.name for p in (run / "weights").iterdir()) == \
        sorted(f"{cid}.safetensors" for cid in front)
    assert not list(run.rglob(".*.tmp"))


# SIGKILL as generation 3's checkpoint is about to be written (the run's first is written
# before generation 1): its evaluations, weights and pareto.parquet are on disk, but the
# checkpoint that commits them is not
KILL_BEFORE_COMMIT = (
    "import os, signal, sys\nfrom evolve.cli import main\n"
    "from evolve.records import RunStore\n"
    "real, seen = RunStore.write_checkpoint, []\n"
    "def write_checkpoint(self, *a, **k):\n"
    "    seen.append(1)\n"
    "    if len(seen) == 4: os.kill(os.getpid(), signal.SIGKILL)\n"
    "    return real(self, *a, **k)\n"
    "RunStore.write_checkpoint = write_checkpoint\n"
    "sys.exit(main(sys.argv[1:]))\n")


def test_readers_show_a_run_killed_before_its_commit_as_its_checkpoint_does(tmp_path, capsys):
    args = ["search", "--executor", "serial", "--task", "iris", "--rule", "bp",
            "--strategy", "neat-pso", "--generations", "4", "--population", "6",
            "--set", "training.epochs=2", "--seed", "0", "--out", str(tmp_path),
            "--set", "run_id=mine"]
    killed = subprocess.run([sys.executable, "-c", KILL_BEFORE_COMMIT, *args], env=ENV,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    path = tmp_path / "mine"
    store = RunStore(path)
    committed = sorted(m["candidate_id"] for m in store.read_checkpoint()["archive"])
    written = sorted(store.read_pareto().column("candidate_id").to_pylist())
    assert len(store.generation_files()) == 3 and committed != written  # the case at hand
    run = evolve.load_run(path)
    assert run.completed_generations() == 2
    assert set(run.evaluations().column("generation").to_pylist()) == {0, 1}
    assert sorted(a.candidate_id for a in run.pareto_front()) == committed
    for arch in run.pareto_front():
        arch.params()  # the committed members' weights are all still there
    assert main(["pareto", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert sorted(m["candidate_id"] for m in shown) == committed
    assert main(["resume", str(path)]) == 0  # trains generation 3 again, then goes on
    done = evolve.load_run(path)
    assert done.completed_generations() == 4 and len(done.store.generation_files()) == 4
