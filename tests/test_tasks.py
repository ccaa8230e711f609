"""Tests for evolve.tasks on real data: bundled sklearn sets, local MNIST-1D, user files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv
import pyarrow.parquet as pq
import pytest
import torch

from evolve.tasks import BUILTIN_TASKS, Split, Task, TaskError, load_task, task_from_arrays


def _splits(task: Task) -> tuple[Split, Split, Split]:
    return task.train, task.valid, task.test


@pytest.fixture(scope="module")
def digits() -> Task:
    return load_task("digits", seed=0)


def _labelled_rows(n_per_class: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features [rank, noise, noise] for string labels; rank = index of the label when sorted."""
    rng = np.random.default_rng(seed)
    names = np.array(["emu", "cat", "dog"])  # deliberately unsorted
    labels = rng.permutation(np.repeat(names, n_per_class))
    rank = np.searchsorted(np.sort(names), labels).astype(float)
    x = np.column_stack([rank, rng.normal(size=(len(labels), 2))])
    return x, labels


def _assert_rank_feature_matches_labels(task: Task) -> None:
    levels = torch.unique(task.train.x[:, 0])  # standardised ranks 0, 1, 2 (monotone map)
    assert len(levels) == task.n_classes
    for split in _splits(task):
        assert torch.equal(torch.searchsorted(levels, split.x[:, 0].contiguous()), split.y)


# --------------------------------------------------------------------------- built-in tasks


def test_digits_shapes_and_fractions(digits: Task) -> None:
    assert (digits.name, digits.n_features, digits.n_classes) == ("digits", 64, 10)
    assert digits.class_names == tuple(str(i) for i in range(10))
    sizes = [len(s.y) for s in _splits(digits)]
    assert sum(sizes) == 1797
    for split, expected in zip(_splits(digits), (0.6, 0.2, 0.2)):
        assert split.x.shape == (len(split.y), 64)
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert abs(len(split.y) / 1797 - expected) < 0.01
    other = load_task("digits", valid_fraction=0.1, test_fraction=0.3)
    assert [round(len(s.y) / 1797, 2) for s in _splits(other)] == [0.6, 0.1, 0.3]


@pytest.mark.parametrize("name", ["digits", "iris", "wine", "breast_cancer"])
def test_stratified_every_class_in_every_split(name: str) -> None:
    task = load_task(name, seed=3)
    overall = torch.bincount(torch.cat([s.y for s in _splits(task)])) / sum(
        len(s.y) for s in _splits(task)
    )
    for split in _splits(task):
        counts = torch.bincount(split.y, minlength=task.n_classes)
        assert (counts > 0).all()
        assert torch.allclose(counts / len(split.y), overall, atol=0.05)


def test_standardised_on_train_only(digits: Task) -> None:
    x = digits.train.x.double()
    varying = x.std(0) > 0
    assert varying.sum() > 50  # digits has a few constant pixels
    assert torch.allclose(x.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(0, unbiased=False)[varying], torch.ones(int(varying.sum()),
                          dtype=torch.float64), atol=1e-4)
    assert torch.all(x[:, ~varying] == 0)
    # valid/test use the train statistics, so they are not exactly centred ...
    for split in (digits.valid, digits.test):
        assert split.x.double().mean(0).abs().max() > 0.05
    # ... and neither is the union (which it would be if fitted on all data).
    union = torch.cat([s.x for s in _splits(digits)]).double()
    assert union.mean(0).abs().max() > 0.01


def test_same_train_transform_applied_to_every_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(loc=[5.0, -3.0, 0.0], scale=[2.0, 0.5, 10.0], size=(60, 3))
    y = np.arange(60) % 3
    path = tmp_path / "same.npz"
    np.savez(path, x=x, y=y, x_test=x, y_test=y)  # test set = every row
    task = load_task(path)
    test_rows = {tuple(r) for r in task.test.x.tolist()}
    for split in (task.train, task.valid):
        assert {tuple(r) for r in split.x.tolist()} <= test_rows
    assert not torch.allclose(task.test.x.mean(0), torch.zeros(3), atol=1e-6)


def test_seed_determinism_and_variation(digits: Task) -> None:
    again = load_task("digits", seed=0)
    for a, b in zip(_splits(digits), _splits(again)):
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    other = load_task("digits", seed=1)
    assert not torch.equal(digits.train.x, other.train.x)
    assert not torch.equal(digits.test.y, other.test.y)


def test_xor() -> None:
    task = load_task("xor")
    assert (task.n_features, task.n_classes, task.class_names) == (2, 2, ("0", "1"))
    for split in _splits(task):
        assert split.x.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
        assert split.y.tolist() == [0, 1, 1, 0]
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64


@pytest.mark.parametrize(
    ("name", "n_features", "n_classes", "n"),
    [("iris", 4, 3, 150), ("wine", 13, 3, 178), ("breast_cancer", 30, 2, 569)],
)
def test_small_sklearn_tasks(name: str, n_features: int, n_classes: int, n: int) -> None:
    task = load_task(name)
    assert (task.name, task.n_features, task.n_classes) == (name, n_features, n_classes)
    assert sum(len(s.y) for s in _splits(task)) == n
    assert all(s.x.shape[1] == n_features and torch.isfinite(s.x).all() for s in _splits(task))


def test_mnist1d_generated_locally_without_touching_global_rng() -> None:
    from evolve.tasks import _mnist1d_arrays

    _mnist1d_arrays.cache_clear()
    np.random.seed(123)
    task = load_task("mnist1d", seed=0)
    assert np.random.randint(1 << 30) == np.random.RandomState(123).randint(1 << 30)
    assert (task.n_features, task.n_classes) == (40, 10)
    assert len(task.test.y) == 1000
    assert len(task.train.y) + len(task.valid.y) == 4000
    assert abs(len(task.valid.y) / 4000 - 0.2) < 0.01
    assert set(task.valid.y.tolist()) == set(range(10))
    again = load_task("mnist1d", seed=0)  # cached generation, identical result
    assert torch.equal(task.test.x, again.test.x) and torch.equal(task.train.y, again.train.y)
    assert "mnist1d" in BUILTIN_TASKS


# --------------------------------------------------------------------------- user files


def test_npz_round_trip_three_way_split(tmp_path: Path) -> None:
    x, labels = _labelled_rows()
    path = tmp_path / "Data.NPZ"  # suffix is case-insensitive
    with open(path, "wb") as f:  # np.savez would append ".npz" to a path
        np.savez(f, x=x, y=labels)
    task = load_task(str(path), seed=2)
    assert task.class_names == ("cat", "dog", "emu")
    assert (task.name, task.n_features, task.n_classes) == ("Data.NPZ", 3, 3)
    assert [len(s.y) for s in _splits(task)] == [18, 6, 6]
    _assert_rank_feature_matches_labels(task)


def test_npz_round_trip_with_given_test_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 4)), np.arange(50) % 2 * 7 + 3  # labels 3 and 10
    x_test, y_test = rng.normal(size=(9, 4)), np.array([3, 10, 10, 3, 3, 10, 3, 10, 10])
    path = tmp_path / "given.npz"
    np.savez(path, x=x, y=y, x_test=x_test, y_test=y_test)
    task = load_task(path, valid_fraction=0.2)
    assert task.class_names == ("3", "10")
    assert (len(task.train.y), len(task.valid.y)) == (40, 10)
    assert task.test.y.tolist() == [0, 1, 1, 0, 0, 1, 0, 1, 1]  # order kept, labels mapped
    assert task.test.x.shape == (9, 4)
    assert not torch.allclose(task.test.x.mean(0), torch.zeros(4), atol=1e-3)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_table_files_with_string_labels_and_custom_column(tmp_path: Path, suffix: str) -> None:
    x, labels = _labelled_rows(n_per_class=12)
    table = pa.table({"rank": x[:, 0], "target": labels.tolist(), "a": x[:, 1], "b": x[:, 2]})
    path = tmp_path / f"table{suffix}"
    if suffix == ".csv":
        pa.csv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    task = load_task(path, label_column="target", seed=5)
    assert task.class_names == ("cat", "dog", "emu")
    assert (task.n_features, task.n_classes) == (3, 3)
    assert sum(len(s.y) for s in _splits(task)) == 36
    _assert_rank_feature_matches_labels(task)
    with pytest.raises(TaskError, match="'label' not found") as info:
        load_task(path)  # default label column is "label"
    assert "separated by" not in str(info.value)
    assert "task.label_column (CLI: --label-column NAME)" in str(info.value)


@pytest.mark.parametrize("sep, name", [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_separated_by_something_else_says_so(tmp_path: Path, sep: str, name: str) -> None:
    """A spreadsheet's ';' export reads as one column; the error says why, not only that
    the label column is missing."""
    path = tmp_path / "export.csv"
    path.write_text(sep.join(["a", "b", "label"]) + "\n" + "\n".join(
        sep.join([str(i), str(i * 2), "xy"[i % 2]]) for i in range(10)) + "\n")
    with pytest.raises(TaskError) as info:
        load_task(path)
    assert f"the header looks separated by {name}: neurevo reads comma-separated CSV" \
        in str(info.value)


# --------------------------------------------------------------------------- errors


def _error(tmp_path: Path, what: str, **kwargs: object) -> str:
    with pytest.raises(TaskError) as info:
        load_task(what if "/" not in what else str(tmp_path / what.lstrip("/")), **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def _npz(tmp_path: Path, name: str, **arrays: np.ndarray) -> str:
    np.savez(tmp_path / name, **arrays)
    return "/" + name


def _csv(tmp_path: Path, name: str, text: str) -> str:
    (tmp_path / name).write_text(text)
    return "/" + name


X, Y = np.random.default_rng(0).normal(size=(12, 2)), np.arange(12) % 2


def test_unknown_name_lists_builtins_and_file_formats(tmp_path: Path) -> None:
    msg = _error(tmp_path, "mnist2d")
    assert "mnist2d" in msg and all(name in msg for name in BUILTIN_TASKS)
    assert ".npz" in msg and ".csv" in msg and ".parquet" in msg


def test_file_errors(tmp_path: Path) -> None:
    assert "missing.csv" in (msg := _error(tmp_path, "/missing.csv")) and "not found" in msg
    assert ".txt" in _error(tmp_path, _csv(tmp_path, "data.txt", "a,label\n1,0\n"))
    msg = _error(tmp_path, _npz(tmp_path, "nox.npz", features=X, y=Y))
    assert "'x'" in msg and "features" in msg and "nox.npz" in msg
    msg = _error(tmp_path, _npz(tmp_path, "noy.npz", x=X, labels=Y))
    assert "'y'" in msg and "labels" in msg
    assert "x_test" in _error(tmp_path, _npz(tmp_path, "half.npz", x=X, y=Y, x_test=X))
    assert "2-D" in _error(tmp_path, _npz(tmp_path, "flat.npz", x=X.ravel(), y=Y))
    assert "len(x)" in _error(tmp_path, _npz(tmp_path, "len.npz", x=X, y=Y[:-1]))
    msg = _error(tmp_path, _npz(tmp_path, "obj.npz", x=np.array([{}] * 12, dtype=object), y=Y))
    assert "obj.npz" in msg and "pickle" in msg  # object arrays are never unpickled
    bad = X.copy()
    bad[3, 1] = np.nan
    assert "NaN" in _error(tmp_path, _npz(tmp_path, "nan.npz", x=bad, y=Y))
    bad[3, 1] = np.inf
    assert "inf" in _error(tmp_path, _npz(tmp_path, "inf.npz", x=bad, y=Y))


def test_files_that_are_not_npz_archives_get_one_line_errors(tmp_path: Path) -> None:
    _npz(tmp_path, "whole.npz", x=X, y=Y)
    whole = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[:200])  # a copy interrupted part way
    msg = _error(tmp_path, "/cut.npz")
    assert "cut.npz" in msg and "zip" in msg
    (tmp_path / "text.npz").write_text("x,y\n1,0\n")
    msg = _error(tmp_path, "/text.npz")
    assert "not an .npz archive" in msg and "pickle" not in msg
    np.save(tmp_path / "one.npy", X)
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    assert "single .npy array" in _error(tmp_path, "/one.npz")


def test_a_csv_that_is_not_utf8_is_refused_not_garbled(tmp_path: Path) -> None:
    rows = "".join(f"{i},{'café' if i % 2 else 'thé'}\n" for i in range(12))
    path = tmp_path / "latin1.csv"
    path.write_bytes(("p,label\n" + rows).encode("latin-1"))
    msg = _error(tmp_path, "/latin1.csv")
    assert "latin1.csv" in msg and "'label'" in msg and "UTF-8" in msg
    path.write_bytes(("p,label\n" + rows).encode("utf-8"))  # the same file, saved as UTF-8
    assert set(load_task(str(path), seed=0).class_names) == {"café", "thé"}


def test_a_test_class_never_in_training_and_features_too_large_are_refused(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 3)), np.repeat([0, 1], 30)
    np.savez(tmp_path / "unseen.npz", x=x, y=y, x_test=x[:9], y_test=np.array([0, 1, 2] * 3))
    assert "y_test holds class(es) ['2'] that y never has" in _error(tmp_path, "/unseen.npz")
    with pytest.raises(TaskError, match=r"a mix of \['NoneType', 'str'\]"):
        task_from_arrays((x, np.array(["a", None] * 30, dtype=object)))
    huge = x.copy()
    huge[:, 1] *= 1e160  # its variance overflows a float64
    np.savez(tmp_path / "huge.npz", x=huge, y=y)
    msg = _error(tmp_path, "/huge.npz")
    assert "feature column 1" in msg and "too large to standardise" in msg


def test_table_errors(tmp_path: Path) -> None:
    text = "size,colour,label\n1,red,a\n2,blue,b\n3,red,a\n"
    msg = _error(tmp_path, _csv(tmp_path, "colour.csv", text))
    assert "'colour'" in msg and "not numeric" in msg
    msg = _error(tmp_path, _csv(tmp_path, "nolabel.csv", "p,q\n1,2\n"), label_column="target")
    assert "'target'" in msg and "'p'" in msg and "'q'" in msg
    msg = _error(tmp_path, _csv(tmp_path, "nan.csv", "p,label\n1,a\nnan,b\n3,a\n"))
    assert "NaN" in msg
    assert "feature column 'p'" in msg and "line 3" in msg
    msg = _error(tmp_path, _csv(tmp_path, "blank.csv", "p,label\n1,a\n2,\n3,a\n4,\n"))
    assert "label column 'label' has 2 missing values (the first at line 3)" in msg
    classes = "".join(f"{i},{'NA' if i % 2 else 'null'}\n" for i in range(12))
    _csv(tmp_path, "na.csv", "p,label\n" + classes)
    named = load_task(str(tmp_path / "na.csv"), seed=0)
    assert named.class_names == ("NA", "null")  # classes so named are not missing labels
    msg = _error(tmp_path, _csv(tmp_path, "gap.csv", "p,q,label\n1,,a\n2,3,b\n"))
    assert "feature column 'q'" in msg and "line 2" in msg
    # one stray word makes the whole column text: the cell is named with its line (a
    # missing cell before it is not the culprit), in a Parquet file with its row
    cells = ["1.5", "", "2", "abc", "4"]
    msg = _error(tmp_path, _csv(tmp_path, "word.csv", "p,q,label\n" + "".join(
        f"{i},{c},{'ab'[i % 2]}\n" for i, c in enumerate(cells))))
    assert "feature column 'q' is not numeric" in msg
    assert "'abc', at line 5" in msg, msg
    assert msg.endswith("; the label column is 'label' (task.label_column)"), msg  # a mix-up?
    table = pa.table({"q": ["1", None, "x2", "3"], "label": [0, 1, 0, 1]})
    pq.write_table(table, tmp_path / "word.parquet")
    assert "'x2', at row 2" in _error(tmp_path, "/word.parquet")
    # a categorical column (as pandas saves one) too, and cells Python's float() would take
    # but a CSV reader does not; a cell of spaces is named, not skipped as blank
    table = pa.table({"q": pa.array(["1", "2", "n/a", "3"]).dictionary_encode(),
                      "label": [0, 1, 0, 1]})
    pq.write_table(table, tmp_path / "category.parquet")
    assert "'n/a', at row 2" in _error(tmp_path, "/category.parquet")
    for cell in ("1_000", "\u0661", " "):
        msg = _error(tmp_path, _csv(tmp_path, "odd.csv", f"p,q,label\n1,2,a\n2,{cell},b\n"))
        assert f"{cell!r}, at line 3" in msg, msg
    # the line a row starts on, past a blank line and a quoted label that spans two lines
    msg = _error(tmp_path, _csv(tmp_path, "lines.csv",
                                'p,q,label\n1,2,a\n\n2,3,"b\nc"\n3,x,a\n'))
    assert "'x', at line 6" in msg, msg


def test_a_table_with_two_columns_of_one_name_is_refused_naming_it(tmp_path: Path) -> None:
    # pyarrow reads both columns, but a column looked up by that name is ambiguous: before,
    # the lookup's KeyError came out as a traceback (a feature name twice, or the label's)
    rows = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(12))
    msg = _error(tmp_path, _csv(tmp_path, "twice.csv", "p,p,label\n" + rows))
    assert "twice.csv" in msg and "'p'" in msg and "2 times" in msg
    msg = _error(tmp_path, _csv(tmp_path, "labels.csv", "p,label,label\n" + rows))
    assert "'label'" in msg and "2 times" in msg
    table = pa.Table.from_arrays([pa.array(X[:, 0]), pa.array(X[:, 1]), pa.array(Y)],
                                 names=["q", "q", "label"])
    pq.write_table(table, tmp_path / "twice.parquet")
    assert "'q'" in _error(tmp_path, "/twice.parquet")


def test_an_unnamed_column_is_said_once_as_likely_the_index_pandas_writes(
        tmp_path: Path, capsys) -> None:
    # DataFrame.to_csv() writes the row index first under an empty header: it is trained on
    # as a feature named '' (and, in file order, can give the labels away). Not refused: runs
    # were recorded on such files, and must still rebuild their data from them
    rows = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(12))
    path = str(tmp_path) + _csv(tmp_path, "indexed.csv", ",p,label\n" + rows)
    task = load_task(path)
    assert task.n_features == 2 and task.feature_names == ("", "p")
    said = capsys.readouterr().err
    assert "indexed.csv: column 1 has no name and is read as a feature" in said, said
    assert "index=False" in said
    load_task(path)
    assert capsys.readouterr().err == ""  # once per file and process


def test_pandas_unnamed_index_column_in_memory_is_said_once(capsys) -> None:
    # the same index, read back with pandas.read_csv, arrives in memory as 'Unnamed: 0':
    # trained on without a word before
    import pandas as pd
    frame = pd.DataFrame({"Unnamed: 0": np.arange(12.0), "p": X[:12, 0]})
    task = task_from_arrays((frame, Y[:12]))
    assert task.feature_names == ("Unnamed: 0", "p")
    said = capsys.readouterr().err
    assert "data: X's column 'Unnamed: 0' is read as a feature" in said, said
    assert "index_col=0" in said
    task_from_arrays((frame, Y[:12]))
    assert capsys.readouterr().err == ""  # once per process and set of columns
    task_from_arrays((frame.rename(columns={"Unnamed: 0": "row"}), Y[:12]))
    assert capsys.readouterr().err == ""  # a column of another name is not pandas' index


def test_a_table_without_rows_is_refused_as_empty(tmp_path: Path) -> None:
    # a header-only CSV was refused as "feature column 'p' is not numeric (type null)", and a
    # parquet file of no rows came out as numpy's traceback about a zero-size reduction
    msg = _error(tmp_path, _csv(tmp_path, "header.csv", "p,q,label\n"))
    assert "header.csv" in msg and "no data rows" in msg
    empty = pa.table({"p": pa.array([], pa.float64()), "label": pa.array([], pa.int64())})
    pq.write_table(empty, tmp_path / "empty.parquet")
    assert "no data rows" in _error(tmp_path, "/empty.parquet")
    msg = _error(tmp_path, _csv(tmp_path, "blank.csv", "p,q,label\n1,,a\n2,,b\n"))
    assert "feature column 'q'" in msg and "no values" in msg  # every cell blank


def test_a_directory_named_like_a_data_file_is_not_called_missing(tmp_path: Path) -> None:
    (tmp_path / "data.csv").mkdir()
    msg = _error(tmp_path, "/data.csv")
    assert "data.csv" in msg and "is a directory" in msg and "not found" not in msg


def test_class_count_errors(tmp_path: Path) -> None:
    one = _npz(tmp_path, "one.npz", x=X, y=np.zeros(12))
    msg = _error(tmp_path, one)
    assert "2 classes" in msg
    # checked after reading, the file is named as it was given, as the reader names it
    assert msg.startswith(f"{tmp_path / one.lstrip('/')}: "), msg
    y = np.array(["a"] * 10 + ["b"] * 2)
    msg = _error(tmp_path, _npz(tmp_path, "few.npz", x=X, y=y))
    assert "too few samples per class" in msg and "'b'" in msg
    y = np.array([0, 1, 2, 3, 4, 5] * 2)  # 2 per class; validation part 3 < 6 classes
    msg = _error(tmp_path, _npz(tmp_path, "tiny.npz", x=X, y=y, x_test=X, y_test=y),
                 valid_fraction=0.25)
    assert ("the validation split would hold 3 of 12 samples (task.valid_fraction = 0.25) but "
            "needs one of each of the 6 classes" in msg and "raise task.valid_fraction" in msg)
    # 3 of each class pass the per-class count, but 9 samples' test part is 2 < 3 classes
    y = np.array([0, 1, 2] * 3)
    msg = _error(tmp_path, _npz(tmp_path, "nine.npz", x=X[:9], y=y))
    assert "the test split would hold 2 of 9 samples (task.test_fraction = 0.2)" in msg, msg
    msg = _error(tmp_path, _npz(tmp_path, "nine.npz", x=X[:9], y=y), test_fraction=0.8,
                 valid_fraction=0.1)
    assert "the training and validation split would hold 1 of 9" in msg, msg
    assert "lower task.test_fraction" in msg


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"valid_fraction": 0.0}, "valid_fraction"),
        ({"valid_fraction": 1.0}, "valid_fraction"),
        ({"valid_fraction": -0.1}, "valid_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"test_fraction": float("nan")}, "test_fraction"),
        ({"valid_fraction": 0.5, "test_fraction": 0.5}, "valid_fraction + test_fraction"),
    ],
)
def test_fraction_errors(tmp_path: Path, kwargs: dict[str, float], field: str) -> None:
    assert field in _error(tmp_path, "iris", **kwargs)


# -- tasks registered by name --------------------------------------------------------------
@pytest.fixture
def own_tasks():
    """Tasks registered in a test are forgotten after it."""
    from evolve import tasks

    before = dict(tasks._REGISTERED)
    yield tasks.register_task
    tasks._REGISTERED.clear()
    tasks._REGISTERED.update(before)


def wine_rows(n: int):
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    return lambda: (x[:n], y[:n])


def test_a_registered_task_loads_by_name_like_in_memory_data(own_tasks):
    own_tasks("Wine_Head", wine_rows(150))
    task = load_task("wine_head", seed=1)
    same = task_from_arrays(wine_rows(150)(), seed=1)
    assert task.name == "wine_head" and task.path == ""
    assert task.content_hash == same.content_hash
    assert torch.equal(task.train.x, same.train.x) and torch.equal(task.test.y, same.test.y)
    assert load_task("WINE_HEAD", seed=1).content_hash == task.content_hash


@pytest.mark.parametrize("name, says", [
    ("", "the name must be a non-empty string"), ("digits", "'digits' is a built-in task"),
    ("arrays", "'arrays' is a built-in task"), ("mine.csv", "would be read as a data file"),
])
def test_a_task_name_that_cannot_be_registered_is_refused(own_tasks, name, says):
    with pytest.raises(TaskError, match=says):
        own_tasks(name, wine_rows(150))


@pytest.mark.parametrize("loader, says", [
    (lambda: 1 / 0, "task 'broken': its loader raised ZeroDivisionError: division by zero"),
    (lambda: np.zeros((5, 3)), "task 'broken': expected a tuple (X, y) or (X, y, X_test, "
                               "y_test), got ndarray"),
    (lambda: (np.zeros((5, 3)), None), "task 'broken': y is None"),
])
def test_a_registered_loader_that_fails_or_returns_no_data_is_named(own_tasks, loader, says):
    own_tasks("broken", loader)
    with pytest.raises(TaskError) as refused:
        load_task("broken")
    assert str(refused.value).startswith(says)


def test_an_unknown_task_names_the_registered_ones_and_how_to_register(own_tasks):
    own_tasks("wine_head", wine_rows(150))
    with pytest.raises(TaskError, match=r"wine_head, a path to a .npz.*evolve.register_task"):
        load_task("no_such_task")


def test_a_run_on_a_registered_task_resumes_by_calling_its_loader_and_checks_the_data(
        own_tasks, tmp_path):
    import evolve
    from evolve.config import SearchConfig, override

    own_tasks("wine_head", wine_rows(150))
    config = override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "run_id": "named",
        "task": {"name": "wine_head"}, "rule": {"name": "bp"}, "training": {"epochs": 2},
        "executor": {"name": "serial"}})
    run = evolve.search(config, reporters=())
    assert run.description.task.name == "wine_head"
    assert evolve.resume(run.path, generations=2, reporters=()).completed_generations() == 2
    own_tasks("wine_head", wine_rows(140))  # the loader now returns other data
    with pytest.raises(TaskError, match="its registered loader now returns other data"):
        evolve.resume(run.path, generations=3, reporters=())
    assert evolve.load_run(run.path).completed_generations() == 2


def test_tables_given_in_memory_name_their_features_and_arrays_do_not(own_tasks):
    """A DataFrame's or pyarrow Table's column names become the task's feature names (which
    run.json and every export then carry); an array, or columns that are not all text, name
    none. The content hash is the values', so naming does not change which data a run is."""
    from sklearn.datasets import load_wine

    frame, y = load_wine(return_X_y=True, as_frame=True)
    named = task_from_arrays((frame, y))
    assert named.feature_names == tuple(frame.columns) and len(named.feature_names) == 13
    assert task_from_arrays((pa.Table.from_pandas(frame), y)).feature_names == named.feature_names
    plain = task_from_arrays((frame.to_numpy(), y.to_numpy()))
    assert plain.feature_names == () and plain.content_hash == named.content_hash
    assert task_from_arrays((frame.set_axis(range(13), axis=1), y)).feature_names == ()
    own_tasks("wine_frame", lambda: (frame, y))
    assert load_task("wine_frame").feature_names == named.feature_names
    # names a member could not read a table by are not kept (the table is read by position,
    # as before names were kept, so a run recorded then resumes on the same data)
    twice = frame.rename(columns={"ash": "hue"})
    assert task_from_arrays((twice, y)).feature_names == ()
    assert task_from_arrays((frame.rename(columns={"ash": " "}), y)).feature_names == ()
    # X_test's columns are read by position: in another order they are refused
    x_test = frame.iloc[:30]
    with pytest.raises(TaskError, match=r"X_test has X's columns in another order "
                                        r"\('hue' is column 0 of X_test, 10 of X\)"):
        task_from_arrays((frame.iloc[30:], y[30:], x_test[["hue", *x_test.columns.drop("hue")]],
                          y[:30]))
    assert task_from_arrays((frame.iloc[30:], y[30:], x_test, y[:30])).feature_names == \
        named.feature_names


def test_a_table_in_memory_that_is_not_all_numbers_is_named_by_column_and_row(own_tasks):
    """The label left in X, a stray text cell, a missing value of a nullable column: numpy
    saw only "dtype object"; the column and the first cell are named, as a file's are."""
    import pandas as pd
    from sklearn.datasets import load_wine

    frame, y = load_wine(return_X_y=True, as_frame=True)
    with_label = frame.assign(cultivar=np.array(["a", "b", "c"])[y])
    stray = frame.astype({"ash": object})
    stray.loc[5, "ash"] = "abc"
    missing = frame.astype({"hue": "Float64"})
    missing.loc[9, "hue"] = pd.NA
    shuffled = stray.iloc[::-1]
    cases = [(with_label, "data: X: column 'cultivar' holds 'a' at row 0, which is not a number"),
             (stray, "data: X: column 'ash' holds 'abc' at row 5"),
             (missing, "data: X: column 'hue' has a missing value (<NA>) at row 9"),
             (with_label.to_numpy(), "data: X: column 13 holds 'a' at row 0"),
             (shuffled, f"data: X: column 'ash' holds 'abc' at row {len(frame) - 6} (index 5)")]
    for x, says in cases:
        with pytest.raises(TaskError) as info:
            task_from_arrays((x, y))
        assert str(info.value).startswith(says), str(info.value)
    own_tasks("wine_stray", lambda: (stray, y))
    with pytest.raises(TaskError, match="task 'wine_stray': X: column 'ash' holds 'abc'"):
        load_task("wine_stray")


def test_text_labels_held_as_objects_hash_by_their_values(own_tasks):
    """Labels from pandas (or a list of Python strings) are an object array, whose bytes are
    the strings' addresses: hashed as such, the same data read again had another content
    hash, so a resume, Run.task(data=...) and a registered loader's check refused it."""
    from sklearn.datasets import load_wine

    x, codes = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])

    def labels():  # new string objects on every call, as a reader of the data makes them
        return np.array(["".join(list(str(n))) for n in names[codes]], dtype=object)

    first, again = task_from_arrays((x, labels())), task_from_arrays((x, labels()))
    assert labels()[0] is not labels()[0]
    assert first.content_hash == again.content_hash
    assert first.content_hash != task_from_arrays((x, names[(codes + 1) % 3])).content_hash
    # by value and type: integers held as objects are the integers, not their text (which
    # orders, and so splits, otherwise)
    ints = np.array([1, 2, 10])[codes]
    assert task_from_arrays((x, ints.astype(object))).content_hash == \
        task_from_arrays((x, ints)).content_hash != \
        task_from_arrays((x, ints.astype(str))).content_hash
    own_tasks("wine_text", lambda: (x, labels()))
    assert load_task("wine_text").content_hash == load_task("wine_text").content_hash
