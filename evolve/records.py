"""Run records on disk: ``runs/<run-id>/``.

::

    config.toml                 the fully resolved config (resume reads it back)
    run.json                    what the run is: objectives, task, rule, chip (evolve.metadata)
    profile.toml                the chip profile's full contents
    evaluations/gen-NNNNN.parquet   one row per evaluation of generation N
    generations.parquet         one row per generation: hypervolume, species, best values
    pareto.parquet              the current Pareto archive (rows of evaluations)
    weights/<candidate>.safetensors   trained weights of archive members
    checkpoint.json             strategy state + archive, for resume
    checkpoint-log.jsonl        append-only: what each checkpoint added to the history and
                                to the strategy's growing state (below)

Nothing is pickled: tables are Parquet, state is JSON, tensors are safetensors. Every file
is written under a temporary name in the same folder and renamed over the target, so a
crash leaves either the old file or the new one, never half of one. The checkpoint is
written last in a generation, so whatever it names is already on disk.

What only grows over a run — the per-generation history, and the strategy state's
``growing_keys`` (neat-pso's record of every candidate asked for) — is not rewritten with
each checkpoint: each checkpoint appends one line to ``checkpoint-log.jsonl`` with what it
added to them, and ``checkpoint.json`` (rewritten whole, as before, but holding only what a
generation replaces) records how many lines and bytes of the log belong to it. A line is
``<checksum> <json>``; the log is appended to and synced before the checkpoint that counts
it is renamed into place, so a crash in between leaves a tail that no checkpoint counts,
which readers ignore and the next checkpoint cuts off. A log shorter than its checkpoint
says, or a line whose checksum fails, is damage. So the bytes written per generation stay
flat however long the run (``tests/test_records_incremental.py``).

Every file is checked when it is read (the columns and types of a table, the shape of the
checkpoint, the tensors of a weights file against the genome they belong to), so a damaged
file is a :class:`RecordError` naming the file and what is wrong, never a traceback from
deep inside a reader. The checks read schemas, headers and shapes, not contents, so they
cost next to nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import stat
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch
from safetensors import safe_open
from safetensors.torch import save

from evolve.collector import collector_paused
from evolve.messages import one_line
from search_spaces.compile import node_levels
from search_spaces.genome import Genome
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
    ("activity", pa.string()),  # JSON {node id: share active per validation input}, measured
    ("activity_used", pa.string()),  # "fixed" or "measured": what the costs were priced with
]
OBJECTIVE_PREFIX = "objective."
# What readers index without a fallback (the other columns are checked for their type when
# present: runs from before a column existed still read)
EVALUATION_REQUIRED = ("generation", "candidate_id", "species", "genome", "rule",
                       "hyperparameters", "valid_accuracy", "test_accuracy", "status")
# the journal of a generation in progress (evolve.evaluate.JOURNAL_FIELDS)
JOURNAL_FIELDS = [
    ("candidate_id", pa.int64()), ("status", pa.string()), ("valid_accuracy", pa.float64()),
    ("test_accuracy", pa.float64()), ("epochs", pa.int64()), ("train_seconds", pa.float64()),
    ("error", pa.string()), ("worker", pa.string()), ("seed", pa.int64()),
    ("curve", pa.string()), ("traceback", pa.string()), ("metrics", pa.string()),
    ("activity", pa.string()),
]
JOURNAL_REQUIRED = ("candidate_id", "status")
DAMAGED_DIR = "damaged"  # where damaged journal files are set aside, under the run


class RecordError(ValueError):
    """A run directory is missing a file or holds something unreadable."""


def evaluation_schema(objectives: Sequence[str]) -> pa.Schema:
    fields = [pa.field(name, kind) for name, kind in EVALUATION_FIELDS]
    fields += [pa.field(OBJECTIVE_PREFIX + name, pa.float64()) for name in objectives]
    return pa.schema(fields)


_TEMPORARY = re.compile(r"\.(.+)\.[0-9a-f]{12}\.tmp")  # atomic_write's temporary names


def temporary_of(name: str) -> str | None:
    """The name of the file whose :func:`atomic_write` temporary file ``name`` is (one a
    killed writer left unrenamed), or None for any other name."""
    found = _TEMPORARY.fullmatch(name)
    return found.group(1) if found else None


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


# -- checks on what is read ------------------------------------------------------------------
def _kind(t: pa.DataType) -> str:
    """A column type as readers use it: widths do not matter, kinds do."""
    if pa.types.is_integer(t):
        return "integers"
    if pa.types.is_floating(t):
        return "floats"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "strings"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"lists of {_kind(t.value_type)}"
    return str(t)


def read_table(path: Path, fields: Iterable[tuple[str, pa.DataType]],
               required: Iterable[str] = (), present: Iterable[str] = ()) -> pa.Table:
    """A Parquet table whose known columns (``fields``) hold what they should, with every
    ``required`` column there and complete and every ``present`` column there."""
    if not path.is_file():
        raise RecordError(f"{path}: missing")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - whatever the decoder trips on, it is damage
        why = one_line(exc).replace(f" '{path}'", "")
        raise RecordError(f"{path}: not a readable Parquet table ({why})") from None
    names = table.column_names
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RecordError(f"{path}: column {repeated[0]!r} appears twice")
    required = list(required)
    for name in [*required, *present]:
        if name not in names:
            raise RecordError(f"{path}: no column {name!r} (damaged, or not this kind of table)")
    kinds = dict(fields)
    for f in table.schema:
        want = kinds.get(f.name, pa.float64() if f.name.startswith(OBJECTIVE_PREFIX) else None)
        if want is not None and _kind(f.type) != _kind(want):
            raise RecordError(f"{path}: column {f.name!r} holds {f.type}, expected {_kind(want)}")
    for name in required:
        if table.column(name).null_count:
            raise RecordError(f"{path}: column {name!r} has missing values")
    return table


def evaluation_fields(objectives: Sequence[str] = ()) -> list[tuple[str, pa.DataType]]:
    return [*EVALUATION_FIELDS, *((OBJECTIVE_PREFIX + n, pa.float64()) for n in objectives)]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number_map(v: Any, allow_none: bool = False) -> bool:
    return isinstance(v, dict) and all(
        isinstance(k, str) and (_is_number(x) or (allow_none and x is None))
        for k, x in v.items())


def _fits(value: Any, kind: pa.DataType) -> bool:
    """Can ``value`` (from JSON) be written to a column of type ``kind``?"""
    if value is None:
        return True
    if pa.types.is_integer(kind):
        return _is_int(value)
    if pa.types.is_floating(kind):
        return _is_number(value)
    if pa.types.is_string(kind):
        return isinstance(value, str)
    if pa.types.is_list(kind):
        return isinstance(value, list) and all(_fits(x, kind.value_type) for x in value)
    return True  # pragma: no cover - every column is one of the above


_HISTORY_INTS = ("generation", "evaluations", "failed", "pareto_size", "species")


def checkpoint_problem(data: Any) -> str | None:
    """What a checkpoint lacks of the shape the loop and the readers rely on (its strategy's
    own state is the strategy's to read); None when it has it."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, expected an object"
    if "version" in data and not _is_int(data["version"]):
        return "version is not an integer"
    if not isinstance(data.get("run_id"), str):
        return "run_id is missing or not a string"
    strategy = data.get("strategy")
    if not isinstance(strategy, dict):
        return "strategy is missing or not an object"
    if not _is_int(strategy.get("generation")) or strategy["generation"] < 0:
        return "strategy.generation is missing or not a generation number"
    references = data.get("references")
    if references is not None and not _number_map(references):
        return "references is not an object of numbers"
    archive = data.get("archive")
    if not isinstance(archive, list):
        return "archive is missing or not a list"
    fields = dict(EVALUATION_FIELDS)
    for i, entry in enumerate(archive):
        where = f"archive[{i}]"
        if not isinstance(entry, dict):
            return f"{where} is not an object"
        for key in ("candidate_id", "generation"):
            if not _is_int(entry.get(key)):
                return f"{where}.{key} is missing or not an integer"
        if not _number_map(entry.get("objectives")):
            return f"{where}.objectives is missing or not an object of numbers"
        record = entry.get("record", {})
        if not isinstance(record, dict):
            return f"{where}.record is not an object"
        for key, value in record.items():
            kind = fields.get(key, pa.float64() if key.startswith(OBJECTIVE_PREFIX) else None)
            if kind is not None and not _fits(value, kind):
                return f"{where}.record.{key} does not fit its column ({_kind(kind)})"
    history = data.get("history")
    if not isinstance(history, list):
        return "history is missing or not a list"
    for i, summary in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(summary, dict):
            return f"{where} is not an object"
        for key in _HISTORY_INTS:
            if not _is_int(summary.get(key)):
                return f"{where}.{key} is missing or not an integer"
        if "infeasible" in summary and not _is_int(summary["infeasible"]):
            return f"{where}.infeasible is not an integer"
        if not _is_number(summary.get("hypervolume")):
            return f"{where}.hypervolume is missing or not a number"
        if not _number_map(summary.get("best"), allow_none=True):
            return f"{where}.best is missing or not an object of numbers"
    return None


def weight_shapes(genome: Genome) -> dict[str, tuple[int, ...]]:
    """The tensors of a member's weights, by name, with the shapes ``compile_genome`` gives
    them in the member's own layout (``recurrent`` where it has enabled recurrent edges).
    Computed from the genome alone: nothing the size of the network is allocated."""
    level = node_levels(genome)
    sizes = [0] * (max(level.values()) + 1)
    for node in genome.nodes:
        sizes[level[node.id]] += node.size
    shapes: dict[str, tuple[int, ...]] = {}
    below = sizes[0]
    for lv in range(1, len(sizes)):
        shapes[f"weight.{lv - 1}"] = (sizes[lv], below)
        shapes[f"bias.{lv - 1}"] = (sizes[lv],)
        below += sizes[lv]
    if genome.enabled_connections(recurrent=True):
        shapes["recurrent"] = (below, below)
    return shapes


def weights_problem(shapes: Mapping[str, tuple[int, ...]], genome: Genome | None) -> str | None:
    """What disagrees between the tensors of a weights file (names and shapes, from its
    header) and the genome they belong to; with no genome, among the tensors themselves.
    ``recurrent`` may be there without recurrent edges: a member trained in a batch with a
    recurrent one carries zero couplings."""
    if genome is not None:
        expected = weight_shapes(genome)
        levels = sum(1 for k in expected if k.startswith("weight."))
        for name, shape in expected.items():
            if name not in shapes:
                return f"{name} is missing (the genome compiles to {levels} weight levels)"
            if tuple(shapes[name]) != shape:
                return (f"{name} has shape {list(shapes[name])}, the genome compiles it to "
                        f"{list(shape)}")
        n = sum(s[0] for k, s in expected.items() if k.startswith("bias.")) + \
            expected["weight.0"][1]
    else:
        levels = sum(1 for k in shapes if k.startswith("weight."))
        if not levels:
            return "no weight.0 tensor"
        n = None
        for i in range(levels):
            w, b = shapes.get(f"weight.{i}"), shapes.get(f"bias.{i}")
            if w is None or b is None:
                return f"{'weight' if w is None else 'bias'}.{i} is missing"
            if len(w) != 2 or tuple(b) != (w[0],):
                return f"weight.{i} {list(w)} and bias.{i} {list(b)} do not fit together"
            if n is not None and w[1] != n:
                return f"weight.{i} takes {w[1]} inputs, the levels below hold {n} neurons"
            n = w[1] + w[0]
        expected = {f"{p}.{i}": () for p in ("weight", "bias") for i in range(levels)}
    extra = sorted(set(shapes) - set(expected) - {"recurrent"})
    if extra:
        return f"unexpected tensor {extra[0]!r} ({levels} weight levels)"
    if "recurrent" in shapes and tuple(shapes["recurrent"]) != (n, n):
        return f"recurrent has shape {list(shapes['recurrent'])}, expected {[n, n]}"
    return None


def tensor_header(path: Path) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """A safetensors file's metadata and its tensors' shapes, from the header alone (the
    file's length is checked against it, so a truncated file fails here)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            slices = {k: f.get_slice(k) for k in f.keys()}  # noqa: SIM118 - not a dict
            shapes = {k: tuple(int(d) for d in s.get_shape()) for k, s in slices.items()}
            dtypes = {k: s.get_dtype() for k, s in slices.items()}
    except Exception as exc:  # noqa: BLE001 - whatever the reader trips on, it is damage
        raise RecordError(f"{path}: not a safetensors file, or a damaged one "
                          f"({one_line(exc)})") from None
    odd = [k for k, d in dtypes.items() if not d.startswith(("F", "BF"))]
    if odd:
        raise RecordError(f"{path}: {odd[0]} holds {dtypes[odd[0]]}, not floating-point numbers")
    return metadata, shapes


# the checksum of a weights file's tensors, kept in its own metadata: a flipped bit that
# leaves the values finite and the shapes right would otherwise load, and score less than
# the accuracy recorded beside it
CHECKSUM_KEY = "neurevo.sha256"


def tensors_checksum(tensors: Mapping[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file whose header passed the caller's checks, checked
    against the checksum written with them (files from before it was kept have none); a
    tensor that is not finite everywhere is refused (trained weights never are: divergence
    fails an evaluation)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            written = (f.metadata() or {}).get(CHECKSUM_KEY)
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - not a dict
    except Exception as exc:  # noqa: BLE001 - the file changed under us, or is damaged
        raise RecordError(f"{path}: not a safetensors file, or a damaged one "
                          f"({one_line(exc)})") from None
    if written is not None and tensors_checksum(tensors) != written:
        raise RecordError(f"{path}: damaged: its tensors do not match the checksum written "
                          "with them")
    for name, t in tensors.items():
        if not bool(torch.isfinite(t).all()):
            raise RecordError(f"{path}: {name} holds values that are not finite")
    return tensors


def tensors_from_params(params: Params) -> dict[str, torch.Tensor]:
    """One member's parameters (population index 0) under the names a weights file uses."""
    tensors = {f"weight.{i}": w[0].contiguous() for i, w in enumerate(params.weights)}
    tensors.update({f"bias.{i}": b[0].contiguous() for i, b in enumerate(params.biases)})
    if params.recurrent is not None:
        tensors["recurrent"] = params.recurrent[0].contiguous()
    return tensors


def write_safetensors(path: Path, tensors: Mapping[str, torch.Tensor],
                      metadata: dict[str, str] | None = None) -> None:
    """Serialise in memory, then write the bytes with Python's own file I/O: safetensors'
    writer reports a full disk as its own ``SafetensorError``, not as the ``OSError`` (with
    its errno) that the CLI turns into one line and a resume hint. The tensors' checksum
    goes into the metadata, for :func:`load_tensors` to check."""
    metadata = {**(metadata or {}), CHECKSUM_KEY: tensors_checksum(tensors)}
    data = save(dict(tensors), metadata=metadata)

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    atomic_write(path, write)


def params_from_tensors(tensors: Mapping[str, torch.Tensor]) -> Params:
    n = sum(1 for k in tensors if k.startswith("weight."))
    rec = tensors.get("recurrent")
    return Params([tensors[f"weight.{i}"].unsqueeze(0) for i in range(n)],
                  [tensors[f"bias.{i}"].unsqueeze(0) for i in range(n)],
                  None if rec is None else rec.unsqueeze(0))


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise RecordError(f"{path}: missing")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, absurdly nested
        raise RecordError(f"{path}: not valid JSON ({one_line(exc)})") from None


CHECKPOINT_LOG = "checkpoint-log.jsonl"
CONFIG_FILE = "config.toml"
CHECKPOINT_FILE = "checkpoint.json"
PARETO_FILE = "pareto.parquet"
GENERATIONS_FILE = "generations.parquet"
EVALUATIONS_DIR = "evaluations"
# a generation's journal, by the name this version gives it or the one versions before
# the "_" prefix gave it (read by RunStore.tidy_journals)
_JOURNAL_NAME = re.compile(r"_?gen-(\d+)\.partial")
WEIGHTS_DIR = "weights"
_WEIGHTS_NAME = re.compile(r"\d+\.safetensors")  # a member's weights file
DESCRIPTION_FILE = "run.json"  # written by evolve.metadata
PROFILE_FILE = "profile.toml"  # the chip profile's contents, evolve.metadata
LOCK_FILE = ".lock"  # evolve.lock
# every file at a run's top level, and the folders that hold only its records: a command
# that writes a user's file into a run must never land on one of these
RECORD_FILES = (CONFIG_FILE, CHECKPOINT_FILE, CHECKPOINT_LOG, PARETO_FILE, GENERATIONS_FILE,
                DESCRIPTION_FILE, PROFILE_FILE, LOCK_FILE)
RECORD_DIRS = (EVALUATIONS_DIR, WEIGHTS_DIR, DAMAGED_DIR)
HISTORY = "history"  # the log's name for the checkpoint's history list
STRATEGY_PREFIX = "strategy."  # ... and for a growing key of the strategy state


def owning_run(path: str | Path) -> Path | None:
    """The run directory one of whose records writing ``path`` would replace or add to, or
    None. A run's own files are its records: an export written over
    ``weights/<id>.safetensors`` would break the member it replaced without a word, and
    ``resume`` would not notice. So inside a run directory anything may be written but a
    record's own name at the top level or a file in a records' folder (evaluations/,
    weights/, damaged/); compared casefolded, since on a case-insensitive file system
    RUN/Weights is RUN/weights."""
    files = {name.casefold() for name in RECORD_FILES}
    folders = {name.casefold() for name in RECORD_DIRS}
    target = Path(path).resolve()
    for folder in target.parents:
        if (folder / CONFIG_FILE).is_file() and (folder / CHECKPOINT_FILE).is_file():
            inside = [part.casefold() for part in target.relative_to(folder).parts]
            if inside[0] in folders or (len(inside) == 1 and inside[0] in files):
                return folder
            return None
    return None


def record_refusal(path: str | Path, what: str) -> str | None:
    """Why ``path`` may not be written (it is one of a run's records, :func:`owning_run`),
    as a sentence that starts with ``what`` (the option or argument that named it); None
    when it may."""
    run = owning_run(path)
    if run is None:
        return None
    return (f"{what} {str(path)!r} is one of the records of run {str(run)!r}, or inside "
            "one of its record folders; write it elsewhere (a new name directly in the run's "
            "folder is fine)")


def _log_problem(log: Any) -> str | None:
    """What the checkpoint's ``log`` entry lacks (its lines, bytes, and entry counts)."""
    if not isinstance(log, dict):
        return "log is not an object"
    for key in ("lines", "bytes"):
        if not _is_int(log.get(key)) or log[key] < 0:
            return f"log.{key} is missing or not a count"
    counts = log.get("counts")
    if not isinstance(counts, dict) or not all(
            isinstance(k, str) and _is_int(v) and v >= 0 for k, v in counts.items()):
        return "log.counts is missing or not an object of counts"
    return None


def _log_line(entry: dict[str, Any]) -> bytes:
    # NaN stays NaN (a generation whose every evaluation failed has no best value), as
    # in checkpoint.json: Python's json reads it back
    text = json.dumps(entry, separators=(",", ":"))
    return f"{_checksum(text)} {text}\n".encode()


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _added(value: Any, count: int, where: str) -> Any:
    """What ``value`` (a dict or list that only grows) holds beyond its first ``count``
    entries, found from its end (a dict keeps insertion order), so it costs what was
    added, not the whole."""
    if not isinstance(value, (dict, list)):
        raise ValueError(f"{where} is a growing key but holds a {type(value).__name__}, "
                         "expected a dict or a list")
    if len(value) < count:
        raise ValueError(f"{where} shrank from {count} to {len(value)} entries, but a "
                         "growing key may only gain entries")
    if isinstance(value, list):
        return value[count:]
    newest = list(itertools.islice(reversed(value.items()), len(value) - count))
    return dict(reversed(newest))


class RunStore:
    """Reads and writes one run directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        # the checkpoint log as the last checkpoint read or written counts it
        self._log: dict[str, Any] | None = None

    @property
    def logged(self) -> bool:
        """Whether the checkpoint last read keeps its history in the checkpoint log: the
        format of every run recorded since runs record their fingerprint (so such a run
        without one has lost its run.json, not predated it)."""
        return self._log is not None

    # paths
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def checkpoint_path(self) -> Path:
        return self.root / CHECKPOINT_FILE

    @property
    def checkpoint_log_path(self) -> Path:
        return self.root / CHECKPOINT_LOG

    @property
    def pareto_path(self) -> Path:
        return self.root / PARETO_FILE

    @property
    def generations_path(self) -> Path:
        return self.root / GENERATIONS_FILE

    def generation_path(self, generation: int) -> Path:
        return self.root / EVALUATIONS_DIR / f"gen-{generation:05d}.parquet"

    def weights_path(self, candidate_id: int) -> Path:
        return self.root / WEIGHTS_DIR / f"{candidate_id}.safetensors"

    # writing
    def write_generation(self, generation: int, rows: list[dict[str, Any]],
                         objectives: Sequence[str]) -> None:
        schema = evaluation_schema(objectives)
        table = pa.Table.from_pylist(rows, schema=schema)
        write_table(self.generation_path(generation), table)

    def write_weights(self, candidate_id: int, params: Params,
                      path: Path | None = None) -> None:
        write_safetensors(path or self.weights_path(candidate_id), tensors_from_params(params))

    def remove_weights(self, candidate_id: int) -> None:
        path = self.weights_path(candidate_id)
        if path.exists():
            path.unlink()

    def write_checkpoint(self, checkpoint: dict[str, Any],
                         growing_keys: Sequence[str] = ()) -> None:
        """Append what ``checkpoint`` added to its history and to the strategy state's
        ``growing_keys`` since the last checkpoint to the log (synced), then replace
        ``checkpoint.json`` with the rest and the log's new length (module docstring)."""
        log = self._log if self._log is not None else self._recorded_log()
        body = dict(checkpoint)
        strategy = dict(body["strategy"])
        body["strategy"] = strategy
        counts = dict(log["counts"])
        added: dict[str, Any] = {}
        # a key once logged stays logged (the log's entries override checkpoint.json's)
        keys = dict.fromkeys([*growing_keys, *(n[len(STRATEGY_PREFIX):] for n in counts
                                               if n.startswith(STRATEGY_PREFIX))])
        growing = [(HISTORY, body, HISTORY)]
        for key in keys:
            if key in strategy:
                growing.append((STRATEGY_PREFIX + key, strategy, key))
            elif STRATEGY_PREFIX + key in counts:
                raise ValueError(f"strategy state lost its growing key {key!r}")
        for name, holder, key in growing:
            value = holder.pop(key)
            count = counts.get(name, 0)
            tail = _added(value, count, name)
            if tail or count == 0:  # the first line says whether it is a dict or a list
                added[name] = tail
            counts[name] = len(value)
        line = _log_line({"generation": strategy["generation"], "added": added})
        path = self.checkpoint_log_path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as fh:
            end = fh.seek(0, os.SEEK_END)
            if end < log["bytes"]:
                raise RecordError(f"{path}: holds {end} bytes, but the checkpoint counts "
                                  f"{log['bytes']}: damaged, not appending to it")
            fh.truncate(log["bytes"])  # a tail no checkpoint counts (a crash before one)
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())
        body["log"] = {"lines": log["lines"] + 1, "bytes": log["bytes"] + len(line),
                       "counts": counts}
        # compact, and no cycle check: the state is JSON data, never cyclic
        write_text(self.checkpoint_path,
                   json.dumps(body, separators=(",", ":"), check_circular=False))
        self._log = body["log"]

    def _recorded_log(self) -> dict[str, Any]:
        """The log as ``checkpoint.json`` counts it; empty when there is none yet (a new
        run, or one recorded before the log existed, whose next checkpoint logs it all)."""
        try:
            log = read_json(self.checkpoint_path).get("log")
        except (RecordError, AttributeError):
            log = None
        if log is None or _log_problem(log) is not None:
            return {"lines": 0, "bytes": 0, "counts": {}}
        return log

    # the journal of a generation in progress: results as they arrive, so a driver crash
    # loses nothing that was evaluated (resume reads it back and evaluates only the rest)
    def partial_dir(self, generation: int) -> Path:
        """``evaluations/_gen-NNNNN.partial/``: the leading ``_`` is what Parquet dataset
        readers (pyarrow, pandas, Spark) skip, so ``pd.read_parquet(evaluations)``
        reads the recorded generations even while one is in progress or after a crash."""
        return self.root / EVALUATIONS_DIR / f"_gen-{generation:05d}.partial"

    def tidy_journals(self, recorded: int) -> None:
        """Before a resume: clear the journals of the ``recorded`` generations (a crash
        between recording a generation and clearing its journal leaves one behind), and
        move a journal that runs of older neurevo versions kept under the unprefixed name
        ``gen-NNNNN.partial`` to :meth:`partial_dir`, so its work is resumed, not redone."""
        folder = self.root / EVALUATIONS_DIR
        if not folder.is_dir():
            return
        for journal in sorted(folder.iterdir()):
            match = _JOURNAL_NAME.fullmatch(journal.name)
            if match is None or not journal.is_dir():
                continue
            generation = int(match.group(1))
            current = self.partial_dir(generation)
            if generation < recorded:
                shutil.rmtree(journal, ignore_errors=True)
            elif journal != current and current.exists():
                self.set_aside(journal, f"{journal}: a second journal of generation "
                                        f"{generation + 1} beside {current.name}",
                               then=f"resuming from {current.name}")
            elif journal != current:
                os.replace(journal, current)

    def tidy_leftovers(self, members: Iterable[int]) -> None:
        """Before a resume, under the run's lock: remove what a killed writer leaves behind
        and nothing reads, the temporary files of :func:`atomic_write` that were never
        renamed (in the run's folder, ``evaluations/``, its journals and ``weights/``), and
        the weights of candidates that are not archive ``members`` (a kill after a
        checkpoint and before the weights of the members it dropped were removed)."""
        keep = {f"{int(cid)}.safetensors" for cid in members}
        weights = self.root / WEIGHTS_DIR
        evaluations = self.root / EVALUATIONS_DIR
        folders = [self.root, evaluations, weights]
        if evaluations.is_dir():
            folders += [p for p in evaluations.iterdir()
                        if p.is_dir() and _JOURNAL_NAME.fullmatch(p.name)]
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in folder.iterdir():
                leftover = temporary_of(path.name) is not None or (
                    folder == weights and _WEIGHTS_NAME.fullmatch(path.name) is not None
                    and path.name not in keep)
                if leftover and path.is_file():
                    path.unlink()

    def write_partial(self, generation: int, rows: list[dict[str, Any]],
                      params: dict[int, Params]) -> None:
        folder = self.partial_dir(generation)
        for cid, p in params.items():
            self.write_weights(cid, p, folder / f"{cid}.safetensors")
        first = min(r["candidate_id"] for r in rows)
        write_table(folder / f"chunk-{first}.parquet", pa.Table.from_pylist(rows))

    def read_partial(self, generation: int, genomes: Mapping[int, Genome] | None = None
                     ) -> list[tuple[dict[str, Any], Params | None]]:
        """The journal's rows, each with the trained weights of an ``ok`` candidate.

        The journal only saves work, so what cannot be trusted in it is not worth a failed
        resume: a damaged chunk, or a trained candidate whose weights are missing, damaged
        or disagree with its genome (in ``genomes``), is left out and evaluated again
        (its seed derives from the run seed, generation and candidate id, so it scores the
        same). A damaged file is moved under ``damaged/``, never deleted, with one warning."""
        folder = self.partial_dir(generation)
        genomes = genomes or {}
        out = []
        for path in sorted(folder.glob("chunk-*.parquet")):
            try:
                rows = read_table(path, JOURNAL_FIELDS, JOURNAL_REQUIRED).to_pylist()
            except RecordError as exc:
                self.set_aside(path, str(exc))
                continue
            for row in rows:
                cid = row["candidate_id"]
                params = None
                if row["status"] == "ok":
                    try:
                        params = self.read_weights(cid, folder / f"{cid}.safetensors",
                                                   genomes.get(cid))
                    except RecordError as exc:
                        self.set_aside(folder / f"{cid}.safetensors", str(exc))
                        continue
                out.append((row, params))
        return out

    def set_aside(self, path: Path, problem: str,
                  then: str = "evaluating its candidates again") -> None:
        """Move a damaged journal file to ``damaged/`` (its path kept) and say so once,
        with what happens ``then``."""
        if not path.exists():
            print(f"neurevo: warning: {problem}; evaluating that candidate again",
                  file=sys.stderr)
            return
        target = self.root / DAMAGED_DIR / path.relative_to(self.root)
        n = 0
        while target.exists():
            n += 1
            target = target.with_name(f"{path.name}.{n}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        print(f"neurevo: warning: {problem}; set aside as {target}, {then}", file=sys.stderr)

    def clear_partial(self, generation: int) -> None:
        shutil.rmtree(self.partial_dir(generation), ignore_errors=True)

    # reading
    def completed_generations(self) -> int:
        """How many generations the checkpoint records (its strategy's generation counter)."""
        return int(self.read_checkpoint()["strategy"]["generation"])

    def read_checkpoint(self) -> dict[str, Any]:
        with collector_paused():  # a population's worth of containers parsed at once
            return self._read_checkpoint()

    def _read_checkpoint(self) -> dict[str, Any]:
        if not self.checkpoint_path.is_file():
            raise RecordError(f"{self.checkpoint_path}: missing (is {self.root} a neurevo "
                              "run?)")
        data = read_json(self.checkpoint_path)
        if isinstance(data, dict) and "log" in data:
            problem = _log_problem(data["log"])
            if problem:
                raise RecordError(f"{self.checkpoint_path}: {problem}")
            if not isinstance(data.get("strategy"), dict):
                raise RecordError(f"{self.checkpoint_path}: strategy is missing or not an "
                                  "object")
            log = data.pop("log")
            self._replay_log(data, log)
        else:
            log = None
        problem = checkpoint_problem(data)
        if problem:
            # the history comes from the log, when there is one
            where = (self.checkpoint_log_path if log is not None and
                     problem.startswith(HISTORY) else self.checkpoint_path)
            raise RecordError(f"{where}: {problem}")
        self._log = log
        return data

    def _replay_log(self, data: dict[str, Any], log: dict[str, Any]) -> None:
        """Put back into ``data`` what the first ``log["lines"]`` lines of the log added:
        the history and the strategy's growing keys, checked line by line."""
        path = self.checkpoint_log_path
        size = path.stat().st_size if path.is_file() else -1
        if size < log["bytes"]:
            held = "is missing" if size < 0 else f"holds {size} bytes"
            raise RecordError(f"{path}: {held}, but the checkpoint counts {log['bytes']} "
                              "(truncated or lost; a copy of a run taken while it was "
                              "writing, the log copied before a newer checkpoint.json, "
                              "reads so too: copy it again, or once the run has stopped)")
        with open(path, "rb") as fh:
            raw = fh.read(log["bytes"])
        lines = raw.split(b"\n")
        if lines[-1] != b"" or len(lines) - 1 != log["lines"]:
            raise RecordError(f"{path}: its first {log['bytes']} bytes do not hold the "
                              f"{log['lines']} lines the checkpoint counts (damaged)")
        values: dict[str, Any] = {}
        for number, line in enumerate(lines[:-1], 1):
            try:
                check, _, text = line.decode("utf-8").partition(" ")
                if _checksum(text) != check:
                    raise ValueError("checksum does not match")
                added = json.loads(text)["added"]
                if not isinstance(added, dict):
                    raise ValueError("'added' is not an object")
                for name, tail in added.items():
                    value = values.setdefault(name, type(tail)())
                    if isinstance(tail, dict) and isinstance(value, dict):
                        value.update(tail)
                    elif isinstance(tail, list) and isinstance(value, list):
                        value.extend(tail)
                    else:
                        raise ValueError(f"{name!r} is neither a list nor an object like "
                                         "before")
            except (ValueError, KeyError, TypeError, RecursionError) as exc:
                raise RecordError(f"{path}: line {number} is damaged "
                                  f"({one_line(exc)})") from None
        for name, count in log["counts"].items():
            value = values.get(name)
            if value is None or len(value) != count:
                found = 0 if value is None else len(value)
                raise RecordError(f"{path}: {name} has {found} entries, the checkpoint "
                                  f"counts {count} (damaged)")
            if name == HISTORY:
                data[HISTORY] = value
            elif name.startswith(STRATEGY_PREFIX):
                data["strategy"][name[len(STRATEGY_PREFIX):]] = value

    def read_weights(self, candidate_id: int, path: Path | None = None,
                     genome: Genome | None = None) -> Params:
        """A member's trained weights; checked against its ``genome`` (names and shapes)
        before anything is loaded, when it is given."""
        path = path or self.weights_path(candidate_id)
        if not path.is_file():
            raise RecordError(f"{path}: weights of candidate {candidate_id} are missing")
        _, shapes = tensor_header(path)
        problem = weights_problem(shapes, genome)
        if problem:
            raise RecordError(f"{path}: {problem}")
        return params_from_tensors(load_tensors(path))

    def generation_files(self, upto: int | None = None) -> list[Path]:
        """The evaluation files, in generation order (those before generation ``upto``)."""
        return sorted(p for p in (self.root / EVALUATIONS_DIR).glob("gen-*.parquet")
                      if p.stem[4:].isdigit() and (upto is None or int(p.stem[4:]) < upto))

    def read_evaluations(self, upto: int | None = None,
                         objectives: Sequence[str] = ()) -> pa.Table:
        """Every evaluation file (before generation ``upto``), each checked for the columns
        readers use and the ``objectives``' columns."""
        files = self.generation_files(upto)
        if not files:
            raise RecordError(f"{self.root}: no evaluations recorded yet")
        fields = evaluation_fields(objectives)
        present = [OBJECTIVE_PREFIX + n for n in objectives]
        tables = [read_table(f, fields, EVALUATION_REQUIRED, present) for f in files]
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowException, ValueError, TypeError):
            odd = next((f for f, t in zip(files, tables, strict=True)
                        if t.schema != tables[0].schema), files[-1])
            raise RecordError(f"{odd}: its columns differ from {files[0].name}'s") from None
        _check_each_candidate_once(files, tables)
        return table

    def check_evaluations(self, upto: int) -> None:
        """Raise a :class:`RecordError` naming the first evaluation file (before generation
        ``upto``) that cannot be read. A resume checks this first: it would otherwise append
        to a run whose report and readers already fail on an earlier generation, and the
        user would learn of the damage only after spending the compute. Each file is read
        whole, not just its footer: a damaged page in the middle shows only when decoded,
        and a generation's file holds one row per candidate, so this costs what the
        report's one read of the same files costs."""
        fields = evaluation_fields(())
        files, tables = self.generation_files(upto), []
        for path in files:
            try:
                tables.append(read_table(path, fields, EVALUATION_REQUIRED))
            except RecordError as exc:
                raise RecordError(f"{exc}; restore it, or move it out of evaluations/ "
                                  "to resume without that generation's records") from None
        _check_each_candidate_once(files, tables)

    def read_pareto(self, objectives: Sequence[str] = ()) -> pa.Table | None:
        """The Pareto archive's rows; None before the first generation was recorded."""
        if not self.pareto_path.is_file():
            return None
        return read_table(self.pareto_path, evaluation_fields(objectives), EVALUATION_REQUIRED,
                          [OBJECTIVE_PREFIX + n for n in objectives])


def _check_each_candidate_once(files: Sequence[Path], tables: Sequence[pa.Table]) -> None:
    """Every candidate is evaluated once in a run: a candidate id in two rows (a generation
    file copied over another, a stray file from another run) would count twice in every
    table and figure."""
    seen: dict[int, Path] = {}
    for path, table in zip(files, tables, strict=True):
        for cid in table.column("candidate_id").to_pylist():
            if cid in seen:
                where = "twice in it" if seen[cid] == path else f"and in {seen[cid].name}"
                raise RecordError(f"{path}: candidate {cid} is recorded {where}; a run records "
                                  "each candidate once (a file copied or left from another "
                                  "run?): restore the run's own files")
            seen[cid] = path


def params_to_device(params: Params, device: str | torch.device) -> Params:
    return params.to(device)
