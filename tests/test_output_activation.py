"""Any output activation: fa and dfa include the output's derivative and lra its scores, so
with feedback equal to the forward weights they are still exactly bp (with a sigmoid or tanh
output they used to miss f'(z_L): cosine 0.94-0.99 to bp's gradient)."""

from __future__ import annotations

import pytest
import torch
from netkit import bp_gradients, data, masked

from rules.dfa import dfa_updates
from rules.fa import fa_updates
from rules.local import level_columns
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene


def net_with_output(activation: str, skip: bool):
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 4, activation),
             NodeGene(2, "hidden", 5, "tanh"))
    edges = [(0, 2), (2, 1)] + ([(0, 1)] if skip else [])
    genome = Genome(nodes, tuple(ConnectionGene(i, s, d) for i, (s, d) in enumerate(edges)))
    net = compile_genome(genome)
    return net, init_params(net, [5], [2.0])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "elu"])
def test_fa_with_b_equal_w_is_bp_for_any_output_activation(activation):
    net, params = net_with_output(activation, skip=True)
    x, y = data(net)
    dw, db, _ = fa_updates(net, params, [w.clone() for w in params.weights], x, y)
    for mine, true in zip(masked(net, dw, db), bp_gradients(net, params, x, y), strict=True):
        torch.testing.assert_close(mine, true, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_dfa_with_d_from_w_out_is_bp_for_any_output_activation(activation):
    net, params = net_with_output(activation, skip=False)
    x, y = data(net)
    top = params.weights[-1] * net.masks[-1]
    dw, db, _ = dfa_updates(net, params, [top[:, :, level_columns(net, 1)].clone()], x, y)
    for mine, true in zip(masked(net, dw, db), bp_gradients(net, params, x, y), strict=True):
        torch.testing.assert_close(mine, true, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_lra_output_update_is_bps_for_any_output_activation(activation):
    import rules

    rule = rules.get_rule("lra")
    net, params = net_with_output(activation, skip=True)
    x, y = data(net)
    state = rule.init_state(net, params, [rule.hyperparameters().defaults()], [5])
    dw, db, _ = rule.updates(net, params, state, x, y)
    grads = bp_gradients(net, params, x, y)
    torch.testing.assert_close(dw[-1] * net.masks[-1], grads[net.depth - 1], atol=1e-6,
                               rtol=1e-5)
    torch.testing.assert_close(db[-1] * net.neuron_masks[-1], grads[-1], atol=1e-6, rtol=1e-5)
