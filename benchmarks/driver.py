"""The search driver's own time per generation at population 1,000 against 10,000.

On a cluster that evaluates a generation in seconds, what the driver does between two
generations decides the pace: neat-pso's ``ask`` + ``tell`` (ranking, speciation,
reproduction, the swarm step and the repeat check, over the JSON state) and the records the
loop writes (evolve/loop.py: evaluation rows, the Pareto archive, the summary, the files of
evolve/recording.py, the checkpoint). Both are measured here with training taken out, on
digits-sized genomes (64 inputs, 10 classes, the default search space, the ``pc`` rule's
hyperparameters) and a cheap fitness that, like real scores, gives (nearly) every candidate
its own objective values:

    accuracy = 0.5 + 0.01·hidden groups + jitter(id),   energy = 1e-7·neurons·(1 + jitter(id))

(a fitness with few distinct values would hide the cost of Pareto ranking, which grows with
the number of distinct points). Hardware pricing of candidates (``Scorer.score``) is not
counted: it is per candidate and the same in every generation.

Columns per population: median CPU seconds per generation of ``ask``, ``tell`` and
recording (process time, which other load on a shared machine disturbs less than wall
time), over the generations after the first; the bytes written to the run directory per
generation (a replaced file counts whole, an appended one by what it grew), first and last
generation; the checkpoint's size at the end; and the wall seconds that reading the
checkpoint back (its log replayed, in a new process, as ``resume`` does) takes after the
run's evaluations.
The lines below the table compare population 10,000 with 1,000 (10x = linear). What a
generation writes must not grow with the run's history (tests/test_records_incremental.py
checks 50 generations).

Usage: ``python benchmarks/driver.py [--quick] [--json PATH]`` (``--quick``: populations 100
and 1,000, three generations, for CI; the JSON is written only when a path is given).
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import rules  # noqa: E402
from evolve.archive import Archive, ArchiveEntry  # noqa: E402
from evolve.evaluate import Outcome  # noqa: E402
from evolve.objectives import resolve_objectives  # noqa: E402
from evolve.recording import CHECKPOINT_VERSION, Recorder  # noqa: E402
from evolve.records import RunStore  # noqa: E402
from evolve.scoring import Evaluation  # noqa: E402
from evolve.strategies import Candidate, Problem, StrategyConfig, make_strategy  # noqa: E402
from search_spaces.space import SearchSpace  # noqa: E402

SEED = 0
OBJECTIVES = ("accuracy", "energy")


def jitter(cid: int) -> float:
    """A deterministic share in [0, 1) per candidate id."""
    return (zlib.crc32(cid.to_bytes(8, "little")) % 1_000_003) / 1_000_003


def evaluation(c: Candidate) -> Evaluation:
    accuracy = min(1.0, 0.5 + 0.01 * len(c.genome.hidden_ids) + 0.05 * jitter(c.id))
    neurons = sum(n.size for n in c.genome.nodes)
    energy = 1e-7 * neurons * (1.0 + jitter(c.id + 1))
    outcome = Outcome(c.id, "ok", valid_accuracy=accuracy, test_accuracy=accuracy, epochs=1,
                      train_seconds=0.01, worker="bench:0", seed=c.id)
    return Evaluation(c, outcome, (accuracy, energy), {"energy_j": energy})


def files_written(root: Path, before: dict[str, tuple[int, int]]
                  ) -> tuple[int, dict[str, tuple[int, int]]]:
    """Bytes written under ``root`` since ``before`` (inode, size per file): a new or
    replaced file counts whole, a file that grew in place by what it grew."""
    now: dict[str, tuple[int, int]] = {}
    written = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            st = os.stat(os.path.join(dirpath, name))
            key = os.path.join(dirpath, name)
            now[key] = (st.st_ino, st.st_size)
            old = before.get(key)
            if old is None or old[0] != st.st_ino:
                written += st.st_size
            elif st.st_size != old[1]:
                written += max(st.st_size - old[1], 0)
    return written, now


READ_BACK = """
import sys, time
from evolve.records import RunStore
started = time.perf_counter()
RunStore(sys.argv[1]).read_checkpoint()
print(time.perf_counter() - started)
"""


def read_back_seconds(root: Path) -> float:
    """Wall seconds to read the checkpoint back, log replayed, in a new process (as
    ``resume`` does: this one's heap, a whole run's objects, would slow it down)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(_HERE.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-c", READ_BACK, str(root)], capture_output=True,
                          text=True, check=True, env=env)
    return float(done.stdout)


@dataclass
class Result:
    population: int
    generations: int
    ask_s: list[float] = field(default_factory=list)
    tell_s: list[float] = field(default_factory=list)
    record_s: list[float] = field(default_factory=list)
    bytes_written: list[int] = field(default_factory=list)
    checkpoint_bytes: int = 0
    species: int = 0
    evaluations: int = 0  # evaluated over the run
    resume_read_s: float = 0.0  # reading the checkpoint back, log replayed (wall time)

    def median(self, name: str) -> float:
        values = getattr(self, name)
        return statistics.median(values[1:] if len(values) > 1 else values)

    def to_dict(self) -> dict[str, Any]:
        return {"population": self.population, "generations": self.generations,
                "ask_s": self.ask_s, "tell_s": self.tell_s, "record_s": self.record_s,
                "median_ask_s": self.median("ask_s"), "median_tell_s": self.median("tell_s"),
                "median_ask_tell_s": self.median("ask_s") + self.median("tell_s"),
                "median_record_s": self.median("record_s"),
                "bytes_written": self.bytes_written, "checkpoint_bytes": self.checkpoint_bytes,
                "species": self.species, "evaluations": self.evaluations,
                "resume_read_s": self.resume_read_s}


def run(population: int, generations: int, directory: Path) -> Result:
    """``generations`` of neat-pso with records, timing each part."""
    hyper = rules.get_rule("pc").hyperparameters()
    problem = Problem(("max", "min"), hyper.defaults(), population, hyper, frozenset())
    strategy = make_strategy(SearchSpace(64, 10), problem, StrategyConfig())
    objectives = resolve_objectives(OBJECTIVES)
    store = RunStore(directory / f"pop-{population}")
    recorder = Recorder(store, "bench", "pc", OBJECTIVES, strategy.growing_keys)
    archive = Archive(objectives)
    state = strategy.init(SEED)
    checkpoint = {"version": CHECKPOINT_VERSION, "run_id": "bench", "strategy": state,
                  "archive": [], "history": [], "references": {}}
    store.write_checkpoint(checkpoint, strategy.growing_keys)
    _, seen = files_written(store.root, {})
    history: list[dict[str, Any]] = []
    result = Result(population, generations)
    for generation in range(generations):
        gc.collect()
        t0 = time.process_time()
        candidates = strategy.ask(state)
        t1 = time.process_time()
        evaluations = [evaluation(c) for c in candidates]
        t2 = time.process_time()
        state = strategy.tell(state, [ev.scored() for ev in evaluations])
        t3 = time.process_time()
        rows = recorder.rows(evaluations)
        added, _ = archive.update([
            ArchiveEntry(ev.candidate.id, generation, dict(zip(OBJECTIVES, ev.values,
                                                               strict=True)), row)
            for ev, row in zip(evaluations, rows, strict=True)])
        best = {"accuracy": max(ev.values[0] for ev in evaluations),
                "energy": min(ev.values[1] for ev in evaluations)}
        history.append({"generation": generation, "evaluations": len(evaluations),
                        "failed": 0, "infeasible": 0, "hypervolume": archive.hypervolume(),
                        "pareto_size": len(archive.entries),
                        "species": len(state["species"]), "best": best})
        recorder.write_generation(generation, evaluations, rows, archive, added, history,
                                  {"version": CHECKPOINT_VERSION, "run_id": "bench",
                                   "strategy": state, "archive": archive.to_dict(),
                                   "history": history, "references": {}})
        t4 = time.process_time()
        written, seen = files_written(store.root, seen)
        result.ask_s.append(t1 - t0)
        result.tell_s.append(t3 - t2)
        result.record_s.append(t4 - t3)
        result.bytes_written.append(written)
        result.evaluations += len(evaluations)
    result.checkpoint_bytes = store.checkpoint_path.stat().st_size
    result.resume_read_s = read_back_seconds(store.root)
    result.species = len(state["species"])
    return result


def print_table(results: list[Result]) -> None:
    header = (f"{'population':>10} {'gens':>4} | {'ask s':>7} {'tell s':>7} {'ask+tell s':>10} "
              f"{'record s':>8} | {'written/gen first':>17} {'last':>10} "
              f"{'checkpoint':>10} | {'evals':>7} {'resume s':>8}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.population:>10} {r.generations:>4} | {r.median('ask_s'):>7.3f} "
              f"{r.median('tell_s'):>7.3f} {r.median('ask_s') + r.median('tell_s'):>10.3f} "
              f"{r.median('record_s'):>8.3f} | {_size(r.bytes_written[0]):>17} "
              f"{_size(r.bytes_written[-1]):>10} {_size(r.checkpoint_bytes):>10} | "
              f"{r.evaluations:>7} {r.resume_read_s:>8.2f}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        scale = b.population / a.population
        for name in ("ask+tell", "record"):
            def total(r: Result) -> float:
                return (r.median("ask_s") + r.median("tell_s") if name == "ask+tell"
                        else r.median("record_s"))
            print(f"{name}: population {b.population:,} / {a.population:,} = "
                  f"{total(b) / total(a):.1f}x for {scale:.0f}x the population")
    print("s: median CPU seconds per generation (after the first); written/gen: bytes "
          "written to the run directory by that generation; resume s: wall seconds to read "
          "the checkpoint back after `evals` evaluations")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"  # pragma: no cover


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small populations (CI smoke)")
    parser.add_argument("--generations", type=int, default=None,
                        help="generations per population (default 6; 3 with --quick)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    populations = (100, 1000) if args.quick else (1000, 10000)
    generations = args.generations or (3 if args.quick else 6)
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(p, generations, Path(tmp)) for p in populations]
    print_table(results)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"benchmark": "driver", "quick": args.quick, "clock": "process_time",
                   "results": [r.to_dict() for r in results]}
        args.json.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return 0 if all(math.isfinite(r.median("tell_s")) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
