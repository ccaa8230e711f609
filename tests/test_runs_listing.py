"""``neurevo runs``: the runs under an output folder, one line each, with the state that
says what to do next; and ``search --run-id``, which names a run's folder."""

from __future__ import annotations

import json
import os
import socket

import pytest
from test_cli import run_cli

from evolve.cli import main

TINY = ["--executor", "serial", "--task", "iris", "--generations", "1", "--population", "4",
        "--set", "training.epochs=1"]


def test_runs_lists_each_run_with_its_state(tmp_path, capsys):
    out = tmp_path / "runs"  # the runs are made in this process; the listing runs as a user's
    for run_id, extra in (("done", []), ("cut", []), ("held", []),
                          ("early", ["--generations", "3", "--set", "stop_when.accuracy=0.0"])):
        assert main(["search", *TINY, "--out", str(out), "--run-id", run_id, *extra]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["cut", "done", "early", "held"]
    # a run stopped after 1 of 3 generations (as Ctrl-C leaves one), one a live process
    # holds, one killed before its first checkpoint, one damaged, and a folder of the user's
    config = out / "cut" / "config.toml"
    config.write_text(config.read_text().replace("generations = 1", "generations = 3"))
    (out / "held" / ".lock").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "command": "resume",
         "since": "now"}))
    (out / "killed").mkdir()
    (out / "killed" / ".lock").write_text("")
    (out / "broken").mkdir()
    (out / "broken" / "config.toml").write_text("generations = [\n")
    (out / "notes").mkdir()

    listed = run_cli("runs", str(out), "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["run_id"]: r for r in json.loads(listed.stdout)}
    assert {k: r["state"] for k, r in rows.items()} == {
        "broken": "unreadable", "cut": "stopped", "done": "complete", "early": "complete",
        "held": "running", "killed": "not started"}
    assert (rows["cut"]["generations"], rows["cut"]["target"]) == (1, 3)
    assert rows["cut"]["note"] == f"neurevo resume {out / 'cut'} goes on"
    assert (rows["early"]["generations"], rows["early"]["target"]) == (1, 3)  # its target
    assert rows["done"]["evaluations"] == 4 and 0.0 <= rows["done"]["best_accuracy"] <= 1.0
    assert (rows["done"]["task"], rows["done"]["rule"]) == ("iris", "pc")
    assert f"pid {os.getpid()}" in rows["held"]["note"]
    assert rows["broken"]["best_accuracy"] is None and "config.toml" in rows["broken"]["note"]

    import evolve  # the same listing from Python
    assert {r.run_id: r.state for r in evolve.list_runs(out)} == {
        k: r["state"] for k, r in rows.items()}

    table = run_cli("runs", str(out))
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "state", "task"] and len(lines) == 7
    cut = next(line for line in lines if line.startswith("cut "))
    assert cut.split()[1:6] == ["stopped", "iris", "pc", "neat-pso", "1/3"]
    # a killed holder leaves its name in the lock file, but no live process
    (out / "held" / ".lock").write_text(json.dumps(
        {"pid": 2 ** 22 + 7, "host": socket.gethostname(), "command": "resume"}))
    rows = {r["run_id"]: r for r in json.loads(run_cli("runs", str(out), "--json").stdout)}
    assert rows["held"]["state"] == "complete"
    # a holder on another machine cannot be checked from here: the note says so
    (out / "held" / ".lock").write_text(json.dumps(
        {"pid": 123, "host": "elsewhere.example", "command": "search"}))
    rows = {r["run_id"]: r for r in json.loads(run_cli("runs", str(out), "--json").stdout)}
    assert rows["held"]["state"] == "running"
    assert rows["held"]["note"] == ("`neurevo search`, pid 123 on elsewhere.example, per its "
                                    "lock file: not checked here")


def test_runs_refuses_what_is_not_a_folder_of_runs_and_run_id_names_a_run(tmp_path):
    result = run_cli("search", *TINY, "--out", str(tmp_path), "--run-id", "mine")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "mine")
    taken = run_cli("search", *TINY, "--out", str(tmp_path), "--run-id", "mine")
    assert taken.returncode == 2 and "already exists" in taken.stderr
    bad = run_cli("search", *TINY, "--out", str(tmp_path), "--run-id", "a/b")
    assert bad.returncode == 2 and "run_id" in bad.stderr
    for target, needle in ((tmp_path / "mine", "is a run, not a folder of runs"),
                           (tmp_path / "nope", "does not exist"),
                           (tmp_path / "mine" / "config.toml", "is not a folder")):
        result = run_cli("runs", str(target))
        assert result.returncode == 2 and needle in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    import evolve
    from evolve.records import RecordError

    with pytest.raises(RecordError, match="does not exist"):
        evolve.list_runs(tmp_path / "nope")
    empty = run_cli("runs", cwd=tmp_path / "mine")  # no runs/ under it
    assert empty.returncode == 2 and "'runs' does not exist" in empty.stderr
    (tmp_path / "empty").mkdir()
    result = run_cli("runs", str(tmp_path / "empty"))
    assert result.returncode == 0 and "no runs under" in result.stderr


def test_a_copy_of_a_held_run_is_not_listed_as_running(tmp_path, capsys):
    """The lock file names its holder; a directory copied while its run goes on carries that
    text along, but not the lock itself: the copy is stopped (resume takes it at once), the
    original still running."""
    import shutil

    import evolve
    from evolve.lock import RunLock

    out = tmp_path / "runs"
    assert main(["search", *TINY, "--generations", "1", "--out", str(out), "--run-id",
                 "live"]) == 0
    config = out / "live" / "config.toml"
    config.write_text(config.read_text().replace("generations = 1", "generations = 2"))
    with RunLock(out / "live", "resume"):
        shutil.copytree(out / "live", out / "copy")
        states = {os.path.basename(r.path): r.state for r in evolve.list_runs(out)}
        assert states == {"live": "running", "copy": "stopped"}
        capsys.readouterr()
        assert main(["resume", str(out / "copy")]) == 0


def test_a_run_whose_last_generation_failed_whole_says_so(tmp_path):
    """A search stops when every evaluation of a generation fails; listed as complete (its
    last generation is recorded) or stopped, it says that generation failed."""
    import evolve
    from evolve.config import SearchConfig, override
    from evolve.loop import GenerationFailed

    def broken(m):
        raise RuntimeError("the objective is broken")

    objectives = [evolve.Objective("broken", "max", broken, reference=0.0)]
    for run_id, generations in (("whole", 1), ("part", 2)):
        config = override(SearchConfig(), {
            "generations": generations, "population": 4, "out": str(tmp_path),
            "run_id": run_id, "task": {"name": "iris"}, "training": {"epochs": 1},
            "executor": {"name": "serial"}})
        with pytest.raises(GenerationFailed):
            evolve.search(config, objectives=objectives, reporters=())
    rows = {r.run_id: r for r in evolve.list_runs(tmp_path)}
    assert (rows["whole"].state, rows["part"].state) == ("complete", "stopped")
    said = "every evaluation of generation 1 failed: its records' error column says why"
    assert rows["whole"].note == said
    assert rows["part"].note == f"{said}; neurevo resume {tmp_path / 'part'} goes on"


def test_a_lock_held_on_another_host_is_named_whatever_its_file(tmp_path):
    """On a shared filesystem another host sees the lock file under device numbers of its
    own: the file check is made on the holder's host only, so the run still lists as held
    there."""
    from evolve.lock import read_holder

    (tmp_path / ".lock").write_text(json.dumps(
        {"pid": 1, "host": "elsewhere", "command": "search", "since": "now",
         "file": [-1, -1]}))
    assert read_holder(tmp_path)["host"] == "elsewhere"
    (tmp_path / ".lock").write_text(json.dumps(
        {"pid": 1, "host": socket.gethostname(), "command": "search", "since": "now",
         "file": [-1, -1]}))
    assert read_holder(tmp_path) == {}


def test_runs_gives_the_fronts_best_accuracy_when_it_is_not_an_objective(tmp_path):
    import evolve

    out = tmp_path / "runs"
    assert main(["search", *TINY, "--out", str(out), "--run-id", "lean",
                 "--objectives", "params,energy"]) == 0
    front = evolve.load_run(out / "lean").pareto_front()
    [summary] = evolve.list_runs(out)
    assert summary.best_accuracy == max(a.valid_accuracy for a in front)


def test_a_run_that_lost_its_checkpoint_is_damaged_not_unstarted(tmp_path, capsys):
    import evolve

    out = tmp_path / "runs"
    assert main(["search", *TINY, "--out", str(out), "--run-id", "lost"]) == 0
    (out / "lost" / "checkpoint.json").unlink()
    capsys.readouterr()
    [summary] = evolve.list_runs(out)
    assert summary.state == "unreadable"
    assert "missing, though evaluations/ holds 1 generation file(s): restore it" in summary.note
    assert main(["resume", str(out / "lost")]) == 2
    assert "checkpoint.json: missing, though evaluations/" in capsys.readouterr().err


def test_reading_a_run_that_lost_a_generations_file_says_so(tmp_path, capsys):
    import evolve

    out = tmp_path / "runs"
    assert main(["search", *TINY, "--out", str(out), "--run-id", "gap",
                 "--generations", "3"]) == 0
    (out / "gap" / "evaluations" / "gen-00001.parquet").unlink()
    capsys.readouterr()
    run = evolve.load_run(out / "gap")
    assert set(run.evaluations().column("generation").to_pylist()) == {0, 2}
    run.evaluations()  # said once per run read
    err = capsys.readouterr().err
    assert err.count("gen-00001.parquet missing, though the checkpoint records 3") == 1
