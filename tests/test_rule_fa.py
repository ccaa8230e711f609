"""fa (rules/fa.py): feedback alignment sends the output error down the genome's graph through
fixed random feedback blocks B. With B = W it is bp exactly; with random B it is the hand
computation with B (per genome edge), not bp; B is drawn per member from its seed and stays
fixed; it learns digits; a padded batch trains like its members alone; divergence fails."""

from __future__ import annotations

import math

import pytest
import torch
from netkit import bp_gradients, data, digits_subset, masked, mlp

import rules
import rules.fa  # noqa: F401  (registers the rule)
from rules.fa import fa_updates
from rules.local import cross_entropy
from search_spaces.compile import compile_genome, init_params, stack
from search_spaces.genome import ConnectionGene, Genome, NodeGene
from search_spaces.net import Net, Params, forward

RULE = rules.get_rule("fa")


def skip_net() -> Genome:
    """Three hidden levels, skip edges into the output and into level 3, mixed activations on
    one level (tanh + relu on level 1), and a hidden node (6) that feeds nothing."""
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 4),
             NodeGene(2, "hidden", 5, "tanh"), NodeGene(3, "hidden", 3, "sigmoid"),
             NodeGene(4, "hidden", 4, "elu"), NodeGene(5, "hidden", 2, "relu"),
             NodeGene(6, "hidden", 2, "tanh"))
    edges = [(0, 2), (2, 3), (3, 4), (0, 4), (4, 1), (2, 1), (0, 1), (0, 5), (5, 3), (5, 1),
             (0, 6)]
    return Genome(nodes, tuple(ConnectionGene(i, s, d) for i, (s, d) in enumerate(edges)))


def test_fa_with_feedback_equal_to_forward_weights_is_exactly_bp():
    """B = W on a DAG with skips and mixed activations, alone and inside a padded batch."""
    for net in (compile_genome(skip_net()),
                stack([compile_genome(mlp([6, 3, 4], "sigmoid")), compile_genome(skip_net())])):
        params = init_params(net, list(range(3, 3 + net.population)), [2.0] * net.population)
        x, y = data(net)
        dw, db, loss = fa_updates(net, params, [w.clone() for w in params.weights], x, y)
        grads = bp_gradients(net, params, x, y)
        for mine, true in zip(masked(net, dw, db), grads, strict=True):
            torch.testing.assert_close(mine, true, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(loss, cross_entropy(forward(net, params, x)[0], y))


def _hand_fa(genome: Genome, net: Net, params: Params, feedback: list[torch.Tensor],
             x: torch.Tensor, y: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
    """FA written per genome edge (not per level block): ΔW[dst, src] for every edge."""
    slices = net.members[0].node_slices
    offsets = net.offsets()

    def block(tensors: list[torch.Tensor], dst: int, src: int) -> torch.Tensor:
        lv, a, b = slices[dst]
        slv, sa, sb = slices[src]
        return tensors[lv - 1][0, a:b, offsets[slv] + sa:offsets[slv] + sb]

    edges = [(c.src, c.dst) for c in genome.enabled_connections()]
    order = sorted((n.id for n in genome.nodes), key=lambda i: slices[i][0])
    act = {n.id: n.activation for n in genome.nodes}
    fns = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "elu": torch.nn.functional.elu, "identity": lambda v: v}
    h, fprime = {0: x[0]}, {}
    for node in order[1:]:
        lv, a, b = slices[node]
        z = params.biases[lv - 1][0, a:b] + sum(h[s] @ block(params.weights, d, s).T
                                               for s, d in edges if d == node)
        z = z.detach().requires_grad_(True)
        out = fns[act[node]](z)
        fprime[node] = torch.autograd.grad(out.sum(), z)[0]
        h[node] = out.detach()
    delta = {1: torch.softmax(h[1], dim=-1) - torch.nn.functional.one_hot(y[0], 4).float()}
    for node in reversed(order[1:]):
        if node != 1:
            arriving = sum((delta[d] @ block(feedback, d, node) for s, d in edges if s == node),
                           torch.zeros_like(h[node]))
            delta[node] = arriving * fprime[node]
    return {(s, d): delta[d].T @ h[s] / x.shape[1] for s, d in edges}


def _edge_view(net: Net, dw: list[torch.Tensor], src: int, dst: int) -> torch.Tensor:
    slices, offsets = net.members[0].node_slices, net.offsets()
    lv, a, b = slices[dst]
    slv, sa, sb = slices[src]
    return dw[lv - 1][0, a:b, offsets[slv] + sa:offsets[slv] + sb]


def test_fa_update_is_the_hand_computation_with_fixed_b_and_not_bp():
    genome = skip_net()
    net = compile_genome(genome)
    params = init_params(net, [7])
    feedback = RULE.init_state(net, params, [RULE.hyperparameters().defaults()],
                               [7]).extra.feedback
    x, y = data(net, batch=9, seed=1)
    dw, _, _ = fa_updates(net, params, feedback, x, y)
    hand = _hand_fa(genome, net, params, feedback, x, y)
    for (src, dst), expected in hand.items():
        torch.testing.assert_close(_edge_view(net, dw, src, dst), expected, atol=1e-6, rtol=1e-5)
    # the node that feeds nothing gets no error, as under bp
    assert torch.all(_edge_view(net, dw, 0, 6) == 0)
    grads = bp_gradients(net, params, x, y)
    mine = masked(net, dw, [torch.zeros_like(b) for b in params.biases])
    # output level: its true gradient
    torch.testing.assert_close(mine[net.depth - 1], grads[net.depth - 1])
    for level in range(net.depth - 1):  # hidden levels: random feedback, not Wᵀ
        assert not torch.allclose(mine[level], grads[level], atol=1e-4)


def test_changing_b_changes_the_lower_updates_only():
    net = compile_genome(skip_net())
    params = init_params(net, [5])
    x, y = data(net, seed=2)
    base = RULE.init_state(net, params, [RULE.hyperparameters().defaults()], [5]).extra.feedback
    dw, db, _ = fa_updates(net, params, base, x, y)
    top = net.depth - 1
    for changed in (top, 1):  # the output block's B, and a hidden block's B
        other = [b.clone() for b in base]
        other[changed] = -2.0 * other[changed]
        dw2, db2, _ = fa_updates(net, params, other, x, y)
        for level in range(changed, net.depth):  # levels at and above the block: unchanged
            assert torch.equal(dw2[level], dw[level]) and torch.equal(db2[level], db[level])
        assert not torch.allclose(dw2[changed - 1], dw[changed - 1])  # the level it feeds
    other = [b.clone() for b in base]
    other[0] = torch.randn_like(other[0])  # level 1's block only reaches inputs: no effect
    assert all(torch.equal(a, b) for a, b in zip(fa_updates(net, params, other, x, y)[0], dw,
                                                 strict=True))


def test_feedback_is_drawn_from_the_member_seed_masked_and_fixed_during_training():
    net = compile_genome(skip_net())
    hyper = [RULE.hyperparameters().resolve({"init_scale": 2.0})]
    params = init_params(net, [3], [2.0])
    state = RULE.init_state(net, params, hyper, [3])
    again = RULE.init_state(net, params, hyper, [3]).extra.feedback
    other = RULE.init_state(net, params, hyper, [4]).extra.feedback
    for b, b2, b3, w, mask in zip(state.extra.feedback, again, other, params.weights,
                                  net.masks, strict=True):
        assert torch.equal(b, b2) and not torch.equal(b, b3)
        assert torch.all(b[mask == 0] == 0) and torch.all(b[mask == 1] != 0)
        bound = 2.0 / mask.sum(dim=2, keepdim=True).clamp(min=1).sqrt()
        assert torch.all(b.abs() <= bound)
        assert not torch.allclose(b, w)  # salted: not the forward init of the same seed
    fixed = [b.clone() for b in state.extra.feedback]
    start = [w.clone() for w in params.weights]
    for step in range(5):
        x, y = data(net, seed=step)
        RULE.train_step(net, params, state, x, y)
    assert all(torch.equal(a, b) for a, b in zip(state.extra.feedback, fixed, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(params.weights, start, strict=True))




@pytest.mark.parametrize("name", ["fa", "dfa"])
def test_weight_decay_shrinks_each_members_weights_by_one_minus_lr_lambda_after_the_step(name):
    """Decoupled decay (rules.local.WEIGHT_DECAY): one step with λ is the step without it,
    then every weight × (1 − ηλ) per member; biases and masked entries are untouched, and a
    member with λ = 0 in the same padded batch steps as if no member decayed."""
    rule = rules.get_rule(name)
    net = stack([compile_genome(skip_net()), compile_genome(mlp([6, 3, 4], "tanh"))])
    space = rule.hyperparameters()
    decayed = [space.resolve({"weight_decay": 0.3, "lr": 0.01}),
               space.resolve({"weight_decay": 0.0, "lr": 0.01})]
    plain = [space.resolve({"weight_decay": 0.0, "lr": 0.01})] * 2
    x, y = data(net)
    after = []
    for hyper in (decayed, plain):
        params = init_params(net, [3, 4], [1.0, 1.0])
        state = rule.init_state(net, params, hyper, [3, 4])
        rule.train_step(net, params, state, x, y)
        after.append(params)
    shrink = torch.tensor([1 - 0.01 * 0.3, 1.0]).view(-1, 1, 1)
    for w, w0, mask in zip(after[0].weights, after[1].weights, net.masks, strict=True):
        torch.testing.assert_close(w, w0 * shrink)
        assert torch.all(w[mask == 0] == 0)
        assert not torch.equal(w[0], w0[0]) and torch.equal(w[1], w0[1])
    assert all(torch.equal(b, b0) for b, b0 in zip(after[0].biases, after[1].biases,
                                                   strict=True))


@pytest.mark.parametrize("name", ["fa", "dfa"])
def test_lr_decay_anneals_each_members_step_size_by_the_cosine_over_the_fit(name):
    """rules.local.LR_DECAY in a real fit: in epoch e of E a member steps with
    η (1 - d + d (1 + cos πe/E) / 2); a member with d = 0 in the same batch keeps η."""
    seen: list[torch.Tensor] = []

    class Recording(type(rules.get_rule(name))):
        def train_step(self, net, params, state, x, y):
            seen.append(state.optimizer.step_lr.clone())
            return super().train_step(net, params, state, x, y)

    net = stack([compile_genome(mlp([64, 16, 10]))] * 2)
    hyper = [{"lr": 0.01, "lr_decay": 1.0}, {"lr": 0.01, "lr_decay": 0.0}]
    Recording().fit(net, digits_subset(), hyper, rules.Budget(epochs=4, batch_size=60,
                                                              patience=4), [1, 2])
    per_epoch = torch.stack(seen[::4])  # 240 examples, 4 steps an epoch
    assert len(seen) == 16
    cosine = torch.tensor([(1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)])
    torch.testing.assert_close(per_epoch[:, 0], 0.01 * cosine)
    torch.testing.assert_close(per_epoch[:, 1], torch.full((4,), 0.01))


@pytest.mark.parametrize("name", ["fa", "dfa"])
def test_a_scheduled_step_and_its_weight_decay_are_those_of_the_scheduled_lr(name):
    """After start_epoch(1 of 3) a member with lr_decay 1 steps (Adam and the decoupled
    decay alike) exactly as one with η × 0.75 and no schedule."""
    rule = rules.get_rule(name)
    net = compile_genome(skip_net())
    space = rule.hyperparameters()
    x, y = data(net)
    after = []
    for genes in ({"lr": 0.01, "weight_decay": 0.3, "lr_decay": 1.0},
                  {"lr": 0.0075, "weight_decay": 0.3, "lr_decay": 0.0}):
        params = init_params(net, [3])
        state = rule.init_state(net, params, [space.resolve(genes)], [3])
        rule.start_epoch(state, 1, 3)
        rule.train_step(net, params, state, x, y)
        after.append(params)
    for w, w0 in zip(after[0].weights, after[1].weights, strict=True):
        torch.testing.assert_close(w, w0)
