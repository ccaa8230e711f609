"""Energy from measured activity: the cost model takes a spike rate per group, the worker
measures each trained member's group activity, and a search can price with it."""

from __future__ import annotations

import json

import pytest
import torch

import evolve
from evolve import hardware
from evolve.config import SearchConfig, override
from evolve.evaluate import group_activity
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene


def two_layer(hidden: int = 32) -> Genome:
    nodes = (NodeGene(0, "input", 16), NodeGene(1, "output", 4),
             NodeGene(2, "hidden", hidden, "relu"))
    return Genome(nodes, (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 1)))


def test_equal_networks_with_different_activity_cost_different_energy():
    genome = two_layer()
    quiet = hardware.cost(genome, "loihi", activity={0: 0.5, 2: 0.05, 1: 0.5})
    busy = hardware.cost(genome, "loihi", activity={0: 0.5, 2: 0.6, 1: 0.5})
    assert (quiet.cores, quiet.synapses) == (busy.cores, busy.synapses)  # same network
    assert quiet.energy_j < busy.energy_j
    assert quiet.synaptic_ops < busy.synaptic_ops and quiet.spikes < busy.spikes
    # one rate for every group is the fixed guess, whether given as a number or per group
    fixed = hardware.cost(genome, "loihi", activity=0.1)
    per_group = hardware.cost(genome, "loihi", activity={0: 0.1, 1: 0.1, 2: 0.1})
    assert fixed.energy_j == pytest.approx(per_group.energy_j, rel=1e-12)
    with pytest.raises(ValueError, match="activity"):
        hardware.cost(genome, "loihi", activity={2: 1.5})


def test_group_activity_is_the_share_of_active_units():
    genome = two_layer(8)
    net = compile_genome(genome)
    params = init_params(net, [0], [1.0])
    params.biases[0].fill_(-100.0)  # every hidden relu unit silent
    x = torch.randn(50, 16, generator=torch.Generator().manual_seed(0))
    activity = group_activity(net, params, x)
    assert activity[2] == 0.0
    assert activity[0] == pytest.approx(float((x > 0).float().mean()))
    params.biases[0].fill_(100.0)
    assert group_activity(net, params, x)[2] == 1.0


def test_a_search_prices_with_measured_activity(tmp_path):
    base = {"generations": 2, "population": 6, "task": {"name": "iris"},
            "rule": {"name": "bp"}, "training": {"epochs": 3},
            "executor": {"name": "serial"}}
    runs = {source: evolve.search(override(SearchConfig(), {
        **base, "hardware": {"activity_source": source}, "out": str(tmp_path / source)}))
        for source in ("fixed", "measured")}
    rows = {s: {r["candidate_id"]: r for r in run.evaluations().to_pylist()}
            for s, run in runs.items()}
    differ = 0
    for cid, row in rows["measured"].items():
        other = rows["fixed"][cid]
        assert row["genome"] == other["genome"]  # the same search until the energies differ
        if row["status"] != "ok":
            continue
        activity = {int(k): v for k, v in json.loads(row["activity"]).items()}
        assert set(activity) == {n.id for n in Genome.from_json(row["genome"]).nodes}
        assert row["activity_used"] == "measured" and other["activity_used"] == "fixed"
        expected = hardware.cost(Genome.from_json(row["genome"]), "loihi", activity=activity)
        assert json.loads(row["costs"])["energy_j"] == pytest.approx(expected.energy_j)
        differ += json.loads(row["costs"])["energy_j"] != json.loads(other["costs"])["energy_j"]
        break
    assert differ
