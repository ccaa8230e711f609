"""chl: its phases are the γ-feedback fixed points, its update is the difference of the phases'
correlations, it becomes backprop as γ -> 0 (Xie & Seung 2003), and it trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from netkit import digits_subset, three_genomes

import rules
import rules.chl  # noqa: F401  (registers "chl")
from evolve.tasks import load_task
from rules.chl import CHL, Relaxation
from search_spaces.compile import compile_genome, init_params, member_params, stack
from search_spaces.genome import ConnectionGene, Genome, NodeGene
from search_spaces.net import Params, forward


def skip_dag(n_in: int, n_out: int, a: int, b: int, recurrent: bool, act: str = "relu"
             ) -> Genome:
    """in -> A(tanh) -> B(act) -> out, skips in->out, A->out, in->B; optionally recurrent
    B->A, A->A, out->B, out->out: three levels, skip gaps of 2 and 3."""
    nodes = (NodeGene(0, "input", n_in), NodeGene(1, "output", n_out),
             NodeGene(2, "hidden", a, "tanh"), NodeGene(3, "hidden", b, act))
    conns = [ConnectionGene(i, s, d) for i, (s, d) in
             enumerate([(0, 2), (2, 3), (3, 1), (0, 1), (2, 1), (0, 3)])]
    if recurrent:
        conns += [ConnectionGene(10 + i, s, d, recurrent=True)
                  for i, (s, d) in enumerate([(3, 2), (2, 2), (1, 3), (1, 1)])]
    return Genome(nodes, tuple(conns))


def double(net, scale=1.0, seed=0) -> Params:
    p = init_params(net, [seed], [scale])
    rec = None if p.recurrent is None else p.recurrent.double()
    return Params([w.double() for w in p.weights], [b.double() for b in p.biases], rec)


def genes(rule, gamma: float, free_steps: int, nudge_steps: int) -> dict[str, float]:
    """One member's genes: the rule's defaults with this relaxation."""
    return {**rule.hyperparameters().defaults(), "gamma": gamma, "free_steps": free_steps,
            "nudge_steps": nudge_steps}


def batch(n_in=5, n_out=3, n=6, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(1, n, n_in, generator=gen, dtype=torch.float64),
            torch.randint(0, n_out, (1, n), generator=gen))


def test_phases_are_the_fixed_points_of_the_gamma_feedback_dynamics():
    """x_l = ρ(W̃_l x_<l + b_l + Σ_m γ^(m-l) [x_m W̃_m]_{cols l} + Σ_j γ^(max(l,l_j)-l) J_ij x_j),
    written out level by level; the clamped phase holds the output at the one-hot target."""
    net = compile_genome(skip_dag(5, 3, 4, 3, recurrent=True))
    params, (x, y) = double(net), batch()
    gamma = 0.5
    rule = CHL()
    free, clamped = rule.phases(net, params, x, y,
                                Relaxation.of([genes(rule, gamma, 300, 300)]))
    off = net.offsets()
    level_of = torch.cat([torch.full((s,), lv, dtype=torch.float64)
                          for lv, s in enumerate(net.level_sizes)])
    rec = params.recurrent[0] * net.recurrent_mask[0]
    coupling = 0.5 * (rec + rec.T)
    gain = gamma ** (torch.maximum(level_of[:, None], level_of[None, :]) - level_of[:, None])
    rho = {1: lambda z: torch.tanh(z), 2: lambda z: torch.relu(z).clamp(max=1.0),
           3: lambda z: z}

    def field(state, lv):
        s = state[0]
        w = [params.weights[i][0] * net.masks[i][0] for i in range(net.depth)]
        h = s[:, :off[lv]] @ w[lv - 1].T + params.biases[lv - 1][0]
        for m in range(lv + 1, net.depth + 1):
            h = h + gamma ** (m - lv) * s[:, off[m]:off[m + 1]] @ w[m - 1][:, off[lv]:off[lv + 1]]
        return h + s @ (gain * coupling)[off[lv]:off[lv + 1]].T

    for lv in range(1, net.depth + 1):
        cols = slice(off[lv], off[lv + 1])
        assert torch.allclose(free[0][:, cols], rho[lv](field(free, lv)), atol=1e-10)
        if lv < net.depth:
            assert torch.allclose(clamped[0][:, cols], rho[lv](field(clamped, lv)), atol=1e-10)
    assert torch.equal(clamped[0][:, off[-2]:], F.one_hot(y[0], 3).double())
    assert torch.equal(free[0][:, :5], x[0]) and torch.equal(clamped[0][:, :5], x[0])


def test_update_is_the_difference_of_the_phase_correlations():
    net = compile_genome(skip_dag(5, 3, 4, 3, recurrent=True))
    params, (x, y) = double(net), batch()
    rule = CHL()
    mine = genes(rule, 0.5, 20, 10)
    free, clamped = rule.phases(net, params, x, y, Relaxation.of([mine]))
    state = rule.init_state(net, params, [mine], [0])
    dw, db, dr, loss = rule.energy_updates(net, params, state, x, y)
    off = net.offsets()
    for lv in range(1, net.depth + 1):
        rows, cols = slice(off[lv], off[lv + 1]), slice(0, off[lv])
        plus = torch.einsum("bi,bj->ij", clamped[0][:, rows], clamped[0][:, cols]) / 6
        minus = torch.einsum("bi,bj->ij", free[0][:, rows], free[0][:, cols]) / 6
        assert torch.allclose(dw[lv - 1][0], -(plus - minus), atol=1e-12)
        bias = clamped[0][:, rows].mean(0) - free[0][:, rows].mean(0)
        assert torch.allclose(db[lv - 1][0], -bias, atol=1e-12)
    corr = [torch.einsum("bi,bj->ij", s[0], s[0]) / 6 for s in (clamped, free)]
    assert torch.allclose(dr[0], -0.5 * (corr[0] - corr[1]), atol=1e-12)
    out = free[0][:, off[-2]:]
    assert loss.item() == pytest.approx(0.5 * ((out - F.one_hot(y[0], 3)) ** 2).sum(1).mean())


def test_chl_becomes_backprop_as_gamma_shrinks():
    """Xie & Seung: with weak feedback the clamped-free difference at level k is γ^(L-k)
    times the backprop error, so every block's update points along the gradient of
    ½‖ŷ - y‖² of the feedforward net (per block, so γ^(L-k) drops out). Skip edges included."""
    net = compile_genome(skip_dag(5, 3, 4, 3, recurrent=False, act="sigmoid"))
    params, (x, y) = double(net, scale=2.0), batch()
    weights = [w.clone().requires_grad_() for w in params.weights]
    out, _ = forward(net, Params(weights, params.biases), x)
    cost = 0.5 * ((out - F.one_hot(y, 3)) ** 2).sum(-1).mean()
    grads = torch.autograd.grad(cost, weights)
    worst = []
    for gamma in (0.3, 0.03, 0.003):
        rule = CHL()
        state = rule.init_state(net, params, [genes(rule, gamma, 100, 100)], [0])
        dw, *_ = rule.energy_updates(net, params, state, x, y)
        worst.append(min(F.cosine_similarity(d.flatten(), g.flatten(), dim=0).item()
                         for d, g in zip(dw, grads)))
    assert worst[0] < worst[1] < worst[2] and worst[2] > 0.999, worst


def test_a_padded_population_trains_like_each_member_alone():
    data, rule = digits_subset(), rules.get_rule("chl")
    budget = rules.Budget(epochs=2, batch_size=32, patience=5)
    genomes, seeds = three_genomes(), [3, 4, 5]
    # relaxation genes by member too: each relaxes with its own γ and sweeps in the batch
    hyper = [{"gamma": 0.3, "free_steps": 5}, {"lr": 1e-2, "nudge_steps": 7},
             {"init_scale": 2.0}]
    net = stack([compile_genome(g) for g in genomes])
    together = rule.fit(net, data, hyper, budget, seeds)
    for p, (g, seed, h) in enumerate(zip(genomes, seeds, hyper)):
        alone = rule.fit(compile_genome(g), data, [h], budget, [seed])
        mine = member_params(net, together.params, p)
        if alone.params.recurrent is None:  # padding gave it an all-zero recurrent block
            assert mine.recurrent.abs().max() == 0
            mine.recurrent = None
        for a, b in zip(mine.tensors(), alone.params.tensors(), strict=True):
            assert torch.allclose(a, b, atol=1e-4), (p, (a - b).abs().max())
        assert together.valid_accuracy[p] == pytest.approx(alone.valid_accuracy[0], abs=1e-6)


def test_recurrent_edges_are_trained_and_the_net_still_learns():
    net = compile_genome(skip_dag(64, 10, 48, 24, recurrent=True))
    task = load_task("digits", seed=0)
    rule = rules.get_rule("chl")
    fit = rule.fit(net, task, {}, rules.Budget(epochs=6, batch_size=32, patience=6), [0])
    assert fit.status == ["ok"]
    mask = net.recurrent_mask
    moved = (fit.params.recurrent - init_params(net, [0]).recurrent).mul(mask).abs().max()
    assert moved > 1e-2
    assert fit.params.recurrent.mul(1 - mask).abs().max() == 0  # no edge the genome lacks
    test = rules.accuracy(rule.predict(net, fit.params, task.test.x), task.test.y).item()
    assert test > 0.8, test


def test_hyperparameters_and_registration():
    rule = rules.get_rule("chl")
    assert isinstance(rule, CHL) and rule.options() == {"kernel": "auto"}
    assert set(rule.hyperparameters().names()) == {"lr", "init_scale", "gamma", "free_steps",
                                                   "nudge_steps"}
