"""ff (Forward-Forward): label embedding and negative labels, no autograd graph spans two
levels, updates and prediction scores equal a hand computation on a DAG with skip edges,
the rule learns digits, a padded population trains like its members alone, divergence ends
as a failed status."""

from __future__ import annotations

import pytest
import torch
from netkit import bias, block, make_setup, mlp, skip_dag

import rules
import rules.ff  # noqa: F401  (registers "ff")
from rules.ff import embed, level_losses
from search_spaces.net import Params

RULE = "ff"

setup = make_setup(RULE)
EPS = 1e-6  # the normaliser's ε


def hand_pass(net, params, x):
    """Hand-written FF pass of skip_dag: per level (z, h, goodness), inputs normalised."""
    W, b = params.weights, params.biases

    def unit(h):
        return h / torch.sqrt((h**2).mean(1, keepdim=True) + EPS)

    za = x @ block(net, W, 0, 2).T + bias(net, b, 2)
    a = torch.tanh(za)
    zb = x @ block(net, W, 0, 3).T + unit(a) @ block(net, W, 2, 3).T + bias(net, b, 3)
    hb = torch.sigmoid(zb)
    o = unit(hb) @ block(net, W, 3, 1).T + unit(a) @ block(net, W, 2, 1).T + bias(net, b, 1)
    return {"A": (za, a, (a**2).mean(1)), "B": (zb, hb, (hb**2).mean(1)),
            "out": (o, o, (o**2).mean(1)), "inputs": {"A": x, "B": (x, unit(a)),
                                                     "out": (unit(hb), unit(a))}}


# ================================================================ data: embedding, negatives


def test_label_is_added_onto_first_features_and_negatives_are_wrong_per_member_seed() -> None:
    x = torch.randn(2, 5, 7)
    y = torch.tensor([[0, 1, 2, 0, 2], [2, 2, 1, 0, 1]])
    out = embed(x, y, 3)
    torch.testing.assert_close(out[..., 3:], x[..., 3:])
    torch.testing.assert_close(out[..., :3], x[..., :3] + 8.0 * torch.eye(3)[y])
    with pytest.raises(ValueError, match="input features"):
        embed(x[..., :2], y, 3)

    net, rule, params, state = setup(mlp([12, 8, 10]), seed=5)
    labels = torch.arange(10).repeat(50).unsqueeze(0)
    neg = rule.negative_labels(state, labels, 10)
    assert torch.all(neg != labels)
    assert set(neg[labels == 4].tolist()) == set(range(10)) - {4}
    _, _, _, again = setup(mlp([12, 8, 10]), seed=5)
    _, _, _, other = setup(mlp([12, 8, 10]), seed=6)
    assert torch.equal(rule.negative_labels(again, labels, 10), neg)
    assert not torch.equal(rule.negative_labels(other, labels, 10), neg)


def test_fewer_inputs_than_classes_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="input features"):
        setup(mlp([3, 4, 5]))


# ============================================================ locality: no cross-level graph


def test_each_level_loss_reaches_only_its_own_parameters() -> None:
    net, rule, params, state = setup(skip_dag())
    leaves = Params([w.clone().requires_grad_(True) for w in params.weights],
                    [b.clone().requires_grad_(True) for b in params.biases])
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, 8, 5, generator=gen)
    y = torch.randint(0, 3, (1, 8), generator=gen)
    x_pos, x_neg = embed(x, y, 3), embed(x, (y + 1) % 3, 3)
    losses = level_losses(net, leaves, x_pos, x_neg, torch.tensor([0.5]), torch.tensor([16.0]))
    for level in range(1, net.depth + 1):
        grads = torch.autograd.grad(losses[level].sum(), [*leaves.weights, *leaves.biases],
                                    allow_unused=True, retain_graph=True)
        for k in range(net.depth):
            own = k == level - 1
            for g in (grads[k], grads[net.depth + k]):
                if own:
                    assert g is not None and g.abs().sum() > 0
                else:
                    assert g is None, (level, k)


# ========================================================= definition: hand computation


def test_updates_and_scores_equal_hand_computation_on_skip_dag() -> None:
    theta, kappa = 0.3, 4.0
    net, rule, params, state = setup(skip_dag(), {"theta": theta, "sharpness": kappa})
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 6, 5, generator=gen)
    y = torch.randint(0, 3, (1, 6), generator=gen)
    neg_gen = state.extra.negatives[0]
    saved = neg_gen.get_state()
    wrong = rule.negative_labels(state, y, 3)
    neg_gen.set_state(saved)
    dw, db, loss = rule.updates(net, params, state, x, y)

    pos = hand_pass(net, params, embed(x, y, 3)[0])
    neg = hand_pass(net, params, embed(x, wrong, 3)[0])
    n = x.shape[1]
    derivs = {"A": lambda z, h: 1 - h**2, "B": lambda z, h: h * (1 - h),
              "out": lambda z, h: torch.ones_like(h)}
    total = torch.zeros(())
    deltas = {}
    for name in ("A", "B", "out"):
        (zp, hp, gp), (zn, hn, gn) = pos[name][:3], neg[name][:3]
        width = hp.shape[1]
        total = total + (torch.nn.functional.softplus(kappa * (theta - gp))
                         + torch.nn.functional.softplus(kappa * (gn - theta))).mean()
        dgp = -kappa * torch.sigmoid(kappa * (theta - gp))  # ∂ℓ/∂G_pos
        dgn = kappa * torch.sigmoid(kappa * (gn - theta))  # ∂ℓ/∂G_neg
        deltas[name] = (dgp[:, None] * 2 * hp / width * derivs[name](zp, hp),
                        dgn[:, None] * 2 * hn / width * derivs[name](zn, hn))
    torch.testing.assert_close(loss[0], total)
    node = {"A": 2, "B": 3, "out": 1}
    sources = {"A": ((0, 0),), "B": ((0, 0), (2, 1)), "out": ((3, 0), (2, 1))}
    for name, (dp, dn) in deltas.items():
        ins_p, ins_n = pos["inputs"][name], neg["inputs"][name]
        ins_p = ins_p if isinstance(ins_p, tuple) else (ins_p,)
        ins_n = ins_n if isinstance(ins_n, tuple) else (ins_n,)
        for src, k in sources[name]:
            want = (dp.T @ ins_p[k] + dn.T @ ins_n[k]) / n
            torch.testing.assert_close(block(net, dw, src, node[name]), want,
                                       atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(bias(net, db, node[name]), (dp + dn).mean(0),
                                   atol=1e-6, rtol=1e-5)
    # prediction: summed goodness of the hidden levels A and B, one pass per label
    scores = rule.predict(net, params, x[0])
    for c in range(3):
        hand = hand_pass(net, params, embed(x, torch.full_like(y, c), 3)[0])
        torch.testing.assert_close(scores[0, :, c], hand["A"][2] + hand["B"][2])


def test_net_without_hidden_levels_predicts_from_output_goodness() -> None:
    net, rule, params, _ = setup(mlp([6, 3]))
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(2))
    scores = rule.predict(net, params, x)
    for c in range(3):
        xe = embed(x[None], torch.full((1, 4), c), 3)[0]
        o = xe @ params.weights[0][0].T + params.biases[0][0]
        torch.testing.assert_close(scores[0, :, c], (o**2).mean(1))


def test_registered_with_required_hyperparameters() -> None:
    assert RULE in rules.available()
    names = rules.get_rule(RULE).hyperparameters().names()
    assert {"lr", "init_scale", "theta", "sharpness"} <= set(names)
