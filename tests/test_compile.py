"""Tests for genome compilation (search_spaces.compile / net / module): compiled nets compute
what a hand-built torch network computes, and a padded population batch behaves exactly like
its members alone, in the forward pass and under bp training."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

import rules
from search_spaces.compile import (
    compile_genome,
    compile_population,
    init_params,
    member_params,
    node_levels,
    stack,
)
from search_spaces.genome import ConnectionGene, Genome, NodeGene, heard_from_inputs
from search_spaces.innovation import InnovationTracker
from search_spaces.module import GenomeModule
from search_spaces.net import Net, Params, forward
from search_spaces.space import MutationRates, SearchSpace, SpaceSettings

RATES = MutationRates(add_node=0.5, add_edge=0.7, toggle_edge=0.1, resize_node=0.5,
                      change_activation=0.5)


def _columns(net: Net, node_id: int, p: int = 0) -> slice:
    """Global (own-layout) neuron indices of a genome node."""
    member = net.members[p]
    lv, a, b = member.node_slices[node_id]
    start = sum(member.level_sizes[:lv])
    return slice(start + a, start + b)


def _rows(net: Net, node_id: int, p: int = 0) -> tuple[int, slice]:
    """(weight level index, rows) of a non-input genome node."""
    lv, a, b = net.members[p].node_slices[node_id]
    return lv - 1, slice(a, b)


def _block(net: Net, params: Params, src: int, dst: int) -> torch.Tensor:
    i, rows = _rows(net, dst)
    return params.weights[i][0, rows, _columns(net, src)]


def _bias(net: Net, params: Params, node: int) -> torch.Tensor:
    i, rows = _rows(net, node)
    return params.biases[i][0, rows]


# ====================================================== 6. compiled Net == hand-built torch net


def _mlp_with_skips() -> Genome:
    nodes = (NodeGene(0, "input", 64), NodeGene(1, "output", 10, "identity"),
             NodeGene(2, "hidden", 32, "relu"), NodeGene(3, "hidden", 16, "tanh"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1),
             ConnectionGene(3, 0, 1), ConnectionGene(4, 2, 1))
    return Genome(nodes, conns)


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


@pytest.mark.parametrize("dense", [False, True], ids=["init_params", "dense-random-weights"])
def test_compiled_mlp_matches_hand_built_torch(dense: bool) -> None:
    genome = _mlp_with_skips()
    net = compile_genome(genome)
    assert net.level_sizes == (64, 32, 16, 10)
    assert node_levels(genome) == {0: 0, 2: 1, 3: 2, 1: 3}
    assert [tuple(m.shape) for m in net.masks] == [(1, 32, 64), (1, 16, 96), (1, 10, 112)]
    params = init_params(net, [7])
    if dense:  # weights everywhere, so the masks must do the work of removing non-edges
        gen = torch.Generator().manual_seed(3)
        params = Params([torch.randn(w.shape, generator=gen) * 0.2 for w in params.weights],
                        [torch.randn(b.shape, generator=gen) for b in params.biases])
    else:
        # no weight outside an edge; Linear's U(±1/√fan_in) bound per neuron
        assert torch.all(params.weights[1][0, :, :64] == 0)
        for w, fan_in in zip(params.weights, (64, 32, 64 + 32 + 16), strict=True):
            bound = fan_in ** -0.5
            assert w.abs().max() <= bound
            assert w.abs().max() > 0.9 * bound

    l1 = _linear(_block(net, params, 0, 2), _bias(net, params, 2))
    l2 = _linear(_block(net, params, 2, 3), _bias(net, params, 3))
    out_from_x = _linear(_block(net, params, 0, 1), _bias(net, params, 1))
    out_from_h1 = _linear(_block(net, params, 2, 1), None)
    out_from_h2 = _linear(_block(net, params, 3, 1), None)

    x = torch.randn(50, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h1 = torch.relu(l1(x))
        h2 = torch.tanh(l2(h1))
        expected = out_from_x(x) + out_from_h1(h1) + out_from_h2(h2)
        out, states = forward(net, params, x)
    assert out.shape == (1, 50, 10)
    torch.testing.assert_close(out[0], expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(states[1][0], h1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(states[2][0], h2, atol=1e-5, rtol=1e-5)
    # an explicit [P, B, n_in] input gives the same
    torch.testing.assert_close(forward(net, params, x.unsqueeze(0))[0], out)


def test_disabled_and_recurrent_edges_do_not_feed_forward() -> None:
    base = _mlp_with_skips()
    conns = tuple(ConnectionGene(c.innovation, c.src, c.dst, c.innovation != 4, c.recurrent)
                  for c in base.connections) + (ConnectionGene(5, 3, 2, True, True),)
    genome = Genome(base.nodes, conns)
    net = compile_genome(genome)
    assert torch.all(net.masks[2][0, :, _columns(net, 2)] == 0)  # h1->out disabled
    assert net.recurrent_mask is not None
    assert torch.all(net.recurrent_mask[0, _columns(net, 2), _columns(net, 3)] == 1)
    assert int(net.recurrent_mask.sum()) == 32 * 16
    gen = torch.Generator().manual_seed(5)
    params = init_params(net, [1])
    params = Params([torch.randn(w.shape, generator=gen) for w in params.weights],
                    params.biases, params.recurrent)
    x = torch.randn(8, 64, generator=gen)
    h1 = torch.relu(x @ _block(net, params, 0, 2).T + _bias(net, params, 2))
    h2 = torch.tanh(h1 @ _block(net, params, 2, 3).T + _bias(net, params, 3))
    expected = (x @ _block(net, params, 0, 1).T + h2 @ _block(net, params, 3, 1).T
                + _bias(net, params, 1))
    torch.testing.assert_close(forward(net, params, x)[0][0], expected, atol=1e-5, rtol=1e-5)


def test_neuron_level_genome_matches_scalar_computation() -> None:
    """Classic NEAT: every node one neuron; several input and output nodes."""
    nodes = (NodeGene(0, "input", 1), NodeGene(1, "input", 1), NodeGene(2, "input", 1),
             NodeGene(3, "output", 1, "sigmoid"), NodeGene(4, "output", 1, "identity"),
             NodeGene(5, "hidden", 1, "sigmoid"), NodeGene(6, "hidden", 1, "elu"),
             NodeGene(7, "hidden", 1, "tanh"))
    conns = (ConnectionGene(0, 0, 5), ConnectionGene(1, 1, 5), ConnectionGene(2, 5, 6),
             ConnectionGene(3, 2, 6), ConnectionGene(4, 6, 3), ConnectionGene(5, 5, 4),
             ConnectionGene(6, 0, 3), ConnectionGene(7, 1, 7), ConnectionGene(8, 7, 4),
             ConnectionGene(9, 2, 3, enabled=False), ConnectionGene(10, 6, 5, recurrent=True))
    genome = Genome(nodes, conns)
    genome.validate()
    net = compile_genome(genome)
    assert node_levels(genome) == {0: 0, 1: 0, 2: 0, 5: 1, 7: 1, 6: 2, 3: 3, 4: 3}
    assert net.level_sizes == (3, 2, 1, 2)
    gen = torch.Generator().manual_seed(11)
    params = init_params(net, [0])
    params = Params([torch.randn(w.shape, generator=gen) for w in params.weights],
                    [torch.randn(b.shape, generator=gen) for b in params.biases])
    x = torch.randn(20, 3, generator=gen)

    act = {"sigmoid": torch.sigmoid, "elu": torch.nn.functional.elu, "tanh": torch.tanh,
           "identity": lambda z: z}
    value = {i: x[:, _columns(net, i)].squeeze(1) for i in (0, 1, 2)}
    for node in (5, 7, 6, 3, 4):  # a topological order
        z = _bias(net, params, node).squeeze()
        for c in genome.enabled_connections(recurrent=False):
            if c.dst == node:
                z = z + _block(net, params, c.src, node).squeeze() * value[c.src]
        value[node] = act[genome.node(node).activation](z)
    out = forward(net, params, x)[0][0]
    assert out.shape == (20, 2)
    for node, column in ((3, 0), (4, 1)):  # outputs in node-id order
        assert net.members[0].node_slices[node] == (3, column, column + 1)
        torch.testing.assert_close(out[:, column], value[node], atol=1e-5, rtol=1e-5)


# ============================================ 7. padded population batch == members alone


def _population_genomes() -> list[Genome]:
    """Six genomes of different depths and sizes, reached by mutation (deterministic)."""
    space = SearchSpace(64, 10, SpaceSettings(min_hidden_size=4, max_hidden_size=48,
                                              max_hidden_nodes=6, max_connections=16))
    tracker = InnovationTracker()
    by_depth: dict[int, Genome] = {1: space.minimal_genome(tracker)}
    extra: list[Genome] = []
    for seed in range(200):
        rng = np.random.default_rng(seed)
        g = space.minimal_genome(tracker)
        for _ in range(int(rng.integers(1, 12))):
            g = space.mutate(g, rng, tracker, RATES)
        depth = compile_genome(g).depth
        if depth not in by_depth:
            by_depth[depth] = g
        elif len(extra) < 2 and any(not c.enabled for c in g.connections) and \
                compile_genome(g).level_sizes not in {compile_genome(o).level_sizes
                                                      for o in (*by_depth.values(), *extra)}:
            extra.append(g)
        if len(by_depth) >= 4 and len(extra) == 2:
            break
    genomes = [by_depth[d] for d in sorted(by_depth)][:4] + extra
    assert len(genomes) == 6
    assert len({compile_genome(g).depth for g in genomes}) >= 4
    assert len({compile_genome(g).level_sizes for g in genomes}) == 6
    return genomes


SEEDS = [101, 202, 303, 404, 505, 606]


@pytest.fixture(scope="module")
def population() -> list[Genome]:
    return _population_genomes()


def test_padded_batch_forward_matches_members_alone(population: list[Genome]) -> None:
    # order members so that the deepest is not first (padding must not depend on order)
    genomes = population[1:] + population[:1]
    batch = compile_population(genomes)
    assert batch.population == 6
    assert batch.depth == max(compile_genome(g).depth for g in genomes)
    params = init_params(batch, SEEDS)
    x = torch.randn(40, 64, generator=torch.Generator().manual_seed(9))
    out, _ = forward(batch, params, x)
    assert out.shape == (6, 40, 10)
    for p, (genome, seed) in enumerate(zip(genomes, SEEDS, strict=True)):
        single = compile_genome(genome)
        alone = init_params(single, [seed])
        mine = member_params(batch, params, p)
        for a, b in zip(mine.tensors(), alone.tensors(), strict=True):
            assert torch.equal(a, b)  # same initial weights, batched or alone
        torch.testing.assert_close(out[p], forward(single, alone, x)[0][0], atol=1e-5, rtol=0)
    # the members really differ (no accidental sharing)
    assert not torch.allclose(out[0], out[1])
    # stacking single nets gives the same bundle as compile_population
    again = stack([compile_genome(g) for g in genomes])
    assert again.level_sizes == batch.level_sizes
    for m1, m2 in zip(again.masks, batch.masks, strict=True):
        assert torch.equal(m1, m2)


def test_padded_batch_members_do_not_see_each_other(population: list[Genome]) -> None:
    batch = compile_population(population)
    params = init_params(batch, SEEDS)
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(1))
    before = forward(batch, params, x)[0]
    # scribble over member 0's parameters, including its padding
    for t in params.tensors():
        t[0] = torch.randn_like(t[0]) * 10
    after = forward(batch, params, x)[0]
    assert torch.equal(before[1:], after[1:])
    assert not torch.allclose(before[0], after[0])


@pytest.fixture(scope="module")
def small_digits() -> SimpleNamespace:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))[:300]
    x, y = x[order].astype(np.float32), y[order]
    mean, std = x[:200].mean(axis=0), x[:200].std(axis=0) + 1e-6
    x = (x - mean) / std

    def split(a: int, b: int) -> SimpleNamespace:
        return SimpleNamespace(x=torch.from_numpy(x[a:b]).float(),
                               y=torch.from_numpy(y[a:b]).long())

    return SimpleNamespace(train=split(0, 200), valid=split(200, 300))


def test_padded_batch_bp_training_matches_members_alone(
    population: list[Genome], small_digits: SimpleNamespace
) -> None:
    rule = rules.get_rule("bp")
    budget = rules.Budget(epochs=3, batch_size=32, patience=10)
    batch = compile_population(population)
    fit = rule.fit(batch, small_digits, None, budget, SEEDS)
    assert fit.status == ["ok"] * 6
    for p, (genome, seed) in enumerate(zip(population, SEEDS, strict=True)):
        single = compile_genome(genome)
        alone = rule.fit(single, small_digits, None, budget, [seed])
        mine = member_params(batch, fit.params, p)
        for a, b in zip(mine.tensors(), alone.params.tensors(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
        assert fit.valid_accuracy[p] == alone.valid_accuracy[0]
        assert fit.epochs[p] == alone.epochs[0]
        # training really moved the weights away from the initial ones
        init = init_params(single, [seed])
        assert not all(torch.allclose(a, b) for a, b in zip(mine.tensors(), init.tensors(),
                                                              strict=True))
    assert max(fit.valid_accuracy) > 0.3  # it learned something (chance is 0.1)
    # per-member hyperparameters: a different lr for one member changes only that member
    hyper = [{"lr": 3e-3}] * 6
    hyper[2] = {"lr": 3e-2}
    other = rule.fit(batch, small_digits, hyper, budget, SEEDS)
    for p in range(6):
        same = all(torch.allclose(a, b, atol=1e-4, rtol=0)
                   for a, b in zip(member_params(batch, other.params, p).tensors(),
                                   member_params(batch, fit.params, p).tensors(), strict=True))
        assert same == (p != 2)


# ============================================================ 8. GenomeModule is a real module


def _every_node_hears_the_input(genome: Genome) -> bool:
    """No hidden node is cut off from the input (its weights out would get no gradient)."""
    return heard_from_inputs(genome) >= {c.src for c in genome.enabled_connections(False)}


def test_genome_module_matches_forward_and_trains(population: list[Genome]) -> None:
    genome = max((g for g in population if _every_node_hears_the_input(g)),
                 key=lambda g: compile_genome(g).depth)
    assert compile_genome(genome).depth >= 3
    net = compile_genome(genome)
    params = init_params(net, [3])
    module = GenomeModule(genome, params)
    assert isinstance(module, nn.Module)
    assert len(list(module.parameters())) == 2 * net.depth
    assert sum(p.numel() for p in module.parameters()) == \
        sum(w.numel() for w in params.weights) + sum(b.numel() for b in params.biases)
    x = torch.randn(12, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = forward(net, params, x)[0][0]
    out = module(x)
    assert out.shape == (12, 10)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)

    loss = nn.functional.cross_entropy(out, torch.arange(12) % 10)
    loss.backward()
    for w, mask in zip(module.weights, net.masks, strict=True):
        assert w.grad is not None and w.grad.abs().sum() > 0
        assert torch.all(w.grad[mask == 0] == 0)  # no edge grows where the genome has none
    for b in module.biases:
        assert b.grad is not None and b.grad.abs().sum() > 0
    # an optimiser step changes the output; the module's copy is independent of ``params``
    nn.utils.clip_grad_norm_(module.parameters(), 1.0)
    torch.optim.SGD(module.parameters(), lr=0.5).step()
    assert not torch.allclose(module(x), expected)
    torch.testing.assert_close(forward(net, params, x)[0][0], expected)
    # masks travel in the state dict as buffers
    state = module.state_dict()
    assert any(k.startswith("mask_") for k in state)
    assert len([k for k in state if k.startswith("weights.")]) == net.depth


def test_genome_module_rejects_params_of_another_genome(population: list[Genome]) -> None:
    shallow, deep = population[0], max(population, key=lambda g: compile_genome(g).depth)
    wrong = init_params(compile_genome(shallow), [0])
    with pytest.raises(ValueError, match="levels"):
        GenomeModule(deep, wrong)


def test_forward_reads_only_the_levels_that_feed_each_level() -> None:
    """A layered net's levels read only the level below; skip edges widen the read to the
    lowest level they come from; a padded population reads what any member reads. The
    narrowed pass computes what the pass over every lower column computes."""
    from netkit import mlp, skip_dag

    assert compile_genome(mlp([64, 32, 16, 10])).first_sources == (0, 1, 2)
    assert compile_genome(skip_dag()).first_sources == (0, 0, 1)  # in -> B, A -> out
    population = stack([compile_genome(mlp([64, 32, 16, 10])), compile_genome(mlp([64, 10]))])
    assert population.first_sources == (0, 1, 0)  # the 64-10 member's output reads inputs
    x = torch.randn(7, 64, generator=torch.Generator().manual_seed(0))
    for net in (compile_genome(mlp([64, 32, 16, 10])), compile_genome(skip_dag()), population):
        params = init_params(net, list(range(net.population)))
        inputs = x[:, :net.n_inputs]
        wide = forward(dataclasses.replace(net, first_sources=()), params, inputs)[0]
        torch.testing.assert_close(forward(net, params, inputs)[0], wide)
