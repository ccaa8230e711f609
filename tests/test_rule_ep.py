"""ep: its update is the gradient of the recurrent net's cost as β -> 0, and it trains."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from netkit import digits_subset, three_genomes

import rules
import rules.ep  # noqa: F401  (registers "ep")
from evolve.tasks import load_task
from rules.chl import Relaxation
from rules.ep import EP
from search_spaces.compile import compile_genome, init_params, member_params, stack
from search_spaces.genome import ConnectionGene, Genome, NodeGene
from search_spaces.net import Params


def recurrent_dag(n_in: int, n_out: int, a: int, b: int, output_loop: bool,
                  output: str = "identity") -> Genome:
    """in -> A(tanh) -> B(sigmoid) -> out, skips in->out, A->out, in->B; recurrent B->A,
    A->A, out->B (and out->out): three levels plus every kind of recurrent coupling."""
    nodes = (NodeGene(0, "input", n_in), NodeGene(1, "output", n_out, output),
             NodeGene(2, "hidden", a, "tanh"), NodeGene(3, "hidden", b, "sigmoid"))
    rec = [(3, 2), (2, 2), (1, 3)] + ([(1, 1)] if output_loop else [])
    conns = [ConnectionGene(i, s, d) for i, (s, d) in
             enumerate([(0, 2), (2, 3), (3, 1), (0, 1), (2, 1), (0, 3)])]
    conns += [ConnectionGene(10 + i, s, d, recurrent=True) for i, (s, d) in enumerate(rec)]
    return Genome(nodes, tuple(conns))


# -- the oracle: the same energy written densely, differentiated implicitly ---------------------
def dense_map(net, weights, biases, recurrent, r, x, output=lambda z: z):
    """F(r) = ρ(J_full r + b) on the non-input units, J_full = K + Kᵀ + ½(R̃ + R̃ᵀ)."""
    off, n = net.offsets(), net.n_neurons
    k = torch.zeros(n, n, dtype=torch.float64)
    for lv in range(1, net.depth + 1):
        block = torch.zeros(n, n, dtype=torch.float64)
        block[off[lv]:off[lv + 1], :off[lv]] = weights[lv - 1][0] * net.masks[lv - 1][0]
        k = k + block
    rec = recurrent[0] * net.recurrent_mask[0]
    h = torch.cat([x, r], 1) @ (k + k.T + 0.5 * (rec + rec.T)).T
    act = {1: torch.tanh, 2: torch.sigmoid, 3: output}  # the genome's, none clipped
    return torch.cat([act[lv](h[:, off[lv]:off[lv + 1]] + biases[lv - 1][0])
                      for lv in range(1, net.depth + 1)], 1)


def implicit_gradient(net, params, x, y, output):
    """Fixed point by damped iteration, then dC/dθ = λᵀ ∂F/∂θ with (I - ∂F/∂rᵀ) λ = ∂C/∂r."""
    theta = [t.clone().requires_grad_() for t in params.tensors()]
    ws, bs, rec = theta[:net.depth], theta[net.depth:2 * net.depth], theta[-1]
    with torch.no_grad():
        r = torch.zeros(x.shape[0], net.n_neurons - net.n_inputs, dtype=torch.float64)
        for _ in range(3000):
            r = 0.5 * r + 0.5 * dense_map(net, ws, bs, rec, r, x, output)
        assert (dense_map(net, ws, bs, rec, r, x, output) - r).abs().max() < 1e-12
    rr = r.clone().requires_grad_()
    cost = 0.5 * ((rr[:, -net.n_outputs:] - y) ** 2).sum(1).mean()
    dc_dr = torch.autograd.grad(cost, rr)[0].flatten()
    jac = torch.autograd.functional.jacobian(
        lambda v: dense_map(net, ws, bs, rec, v.view_as(r), x, output).flatten(), r.flatten())
    lam = torch.linalg.solve(torch.eye(jac.shape[0], dtype=jac.dtype) - jac.T, dc_dr)
    grads = torch.autograd.grad(dense_map(net, ws, bs, rec, r, x, output).flatten(), theta,
                                grad_outputs=lam)
    return r, torch.cat([g.flatten() for g in grads])


@pytest.mark.parametrize("output_loop, scale, output", [
    (False, 2.0, "identity"), (True, 1.0, "identity"), (False, 2.0, "sigmoid")])
def test_ep_update_approaches_the_implicit_gradient_as_beta_shrinks(output_loop, scale, output):
    """The 'gducheck' of Laborieux et al., against implicit differentiation at the free
    fixed point; every kind of recurrent edge, skips, and both output-level solvers."""
    net = compile_genome(recurrent_dag(5, 3, 4, 3, output_loop, output))
    p = init_params(net, [0], [scale])
    params = Params([w.double() for w in p.weights], [b.double() for b in p.biases],
                    p.recurrent.double())
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (6,), generator=gen)
    act = {"identity": lambda z: z, "sigmoid": torch.sigmoid}[output]
    r_star, true = implicit_gradient(net, params, x, F.one_hot(y, 3).double(), act)

    def estimate(beta: float, symmetric: bool) -> torch.Tensor:
        rule = EP(symmetric=symmetric)
        genes = {"lr": 1e-3, "init_scale": 1.0, "beta": beta, "gamma": 1.0,
                 "free_steps": 300, "nudge_steps": 300}
        # the rule relaxes to the oracle's fixed point
        free = rule.free_phase(net, params, x, Relaxation.of([genes]))
        assert torch.allclose(free[0, :, 5:], r_star, atol=1e-10)
        state = rule.init_state(net, params, [genes], [0])
        dw, db, dr, _ = rule.energy_updates(net, params, state, x[None], y[None])
        masked = [d * m for d, m in zip(dw, net.masks)] + db + [dr * net.recurrent_mask]
        return torch.cat([t.flatten() for t in masked])

    cos, err = [], []
    for beta in (0.2, 0.05, 0.01):
        e = estimate(beta, symmetric=False)
        cos.append(F.cosine_similarity(e, true, dim=0).item())
        err.append(((e - true).norm() / true.norm()).item())
    assert cos[0] < cos[1] < cos[2] and cos[2] > 0.999, cos
    assert err[0] > err[1] > err[2] and err[2] < 0.1, err
    sym = estimate(0.01, symmetric=True)  # the ±β estimate removes the O(β) bias
    assert F.cosine_similarity(sym, true, dim=0) > 0.99999
    assert (sym - true).norm() / true.norm() < 0.1 * err[2]


def test_a_padded_population_trains_like_each_member_alone():
    data, rule = digits_subset(), rules.get_rule("ep")
    budget = rules.Budget(epochs=2, batch_size=32, patience=5)
    genomes, seeds = three_genomes(), [3, 4, 5]
    hyper = [{"beta": 0.1, "free_steps": 12, "gamma": 0.5}, {"beta": 0.3, "lr": 1e-2}, {}]
    net = stack([compile_genome(g) for g in genomes])
    together = rule.fit(net, data, hyper, budget, seeds)
    for p, (g, seed, h) in enumerate(zip(genomes, seeds, hyper)):
        single = compile_genome(g)
        alone = rule.fit(single, data, [h], budget, [seed])
        mine = member_params(net, together.params, p)
        if alone.params.recurrent is None:  # padding gave it an all-zero recurrent block
            assert mine.recurrent.abs().max() == 0
            mine.recurrent = None
        for a, b in zip(mine.tensors(), alone.params.tensors(), strict=True):
            assert torch.allclose(a, b, atol=1e-4), (p, (a - b).abs().max())
        assert together.valid_accuracy[p] == pytest.approx(alone.valid_accuracy[0], abs=1e-6)


def test_recurrent_edges_are_trained_and_the_net_still_learns():
    genome = recurrent_dag(64, 10, 48, 24, output_loop=True)
    net = compile_genome(genome)
    task = load_task("digits", seed=0)
    rule = rules.get_rule("ep")
    fit = rule.fit(net, task, {}, rules.Budget(epochs=6, batch_size=32, patience=6), [0])
    assert fit.status == ["ok"]
    initial = init_params(net, [0])
    mask = net.recurrent_mask
    assert (fit.params.recurrent - initial.recurrent).mul(mask).abs().max() > 1e-2
    assert fit.params.recurrent.mul(1 - mask).abs().max() == 0  # no edge the genome lacks
    test = rules.accuracy(rule.predict(net, fit.params, task.test.x), task.test.y).item()
    assert test > 0.8, test


def test_hyperparameters_and_registration():
    rule = rules.get_rule("ep")
    assert isinstance(rule, EP) and rule.symmetric
    assert set(rule.hyperparameters().names()) == {"lr", "init_scale", "beta", "gamma",
                                                   "free_steps", "nudge_steps"}
    with pytest.raises(rules.HyperparameterError, match="beta"):
        rule.hyperparameters().resolve({"beta": 1.5})
