"""In-memory data: ``evolve.search(config, data=...)`` validates and splits arrays like a
file, records their hash, and a resume checks it is given the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris

import evolve
from evolve.cli import main
from evolve.config import SearchConfig, override
from evolve.tasks import TaskError, load_task, task_from_arrays


def tiny(tmp_path) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "rule": {"name": "bp"},
        "training": {"epochs": 2}, "executor": {"name": "serial"}})


def test_arrays_split_like_the_same_data_from_a_file(tmp_path):
    x, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.npz"
    np.savez(path, x=x, y=y)
    from_file = load_task(str(path), seed=4)
    from_arrays = task_from_arrays((x, y), seed=4)
    from_tensors = task_from_arrays((torch.from_numpy(x), torch.from_numpy(y)), seed=4)
    for task in (from_arrays, from_tensors):
        for split in ("train", "valid", "test"):
            assert torch.equal(getattr(task, split).x, getattr(from_file, split).x)
            assert torch.equal(getattr(task, split).y, getattr(from_file, split).y)
    assert from_arrays.content_hash == from_tensors.content_hash


def test_search_on_arrays_records_them_and_resume_checks_them(tmp_path, capsys):
    x, y = load_iris(return_X_y=True)
    run = evolve.search(tiny(tmp_path), data=(x, y))
    assert run.description.task.name == "arrays"
    assert run.description.task.split_sizes == {"train": 90, "valid": 30, "test": 30}
    with pytest.raises(TaskError, match="in-memory arrays"):
        evolve.resume(run.path, generations=2)
    with pytest.raises(TaskError, match=r"run\.task\(data=\.\.\.\) for its splits"):
        run.task()  # the call that works is named in the error
    assert run.task(data=(x, y)).test.y.shape == (30,)
    code = main(["resume", str(run.path)])  # the CLI cannot pass arrays: it says how to
    assert code == 2 and "evolve.resume(RUN, data=...)" in capsys.readouterr().err
    with pytest.raises(TaskError, match="differ"):
        evolve.resume(run.path, generations=2, data=(x[::-1], y[::-1]))
    assert evolve.resume(run.path, generations=2, data=(x, y)).completed_generations() == 2


def test_given_test_arrays_are_the_test_split(tmp_path):
    x, y = load_iris(return_X_y=True)
    task = task_from_arrays((x[:120], y[:120], x[120:], y[120:]))
    assert len(task.test.y) == 30
    run = evolve.search(tiny(tmp_path), data=(x[:120], y[:120], x[120:], y[120:]))
    assert run.description.task.split_sizes["test"] == 30


def _sparse(dense: np.ndarray) -> object:
    import scipy.sparse

    return scipy.sparse.csr_matrix(dense)


@pytest.mark.parametrize("data, needle", [
    ("iris.csv", "expected a tuple"),
    ((np.zeros((10, 2)),), "expected a tuple"),
    ((np.zeros((10, 2)), np.zeros(9)), "len(x) = 10 but len(y) = 9"),
    ((np.zeros(10), np.zeros(10)), "x must be 2-D"),
    ((np.full((30, 2), np.nan), np.repeat([0, 1, 2], 10)), "NaN or inf"),
    ((np.zeros((30, 2)), np.r_[np.repeat([0.0, 1.0, 2.0], 9), [np.nan, 1.0, np.nan]]),
     "labels contain NaN (2 of 30, the first at row 27 of y)"),
    # these were refused as "x must be 2-D ..., got shape ()" (a sparse matrix, None), or
    # trained on the values under a mask as if they were data
    ((_sparse(np.eye(30, 2)), np.repeat([0, 1, 2], 10)), "X is a scipy sparse matrix"),
    ((torch.eye(30, 2).to_sparse(), torch.arange(30) % 3),
     "X is a torch tensor of layout torch.sparse_coo; expected a dense one (X.to_dense())"),
    ((np.zeros((30, 2)), np.repeat([0, 1, 2], 10), None, None), "X_test is None"),
    ((np.ma.masked_array(np.ones((30, 2)), mask=np.eye(30, 2)), np.repeat([0, 1, 2], 10)),
     "X has 2 masked values"),
])
def test_bad_arrays_are_clear_errors(tmp_path, data, needle):
    with pytest.raises(TaskError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        evolve.search(tiny(tmp_path), data=data)
    assert not any(tmp_path.iterdir())  # nothing written for bad input
