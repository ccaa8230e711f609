"""dfa (rules/dfa.py): direct feedback alignment projects the output error straight to every
hidden level through fixed random matrices D. With one hidden level and D = W_outᵀ it is bp
exactly; on a deep skip net it is the hand computation with D; D is drawn per member from its
seed, never reaches padding or neurons that feed nothing, and stays fixed; it learns digits;
a padded batch trains like its members alone; divergence fails."""

from __future__ import annotations

import torch
from netkit import bp_gradients, data, masked, mlp

import rules
import rules.dfa  # noqa: F401  (registers the rule)
from rules.dfa import dfa_updates, reachable
from rules.local import cross_entropy, level_columns
from search_spaces.compile import compile_genome, init_params, stack
from search_spaces.genome import ConnectionGene, Genome, NodeGene
from search_spaces.net import Net, Params, forward

RULE = rules.get_rule("dfa")


def skip_net() -> Genome:
    """Three hidden levels, skip edges into the output and into level 3, mixed activations on
    level 1 (tanh + relu), and a dead-end chain 7 -> 6 that never reaches the output."""
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 4),
             NodeGene(2, "hidden", 5, "tanh"), NodeGene(3, "hidden", 3, "sigmoid"),
             NodeGene(4, "hidden", 4, "elu"), NodeGene(5, "hidden", 2, "relu"),
             NodeGene(6, "hidden", 2, "tanh"), NodeGene(7, "hidden", 2, "sigmoid"))
    edges = [(0, 2), (2, 3), (3, 4), (0, 4), (4, 1), (2, 1), (0, 1), (0, 5), (5, 3), (5, 1),
             (0, 7), (7, 6)]
    return Genome(nodes, tuple(ConnectionGene(i, s, d) for i, (s, d) in enumerate(edges)))


def one_hidden_level() -> Genome:
    """One hidden level of two groups (tanh, relu) and a skip edge input -> output."""
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 4),
             NodeGene(2, "hidden", 3, "tanh"), NodeGene(3, "hidden", 2, "relu"))
    edges = [(0, 2), (0, 3), (2, 1), (3, 1), (0, 1)]
    return Genome(nodes, tuple(ConnectionGene(i, s, d) for i, (s, d) in enumerate(edges)))


def direct(net: Net, seeds: list[int]) -> list[torch.Tensor]:
    hyper = [RULE.hyperparameters().defaults()] * net.population
    return RULE.init_state(net, init_params(net, seeds), hyper, seeds).extra.direct


def test_dfa_with_one_hidden_level_and_d_from_w_out_is_exactly_bp():
    for net in (compile_genome(one_hidden_level()),
                stack([compile_genome(mlp([6, 4])), compile_genome(one_hidden_level())])):
        params = init_params(net, list(range(3, 3 + net.population)), [2.0] * net.population)
        x, y = data(net)
        top = params.weights[-1] * net.masks[-1]
        d = [top[:, :, level_columns(net, 1)].clone()]  # D_1 = W_outᵀ restricted to level 1
        dw, db, loss = dfa_updates(net, params, d, x, y)
        grads = bp_gradients(net, params, x, y)
        for mine, true in zip(masked(net, dw, db), grads, strict=True):
            torch.testing.assert_close(mine, true, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(loss, cross_entropy(forward(net, params, x)[0], y))
        # with its own random D, the hidden update is no longer bp's; the output's still is
        dw, db, _ = dfa_updates(net, params, direct(net, list(range(net.population))), x, y)
        mine = masked(net, dw, db)
        torch.testing.assert_close(mine[1], grads[1], atol=1e-6, rtol=1e-5)
        assert not torch.allclose(mine[0][-1], grads[0][-1], atol=1e-4)


def _edge_view(net: Net, blocks: list[torch.Tensor], src: int, dst: int) -> torch.Tensor:
    slices, offsets = net.members[0].node_slices, net.offsets()
    lv, a, b = slices[dst]
    slv, sa, sb = slices[src]
    return blocks[lv - 1][0, a:b, offsets[slv] + sa:offsets[slv] + sb]


def _hand_dfa(genome: Genome, net: Net, params: Params, d: list[torch.Tensor], x: torch.Tensor,
              y: torch.Tensor, dead: set[int]) -> dict[tuple[int, int], torch.Tensor]:
    """DFA written per genome node and edge: ΔW[dst, src] for every edge."""
    slices = net.members[0].node_slices
    edges = [(c.src, c.dst) for c in genome.enabled_connections()]
    order = sorted((n.id for n in genome.nodes), key=lambda i: slices[i][0])
    act = {n.id: n.activation for n in genome.nodes}
    fns = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "elu": torch.nn.functional.elu, "identity": lambda v: v}
    h, fprime = {0: x[0]}, {}
    for node in order[1:]:
        lv, a, b = slices[node]
        z = params.biases[lv - 1][0, a:b] + sum(h[s] @ _edge_view(net, params.weights, s, node).T
                                               for s, dst in edges if dst == node)
        z = z.detach().requires_grad_(True)
        out = fns[act[node]](z)
        fprime[node] = torch.autograd.grad(out.sum(), z)[0]
        h[node] = out.detach()
    error = torch.softmax(h[1], dim=-1) - torch.nn.functional.one_hot(y[0], 4).float()
    delta = {1: error}
    for node in order[1:-1]:
        lv, a, b = slices[node]
        keep = 0.0 if node in dead else 1.0
        delta[node] = (error @ d[lv - 1][0, :, a:b]) * fprime[node] * keep
    return {(s, dst): delta[dst].T @ h[s] / x.shape[1] for s, dst in edges}


def test_dfa_update_is_the_hand_computation_on_a_deep_skip_net():
    genome = skip_net()
    net = compile_genome(genome)
    params = init_params(net, [7])
    d = direct(net, [7])
    x, y = data(net, batch=9, seed=1)
    dw, db, _ = dfa_updates(net, params, d, x, y)
    hand = _hand_dfa(genome, net, params, d, x, y, dead={6, 7})
    for (src, dst), expected in hand.items():
        torch.testing.assert_close(_edge_view(net, dw, src, dst), expected, atol=1e-6, rtol=1e-5)
    for node in (6, 7):  # the dead-end chain learns nothing
        src = 0 if node == 7 else 7
        assert torch.all(_edge_view(net, dw, src, node) == 0)
    grads = bp_gradients(net, params, x, y)
    mine = masked(net, dw, db)
    torch.testing.assert_close(mine[net.depth - 1], grads[net.depth - 1])  # output: true gradient
    for level in range(net.depth - 1):  # hidden levels: direct random feedback, not bp
        assert not torch.allclose(mine[level], grads[level], atol=1e-4)


def test_changing_d_changes_that_hidden_level_only():
    net = compile_genome(skip_net())
    params = init_params(net, [5])
    x, y = data(net, seed=2)
    base = direct(net, [5])
    dw, db, _ = dfa_updates(net, params, base, x, y)
    for changed in range(net.depth - 1):
        other = [d.clone() for d in base]
        other[changed] = torch.randn_like(other[changed]) * (other[changed] != 0)
        dw2, db2, _ = dfa_updates(net, params, other, x, y)
        for level in range(net.depth):
            same = torch.equal(dw2[level], dw[level]) and torch.equal(db2[level], db[level])
            assert same == (level != changed)


def test_padding_and_neurons_that_feed_nothing_get_no_feedback():
    batch = stack([compile_genome(skip_net()), compile_genome(mlp([6, 3, 4], "sigmoid"))])
    reach = reachable(batch)
    slices = batch.members[0].node_slices
    for node in (6, 7):
        lv, a, b = slices[node]
        assert torch.all(reach[lv - 1][0, a:b] == 0)
    assert reach[0][1].tolist() == [1.0, 1.0, 1.0] + [0.0] * (batch.level_sizes[1] - 3)
    assert torch.all(reach[1][1] == 0) and torch.all(reach[2][1] == 0)  # member 1: no levels 2, 3
    d = direct(batch, [1, 2])
    for level, (dl, rl) in enumerate(zip(d, reach[:-1], strict=True), 1):
        assert torch.equal(dl != 0, (rl != 0).unsqueeze(1).expand_as(dl)), level
    # training keeps padding at zero and the dead-end weights where they started, but for
    # the weight decay every weight gets (no feedback: they only shrink, by 1 - ηλ a step)
    hyper = [RULE.hyperparameters().defaults()] * 2
    shrink = (1 - hyper[0]["lr"] * hyper[0]["weight_decay"]) ** 5
    params = init_params(batch, [1, 2])
    start = params.detach()
    state = RULE.init_state(batch, params, hyper, [1, 2])
    for step in range(5):
        x, y = data(batch, seed=step)
        RULE.train_step(batch, params, state, x, y)
    for now, before in zip(params.tensors(), start.tensors(), strict=True):
        pad = now[1][before[1] == 0]  # member 1's padding (its masked-out entries)
        assert torch.all(pad == 0)
    for node in (6, 7):
        lv, a, b = slices[node]
        torch.testing.assert_close(params.weights[lv - 1][0, a:b],
                                   start.weights[lv - 1][0, a:b] * shrink, rtol=1e-6, atol=0)
        assert torch.equal(params.biases[lv - 1][0, a:b], start.biases[lv - 1][0, a:b])
    assert all(torch.equal(a, b) for a, b in zip(state.extra.direct, d, strict=True))  # fixed
    assert not torch.equal(params.weights[0], start.weights[0])


def test_d_is_drawn_from_the_member_seed_and_bounded():
    net = compile_genome(mlp([6, 5, 3, 4]))
    d, again, other = direct(net, [3]), direct(net, [3]), direct(net, [4])
    for dl, d2, d3, n in zip(d, again, other, net.level_sizes[1:-1], strict=True):
        assert dl.shape == (1, 4, n)
        assert torch.equal(dl, d2) and not torch.equal(dl, d3)
        assert torch.all(dl != 0) and torch.all(dl.abs() <= 0.5)  # ±1/√n_out
    assert not torch.equal(d[0][0, :, :3], d[1][0])  # levels get independent draws


