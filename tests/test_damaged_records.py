"""Damaged run records never crash a reader.

One small run, interrupted in the middle of its last generation (so its journal holds two
evaluated candidates), is copied per case; one file of the copy is damaged and one verb is
run on it in-process. A verb that needs the damaged file exits 2 with one line naming it; a
verb that does not need it succeeds; either way no file of the run changes except what the
verb writes by design. A damaged journal is set aside and its candidates evaluated again,
to the very records of an uninterrupted run. Exports are checked against their genome
before anything is allocated, and every file neurevo writes honours the umask.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

import evolve
from evolve.cli import main
from evolve.config import SearchConfig, override
from evolve.records import RecordError, atomic_write, write_text
from evolve.reporters import Reporter
from search_spaces.genome import MAX_NEURONS, MAX_SYNAPSES, Genome, GenomeError

VOLATILE = ("train_seconds", "worker", "run_id")
VERBS = ("pareto", "export", "report", "compare", "resume")


class StopInLastGeneration(Reporter):
    """Ctrl-C after two candidates of generation 3 were journaled."""

    def __init__(self) -> None:
        self.journaled = 0

    def evaluation_done(self, generation: int, done: int, total: int, outcome: object) -> None:
        if generation == 2:
            self.journaled += 1
            if self.journaled == 2:
                raise KeyboardInterrupt


def tiny(out: Path, run_id: str) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 3, "population": 6, "seed": 1, "out": str(out), "run_id": run_id,
        "task": {"name": "iris"}, "rule": {"name": "bp"},
        "training": {"epochs": 3, "patience": 2}, "space": {"max_hidden_size": 8},
        "executor": {"name": "serial", "chunk_size": 1}})


@dataclass
class Runs:
    full: evolve.Run  # three generations, never interrupted
    cut: Path  # the same search, stopped with two candidates of generation 3 journaled
    work: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    work = tmp_path_factory.mktemp("damaged")
    old = os.umask(0o022)  # the files' modes are checked below
    try:
        full = evolve.search(tiny(work / "runs", "full"), reporters=())
        with pytest.raises(KeyboardInterrupt):
            evolve.search(tiny(work / "runs", "cut"), reporters=[StopInLastGeneration()])
    finally:
        os.umask(old)
    cut = work / "runs" / "cut"
    assert len(list(journal(cut).glob("chunk-*.parquet"))) == 2
    assert len(list(journal(cut).glob("*.safetensors"))) >= 1
    assert evolve.load_run(cut).pareto_front()
    return Runs(full, cut, work)


def journal(run: Path) -> Path:
    return run / "evaluations" / "_gen-00002.partial"


def stable_rows(run: evolve.Run) -> list[dict]:
    table = run.evaluations().drop_columns(list(VOLATILE))
    return sorted(table.to_pylist(), key=lambda r: r["candidate_id"])


def snapshot(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


# -- damage ------------------------------------------------------------------------------
def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def best_weights(run: Path) -> Path:
    """The weights `neurevo export` reads by default: the front's first member's."""
    return run / "weights" / f"{evolve.load_run(run).pareto_front()[0].candidate_id}.safetensors"


def config_not_utf8(run: Path) -> Path:
    path = run / "config.toml"
    path.write_bytes(path.read_bytes() + "# café\n".encode("latin-1"))
    return path


def config_not_toml(run: Path) -> Path:
    path = run / "config.toml"
    path.write_text(path.read_text() + "generations = [\n")
    return path


def gen_copied_over_another(run: Path) -> Path:
    """A readable file whose candidates are another generation's: each counted twice."""
    path = run / "evaluations" / "gen-00001.parquet"
    shutil.copyfile(run / "evaluations" / "gen-00000.parquet", path)
    return path


def config_seed_edited(run: Path) -> Path:
    """A setting that decides results changed by hand: readers would rebuild another split."""
    path = run / "config.toml"
    text = path.read_text()
    assert "\nseed = 1\n" in text
    path.write_text(text.replace("\nseed = 1\n", "\nseed = 4\n"))
    return path


def run_json_wrong_shape(run: Path) -> Path:
    path = run / "run.json"
    data = json.loads(path.read_text())
    data["rule"]["limits"] = {"WT": True}  # each limit is an object {removed, reason}
    path.write_text(json.dumps(data))
    return path


def run_json_genes_wrong_shape(run: Path) -> Path:
    path = run / "run.json"
    data = json.loads(path.read_text())
    data["rule"]["genes"]["lr"] = 0.003  # each gene is an object {low, high, default, ...}
    path.write_text(json.dumps(data))
    return path


def run_json_without_genes(run: Path) -> Path:
    """A run recorded before run.json kept the rule's genes: nothing to compare, all reads."""
    path = run / "run.json"
    data = json.loads(path.read_text())
    del data["rule"]["genes"]
    path.write_text(json.dumps(data))
    return path


def profile_not_toml(run: Path) -> Path:
    path = run / "profile.toml"
    path.write_text("name = 'loihi'\nneurons_per_core = [\n")
    return path


def profile_not_utf8(run: Path) -> Path:
    path = run / "profile.toml"
    path.write_bytes(b"\xff\xfe\x00\x01 not text")
    return path


def checkpoint_missing(run: Path) -> Path:
    path = run / "checkpoint.json"
    path.unlink()
    return path


def checkpoint_not_json(run: Path) -> Path:
    path = run / "checkpoint.json"
    path.write_bytes(b"\x00\x01 not json")
    return path


def checkpoint_wrong_shape(run: Path) -> Path:
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["archive"] = [{"generation": 0}]  # an archive entry without its fields
    path.write_text(json.dumps(data))
    return path


def log_summary_damaged(run: Path) -> Path:
    """A summary in the checkpoint's log without its fields, its checksum made to match:
    the log's lines are checked like the checkpoint itself."""
    from evolve.records import _checksum

    path = run / "checkpoint-log.jsonl"
    lines = path.read_bytes().split(b"\n")
    entry = json.loads(lines[1].split(b" ", 1)[1])
    entry["added"]["history"] = [{"generation": 0}]
    text = json.dumps(entry, separators=(",", ":"))
    lines[1] = f"{_checksum(text)} {text}".encode()
    data = json.loads((run / "checkpoint.json").read_text())
    data["log"]["bytes"] += len(lines[1]) - len(path.read_bytes().split(b"\n")[1])
    (run / "checkpoint.json").write_text(json.dumps(data))
    path.write_bytes(b"\n".join(lines))
    return path


def log_line_flipped(run: Path) -> Path:
    path = run / "checkpoint-log.jsonl"
    data = path.read_bytes()
    at = data.index(b"\n") + 40  # inside the second line's JSON
    path.write_bytes(data[:at] + bytes([data[at] ^ 1]) + data[at + 1:])
    return path


def strategy_state_damaged(run: Path) -> Path:
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["strategy"] = {"generation": data["strategy"]["generation"]}  # the rest lost
    path.write_text(json.dumps(data))
    return path


def strategy_rng_damaged(run: Path) -> Path:
    """A state whose pending candidates still decode, so ``ask`` passes: only ``tell``
    reads the generator and the id counter."""
    path = run / "checkpoint.json"
    data = json.loads(path.read_text())
    data["strategy"]["rng"] = [1, 2, 3]
    data["strategy"]["next_id"] = "5"
    path.write_text(json.dumps(data))
    return path


def drop_column(path: Path, column: str) -> Path:
    table = pq.read_table(path)
    pq.write_table(table.drop_columns([column]), path)
    return path


def retype_column(path: Path, column: str) -> Path:
    table = pq.read_table(path)
    i = table.schema.get_field_index(column)
    pq.write_table(table.set_column(i, column, table[column].cast(pa.string())), path)
    return path


def weights_wrong_shape(run: Path) -> Path:
    path = best_weights(run)
    with safe_open(str(path), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    tensors["weight.0"] = torch.zeros(tensors["weight.0"].shape[0] + 1,
                                      tensors["weight.0"].shape[1])
    save_file(tensors, str(path))
    return path


def flip_a_value(path: Path) -> Path:
    """Rewrite the top byte of the first float32 in a safetensors file's data: the value stays
    finite (about 2^5) and every shape stays right, so only the checksum can tell."""
    data = bytearray(path.read_bytes())
    start = 8 + int.from_bytes(data[:8], "little")
    data[start + 3] = 0x42 if data[start + 3] != 0x42 else 0x41
    path.write_bytes(bytes(data))
    return path


def journal_chunk(run: Path) -> Path:
    return sorted(journal(run).glob("chunk-*.parquet"))[0]


def journal_weights(run: Path) -> Path:
    return sorted(journal(run).glob("*.safetensors"))[-1]


def missing(path: Path) -> Path:
    path.unlink()
    return path


def run_json_without_fingerprint(run: Path) -> Path:
    path = run / "run.json"
    data = json.loads(path.read_text())
    del data["fingerprint"]
    path.write_text(json.dumps(data))
    return path


DAMAGES = {
    "intact": lambda run: None,
    "config-not-utf8": config_not_utf8,
    "config-not-toml": config_not_toml,
    "config-seed-edited": config_seed_edited,
    "run-json-truncated": lambda run: truncate(run / "run.json"),
    "run-json-wrong-shape": run_json_wrong_shape,
    "run-json-missing": lambda run: missing(run / "run.json"),
    "run-json-without-fingerprint": run_json_without_fingerprint,
    "run-json-genes-wrong-shape": run_json_genes_wrong_shape,
    "run-json-without-genes": run_json_without_genes,
    "profile-not-toml": profile_not_toml,
    "profile-not-utf8": profile_not_utf8,
    "checkpoint-missing": checkpoint_missing,
    "checkpoint-not-json": checkpoint_not_json,
    "checkpoint-truncated": lambda run: truncate(run / "checkpoint.json"),
    "checkpoint-wrong-shape": checkpoint_wrong_shape,
    "strategy-state-damaged": strategy_state_damaged,
    "strategy-rng-damaged": strategy_rng_damaged,
    "checkpoint-log-truncated": lambda run: truncate(run / "checkpoint-log.jsonl"),
    "checkpoint-log-line-flipped": log_line_flipped,
    "checkpoint-log-wrong-shape": log_summary_damaged,
    "generations-truncated": lambda run: truncate(run / "generations.parquet"),
    "pareto-truncated": lambda run: truncate(run / "pareto.parquet"),
    "pareto-wrong-schema": lambda run: drop_column(run / "pareto.parquet", "genome"),
    "pareto-missing": lambda run: missing(run / "pareto.parquet"),
    "gen-truncated": lambda run: truncate(run / "evaluations" / "gen-00000.parquet"),
    "gen-wrong-schema": lambda run: retype_column(run / "evaluations" / "gen-00001.parquet",
                                                  "species"),
    "gen-copied-over-another": gen_copied_over_another,
    "weights-truncated": lambda run: truncate(best_weights(run)),
    "weights-missing": lambda run: missing(best_weights(run)),
    "weights-wrong-shape": weights_wrong_shape,
    "weights-value-flipped": lambda run: flip_a_value(best_weights(run)),
    "journal-chunk-truncated": lambda run: truncate(journal_chunk(run)),
    "journal-weights-truncated": lambda run: truncate(journal_weights(run)),
}

# Exit code per verb (pareto, export, report, compare, resume): 2 where the verb reads the
# damaged file, 0 where it does not. pareto and export read config.toml, run.json and
# pareto.parquet (export also the member's weights); report and compare add the checkpoint
# (history, references; the history is in the checkpoint's log), report every evaluation
# file; resume reads config.toml, run.json, profile.toml, the checkpoint (and its log), every
# recorded evaluation file and the journal, and rewrites pareto.parquet and
# generations.parquet from the checkpoint. Nothing reads generations.parquet. A damaged
# journal is set aside and re-evaluated, so resume succeeds.
EXPECTED = {
    "intact": (0, 0, 0, 0, 0),
    "config-not-utf8": (2, 2, 2, 2, 2),
    "config-not-toml": (2, 2, 2, 2, 2),
    "config-seed-edited": (2, 2, 2, 2, 2),
    "run-json-truncated": (2, 2, 2, 2, 2),
    "run-json-wrong-shape": (2, 2, 2, 2, 2),
    "run-json-missing": (0, 0, 0, 0, 2),
    "run-json-without-fingerprint": (0, 0, 0, 0, 2),
    "run-json-genes-wrong-shape": (2, 2, 2, 2, 2),
    "run-json-without-genes": (0, 0, 0, 0, 0),
    "profile-not-toml": (0, 0, 0, 0, 2),
    "profile-not-utf8": (0, 0, 0, 0, 2),
    "checkpoint-missing": (0, 0, 2, 2, 2),
    "checkpoint-not-json": (0, 0, 2, 2, 2),
    "checkpoint-truncated": (0, 0, 2, 2, 2),
    "checkpoint-wrong-shape": (0, 0, 2, 2, 2),
    "strategy-state-damaged": (0, 0, 0, 0, 2),
    "strategy-rng-damaged": (0, 0, 0, 0, 2),
    "checkpoint-log-truncated": (0, 0, 2, 2, 2),
    "checkpoint-log-line-flipped": (0, 0, 2, 2, 2),
    "checkpoint-log-wrong-shape": (0, 0, 2, 2, 2),
    "generations-truncated": (0, 0, 0, 0, 0),
    "pareto-truncated": (2, 2, 2, 2, 0),
    "pareto-wrong-schema": (2, 2, 2, 2, 0),
    "pareto-missing": (2, 2, 2, 2, 0),
    "gen-truncated": (0, 0, 2, 0, 2),
    "gen-wrong-schema": (0, 0, 2, 0, 2),
    "gen-copied-over-another": (0, 0, 2, 0, 2),
    "weights-truncated": (0, 2, 0, 0, 0),
    "weights-missing": (0, 2, 0, 0, 0),
    "weights-wrong-shape": (0, 2, 0, 0, 0),
    "weights-value-flipped": (0, 2, 0, 0, 0),
    "journal-chunk-truncated": (0, 0, 0, 0, 0),
    "journal-weights-truncated": (0, 0, 0, 0, 0),
}

# What a successful resume writes: the last generation's records, the archive's files, the
# checkpoint; it clears the journal and sets damaged journal files aside under damaged/.
RESUME_WRITES = ("checkpoint.json", "checkpoint-log.jsonl", "pareto.parquet",
                 "generations.parquet",
                 "evaluations/gen-00002.parquet", "evaluations/_gen-00002.partial/", "weights/",
                 "damaged/")


def command(verb: str, run: Path, runs: Runs, out: Path) -> list[str]:
    return {"pareto": ["pareto", str(run), "--json"],
            "export": ["export", str(run), "--out", str(out / "x.safetensors")],
            "report": ["report", str(run), "--out", str(out / "report.html")],
            "compare": ["compare", str(runs.full.path), str(run)],
            "resume": ["resume", str(run)]}[verb]


CELLS = [pytest.param(damage, verb, EXPECTED[damage][i], id=f"{damage}-{verb}")
         for damage in DAMAGES for i, verb in enumerate(VERBS)]


@pytest.mark.parametrize("damage, verb, code", CELLS)
def test_a_damaged_record_never_crashes_a_verb(runs, tmp_path, capsys, damage, verb, code):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    damaged = DAMAGES[damage](run)
    damaged_bytes = damaged.read_bytes() if damaged is not None and damaged.exists() else None
    before = snapshot(run)
    capsys.readouterr()
    assert main(command(verb, run, runs, tmp_path)) == code
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("neurevo: error:")]
    assert "Traceback" not in err
    after = snapshot(run)
    if code == 2:
        assert len(errors) == 1, err
        assert damaged.name in errors[0], errors[0]  # it names the file
        assert after == before, "a failing verb changed the run"
        return
    assert errors == [], err
    if verb != "resume":
        assert after == before, "a reader changed the run"
        if verb == "export":
            assert evolve.load_architecture(tmp_path / "x.safetensors").weights_path
        return
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert all(k.startswith(RESUME_WRITES) for k in changed), sorted(changed)
    resumed = evolve.load_run(run)
    assert resumed.completed_generations() == 3
    if damage.startswith("journal-"):
        # set aside, not deleted, and announced once; its candidates evaluated again
        relative = damaged.relative_to(run)
        assert (run / "damaged" / relative).read_bytes() == damaged_bytes
        warnings = [line for line in err.splitlines() if str(relative) in line]
        assert len(warnings) == 1 and warnings[0].startswith("neurevo: warning:"), err
    if damage in ("intact", "journal-chunk-truncated", "journal-weights-truncated"):
        assert stable_rows(resumed) == stable_rows(runs.full)
        assert [a.candidate_id for a in resumed.pareto_front()] == \
            [a.candidate_id for a in runs.full.pareto_front()]
        assert [h["hypervolume"] for h in resumed.history()] == \
            [h["hypervolume"] for h in runs.full.history()]
        assert not journal(run).exists()


def test_a_journal_row_whose_weights_are_gone_is_evaluated_again(runs, tmp_path, capsys):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    gone = journal_weights(run)
    gone.unlink()
    resumed = evolve.resume(run, reporters=())
    assert stable_rows(resumed) == stable_rows(runs.full)
    assert gone.name in capsys.readouterr().err


def test_a_damaged_generation_file_set_aside_as_the_refusal_says_lets_resume_go_on(
        runs, tmp_path, capsys):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    damaged = truncate(run / "evaluations" / "gen-00001.parquet")
    assert main(["resume", str(run)]) == 2
    assert "move it out of evaluations/" in capsys.readouterr().err
    (run / "damaged").mkdir()
    damaged.rename(run / "damaged" / damaged.name)
    assert main(["resume", str(run)]) == 0
    resumed = evolve.load_run(run)
    assert resumed.completed_generations() == 3
    generations = set(resumed.evaluations().column("generation").to_pylist())
    assert generations == {0, 2}  # what was recorded, less the generation set aside


# -- exports -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(runs) -> Path:
    """A good export of a member with a hidden group (so it has two weight levels)."""
    front = runs.full.pareto_front()
    arch = max(front, key=lambda a: len(a.genome.hidden_ids))
    return evolve.export_architecture(arch, runs.work / "good.safetensors")


def rewrite(source: Path, target: Path, change) -> Path:
    """A copy of an export with ``change(tensors, about)`` applied to its contents."""
    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    about = json.loads(metadata["neurevo.architecture"])
    # written as another tool would write it, without neurevo's checksum (which would catch
    # the change first): what is checked here is what a consistent file may still hold
    del metadata["neurevo.sha256"]
    change(tensors, about)
    metadata["neurevo.architecture"] = json.dumps(about)
    save_file(tensors, str(target), metadata=metadata)
    return target


def add_hidden_group(tensors: dict, about: dict) -> None:
    genome = about["genome"]
    genome["nodes"].append([99, "hidden", 5, "relu"])
    genome["connections"].append([990, 0, 99, True, False])
    genome["connections"].append([991, 99, 1, True, False])


def drop_level(tensors: dict, about: dict) -> None:
    last = max(int(k.split(".")[1]) for k in tensors if k.startswith("weight."))
    del tensors[f"weight.{last}"], tensors[f"bias.{last}"]


def huge_genome(tensors: dict, about: dict) -> None:
    for node in about["genome"]["nodes"]:
        node[2] = 1 << 22  # 4 million neurons a group: terabytes of weights


def big_genome_small_weights(tensors: dict, about: dict) -> None:
    """Within the limits, but the file holds none of the 100 million-odd weights it claims."""
    about["genome"]["nodes"][0][2] = 20_000
    tensors["input.mean"] = torch.zeros(20_000)
    tensors["input.std"] = torch.ones(20_000)


def std_zero(tensors: dict, about: dict) -> None:
    tensors["input.std"][1] = 0.0


def std_negative(tensors: dict, about: dict) -> None:
    tensors["input.std"][0] = -1.0


def std_nan(tensors: dict, about: dict) -> None:
    tensors["input.std"][2] = float("nan")


def weights_nan(tensors: dict, about: dict) -> None:
    tensors["weight.0"][0, 0] = float("nan")


def bias_inf(tensors: dict, about: dict) -> None:
    tensors["bias.0"][0] = float("inf")


def recurrent_edges_without_couplings(tensors: dict, about: dict) -> None:
    about["genome"]["connections"].append([992, 1, 1, True, True])  # output onto itself
    tensors.pop("recurrent", None)


def wrong_recurrent_shape(tensors: dict, about: dict) -> None:
    about["genome"]["connections"].append([992, 1, 1, True, True])  # output onto itself
    tensors["recurrent"] = torch.zeros(3, 3)


def short_mean(tensors: dict, about: dict) -> None:
    tensors["input.mean"] = tensors["input.mean"][:-1].clone()


def stray_tensor(tensors: dict, about: dict) -> None:
    tensors["weight.7"] = torch.zeros(2, 2)


def genome_not_object(tensors: dict, about: dict) -> None:
    about["genome"] = "a genome"


def one_class_name(tensors: dict, about: dict) -> None:
    about["class_names"] = ["x"]  # the member predicts 3 classes


def one_feature_name(tensors: dict, about: dict) -> None:
    about["feature_names"] = ["x"]  # the member reads 4 features


EXPORT_DAMAGES = {
    "class-names-miscounted": (one_class_name, "class_names has 1 names for the genome's 3"),
    "feature-names-miscounted": (one_feature_name, "feature_names is not a list of the "
                                                   "genome's 4 input names"),
    "genome-disagrees-with-weights": (add_hidden_group, "weight.0"),
    "a-level-missing": (drop_level, "weight."),
    "oversized-genome": (huge_genome, "limit"),
    "weights-not-in-the-file": (big_genome_small_weights, "weight.0"),
    "std-zero": (std_zero, "input.std"),
    "std-negative": (std_negative, "input.std"),
    "std-nan": (std_nan, "input.std"),
    "nan-weights": (weights_nan, "weight.0"),
    "inf-bias": (bias_inf, "bias.0"),
    "recurrent-edges-without-couplings": (recurrent_edges_without_couplings, "recurrent"),
    "recurrent-wrong-shape": (wrong_recurrent_shape, "recurrent"),
    "mean-wrong-length": (short_mean, "input.mean"),
    "unknown-tensor": (stray_tensor, "weight.7"),
    "genome-not-an-object": (genome_not_object, "genome"),
}


@pytest.mark.parametrize("case", list(EXPORT_DAMAGES))
def test_load_architecture_refuses_an_inconsistent_export(exported, tmp_path, case):
    change, needle = EXPORT_DAMAGES[case]
    path = rewrite(exported, tmp_path / f"{case}.safetensors", change)
    # refused by load_architecture itself, so no net of the damaged genome is ever built
    # (an oversized genome would allocate its weights in to_module)
    with pytest.raises(RecordError) as info:
        evolve.load_architecture(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert needle in message, message


def test_an_export_with_a_flipped_value_is_refused_by_its_checksum(exported, tmp_path):
    """A changed byte that keeps every value finite and every shape right would load and
    score less than the accuracy the file carries: the checksum written with the tensors
    refuses it."""
    import shutil

    path = flip_a_value(Path(shutil.copy(exported, tmp_path / "flipped.safetensors")))
    with pytest.raises(RecordError, match="damaged: its tensors do not match the checksum"):
        evolve.load_architecture(path)


def test_a_good_export_still_loads_and_predicts(exported):
    arch = evolve.load_architecture(exported)
    with torch.no_grad():
        scores = arch.to_module()(arch.standardise(torch.zeros(2, 4)))
    assert scores.shape == (2, 3) and torch.isfinite(scores).all()


def test_genome_limits_are_checked_when_a_genome_is_read():
    side = math.isqrt(MAX_SYNAPSES)
    data = {"schema_version": 1,
            "nodes": [[0, "input", 2 * side, "identity"], [1, "output", side, "identity"]],
            "connections": [[0, 0, 1, True, False]]}
    with pytest.raises(GenomeError, match="synapses.* over the limit"):
        Genome.from_dict(data)
    data["nodes"][0][2], data["nodes"][1][2] = MAX_NEURONS, 1
    with pytest.raises(GenomeError, match="neurons, over the limit"):
        Genome.from_dict(data)
    data["nodes"][0][2], data["nodes"][1][2] = side, side
    assert Genome.from_dict(data).n_parameters() == side * side + side  # at the limit: fine


def test_a_run_with_a_huge_genome_in_its_front_fails_cleanly(runs, tmp_path, capsys):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    path = run / "pareto.parquet"
    table = pq.read_table(path)
    genome = json.loads(table["genome"][0].as_py())
    for node in genome["nodes"]:
        node[2] = 1 << 22
    column = [json.dumps(genome)] + table["genome"].to_pylist()[1:]
    pq.write_table(table.set_column(table.schema.get_field_index("genome"), "genome",
                                    pa.array(column)), path)
    assert main(["pareto", str(run)]) == 2
    err = capsys.readouterr().err
    assert "pareto.parquet" in err and "limit" in err and "Traceback" not in err


# -- the umask ---------------------------------------------------------------------------
def test_a_run_written_under_umask_022_is_readable_by_others(runs):
    for path in runs.full.path.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


@pytest.mark.parametrize("umask", [0o002, 0o022, 0o077])
def test_atomic_write_honours_the_umask(tmp_path, exported, umask):
    old = os.umask(umask)
    try:
        write_text(tmp_path / "a.txt", "x")
        atomic_write(tmp_path / "b.bin", lambda tmp: Path(tmp).write_bytes(b"y"))
        arch = evolve.load_architecture(exported)
        evolve.export_architecture(arch, tmp_path / "c.safetensors")
    finally:
        os.umask(old)
    for name in ("a.txt", "b.bin", "c.safetensors"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin", "c.safetensors"]


def test_a_weights_file_that_cannot_be_written_fails_as_an_os_error(tmp_path):
    """A full disk must reach the CLI as an OSError (one line, a resume hint): safetensors'
    own writer reported it as a SafetensorError, shown as a traceback. A file-size limit
    stands in for the full disk here (EFBIG instead of ENOSPC, the same path)."""
    code = f"""
import errno, resource, signal, torch
from pathlib import Path
from evolve.records import write_safetensors
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
try:
    write_safetensors(Path({str(tmp_path)!r}) / "w.safetensors", {{"w": torch.ones(10_000)}})
except OSError as exc:
    print("OSError", errno.errorcode[exc.errno])
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.stdout.strip() == "OSError EFBIG", (result.stdout, result.stderr)
    assert not list(tmp_path.iterdir()), "the partial file must not be left behind"


def test_a_resume_with_nothing_to_train_rebuilds_the_tables(runs, tmp_path):
    """pareto.parquet and generations.parquet are rebuilt from the checkpoint by any resume,
    also one of a finished run, which trains nothing."""
    run = tmp_path / "full"
    shutil.copytree(runs.full.path, run)
    want_front = pq.read_table(run / "pareto.parquet")
    want_history = pq.read_table(run / "generations.parquet")
    (run / "pareto.parquet").unlink()
    truncate(run / "generations.parquet")
    assert main(["resume", str(run)]) == 0
    assert pq.read_table(run / "pareto.parquet").equals(want_front)
    assert pq.read_table(run / "generations.parquet").equals(want_history)


def test_an_interrupted_run_reads_as_one_parquet_dataset(runs):
    """The journal's ``_`` prefix is what dataset readers skip: its weights files are not
    Parquet, and its chunks are not recorded rows."""
    evaluations = runs.cut / "evaluations"
    assert journal(runs.cut).is_dir()
    table = pq.read_table(evaluations)
    recorded = sum(pq.read_metadata(f).num_rows for f in evaluations.glob("gen-*.parquet"))
    assert table.num_rows == recorded > 0
    assert sorted(set(table.column("generation").to_pylist())) == [0, 1]


def test_a_journal_under_the_name_older_versions_gave_it_is_resumed(runs, tmp_path):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    old = run / "evaluations" / "gen-00002.partial"
    journal(run).rename(old)
    journaled = {row["candidate_id"] for chunk in old.glob("chunk-*.parquet")
                 for row in pq.read_table(chunk).to_pylist()}

    class Evaluated(Reporter):
        def __init__(self) -> None:
            self.ids: list[int] = []

        def evaluation_done(self, generation: int, done: int, total: int,
                            outcome: object) -> None:
            self.ids.append(outcome.candidate_id)

    evaluated = Evaluated()
    resumed = evolve.resume(run, reporters=[evaluated])
    # the journal's results are reported first, as they are read; then what is trained
    read, trained = evaluated.ids[:len(journaled)], evaluated.ids[len(journaled):]
    assert len(journaled) == 2 and set(read) == journaled
    assert trained and not journaled & set(trained)  # the rest of the generation, only
    assert stable_rows(resumed) == stable_rows(runs.full)
    assert not old.exists() and not journal(run).exists()


def test_a_second_journal_under_the_old_name_is_set_aside(runs, tmp_path, capsys):
    run = tmp_path / "cut"
    shutil.copytree(runs.cut, run)
    old = run / "evaluations" / "gen-00002.partial"
    shutil.copytree(journal(run), old)
    resumed = evolve.resume(run, reporters=())
    assert stable_rows(resumed) == stable_rows(runs.full)
    assert (run / "damaged" / "evaluations" / "gen-00002.partial").is_dir()
    err = capsys.readouterr().err
    assert "a second journal of generation 3" in err and "resuming from _gen-00002" in err
