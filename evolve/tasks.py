"""Classification tasks: built-in benchmarks and user data files, split and standardised.

``load_task(name_or_path)`` returns a :class:`Task` with train/valid/test splits as torch tensors
(``x`` float32 ``[n, n_features]``, ``y`` int64 class indices). Design choices:

* Standardisation (per-feature mean/std) is fitted on the TRAIN split only and then applied to
  valid and test. Fitting on all data would leak test-set statistics into the inputs the evolved
  networks see and bias the reported scores. Constant train features get std 1 (no division by 0).
* Data is offline only: the sklearn sets ship with scikit-learn and MNIST-1D is generated locally
  with ``mnist1d.data.make_dataset`` (never ``get_dataset``, which downloads and unpickles), so
  runs are reproducible on machines without network access.
* User files are read without pickle: ``.npz`` via ``np.load(..., allow_pickle=False)``, ``.csv``
  and ``.parquet`` via pyarrow. Loading a data file must never be able to execute code.
* Splits are stratified and seeded (same seed -> identical splits). Labels of any type are mapped
  to ``0..K-1`` in sorted order of their unique values; ``class_names`` keeps the originals.

Fractions: without a given test set, ``valid_fraction`` and ``test_fraction`` are fractions of the
whole data set. When a test set is given (``mnist1d``, ``.npz`` with ``x_test``/``y_test``),
``test_fraction`` is unused and ``valid_fraction`` is the fraction of the training part held out.
Bad input raises :class:`TaskError` with a one-line message naming the field or file.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import numbers
import os
import random
import re
import sys
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evolve.messages import one_line, plural
from evolve.plugin_imports import load_installed_plugins, registered

__all__ = ["ARRAYS_TASK", "BUILTIN_TASKS", "LABEL_COLUMN", "Split", "TEST_FRACTION", "Task",
           "TaskError", "VALID_FRACTION", "load_task", "task_from_arrays"]

BUILTIN_TASKS: tuple[str, ...] = ("xor", "digits", "iris", "wine", "breast_cancer", "mnist1d")
_FILE_SUFFIXES = (".npz", ".csv", ".parquet")
# Split defaults, here and in evolve/config.py's TaskConfig (which reads them from here).
VALID_FRACTION = 0.2  # share of the data used for selection (validation)
TEST_FRACTION = 0.2  # share held out for the reported test accuracy
LABEL_COLUMN = "label"  # label column of a .csv / .parquet file

Arrays = tuple[np.ndarray, np.ndarray, "np.ndarray | None", "np.ndarray | None"]


class TaskError(ValueError):
    """Invalid task name, data file or split parameters (message is a single line)."""


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 [n, n_features], standardised with train statistics
    y: torch.Tensor  # int64 [n], class indices 0..n_classes-1


@dataclass(frozen=True)
class Task:
    name: str
    train: Split
    valid: Split
    test: Split
    n_features: int
    n_classes: int
    class_names: tuple[str, ...]  # original label values as strings, index i = class i
    # the train-fitted standardisation x' = (x - mean) / std applied to every split (float64
    # [n_features] each); None where the features are used as given (xor)
    feature_mean: np.ndarray | None = field(default=None, compare=False)
    feature_std: np.ndarray | None = field(default=None, compare=False)
    # what feature j is called where the data names its columns (a CSV's or Parquet file's
    # columns besides the label, scikit-learn's feature_names); () for arrays, .npz, mnist1d.
    # Exports carry them, so a deployed model's input order is written down, not implied
    feature_names: tuple[str, ...] = field(default=(), compare=False)
    # where the data came from: the absolute path of a data file ("" for a built-in task),
    # and a SHA-256 of its content (of the file's bytes, or of a built-in's arrays), so a
    # run can find its data again after it moved and refuse data that changed
    path: str = field(default="", compare=False)
    content_hash: str = field(default="", compare=False)


def load_task(name_or_path: str | os.PathLike[str], *, seed: int = 0,
              valid_fraction: float = VALID_FRACTION, test_fraction: float = TEST_FRACTION,
              label_column: str = LABEL_COLUMN) -> Task:
    """Load a built-in task (see ``BUILTIN_TASKS``), a ``.npz``/``.csv``/``.parquet`` file, or
    a task registered with :func:`register_task`."""
    _check_fraction("valid_fraction", valid_fraction)
    _check_fraction("test_fraction", test_fraction)
    if valid_fraction + test_fraction >= 1:
        raise TaskError(f"valid_fraction + test_fraction must be < 1, "
                        f"got {valid_fraction} + {test_fraction}")
    text = os.fspath(name_or_path)
    key = _task_key(text)
    if key == "xor":
        return _xor_task()
    path_text, label_names, feature_names = "", None, ()
    if key in _SKLEARN_LOADERS:
        x, y, names, feature_names = _SKLEARN_LOADERS[key]()
        arrays: Arrays = (x, y, None, None)
        label_names = names
        digest = _arrays_hash(arrays)
    elif key == "mnist1d":
        arrays = _mnist1d_arrays()
        digest = _arrays_hash(arrays)
    elif is_registered_task(key):
        arrays, feature_names = _registered_arrays(key)
        digest = _arrays_hash(arrays)
    else:
        path = Path(text)
        suffix = path.suffix.lower()
        if suffix not in _FILE_SUFFIXES:
            if text.strip() and path.is_dir():  # '' reads as '.', which is one
                raise TaskError(f"{text!r} is a directory; expected a data file (.npz, .csv "
                                "or .parquet) or a task's name")
            if suffix or (text.strip() and path.exists()):
                raise TaskError(f"unsupported file suffix {suffix or '(none)'!r} for {text!r}: "
                                "expected .npz, .csv or .parquet")
            raise TaskError(f"unknown task {text!r}: expected one of "
                            f"{', '.join((*BUILTIN_TASKS, *registered_tasks()))}, a path to a "
                            ".npz, .csv or .parquet file, or a task registered with "
                            "evolve.register_task (CLI: --plugin FILE that does)")
        if path.is_dir():  # exists, so "not found" would send the user looking for it
            raise TaskError(f"data file {text!r} is a directory; expected a {suffix} file")
        if not path.is_file():
            raise TaskError(f"data file not found: {text!r}")
        key = path.name
        if suffix == ".npz":
            arrays = _read_npz(path)
        else:
            arrays, feature_names = _read_table(path, suffix, label_column)
        path_text, digest = str(path.resolve()), file_hash(path)
    given_test = arrays[2] is not None  # then test_fraction is unused
    # a file's checks after reading name it as the user gave it, as the reader's do (the
    # task itself is named by the file's name)
    task = _build(text if path_text else key, *arrays, seed=seed,
                  valid_fraction=valid_fraction,
                  test_fraction=None if given_test else test_fraction, label_names=label_names)
    return dataclasses.replace(task, name=key, path=path_text, content_hash=digest,
                               feature_names=feature_names)


ARRAYS_TASK = "arrays"  # the task name of a search given in-memory data

# tasks by name whose data a user's function returns (evolve.register_task)
_REGISTERED: dict[str, Callable[[], Sequence[Any]]] = {}


def register_task(name: str, loader: Callable[[], Sequence[Any]]) -> Callable[[], Sequence[Any]]:
    """Make the data ``loader()`` returns — ``(X, y)`` or ``(X, y, X_test, y_test)``, as
    ``evolve.search(data=...)`` takes them — the task ``name`` (``task.name``, ``--task``).

    Data that takes code to read (HDF5, a folder of images, a simulator) then becomes a named
    task: a CLI search uses it through ``--plugin``, and a resume or a NIR export rebuilds it
    by calling ``loader`` again, checked against the content hash the run recorded — where
    in-memory arrays must be passed to every resume again. ``loader`` must return the same
    data each time. Names are case-insensitive; a built-in task's name, ``arrays``, and a
    name ending like a data file (``.csv``) are refused. Returns ``loader``."""
    key = _task_key(name) if isinstance(name, str) else ""
    if not key:
        raise TaskError(f"register_task: the name must be a non-empty string, got {name!r}")
    if key in BUILTIN_TASKS or key == ARRAYS_TASK:
        raise TaskError(f"register_task: {name!r} is a built-in task; register yours under "
                        "another name")
    if Path(key).suffix in _FILE_SUFFIXES:
        raise TaskError(f"register_task: {name!r} would be read as a data file; register it "
                        "under a name without that suffix")
    if not callable(loader):
        raise TypeError(f"register_task {name!r}: expected a function returning (X, y), got "
                        f"{type(loader).__name__}")
    _REGISTERED[key] = loader
    return loader


def registered_tasks() -> list[str]:
    load_installed_plugins()
    return sorted(_REGISTERED)


def is_registered_task(name: str) -> bool:
    return registered(_REGISTERED, _task_key(name)) is not None  # installed ones too


def is_named_task(name: str) -> bool:
    """Whether :func:`load_task` reads ``name`` as a task's name (built-in or registered)
    rather than as a data file's path."""
    return _task_key(name) in BUILTIN_TASKS or is_registered_task(name)


def _task_key(name: str) -> str:
    """How a task name is looked up (built-in or registered): case and surrounding spaces
    do not count."""
    return name.strip().lower()


def _registered_arrays(key: str) -> tuple[Arrays, tuple[str, ...]]:
    """What the loader registered as ``key`` returns, checked as in-memory data is, and its
    features' names where ``X`` is a table that names them."""
    try:
        data = _REGISTERED[key]()
    except Exception as exc:  # noqa: BLE001 - the user's loader failing
        raise TaskError(f"task {key!r}: its loader raised {type(exc).__name__}: "
                        f"{one_line(exc)}") from exc
    arrays = _checked_arrays(data, f"task {key!r}")
    return arrays, _table_checks(data, arrays, f"task {key!r}")


def _table_checks(data: Sequence[Any], arrays: Arrays, what: str) -> tuple[str, ...]:
    """The feature names of in-memory data (:func:`_column_names` of ``X``), after the checks
    a table needs beyond numpy's: every cell a number (:func:`_check_numeric`, for ``X`` and
    ``X_test``), and ``X_test``'s named columns in ``X``'s order, since they are read by
    position."""
    names = _column_names(data[0], arrays[0])
    _check_numeric(arrays[0], names, f"{what}: X", data[0])
    _say_index_columns(table_columns(data[0]) or [], what)
    if arrays[2] is not None:
        test_names = _column_names(data[2], arrays[2])
        _check_numeric(arrays[2], test_names, f"{what}: X_test", data[2])
        if names and test_names and test_names != names and sorted(test_names) == sorted(names):
            moved = next(n for n, m in zip(test_names, names, strict=True) if n != m)
            raise TaskError(f"{what}: X_test has X's columns in another order ({moved!r} is "
                            f"column {test_names.index(moved)} of X_test, {names.index(moved)} "
                            "of X), and they are read by position: give them in X's order "
                            "(X_test[X.columns])")
    return names


def _check_numeric(x: np.ndarray, names: tuple[str, ...], what: str, table: Any) -> None:
    """Where a table of features is not all numbers (its label left in it, a stray text
    cell, a missing value), the column and the first such cell, as a data file's reader says
    them; numpy alone could only say "dtype object". A column whose cells all convert is
    passed over at numpy's speed; numbers held as objects are still refused, by numpy's
    check, as they were."""
    if x.ndim != 2 or x.dtype.kind in "biuf" or x.size == 0:
        return
    index = getattr(table, "index", None)  # a DataFrame's row labels
    for j in range(x.shape[1]):
        try:
            x[:, j].astype(np.float64)
            continue
        except (TypeError, ValueError):
            pass
        for i, cell in enumerate(x[:, j].tolist()):
            try:
                float(cell)
                continue
            except (TypeError, ValueError):
                pass
            column = f"column {names[j]!r}" if names else f"column {j}"
            label = index[i] if index is not None else i  # a DataFrame's own row label
            row = f"row {i}" + ("" if isinstance(label, (int, np.integer)) and label == i
                                else f" (index {label!r})")
            if cell is None or cell is getattr(sys.modules.get("pandas"), "NA", None):
                raise TaskError(f"{what}: {column} has a missing value ({cell!r}) at {row}; "
                                "every sample needs all its features: fill or drop them")
            raise TaskError(f"{what}: {column} holds {cell!r} at {row}, which is not a "
                            "number; every feature must be one (labels go in y; numbers held "
                            "as text need converting, e.g. pandas.to_numeric)")


_PANDAS_UNNAMED = re.compile(r"Unnamed: \d+")  # how pandas.read_csv names a blank header
# what a likely row-index column was warned of in, once per process: a data file by its path,
# a table in memory by its columns
_INDEX_COLUMN_SAID: set[str | tuple[str, ...]] = set()


def _say_index_column_once(source: str | tuple[str, ...], message: str) -> None:
    if source not in _INDEX_COLUMN_SAID:
        _INDEX_COLUMN_SAID.add(source)
        print(f"neurevo: warning: {message}", file=sys.stderr)


def _say_index_columns(columns: list[Any], what: str) -> None:
    """A table read with ``pandas.read_csv`` from a file that ``DataFrame.to_csv()`` wrote
    with its index has the row index as a column named ``Unnamed: 0``; trained on, it is a
    feature that says where a sample sat in the file, and gives the labels away where the
    file is sorted by them. Said once per process and set of columns, not refused (it may be
    meant); the data file reader says the same of a column without a name."""
    unnamed = [c for c in columns if isinstance(c, str) and _PANDAS_UNNAMED.fullmatch(c)]
    if unnamed:
        _say_index_column_once(
            tuple(map(str, columns)),
            f"{what}: X's column {unnamed[0]!r} is read as a feature; if it is the row index "
            "pandas wrote (DataFrame.to_csv() without index=False, read back with read_csv), "
            f"it is not a property of the samples: drop it (X.drop(columns={unnamed!r})) or "
            "read the file with index_col=0")


def table_columns(table: Any) -> list[Any] | None:
    """The column labels of a pyarrow Table or RecordBatch (``column_names``) or of a
    pandas-like frame (``columns``); None for anything else, arrays and tensors included."""
    names = getattr(table, "column_names", None)
    if names is None and not isinstance(table, (np.ndarray, torch.Tensor)):
        names = getattr(table, "columns", None)
    return None if names is None else list(names)


def _column_names(table: Any, x: np.ndarray) -> tuple[str, ...]:
    """The names of ``x``'s columns where ``table``, what ``x`` was read from, is a pandas
    DataFrame or pyarrow Table whose column names are all text, non-blank and each given
    once; () for anything else: an array's columns, a DataFrame's default 0, 1, ..., and
    names a member could not read a table by (a name twice, a blank one) are known by
    position only, as before names were kept (so the data of a run recorded then still
    gives the same run)."""
    names = table_columns(table)
    if names is None or x.ndim != 2:
        return ()
    if len(names) != x.shape[1] or not all(isinstance(n, str) and n.strip() for n in names) \
            or len(set(names)) != len(names):
        return ()
    return tuple(names)


# what rebuilds the data a member was trained on, split as its run split it: exports (and
# NIR files) carry these keys, so a member read from a file finds its splits without its run
SPLIT_KEYS = ("seed", "valid_fraction", "test_fraction", "label_column")
DATA_RECORD_KEYS = ("name", "path", "content_hash", *SPLIT_KEYS)


def rebuild_task(record: dict[str, Any], given: str | Sequence[Any] | None = None,
                 file_option: str = "--task", arrays_keyword: str = "task",
                 moved_hint: str = "--task FILE (from Python: task=FILE)") -> Task:
    """The task a member was trained on, rebuilt from its ``record`` (``DATA_RECORD_KEYS``):
    from the data where the run found it (a built-in name, or the recorded file), from
    ``given`` (a file or name where it is not there any more, or the in-memory arrays ``(X,
    y)`` / ``(X, y, X_test, y_test)`` a run was trained on), split with the recorded seed and
    fractions; refused unless its content hash is the recorded one. ``file_option`` and
    ``arrays_keyword`` are what the caller calls ``given`` in its messages, ``moved_hint``
    how its user gives a file that has moved."""
    split = {"seed": int(record["seed"]), "valid_fraction": float(record["valid_fraction"]),
             "test_fraction": float(record["test_fraction"])}
    want = str(record.get("content_hash", ""))
    if isinstance(given, (tuple, list)):  # the arrays again, split as the run split them
        loaded = task_from_arrays(given, **split)
        what, differs = f"{arrays_keyword}: these arrays", "differ"
    else:
        source = given or record.get("path") or record["name"]
        if source == ARRAYS_TASK:
            raise TaskError(f"this member was trained on in-memory arrays: give them again "
                            f"from Python, {arrays_keyword}=(X, y) (or (X, y, X_test, "
                            "y_test))")
        if given is None and not record.get("path") and not is_named_task(source):
            # no file can stand in: a registered task's hash is of its arrays, not of bytes
            raise TaskError(f"this member was trained on the registered task {source!r}, "
                            "which is not registered here: register its loader first "
                            "(evolve.register_task; CLI: --plugin FILE that does), or from "
                            f"Python give its arrays again, {arrays_keyword}=(X, y)")
        if given is None and record.get("path") and not Path(source).is_file():
            raise TaskError(f"the data the member was trained on is not at {source} any "
                            f"more: give its new place with {moved_hint} (its content "
                            "hash must match)")
        loaded = load_task(source, **split,
                           label_column=str(record.get("label_column", LABEL_COLUMN)))
        what = f"{file_option} {source}: its content" if given is not None else \
            f"the data at {source}: its content"
        differs = "differs"
    if want and loaded.content_hash != want:
        raise TaskError(f"{what} ({loaded.content_hash[:19]}...) {differs} from the data the "
                        f"member was trained on ({want[:19]}...)")
    return loaded


def keep_feature_names(task: Task, recorded: Sequence[str]) -> Task:
    """``task``, arrays given again for a run or member, with the feature names it recorded.
    Such arrays are checked by content, not by their column names, and read by position: a
    table whose columns were renamed since is the same data, and feature ``j`` is still what
    the run recorded (and every export of it carries). The difference is said."""
    if not recorded or tuple(task.feature_names) == tuple(recorded):
        return task
    if task.feature_names:
        renamed = [f"{new!r} (recorded {old!r})"
                   for new, old in zip(task.feature_names, recorded) if new != old]
        more = f" and {len(renamed) - 3} more" if len(renamed) > 3 else ""
        print(f"neurevo: warning: data: the arrays are the run's (same content), but their "
              f"columns are named otherwise: {', '.join(renamed[:3])}{more}; the run's "
              "names are kept, as columns are read by position", file=sys.stderr)
    return dataclasses.replace(task, feature_names=tuple(recorded))


def task_from_arrays(data: Sequence[Any], *, seed: int = 0,
                     valid_fraction: float = VALID_FRACTION,
                     test_fraction: float = TEST_FRACTION) -> Task:
    """A task from in-memory arrays ``(X, y)`` or ``(X, y, X_test, y_test)`` (numpy arrays,
    torch tensors or anything ``numpy.asarray`` takes), validated and split exactly like a
    data file; its content hash lets a resumed run check it is given the same data."""
    _check_fraction("valid_fraction", valid_fraction)
    _check_fraction("test_fraction", test_fraction)
    if valid_fraction + test_fraction >= 1:
        raise TaskError(f"valid_fraction + test_fraction must be < 1, "
                        f"got {valid_fraction} + {test_fraction}")
    arrays = _checked_arrays(data, "data")
    names = _table_checks(data, arrays, "data")
    digest = _arrays_hash(arrays)
    task = _build(ARRAYS_TASK, *arrays, seed=seed, valid_fraction=valid_fraction,
                  test_fraction=None if arrays[2] is not None else test_fraction)
    return dataclasses.replace(task, content_hash=digest, feature_names=names)


def _checked_arrays(data: Sequence[Any], what: str) -> Arrays:
    """``(X, y)`` or ``(X, y, X_test, y_test)`` as numpy arrays (the test pair None when
    not given), or a :class:`TaskError` naming ``what`` gave them."""
    if isinstance(data, (str, bytes, os.PathLike)) or not isinstance(data, (tuple, list)) \
            or len(data) not in (2, 4):
        raise TaskError(f"{what}: expected a tuple (X, y) or (X, y, X_test, y_test), got "
                        f"{type(data).__name__}" + (f" of {len(data)} items"
                                                    if isinstance(data, (tuple, list)) else ""))

    def array(value: Any, name: str) -> np.ndarray:
        # numpy would take each of these as something else: None and a sparse matrix as a
        # 0-d object array (then "must be 2-D, got shape ()"), a masked array as the values
        # under its mask, which are missing data and would be trained on
        if value is None:
            raise TaskError(f"{what}: {name} is None; expected an array (without a test set, "
                            "give (X, y))")
        if type(value).__module__.startswith("scipy.sparse"):
            raise TaskError(f"{what}: {name} is a scipy sparse matrix; expected a dense array "
                            f"({name}.toarray())")
        masked = np.ma.count_masked(value) if isinstance(value, np.ma.MaskedArray) else 0
        if masked:
            raise TaskError(f"{what}: {name} has {masked} masked values; "
                            "every sample needs all its values: fill or drop them")
        if isinstance(value, torch.Tensor) and value.layout != torch.strided:
            raise TaskError(f"{what}: {name} is a torch tensor of layout {value.layout}; "
                            f"expected a dense one ({name}.to_dense())")
        if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
            value = value.detach().cpu().numpy()
        try:
            return np.asarray(value)
        except Exception as exc:  # noqa: BLE001 - anything numpy cannot read
            raise TaskError(f"{what}: {name} is not an array ({one_line(exc)})") from None
    names = ("X", "y", "X_test", "y_test")
    arrays = [array(v, n) for v, n in zip(data, names, strict=False)]
    if len(arrays) == 2:
        arrays += [None, None]
    return tuple(arrays)


def file_hash(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return f"sha256:{h.hexdigest()}"


def _arrays_hash(arrays: Arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(_by_value(a) if a.dtype.kind == "O" else a)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
    return f"sha256:{h.hexdigest()}"


def _by_value(a: np.ndarray) -> np.ndarray:
    """An object array (text labels from pandas, a list of Python strings) as the array of
    its values: its bytes are the objects' addresses, different each time the same labels
    are read, so its hash must be taken of the values. Their own type is kept (Python ints
    as integers, strings as text), so labels 1, 2, 10 do not hash as the text '1', '2',
    '10', which order, and so split, otherwise; values numpy keeps as objects (None, mixed
    types) as their type and repr."""
    flat = a.reshape(-1).tolist()
    if len({type(v) for v in flat}) <= 1:  # numpy would make text of 'a' and 1 alike
        values = np.asarray(flat)
        if values.dtype.kind != "O":
            return values.reshape(a.shape)
    return np.array([f"{type(v).__qualname__}:{v!r}" for v in flat], dtype=str).reshape(a.shape)


# ----------------------------------------------------------------------------- sources


def _sklearn_loader(fn_name: str
                    ) -> Callable[[], tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...]]]:
    """Features, integer labels, each label's real name (iris species, wine cultivars,
    malignant/benign) and each feature's, which exports carry so that a prediction can be
    read and its inputs put in order."""
    def load() -> tuple[np.ndarray, np.ndarray, list[str], tuple[str, ...]]:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, fn_name)()
        features = tuple(str(n) for n in getattr(bunch, "feature_names", ()))
        return (bunch.data, bunch.target, [str(n) for n in bunch.target_names],
                features if len(features) == bunch.data.shape[1] else ())

    return load


_SKLEARN_LOADERS = {
    name: _sklearn_loader(f"load_{name}") for name in ("digits", "iris", "wine", "breast_cancer")
}


def _xor_task() -> Task:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float32)
    y = torch.tensor([0, 1, 1, 0], dtype=torch.int64)
    train, valid, test = (Split(x.clone(), y.clone()) for _ in range(3))
    return Task("xor", train, valid, test, n_features=2, n_classes=2, class_names=("0", "1"))


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> Arrays:
    """Generate MNIST-1D locally (default args, fixed seed 42); cached per process."""
    from mnist1d.data import get_dataset_args, make_dataset

    # make_dataset reseeds the global `random` and numpy RNGs; do not leak that to callers.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for a in arrays:
        a.setflags(write=False)  # shared by every load; must never be mutated
    return arrays


_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK"


def _read_npz(path: Path) -> Arrays:
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_NPY_MAGIC))
        # Checked before np.load: without pickle numpy calls any non-zip, non-.npy file
        # "pickled (object) data", which sends the user after the wrong problem.
        if head.startswith(_NPY_MAGIC):
            raise ValueError("file is a single .npy array, not an .npz archive")
        if not head.startswith(_ZIP_MAGIC):
            raise ValueError("not an .npz archive (expected the zip of .npy arrays that "
                             "numpy.savez writes)")
        npz = np.load(path, allow_pickle=False)
        with npz:
            present = sorted(npz.files)
            for required in ("x", "y"):
                if required not in present:
                    raise TaskError(f"{path}: missing array {required!r} "
                                    f"(arrays present: {present})")
            if ("x_test" in present) != ("y_test" in present):
                raise TaskError(f"{path}: 'x_test' and 'y_test' must be given together "
                                f"(arrays present: {present})")
            x_test = npz["x_test"] if "x_test" in present else None
            y_test = npz["y_test"] if "y_test" in present else None
            return npz["x"], npz["y"], x_test, y_test
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # cut, damaged
        if isinstance(exc, TaskError):
            raise
        raise TaskError(f"{path}: cannot read as .npz: {one_line(exc)}") from exc


def _separator_hint(columns: list[str]) -> str:
    """Why a CSV seems to have one column: it is separated by something else than commas
    (a spreadsheet's ';' export), which the reader does not guess."""
    if len(columns) != 1:
        return ""
    for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
        if sep in columns[0]:
            return (f"; the header looks separated by {name}: neurevo reads comma-separated "
                    "CSV, so save the file with commas (or as .parquet or .npz)")
    return ""


def _read_table(path: Path, suffix: str, label_column: str) -> tuple[Arrays, tuple[str, ...]]:
    """The file's arrays and its feature columns' names, in the order of the features."""
    import pyarrow as pa
    import pyarrow.compute
    import pyarrow.csv
    import pyarrow.parquet

    try:
        if suffix == ".parquet":  # its reader refuses a name given twice in pyarrow's words
            _check_column_names(path, pa.parquet.read_schema(path).names)
        table = pa.csv.read_csv(path) if suffix == ".csv" else pa.parquet.read_table(path)
        _check_column_names(path, table.column_names)
        if suffix == ".csv" and label_column in table.column_names and \
                pa.types.is_null(table.schema.field(label_column).type):
            # every label is one of pyarrow's null spellings ("NA", "null", "N/A", ...):
            # those are class names here, so the column is read again as text
            table = pa.csv.read_csv(path, convert_options=pa.csv.ConvertOptions(
                column_types={label_column: pa.string()}))
    except (pa.ArrowException, OSError) as exc:
        raise TaskError(f"{path}: cannot read as {suffix}: {one_line(exc)}") from exc
    for name, column_type in zip(table.column_names, table.schema.types, strict=True):
        if pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type):
            # pyarrow reads a CSV cell that is not valid UTF-8 as bytes; taken as labels they
            # would become class names like "b'caf\\xe9'", so the file is refused instead.
            why = ("is not UTF-8 text; save the file as UTF-8" if suffix == ".csv" else
                   f"holds raw bytes ({column_type}); expected numbers, or strings for labels")
            raise TaskError(f"{path}: column {name!r} {why}")
    if table.num_rows == 0:  # a header alone: every column would read as typeless
        raise TaskError(f"{path}: no data rows (columns: {table.column_names}); expected one "
                        "row per sample")
    if label_column not in table.column_names:
        names = table.column_names
        shown = _shown_columns(names)
        raise TaskError(f"{path}: label column {label_column!r} not found "
                        f"(columns: {shown}); name the one that holds the labels with "
                        "task.label_column (CLI: --label-column NAME)"
                        + (_separator_hint(names) if suffix == ".csv" else ""))
    label = table.column(label_column)
    if pa.types.is_dictionary(label.type):
        label = label.cast(label.type.value_type)
    def where(first: int) -> str:  # a CSV's data row by the line it starts on in the file
        return f"line {_csv_line(path, first)}" if suffix == ".csv" else f"row {first}"

    # a blank CSV cell in a string column reads as "" (not null: a class named "NA" or
    # "null" must stay a class), and must be refused as a missing label, not become a class
    missing = label.is_null()
    if pa.types.is_string(label.type) or pa.types.is_large_string(label.type):
        missing = pa.compute.or_kleene(missing, pa.compute.equal(label, ""))
    missing = missing.to_numpy(zero_copy_only=False).astype(bool)
    if missing.any():
        count, first = int(missing.sum()), int(np.flatnonzero(missing)[0])
        raise TaskError(f"{path}: label column {label_column!r} has "
                        f"{plural(count, 'missing value')} (the first at {where(first)}); "
                        "every sample needs a label")
    numeric_kinds = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean,
                     pa.types.is_decimal)
    features, names = [], []
    for name in table.column_names:
        if name == label_column:
            continue
        names.append(name)
        col = table.column(name)
        if pa.types.is_null(col.type):  # a CSV column of blank cells has no type to name
            raise TaskError(f"{path}: feature column {name!r} has no values (every cell is "
                            "blank); drop the column or fill it")
        if not any(is_kind(col.type) for is_kind in numeric_kinds):
            raise TaskError(f"{path}: feature column {name!r} is not numeric (type {col.type})"
                            + _first_non_number(col, where)
                            + f"; the label column is {label_column!r} (task.label_column)")
        values = col.to_numpy(zero_copy_only=False).astype(np.float64)  # nulls -> NaN
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise TaskError(f"{path}: feature column {name!r} has {bad.size} missing, NaN or "
                            f"infinite values (the first at {where(int(bad[0]))})")
        _check_standardisable(f"{path}: feature column {name!r}", values)
        features.append(values)
    if not features:
        raise TaskError(f"{path}: no feature columns besides label column {label_column!r}")
    return ((np.column_stack(features), label.to_numpy(zero_copy_only=False), None, None),
            tuple(names))


def _first_non_number(column: Any, where: Callable[[int], str]) -> str:
    """Where a text column (a pyarrow ChunkedArray) first holds a cell that does not read as
    a number, so that one stray cell in a large file can be found (empty for a column of
    another type)."""
    import pyarrow as pa

    if pa.types.is_dictionary(column.type):  # a categorical column, as pandas saves one
        column = column.cast(column.type.value_type)
    if not any(is_text(column.type) for is_text in (
            pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)):
        return ""
    row = 0
    for chunk in column.iterchunks():
        for cell in chunk.to_pylist():
            if cell is not None and cell != "" and not _reads_as_number(cell):
                return f": the first cell that is not a number is {cell!r}, at {where(row)}"
            row += 1
    return ""


def _reads_as_number(cell: str) -> bool:
    """As a CSV reader takes a number: Python's ``float`` also takes ``1_000`` and non-ASCII
    digits, which leave a column text."""
    if not cell.isascii() or "_" in cell:
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_line(path: Path, row: int) -> int:
    """The line of ``path`` on which data row ``row`` (0 = the first after the header)
    starts: blank lines and quoted cells that span lines make it differ from ``row + 2``.
    Read again on an error's path only."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        ended, seen = 0, -1  # the line the previous row ended on; data rows seen
        for cells in reader:
            start = ended + 1
            ended = reader.line_num
            if not cells or cells == [""]:  # a blank line, which the reader skips too
                continue
            if seen == row:
                return start
            seen += 1
    return row + 2


def _check_column_names(path: Path, names: list[str]) -> None:
    """Columns are found by name (the label, a feature in an error message, a member reading
    a table): a name given twice is ambiguous, and pyarrow's lookup of it would fail with a
    KeyError. A column without a name is said once per file and process, not refused (runs
    were recorded on such files before): it is nearly always the row index
    ``DataFrame.to_csv()`` writes, trained on as a feature, and in the file's order it can
    give the labels away."""
    shown = _shown_columns(names)
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    for name, count in seen.items():
        if count > 1:
            raise TaskError(f"{path}: column name {name!r} appears {count} times (columns: "
                            f"{shown}); every column needs its own name")
    blank = [i for i, name in enumerate(names) if not name.strip()]
    if blank:
        _say_index_column_once(
            str(path), f"{path}: column {blank[0] + 1} has no name and is read as a feature; "
            "if it is the row index pandas writes (DataFrame.to_csv() without index=False), it "
            "is not a property of the samples: for a new search, save the file without it")


def _shown_columns(names: list[str]) -> list[str]:
    """A file's columns as a message lists them: the first 12, and how many more."""
    return names if len(names) <= 12 else [*names[:12], f"... {len(names) - 12} more"]


# ----------------------------------------------------------------------------- processing


def _build(name: str, x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None,
           y_test: np.ndarray | None, *, seed: int, valid_fraction: float,
           test_fraction: float | None = None, label_names: list[str] | None = None) -> Task:
    x = _check_xy(name, x, y, "x", "y")
    if x_test is not None and y_test is not None:
        x_test = _check_xy(name, x_test, y_test, "x_test", "y_test")
        if x_test.shape[1] != x.shape[1]:
            raise TaskError(f"{name}: x_test has {x_test.shape[1]} features, x has {x.shape[1]}")
        all_y = _concat_labels(name, y, y_test)
    else:
        all_y = np.asarray(y)
    if all_y.dtype.kind == "f" and np.isnan(all_y).any():
        missing = np.flatnonzero(np.isnan(all_y))
        rows = "of y and y_test together" if x_test is not None else "of y"
        raise TaskError(f"{name}: labels contain NaN ({len(missing)} of {len(all_y)}, the first "
                        f"at row {missing[0]} {rows})")
    try:
        classes, codes = np.unique(all_y, return_inverse=True)
    except TypeError:  # None among the labels, or labels of types that do not compare
        kinds = sorted({type(v).__name__ for v in all_y.reshape(-1).tolist()})
        raise TaskError(f"{name}: labels must be all numbers or all strings, got a mix of "
                        f"{kinds}") from None
    codes = codes.reshape(-1).astype(np.int64)
    if len(classes) < 2:
        raise TaskError(f"{name}: need at least 2 classes in labels, found {len(classes)}")
    n = len(y)
    idx = np.arange(n)
    _check_class_counts(name, codes[:n], classes, need=2 if test_fraction is None else 3)
    if test_fraction is None:  # given test set: split the rest into train/valid
        tr, va = _stratified(name, idx, codes[:n], valid_fraction, seed,
                             ("valid_fraction", valid_fraction))
        x_tr, y_tr, x_va, y_va = x[tr], codes[tr], x[va], codes[va]
        x_te, y_te = x_test, codes[n:]
    else:
        rest, te = _stratified(name, idx, codes, test_fraction, seed,
                               ("test_fraction", test_fraction))
        tr, va = _stratified(name, rest, codes[rest], valid_fraction / (1 - test_fraction), seed,
                             ("valid_fraction", valid_fraction))
        x_tr, y_tr, x_va, y_va, x_te, y_te = x[tr], codes[tr], x[va], codes[va], x[te], codes[te]
    mean, std = _fit_standardiser(name, x_tr)
    splits = [Split(torch.from_numpy(((xs - mean) / std).astype(np.float32)),
                    torch.from_numpy(np.ascontiguousarray(ys, dtype=np.int64)))
              for xs, ys in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te))]
    return Task(name, *splits, n_features=x.shape[1], n_classes=len(classes),
                class_names=tuple(label_names[int(c)] if label_names else str(c)
                                  for c in classes),
                feature_mean=mean, feature_std=std)


def _check_xy(name: str, x: np.ndarray, y: np.ndarray, xn: str, yn: str) -> np.ndarray:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2:
        raise TaskError(f"{name}: {xn} must be 2-D [n_samples, n_features], got shape {x.shape}")
    if y.ndim != 1:
        raise TaskError(f"{name}: {yn} must be 1-D [n_samples], got shape {y.shape}")
    if len(x) != len(y):
        raise TaskError(f"{name}: len({xn}) = {len(x)} but len({yn}) = {len(y)}; must be equal")
    if len(x) == 0 or x.shape[1] == 0:
        raise TaskError(f"{name}: {xn} is empty (shape {x.shape})")
    if x.dtype.kind not in "biuf":
        raise TaskError(f"{name}: {xn} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise TaskError(f"{name}: features in {xn} contain NaN or inf (first at row {row}, "
                        f"column {col})")
    return x


def _concat_labels(name: str, y: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    y, y_test = np.asarray(y), np.asarray(y_test)
    numeric = {k in "biuf" for k in (y.dtype.kind, y_test.dtype.kind)}
    if len(numeric) > 1:
        raise TaskError(f"{name}: y ({y.dtype}) and y_test ({y_test.dtype}) label types differ")
    return np.concatenate([y, y_test])


def _check_class_counts(name: str, codes: np.ndarray, classes: np.ndarray, need: int) -> None:
    present, counts = np.unique(codes, return_counts=True)
    if len(present) < len(classes):  # only in y_test: no net could learn it
        unseen = [str(c) for c in np.delete(classes, present)]
        raise TaskError(f"{name}: y_test holds class(es) {unseen[:5]} that y never has: a "
                        "net cannot learn a class it is never shown; drop those test "
                        "samples or add training samples of them")
    if counts.min() < need:
        worst = classes[present[np.argmin(counts)]]
        raise TaskError(f"{name}: too few samples per class to stratify: class {str(worst)!r} "
                        f"has {counts.min()} sample(s) to split, need at least {need}")


def _stratified(name: str, idx: np.ndarray, codes: np.ndarray, fraction: float, seed: int,
                setting: tuple[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Split ``idx`` in the classes' proportions. Each side needs one sample of every class
    (a split of 2 samples cannot hold 3 classes, however many each class has): checked here,
    to name the setting that sizes the side (``setting``: its key and the value given)
    rather than leave scikit-learn's message."""
    from sklearn.model_selection import train_test_split

    n, k = len(idx), len(np.unique(codes))
    n_split = math.ceil(fraction * n)  # as train_test_split sizes a fractional test_size
    key, given = setting
    side, rest = (("validation", "training") if key == "valid_fraction"
                  else ("test", "training and validation"))
    for size, what, fix in ((n_split, f"the {side} split", "raise"),
                            (n - n_split, f"the {rest} split", "lower")):
        if size < k:
            raise TaskError(f"{name}: too few samples to stratify: {what} would hold {size} "
                            f"of {n} samples (task.{key} = {given:g}) but needs one of each "
                            f"of the {k} classes; give more samples per class, or {fix} "
                            f"task.{key}")
    try:
        a, b = train_test_split(idx, test_size=fraction, random_state=seed, stratify=codes)
    except ValueError as exc:
        raise TaskError(f"{name}: too few samples per class to stratify: {one_line(exc)}") \
            from exc
    return a, b


def _check_standardisable(what: str, values: np.ndarray) -> None:
    """The variance of values near 1e154 overflows a float64: say which, not a traceback."""
    with np.errstate(over="ignore", invalid="ignore"):
        spread = values.std(axis=0)
    if not np.all(np.isfinite(spread)):
        raise TaskError(f"{what} holds values too large to standardise (up to "
                        f"{np.abs(values).max():.3g}); rescale it")


def _fit_standardiser(name: str, x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore"):
        mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    for column in np.flatnonzero(~np.isfinite(mean) | ~np.isfinite(std))[:1]:
        # an array's column by its index (a table's columns were checked by name)
        _check_standardisable(f"{name}: feature column {column} (counting from 0)",
                              x_train[:, column])
    constant = x_train.min(axis=0) == x_train.max(axis=0)
    mean = np.where(constant, x_train[0], mean)  # constant features map to exactly 0
    std = np.where(constant | (std == 0), 1.0, std)
    return mean, std


def _check_fraction(field: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise TaskError(f"{field} must be a number in (0, 1), got {value!r}")
