"""Hardware costs inside a search: objectives, chip budgets, custom profiles and constraints."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import evolve
from evolve.config import override
from search_spaces.genome import Genome


def hw_config(config, **hardware):
    return override(config, {"objectives": ["accuracy", "energy"], "hardware": hardware,
                             "generations": 4, "population": 10})


def edited_profile(tmp_path, base: str, name: str, **fields: int) -> Path:
    """A TOML profile file: built-in profile ``base`` renamed ``name`` with ``fields``
    replaced (each must be a line of its TOML)."""
    from evolve.hardware import get_profile, to_toml

    lines = []
    for line in to_toml(get_profile(base)).replace(f'name = "{base}"',
                                                    f'name = "{name}"').splitlines():
        key = line.split("=")[0].strip()
        lines.append(f"{key} = {fields.pop(key)}" if key in fields else line)
    assert not fields, f"{base} has no lines for {sorted(fields)}"
    path = tmp_path / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chip_budget_front_is_feasible_and_shows_the_energy_trade_off(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "search", "--hardware", "truenorth", "--chips", "1",
         "--executor", "serial", "--generations", "5", "--population", "16",
         "--set", "training.epochs=8", "--set", "strategy.mutation.add_node=0.5",
         "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    run_dir = result.stdout.strip().splitlines()[-1]
    pareto = subprocess.run([sys.executable, "-m", "evolve.cli", "pareto", run_dir, "--json"],
                            capture_output=True, text=True, timeout=120)
    front = json.loads(pareto.stdout)
    assert all(member["violations"] == {} for member in front)
    assert all(member["costs"]["chips"] <= 1 for member in front)
    points = sorted((m["objectives"]["energy"], m["objectives"]["accuracy"]) for m in front)
    assert len(points) >= 3, points
    # a trade-off: more energy buys more accuracy along the front
    assert all(a1 < a2 for (_, a1), (_, a2) in zip(points, points[1:]))
    rows = evolve.load_run(run_dir).evaluations().to_pylist()
    assert all("energy_j" in json.loads(r["costs"]) for r in rows)


def test_costs_and_violations_are_recorded_not_folded_into_fitness(small_digits_config):
    config = hw_config(small_digits_config, profile="loihi", chips=1)
    run = evolve.search(config)
    for row in run.evaluations().to_pylist():
        costs = json.loads(row["costs"])
        assert costs["cores"] >= 1 and costs["energy_j"] > 0
        if row["status"] == "ok":
            assert row["objective.energy"] == costs["energy_j"]  # the raw cost, no penalty
            assert row["objective.accuracy"] == row["valid_accuracy"]


def test_a_custom_toml_profile_changes_the_outcome(small_digits_config, tmp_path):
    path = edited_profile(tmp_path, "loihi", "tiny", neurons_per_core=16, cores_per_chip=2)
    base = evolve.search(hw_config(small_digits_config, profile="loihi", chips=1))
    small = evolve.search(hw_config(small_digits_config, profile=str(path), chips=1))
    # on a 2-core chip of 16 neurons per core only <= 32 on-core neurons are feasible
    assert all(a.costs["cores"] <= 2 for a in small.pareto_front())
    assert {a.candidate_id for a in base.pareto_front()} != \
        {a.candidate_id for a in small.pareto_front()}
    infeasible = [r for r in small.evaluations().to_pylist() if r["violation_total"] > 0]
    assert infeasible, "the tiny chip rejects some candidates"
    chips_only = [r for r in infeasible if set(json.loads(r["violations"])) == {"hardware.chips"}]
    assert chips_only
    for row in chips_only:  # the total is relative: cores over / the 2 cores budgeted
        over = json.loads(row["violations"])["hardware.chips"]
        assert over == json.loads(row["costs"])["cores"] - 2  # cores, not chips, over
        assert row["violation_total"] == over / 2
    # rejected before training, as docs/records.md describes such a row
    untrained = [r for r in infeasible if r["status"] == "infeasible"]
    assert untrained
    assert {(r["epochs"], r["seed"], r["worker"], r["curve"], r["activity"])
            for r in untrained} == {(0, 0, "", "[]", "{}")}
    front_ids = {a.candidate_id for a in small.pareto_front()}
    assert not front_ids & {r["candidate_id"] for r in infeasible}


def test_a_custom_python_constraint_changes_the_outcome(small_digits_config):
    config = hw_config(small_digits_config, profile="loihi")
    free = evolve.search(config)
    assert any(a.genome.hidden_ids for a in free.pareto_front())
    no_hidden = evolve.Constraint("no_hidden_groups", lambda m: len(m.genome.hidden_ids))
    constrained = evolve.search(config, constraints=[no_hidden])
    assert constrained.pareto_front()
    assert all(not a.genome.hidden_ids for a in constrained.pareto_front())
    rows = constrained.evaluations().to_pylist()
    flagged = [r for r in rows if json.loads(r["violations"]).get("no_hidden_groups")]
    assert flagged and all(r["status"] == "ok" for r in flagged), "violations are not failures"


def test_a_custom_cost_function_replaces_the_model(small_digits_config):
    from evolve.hardware import cost

    calls = []

    def doubled(genome, profile, **kwargs):
        calls.append(genome)
        real = cost(genome, profile, **kwargs)
        return dataclasses.replace(real, energy_j=2 * real.energy_j)

    run = evolve.search(hw_config(small_digits_config, profile="loihi"), cost_fn=doubled)
    rows = run.evaluations().to_pylist()
    # each candidate priced once (before training; scoring reuses the price), plus the
    # space's costliest network, priced once for the energy objective's reference point
    assert len(calls) == len(rows) + 1
    for row in rows:
        if row["status"] == "ok":
            genome = Genome.from_json(row["genome"])
            assert row["objective.energy"] == 2 * cost(genome, "loihi").energy_j


@pytest.mark.parametrize("profile", ["truenorth", "spinnaker"])
def test_hypervolume_counts_on_chips_whose_static_power_exceeds_the_default_reference(
        small_digits_config, profile):
    """Every TrueNorth inference costs > 1 mJ (42 mW over its ticks), every SpiNNaker one
    more still: with the default 1 mJ reference every candidate fell outside the box."""
    config = override(hw_config(small_digits_config, profile=profile),
                      {"generations": 2, "population": 6})
    run = evolve.search(config)
    energies = [r["objective.energy"] for r in run.evaluations().to_pylist()
                if r["status"] == "ok"]
    assert min(energies) > 1e-3  # the default reference alone would count nothing
    assert run.history()[-1]["hypervolume"] > 0


def test_a_search_no_network_can_fit_is_refused_before_it_starts(tmp_path):
    """digits has 64 features and 10 classes, Xylo 16 input and 8 output channels: every
    network of the search would be infeasible, so the run would train nothing for all its
    generations and end with an empty front (it once did, with a warning after generation
    1). Refused at once instead, naming both limits, and no run folder is left."""
    result = subprocess.run(
        [sys.executable, "-m", "evolve.cli", "search", "--hardware", "xylo", "--executor",
         "serial", "--generations", "2", "--out", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    message = result.stderr.strip().splitlines()[-1]
    assert "no network of this search fits hardware.profile = 'xylo'" in message
    assert "64 input features and xylo takes 16" in message
    assert "10 classes and xylo has 8 output channels" in message
    # channels are per chip: more chips cannot help, so they are not suggested
    assert message.endswith("choose another profile, or reduce the task's features or "
                            "classes") and "hardware.chips" not in message
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_chip_budget_the_smallest_network_exceeds_is_refused(small_digits_config, tmp_path):
    """A chip of 4 neurons per core, one core per chip, and a budget of one chip: digits'
    10 output neurons alone need 3 cores, so no network fits; a budget of 3 chips is
    searched as usual. A budget the inputs-to-outputs net exceeds but a narrow hidden group
    can meet (cores set by synapses per core) is searched too: cores do not grow with the
    net."""
    from evolve.config import ConfigError

    path = edited_profile(tmp_path, "loihi", "crumb", neurons_per_core=4, cores_per_chip=1)
    with pytest.raises(ConfigError, match=r"its 10 output neurons alone need 3 cores of 4 "
                                          r"neurons and hardware.chips = 1 gives 1.*"
                                          r"choose another profile, or raise hardware.chips$"):
        evolve.search(hw_config(small_digits_config, profile=str(path), chips=1))
    run = evolve.search(override(hw_config(small_digits_config, profile=str(path), chips=3),
                                 {"generations": 1}))
    assert run.evaluations().num_rows > 0

    from evolve.hardware import cost, resolve_profile
    from search_spaces.genome import layered

    tight = edited_profile(tmp_path, "loihi2", "synaptic", synapses_per_core=200,
                           cores_per_chip=3)
    chip = resolve_profile(str(tight))
    # 640 synapses straight from digits' inputs to its outputs need 4 cores; through a
    # hidden group of 4, 256 + 40 synapses fit in 3
    assert cost(layered([64, 10], []), chip, chips=1).violations == {"chips": 1}
    assert not cost(layered([64, 4, 10], ["relu"]), chip, chips=1).violations
    evolve.search(override(hw_config(small_digits_config, profile=str(tight), chips=1),
                           {"generations": 1}))
