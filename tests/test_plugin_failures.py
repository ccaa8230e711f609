"""A user's plug-in that misbehaves — a cost function, objective or constraint returning
garbage or raising, a rule returning updates or losses of the wrong shape, a class that is
not a rule — is named in one line: as a failed candidate's ``error`` (its traceback kept in
the records) or, where it is called before any candidate, as the error of the search."""

from __future__ import annotations

import dataclasses

import pytest

import evolve
from evolve.config import SearchConfig, override
from evolve.hardware import cost as model_cost
from evolve.loop import GenerationFailed


def tiny(tmp_path, **extra) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "bp"}, "training": {"epochs": 2}, "executor": {"name": "serial"},
        **extra})


def returns_none(genome, profile, **kwargs):
    return None


def negative_energy(genome, profile, **kwargs):
    return dataclasses.replace(model_cost(genome, profile, **kwargs), energy_j=-1.0)


def raises(genome, profile, **kwargs):
    raise RuntimeError("the cost table is missing")


def failed_errors(run_dir) -> list[str]:
    table = evolve.load_run(run_dir).evaluations()
    assert set(table.column("status").to_pylist()) == {"failed"}
    assert all(table.column("traceback").to_pylist())
    return table.column("error").to_pylist()


@pytest.mark.parametrize(("cost_fn", "says"), [
    (returns_none, "cost_fn returns_none returned NoneType None; expected an "
                   "evolve.hardware.HardwareCost"),
    (negative_energy, "cost_fn negative_energy returned energy_j = -1.0; expected a finite "
                      "number >= 0"),
])
def test_a_cost_fn_returning_garbage_fails_its_candidates_naming_it(tmp_path, cost_fn, says):
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path, objectives=["accuracy"]), cost_fn=cost_fn)
    assert says in str(failed.value)
    assert all(says in error for error in failed_errors(failed.value.run_dir))


@pytest.mark.parametrize(("cost_fn", "says"), [
    (returns_none, "cost_fn returns_none returned NoneType None"),
    (negative_energy, "cost_fn negative_energy returned energy_j = -1.0"),
    (raises, "RuntimeError: the cost table is missing"),
])
def test_a_cost_fn_failing_on_the_costliest_network_stops_the_search_in_one_line(
        tmp_path, cost_fn, says):
    # energy's hypervolume reference is the costliest network's energy, priced before any
    # candidate: the search stops there, naming the function, and leaves no run behind
    with pytest.raises(ValueError) as error:
        evolve.search(tiny(tmp_path), cost_fn=cost_fn)
    message = str(error.value)
    assert message.startswith(f"cost_fn {cost_fn.__name__} failed on the search space's "
                              "costliest network (which sets the hypervolume reference of "
                              "energy)")
    assert says in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []
