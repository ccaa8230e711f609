"""Run records on disk: ``runs/<run-id>/``.

::

    config.toml                 the fully resolved config (resume reads it back)
    run.json                    what the run is: objectives, task, rule, chip (evolve.metadata)
    profile.toml                the chip profile's full contents
    evaluations/gen-NNNNN.parquet   one row per evaluation of generation N
    generations.parquet         one row per generation: hypervolume, species, best values
    pareto.parquet              the current Pareto archive (rows of evaluations)
    weights/<candidate>.safetensors   trained weights of archive members
    checkpoint.json             strategy state + archive + history, for resume

Nothing is pickled: tables are Parquet, state is JSON, tensors are safetensors. Every file
is written under a temporary name in the same folder and renamed over the target, so a
crash leaves either the old file or the new one, never half of one. The checkpoint is
written last in a generation, so whatever it names is already on disk.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors.torch import load_file, save_file

from search_spaces.net import Params

EVALUATION_FIELDS = [
    ("run_id", pa.string()),
    ("generation", pa.int32()),
    ("candidate_id", pa.int64()),
    ("parent_ids", pa.list_(pa.int64())),
    ("species", pa.int64()),
    ("genome", pa.string()),
    ("genome_hash", pa.string()),
    ("rule", pa.string()),
    ("hyperparameters", pa.string()),
    ("valid_accuracy", pa.float64()),
    ("test_accuracy", pa.float64()),
    ("params", pa.int64()),
    ("status", pa.string()),
    ("error", pa.string()),
    ("epochs", pa.int32()),
    ("train_seconds", pa.float64()),
    ("worker", pa.string()),
    ("seed", pa.int64()),
    ("costs", pa.string()),
    ("violations", pa.string()),
    ("violation_total", pa.float64()),
    ("curve", pa.string()),  # JSON: per epoch {"epoch", "train_loss", "valid_accuracy"}
    ("traceback", pa.string()),  # the full traceback of a failed evaluation ("" otherwise)
    ("metrics", pa.string()),  # JSON: validation metrics the objectives/constraints declared
]
OBJECTIVE_PREFIX = "objective."


class RecordError(ValueError):
    """A run directory is missing a file or holds something unreadable."""


def evaluation_schema(objectives: Sequence[str]) -> pa.Schema:
    fields = [pa.field(name, kind) for name, kind in EVALUATION_FIELDS]
    fields += [pa.field(OBJECTIVE_PREFIX + name, pa.float64()) for name in objectives]
    return pa.schema(fields)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``.

    The temporary file is created with mode 0666 for the kernel to narrow by the umask, as
    for any file a program writes (``tempfile.mkstemp`` would make every record 0600,
    unreadable by the group that shares a runs folder); ``O_EXCL`` keeps its name ours. The
    mode the kernel gave it is set again after ``write``, for writers that replace the file
    with one of their own (safetensors writes 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as fh:
            fh.write(text)
    atomic_write(path, write)


def write_table(path: Path, table: pa.Table) -> None:
    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # paths
    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint.json"

    def generation_path(self, generation: int) -> Path:
        return self.root / "evaluations" / f"gen-{generation:05d}.parquet"

    def weights_path(self, candidate_id: int) -> Path:
        return self.root / "weights" / f"{candidate_id}.safetensors"

    # writing
    def write_generation(self, generation: int, rows: list[dict[str, Any]],
                         objectives: Sequence[str]) -> None:
        schema = evaluation_schema(objectives)
        table = pa.Table.from_pylist(rows, schema=schema)
        write_table(self.generation_path(generation), table)

    def write_weights(self, candidate_id: int, params: Params,
                      path: Path | None = None) -> None:
        path = path or self.weights_path(candidate_id)
        tensors = {f"weight.{i}": w[0].contiguous() for i, w in enumerate(params.weights)}
        tensors.update({f"bias.{i}": b[0].contiguous() for i, b in enumerate(params.biases)})
        if params.recurrent is not None:
            tensors["recurrent"] = params.recurrent[0].contiguous()
        atomic_write(path, lambda tmp: save_file(tensors, tmp))

    def remove_weights(self, candidate_id: int) -> None:
        path = self.weights_path(candidate_id)
        if path.exists():
            path.unlink()

    def write_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        write_text(self.checkpoint_path, json.dumps(checkpoint))

    # the journal of a generation in progress: results as they arrive, so a driver crash
    # loses nothing that was evaluated (resume reads it back and evaluates only the rest)
    def partial_dir(self, generation: int) -> Path:
        return self.root / "evaluations" / f"gen-{generation:05d}.partial"

    def write_partial(self, generation: int, rows: list[dict[str, Any]],
                      params: dict[int, Params]) -> None:
        folder = self.partial_dir(generation)
        for cid, p in params.items():
            self.write_weights(cid, p, folder / f"{cid}.safetensors")
        first = min(r["candidate_id"] for r in rows)
        write_table(folder / f"chunk-{first}.parquet", pa.Table.from_pylist(rows))

    def read_partial(self, generation: int) -> list[tuple[dict[str, Any], Params | None]]:
        folder = self.partial_dir(generation)
        out = []
        for path in sorted(folder.glob("chunk-*.parquet")):
            for row in pq.read_table(path).to_pylist():
                weights = folder / f"{row['candidate_id']}.safetensors"
                params = self.read_weights(row["candidate_id"], weights) \
                    if weights.is_file() else None
                out.append((row, params))
        return out

    def clear_partial(self, generation: int) -> None:
        shutil.rmtree(self.partial_dir(generation), ignore_errors=True)

    # reading
    def read_checkpoint(self) -> dict[str, Any]:
        if not self.checkpoint_path.is_file():
            raise RecordError(f"{self.root}: no checkpoint.json (is this a neurevo run?)")
        try:
            return json.loads(self.checkpoint_path.read_text())
        except json.JSONDecodeError as exc:
            raise RecordError(f"{self.checkpoint_path}: not valid JSON ({exc})") from None

    def read_weights(self, candidate_id: int, path: Path | None = None) -> Params:
        path = path or self.weights_path(candidate_id)
        if not path.is_file():
            raise RecordError(f"{path}: weights of candidate {candidate_id} are missing")
        tensors = load_file(str(path))
        n = sum(1 for k in tensors if k.startswith("weight."))
        weights = [tensors[f"weight.{i}"].unsqueeze(0) for i in range(n)]
        biases = [tensors[f"bias.{i}"].unsqueeze(0) for i in range(n)]
        rec = tensors.get("recurrent")
        return Params(weights, biases, None if rec is None else rec.unsqueeze(0))

    def generation_files(self) -> list[Path]:
        return sorted((self.root / "evaluations").glob("gen-*.parquet"))

    def read_evaluations(self, upto: int | None = None) -> pa.Table:
        files = [f for f in self.generation_files()
                 if upto is None or int(f.stem.split("-")[1]) < upto]
        if not files:
            raise RecordError(f"{self.root}: no evaluations recorded yet")
        return pa.concat_tables([pq.read_table(f) for f in files])


def params_to_device(params: Params, device: str | torch.device) -> Params:
    rec = None if params.recurrent is None else params.recurrent.to(device)
    return Params([w.to(device) for w in params.weights], [b.to(device) for b in params.biases],
                  rec)
