"""NIR exports and the spiking check: a ReLU member of a real digits search, converted to
integrate-and-fire neurons and run with Norse, keeps its accuracy; what has no spiking
counterpart is refused with one line naming it."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import nir  # noqa: E402  (the [export] extra, which CI installs: a missing one fails here)
import norse.torch as norse  # noqa: E402,F401
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

import evolve
from evolve.config import SearchConfig, override
from evolve.nir_export import NIRExportError, check_convertible
from evolve.records import RecordError
from evolve.run import Architecture
from evolve.simulate import graph_ann, read_graph, simulate, spiking_module  # noqa: E402
from evolve.tasks import TaskError, load_task, task_from_arrays
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene

NEUREVO = [sys.executable, "-m", "evolve.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*NEUREVO, *args], capture_output=True, text=True, timeout=600,
                          env=ENV, cwd=cwd)


@pytest.fixture(scope="module")
def relu_run(tmp_path_factory) -> evolve.Run:
    """A chip-bound search: ReLU hidden groups only (``--set space.hidden_activations=relu``)."""
    return evolve.search(override(SearchConfig(), {
        "generations": 4, "population": 12, "seed": 0, "task": {"name": "digits"},
        "out": str(tmp_path_factory.mktemp("runs")), "rule": {"name": "bp"},
        "space": {"hidden_activations": ["relu"]},
        "strategy": {"mutation": {"add_node": 0.5}}, "executor": {"name": "serial"}}))


def deepest_accurate(run: evolve.Run) -> Architecture:
    """The most accurate front member with a hidden group (the front is sorted by accuracy)."""
    members = [a for a in run.pareto_front() if a.genome.hidden_ids]
    assert members, "the search found no member with a hidden group"
    return members[0]


def test_relu_member_spikes_as_accurately_as_its_ann(relu_run, tmp_path):
    arch = deepest_accurate(relu_run)
    result = cli("export", str(relu_run.path), "--candidate", str(arch.candidate_id),
                 "--format", "nir", "--out", str(tmp_path / "m.nir"))
    assert result.returncode == 0, result.stderr
    graph = nir.read(str(tmp_path / "m.nir"))  # the file reads back with nir itself
    edges = arch.genome.enabled_connections(recurrent=False)
    kinds = {name: type(node).__name__ for name, node in graph.nodes.items()}
    assert sorted(k for k, v in kinds.items() if v == "Affine") == sorted(
        f"edge_{c.src}_{c.dst}" for c in edges)  # one block per connection
    assert sorted(k for k, v in kinds.items() if v == "IF") == sorted(
        f"group_{i}" for i in (*arch.genome.hidden_ids, *arch.genome.output_ids))
    assert kinds["input"] == "Input" and kinds["output"] == "Output"
    for node in graph.nodes.values():
        if isinstance(node, nir.IF):  # thresholds from the data, not 1
            assert np.all(node.v_threshold > 0) and not np.allclose(node.v_threshold, 1.0)

    result = cli("simulate", str(tmp_path / "m.nir"), "--timesteps", "200", "--json")
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    print(f"candidate {arch.candidate_id}: {measured}")
    task = load_task("digits", seed=0)
    assert measured["examples"] == len(task.test.y) and measured["timesteps"] == 200
    assert (measured["run_id"], measured["candidate_id"]) == (relu_run.run_id,
                                                               arch.candidate_id)
    # the graph holds the ANN: its rate network scores what the run recorded
    assert measured["ann_accuracy"] == pytest.approx(arch.test_accuracy, abs=1e-9)
    assert abs(measured["spiking_accuracy"] - measured["ann_accuracy"]) <= 0.02
    assert 0.0 < measured["spikes_per_neuron_step"] < 1.0
    result = cli("simulate", str(tmp_path / "m.nir"), "--timesteps", "50")
    assert result.returncode == 0, result.stderr
    assert "spiking accuracy" in result.stdout and "ANN accuracy" in result.stdout


def test_tanh_member_is_refused_naming_its_group(relu_run, tmp_path):
    """The same run with its groups relabelled tanh, as a search over tanh would give."""
    copy = tmp_path / relu_run.run_id
    shutil.copytree(relu_run.path, copy)
    table = pq.read_table(copy / "pareto.parquet")
    genomes = [g.replace('"relu"', '"tanh"') for g in table["genome"].to_pylist()]
    table = table.set_column(table.schema.get_field_index("genome"), "genome",
                             pa.array(genomes, pa.string()))
    pq.write_table(table, copy / "pareto.parquet")
    arch = deepest_accurate(relu_run)
    result = cli("export", str(copy), "--candidate", str(arch.candidate_id), "--format",
                 "nir", "--out", str(tmp_path / "t.nir"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    group = arch.genome.hidden_ids[0]
    assert len(lines) == 1 and f"group {group}" in lines[0] and "tanh" in lines[0]
    assert "space.hidden_activations=relu" in lines[0]
    assert not (tmp_path / "t.nir").exists()


def hand_made(rule: str, genome: Genome, seed: int = 0) -> Architecture:
    params = init_params(compile_genome(genome), [seed], [1.0])
    return Architecture(candidate_id=1, generation=0, rule=rule, genome=genome, objectives={},
                        test_accuracy=math.nan, valid_accuracy=math.nan, hyperparameters={},
                        _params=params, class_names=("a", "b", "c"))


def iris_genome(activation: str = "relu") -> Genome:
    """in(4) -> A(6) -> B(5) -> out(3), with skips in -> B and A -> out."""
    nodes = (NodeGene(0, "input", 4), NodeGene(1, "output", 3),
             NodeGene(2, "hidden", 6, activation), NodeGene(3, "hidden", 5, "relu"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1),
             ConnectionGene(3, 0, 3), ConnectionGene(4, 2, 1))
    return Genome(nodes, conns)


@pytest.mark.parametrize("rule", ["ff", "ep", "chl"])
def test_rules_without_a_feedforward_prediction_are_refused(rule):
    with pytest.raises(NIRExportError, match=f"rule {rule} predicts by .*not by a feedforward"):
        check_convertible(hand_made(rule, iris_genome()))
    # and says which setting gives a member that converts
    with pytest.raises(NIRExportError, match="search with --rule bp .*"
                                             "--set space.hidden_activations=relu"):
        check_convertible(hand_made(rule, iris_genome()))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "elu"])
def test_activations_without_a_spiking_counterpart_are_refused(activation):
    with pytest.raises(NIRExportError, match=f"group 2 .* has activation {activation}"):
        check_convertible(hand_made("bp", iris_genome(activation)))


def test_identity_and_unreached_groups_fold_and_the_graph_keeps_the_scores(tmp_path):
    """An identity group is linear (composed into the blocks around it), a group no input
    reaches is a constant (folded into its targets' biases): the graph's rate network still
    scores exactly what the member does."""
    nodes = (NodeGene(0, "input", 4), NodeGene(1, "output", 3),
             NodeGene(2, "hidden", 6, "identity"), NodeGene(3, "hidden", 5, "relu"),
             NodeGene(4, "hidden", 2, "tanh"), NodeGene(5, "hidden", 3, "hardsigmoid"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1),
             ConnectionGene(3, 0, 3), ConnectionGene(4, 2, 1), ConnectionGene(5, 4, 3),
             ConnectionGene(6, 0, 5), ConnectionGene(7, 5, 1), ConnectionGene(8, 0, 4, False))
    arch = hand_made("bp", Genome(nodes, conns), seed=3)
    task = load_task("iris", seed=0)
    path = evolve.export_architecture(arch, tmp_path / "f.nir", data=task,
                                      split={"seed": 0, "valid_fraction": 0.2,
                                             "test_fraction": 0.2, "label_column": "label"})
    graph = read_graph(path)
    conversion = json.loads(graph.metadata["neurevo.conversion"])
    assert conversion["identity_groups_folded"] == [2]
    assert conversion["constant_groups_folded"] == [4]
    assert {"group_3", "group_5", "group_1"} == {n for n, v in graph.nodes.items()
                                                 if isinstance(v, nir.IF)}
    assert graph.nodes["group_5"].v_threshold[0] == 1.0  # hardsigmoid saturates at 1 spike
    with torch.no_grad():
        expected = arch.to_module()(task.test.x)
    torch.testing.assert_close(graph_ann(graph, task.test.x), expected, atol=1e-4, rtol=1e-4)
    result = simulate(path, task=task, timesteps=64)
    assert result.accuracy_at[64] == result.spiking_accuracy and result.neurons == 11


def reference_if(graph, x: torch.Tensor, steps: int, subtract: bool) -> torch.Tensor:
    """Spike counts of the output group by a plain loop over the graph in dependency order:
    what the spiking module must compute, skip edges included."""
    order, v, rates, counts = [], {}, {}, None
    preds: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        preds.setdefault(dst, []).append(src)
    names = list(graph.nodes)
    while len(order) < len(names):
        order += [n for n in names if n not in order and all(p in order
                                                             for p in preds.get(n, []))]
    for _ in range(steps):
        out = {}
        for name in order:
            node = graph.nodes[name]
            total = sum(out[p] for p in preds.get(name, [])) if name != "input" else x
            if isinstance(node, nir.Affine):
                out[name] = total @ torch.tensor(node.weight).T + torch.tensor(node.bias)
            elif isinstance(node, nir.IF):
                theta = torch.tensor(node.v_threshold)
                v[name] = v.get(name, 0.0) + total
                spikes = (v[name] > theta).float()
                v[name] = v[name] - spikes * theta if subtract else v[name] * (1 - spikes)
                out[name] = spikes
                rates[name] = spikes
            else:
                out[name] = total
        counts = out["output"] if counts is None else counts + out["output"]
    return counts


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_spiking_module_follows_the_graph_through_skip_edges(reset, tmp_path):
    task = load_task("iris", seed=0)
    arch = hand_made("bp", iris_genome(), seed=4)
    graph = read_graph(evolve.export_architecture(arch, tmp_path / "s.nir", data=task))
    net = spiking_module(graph, reset)
    x, state, counts = task.test.x, None, 0.0
    with torch.no_grad():
        for _ in range(30):
            out, state = net(x, state)
            counts = counts + out
    assert torch.equal(counts, reference_if(graph, x, 30, reset == "subtract"))


def test_on_a_chain_of_groups_norses_own_importer_spikes_alike(tmp_path):
    """Norse's ``from_nir`` wires graphs depth-first (wrong with skip edges, see
    evolve/simulate.py); on a chain it agrees with the module the spiking check runs."""
    nodes = (NodeGene(0, "input", 4), NodeGene(1, "output", 3), NodeGene(2, "hidden", 6, "relu"))
    arch = hand_made("bp", Genome(nodes, (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 1))),
                     seed=2)
    task = load_task("iris", seed=0)
    graph = read_graph(evolve.export_architecture(arch, tmp_path / "c.nir", data=task))
    theirs, ours = norse.from_nir(graph, ignore_warnings=True), spiking_module(graph, "zero")
    x, a, b, total = task.test.x, None, None, 0.0
    with torch.no_grad():
        for _ in range(40):
            za, a = theirs(x, a)
            zb, b = ours(x, b)
            assert torch.equal(za, zb)
            total += float(zb.sum())
    assert total > 0


def test_export_needs_the_runs_data_and_simulate_checks_it(relu_run, tmp_path):
    arch = deepest_accurate(relu_run)
    path = evolve.export_architecture(arch, tmp_path / "r.nir")  # finds its run's data
    record = json.loads(read_graph(path).metadata["neurevo.task"])
    assert record["seed"] == 0 and record["name"] == "digits"
    result = cli("simulate", str(path), "--task", "iris")
    assert result.returncode == 2 and "differs from the data" in result.stderr
    bare = hand_made("bp", iris_genome())
    with pytest.raises(ValueError, match="pass data="):
        evolve.export_architecture(bare, tmp_path / "b.nir")
    result = cli("simulate", str(tmp_path / "missing.nir"))
    assert result.returncode == 2 and "no such NIR file" in result.stderr
    result = cli("simulate", str(tmp_path))  # a folder (a run's, say) instead of the export
    assert result.returncode == 2 and "a folder, not a NIR file" in result.stderr
    other = evolve.export_architecture(arch, tmp_path / "r.safetensors")
    with pytest.raises(RecordError, match="a safetensors export, not a NIR file"):
        read_graph(other)  # named, not h5py's "file signature not found"


def relu_bp_config(tmp_path, **task) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 4, "seed": 0, "out": str(tmp_path / "runs"),
        "task": {"name": "iris", **task}, "rule": {"name": "bp"}, "training": {"epochs": 2},
        "space": {"hidden_activations": ["relu"]}, "executor": {"name": "serial"}})


def test_a_run_whose_data_file_moved_exports_to_nir_with_task(tmp_path):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    data = tmp_path / "iris.npz"
    np.savez(data, x=x, y=y)
    run = evolve.search(relu_bp_config(tmp_path, name=str(data)))
    moved = tmp_path / "moved.npz"
    data.rename(moved)
    out = tmp_path / "m.nir"
    result = cli("export", str(run.path), "--out", str(out))
    assert result.returncode == 2 and "--task FILE" in result.stderr, result.stderr
    result = cli("export", str(run.path), "--out", str(out), "--task", str(moved))
    assert result.returncode == 0, result.stderr
    result = cli("export", str(run.path), "--out", str(tmp_path / "m.onnx"), "--task",
                 str(moved))
    assert result.returncode == 2 and "goes with --format nir" in result.stderr
    assert cli("simulate", str(out), "--timesteps", "4").returncode == 0  # where it is now
    again = tmp_path / "again.npz"
    moved.rename(again)
    result = cli("simulate", str(out), "--timesteps", "4")  # moved again: it says how
    assert result.returncode == 2 and "--task FILE" in result.stderr, result.stderr
    assert cli("simulate", str(out), "--timesteps", "4", "--task", str(again)).returncode == 0


def test_a_run_on_in_memory_arrays_exports_to_nir_given_them_again(tmp_path):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    run = evolve.search(relu_bp_config(tmp_path), data=(x, y))
    arch = run.pareto_front()[0]
    with pytest.raises(TaskError, match=r"export_architecture\(arch, PATH, data"):
        evolve.export_architecture(arch, tmp_path / "a.nir")
    with pytest.raises(TaskError, match="differ"):
        evolve.export_architecture(arch, tmp_path / "a.nir", data=(x[::-1], y[::-1]))
    with pytest.raises(ValueError, match="has 64 features and 10 classes, but this member "
                                         "takes 4 and predicts 3"):
        evolve.export_architecture(arch, tmp_path / "a.nir", data=load_task("digits"))
    path = evolve.export_architecture(arch, tmp_path / "a.nir", data=(x, y))
    assert json.loads(read_graph(path).metadata["neurevo.task"])["seed"] == 0
    with pytest.raises(TaskError, match=r"task=\(X, y\)"):
        simulate(path, timesteps=2)
    with pytest.raises(TaskError, match="these arrays .* differ"):
        simulate(path, task=(x[::-1], y[::-1]), timesteps=2)
    result = simulate(path, task=(x, y), timesteps=4)
    assert result.examples == len(task_from_arrays((x, y)).test.y)
    assert result.ann_accuracy == pytest.approx(arch.test_accuracy, abs=1e-6)


def test_a_reloaded_export_becomes_the_same_nir_file_its_run_would_give(relu_run, tmp_path):
    """A .safetensors export records its data and how its run split it, so the export alone
    (its run deleted, say) becomes a NIR file with the thresholds the run's own export gets,
    and `neurevo simulate` finds the split without being told."""
    from evolve.tasks import DATA_RECORD_KEYS

    arch = deepest_accurate(relu_run)
    direct = evolve.export_architecture(arch, tmp_path / "direct.nir")
    kept = evolve.load_architecture(evolve.export_architecture(arch, tmp_path / "k.safetensors"))
    assert tuple(kept.source.data) == DATA_RECORD_KEYS and kept.source.data["seed"] == 0
    again = evolve.export_architecture(kept, tmp_path / "again.nir")
    meta = [read_graph(p).metadata for p in (direct, again)]
    for key in ("neurevo.task", "neurevo.conversion"):  # same data record, same thresholds
        assert json.loads(meta[0][key]) == json.loads(meta[1][key])
    result = cli("simulate", str(again), "--timesteps", "50", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ann_accuracy"] == pytest.approx(arch.test_accuracy,
                                                                      abs=1e-9)


def test_a_reloaded_export_of_in_memory_arrays_needs_them_again_for_nir(tmp_path):
    """The estimator's way: a member trained on arrays, kept as a .safetensors file, becomes
    a NIR file given the arrays again (checked by content hash), as its run's member does."""
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    run = evolve.search(relu_bp_config(tmp_path), data=(x, y))
    arch = run.pareto_front()[0]
    kept = evolve.load_architecture(evolve.export_architecture(arch, tmp_path / "k.safetensors"))
    with pytest.raises(TaskError, match=r"data=\(X, y\)"):
        evolve.export_architecture(kept, tmp_path / "k.nir")
    with pytest.raises(TaskError, match="data: these arrays .* differ"):
        evolve.export_architecture(kept, tmp_path / "k.nir", data=(x[::-1], y[::-1]))
    path = evolve.export_architecture(kept, tmp_path / "k.nir", data=(x, y))
    result = simulate(path, task=(x, y), timesteps=4)
    assert result.ann_accuracy == pytest.approx(arch.test_accuracy, abs=1e-6)


@pytest.mark.parametrize("percentile", ["0", "150", "nan"])
def test_cli_names_a_percentile_out_of_range_as_the_option(relu_run, tmp_path, percentile):
    result = cli("export", str(relu_run.path), "--format", "nir", "--percentile", percentile,
                 "--out", str(tmp_path / "p.nir"))
    assert result.returncode == 2 and not (tmp_path / "p.nir").exists()
    assert result.stderr.strip() == f"neurevo: error: --percentile must be in (0, 100], got " \
                                    f"{float(percentile)}"


def test_cli_refuses_ff_with_one_line(tmp_path):
    run = evolve.search(override(SearchConfig(), {
        "generations": 1, "population": 4, "seed": 0, "out": str(tmp_path / "runs"),
        "task": {"name": "iris"}, "rule": {"name": "ff"}, "training": {"epochs": 2},
        "executor": {"name": "serial"}}))
    result = cli("export", str(run.path), "--format", "nir", "--out", str(tmp_path / "f.nir"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "rule ff predicts by trying every label" in result.stderr
