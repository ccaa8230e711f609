"""The Ray executor with real Ray: same records as serial, node loss, worker death, time
limits, and a driver SIGKILL followed by `neurevo resume` (nothing lost, nothing twice).

Every test starts Ray through a fixture that always shuts it down.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import ray

import evolve
from evolve.config import override
from evolve.loop import GenerationFailed

VOLATILE = ["train_seconds", "worker", "run_id"]


class Loss(float):
    """A curve's training loss: equal to another within 1e-5 relative (see records)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, float) and math.isclose(self, other, rel_tol=1e-5)

    __hash__ = None  # type: ignore[assignment]


def records(run: evolve.Run) -> list[dict]:
    """The run's rows without what legitimately varies between executors: times, worker
    names, and the last float32 digits of the training curve's losses (a batch loss is a
    reduction whose order follows the process's thread count — a Ray task runs with one
    thread, the driver with all — so it is compared to 1e-5 relative; accuracies, weights
    and every other column must be equal)."""
    rows = [{k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()}
            for row in run.evaluations().drop_columns(VOLATILE).to_pylist()]  # NaN != NaN
    for row in rows:
        row["curve"] = [{k: (Loss(v) if k == "train_loss" else v) for k, v in point.items()}
                        for point in json.loads(row["curve"])]
    return sorted(rows, key=lambda r: r["candidate_id"])


@pytest.fixture
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [c.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=c.address, log_to_driver=False)
    c.wait_for_nodes()
    try:
        yield c, workers
    finally:
        ray.shutdown()
        c.shutdown()


def ray_config(config, **executor):
    return override(config, {"executor": {"name": "ray", "chunk_size": 2, **executor}})


def test_ray_executor_gives_the_same_records_as_serial(small_digits_config, local_ray):
    serial = evolve.search(small_digits_config)
    distributed = evolve.search(ray_config(small_digits_config))
    assert records(distributed) == records(serial)
    workers = set(distributed.evaluations().column("worker").to_pylist())
    assert all(str(os.getpid()) not in w.split(":")[-1] for w in workers), "ran in Ray workers"


def _run_in_thread(config):
    box = {}

    def target():
        try:
            box["run"] = evolve.search(config)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    return thread, box


def test_removing_a_worker_node_mid_generation_loses_nothing(small_digits_config, cluster):
    c, workers = cluster
    slower = override(small_digits_config, {"training": {"epochs": 8}})
    config = ray_config(slower, address=c.address)
    thread, box = _run_in_thread(config)
    deadline = time.time() + 120
    while time.time() < deadline and not _busy_workers():
        time.sleep(0.05)
    assert _busy_workers(), "no evaluation started"
    c.remove_node(workers[0], allow_graceful=False)
    thread.join(timeout=600)
    assert "error" not in box, box.get("error")
    rows = box["run"].evaluations().to_pylist()
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert records(box["run"]) == records(evolve.search(slower))


def _busy_workers() -> list[psutil.Process]:
    """This test's Ray workers running a chunk: descendants of this process only (the Ray
    instance a fixture starts is a process tree under it), never another suite's or another
    xdist worker's instance on the same machine."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "ray::evaluate_chunk" in " ".join(proc.cmdline()):
                found.append(proc)
    return found


def test_a_killed_worker_process_is_retried(small_digits_config, local_ray):
    slower = override(small_digits_config, {"training": {"epochs": 8}})
    thread, box = _run_in_thread(ray_config(slower))
    deadline = time.time() + 120
    victims = []
    while time.time() < deadline and not victims:
        victims = _busy_workers()
        time.sleep(0.05)
    assert victims, "no evaluation started"
    victims[0].send_signal(signal.SIGKILL)
    thread.join(timeout=600)
    assert "error" not in box, box.get("error")
    rows = records(box["run"])
    assert all(r["status"] == "ok" for r in rows)
    # the retried batch gave exactly what an undisturbed run gives
    assert rows == records(evolve.search(slower))


def test_a_generation_that_all_ran_past_the_time_limit_names_the_setting_to_raise(tmp_path):
    """A timeout has no traceback to read and tolerate_failures would only time out every
    generation: the error names executor.eval_timeout and the resume that raises it. Any
    other failure keeps pointing at the tracebacks."""
    from types import SimpleNamespace

    from evolve.loop import Session

    def session(timeout: float) -> SimpleNamespace:
        config = override(evolve.SearchConfig(), {"executor": {"name": "ray",
                                                               "eval_timeout": timeout}})
        return SimpleNamespace(config=config, store=SimpleNamespace(root=tmp_path / "r"))

    def evaluation(status: str) -> SimpleNamespace:
        return SimpleNamespace(outcome=SimpleNamespace(status=status, error="boom",
                                                       traceback=""))

    with pytest.raises(GenerationFailed) as timed_out:
        Session._check_failures(session(0.05), 0, [evaluation("timeout")] * 3)
    said = timed_out.value.summary()
    assert "executor.eval_timeout = 0.05 s" in said and "tolerate_failures" not in said
    assert f"neurevo resume {tmp_path / 'r'} --set executor.eval_timeout=SECONDS" in said
    with pytest.raises(GenerationFailed) as mixed:
        Session._check_failures(session(0.05), 0, [evaluation("timeout"),
                                                   evaluation("failed")])
    assert "tolerate_failures = true" in mixed.value.summary()


def test_an_evaluation_over_its_time_limit_is_recorded_as_timeout(small_digits_config,
                                                                 local_ray):
    config = ray_config(override(small_digits_config, {"generations": 2,
                                                       "training": {"epochs": 200,
                                                                    "patience": 200}}),
                        eval_timeout=0.05)
    with pytest.raises(GenerationFailed, match="ran past its time limit"):
        evolve.search(config)  # a whole generation lost to the limit: a loud stop
    config = override(config, {"tolerate_failures": True,
                               "out": config.out + "-tolerant"})
    run = evolve.search(config)
    rows = run.evaluations().to_pylist()
    assert {r["generation"] for r in rows} == {0, 1}, "the search went on"
    assert rows and all(r["status"] == "timeout" for r in rows)
    assert all("time limit" in r["error"] for r in rows)
    assert run.pareto_front() == []


def search_command(config, out: Path, epochs: int, *settings: str) -> list[str]:
    """``neurevo search`` with small_digits_config's settings as a user would type them: one
    candidate per chunk on one worker, run id ``killed``, plus ``settings``."""
    cmd = [sys.executable, "-m", "evolve.cli", "search", "--generations", "3",
           "--population", "8", "--seed", str(config.seed), "--out", str(out),
           "--rule", config.rule.name, "--objectives", ",".join(config.objectives)]
    for setting in (f"training.epochs={epochs}", "training.patience=3",
                    "space.max_hidden_size=32", "strategy.mutation.add_node=0.5",
                    "strategy.mutation.add_edge=0.3", *settings, "executor.chunk_size=1",
                    "executor.num_cpus=1", "run_id=killed"):
        cmd += ["--set", setting]
    return cmd


def kill_once_recording(proc: subprocess.Popen, journal: Path) -> None:
    """SIGKILL the driver and the Ray instance it started once generation 1's journal holds
    a chunk."""
    deadline = time.time() + 300
    while time.time() < deadline and not list(journal.glob("chunk-*.parquet")):
        time.sleep(0.05)
    assert list(journal.glob("chunk-*.parquet")), "generation 1 never started recording"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def resume_with_cli(run_dir: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "evolve.cli", "resume", str(run_dir)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # the local instance's default token authentication is nothing for the user to act on
    assert "Token authentication is enabled" not in result.stderr, result.stderr


def test_driver_sigkill_then_resume_evaluates_each_candidate_once(small_digits_config,
                                                                  tmp_path):
    config = override(small_digits_config, {"generations": 3, "training": {"epochs": 6}})
    reference = evolve.search(config)
    out = tmp_path / "killed"
    proc = subprocess.Popen(search_command(config, out, 6), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    run_dir = out / "killed"
    kill_once_recording(proc, run_dir / "evaluations" / "_gen-00001.partial")
    assert not (run_dir / "evaluations" / "gen-00001.parquet").exists()
    journaled = len(list((run_dir / "evaluations" / "_gen-00001.partial").glob("*.parquet")))
    resume_with_cli(run_dir)
    resumed = evolve.load_run(run_dir)
    rows = records(resumed)
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert ids == [r["candidate_id"] for r in records(reference)]
    assert rows == records(reference)
    assert journaled >= 1
    assert not (run_dir / "evaluations" / "_gen-00001.partial").exists()


def test_steady_driver_sigkill_then_resume_evaluates_each_candidate_once(small_digits_config,
                                                                         tmp_path):
    """Steady mode on Ray: one slot, so the arrival order is fixed and the resumed run's
    records equal the serial reference's (tests/test_steady.py covers more slots)."""
    config = override(small_digits_config, {"strategy": {"mode": "steady"},
                                            "executor": {"chunk_size": 1}})
    reference = evolve.search(config)
    out = tmp_path / "killed"
    proc = subprocess.Popen(search_command(config, out, 4, "strategy.mode=steady"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    journal = out / "killed" / "evaluations" / "_gen-00001.partial"
    kill_once_recording(proc, journal)
    assert not (out / "killed" / "evaluations" / "gen-00001.parquet").exists()
    assert "ids" in (journal / "order.jsonl").read_text()
    resume_with_cli(out / "killed")
    rows = records(evolve.load_run(out / "killed"))
    ids = [r["candidate_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert rows == records(reference)
    assert not journal.exists()


def test_a_ray_task_error_is_recorded_as_the_workers_own_error_on_one_line():
    """Ray wraps a worker's exception in a coloured, multi-line RayTaskError: the records'
    error column gets the worker's exception itself."""
    from ray.exceptions import RayTaskError

    from evolve.ray_executor import _one_line

    wrapped = RayTaskError("evaluate_chunk", "Traceback (most recent call last):\n  ^^^^\n",
                           ModuleNotFoundError("No module named 'my_helpers'"))
    assert "\x1b[" in str(wrapped)  # what a record would otherwise hold
    assert _one_line(wrapped) == "ModuleNotFoundError: No module named 'my_helpers'"
    assert _one_line(ValueError("a\n  b")) == "ValueError: a b"
