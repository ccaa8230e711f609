"""The rule owns its prediction: ``rule.to_module`` computes exactly ``rule.predict`` for every
registered rule (recurrent couplings included), and rule options are typed and recorded."""

from __future__ import annotations

import pytest
import torch
from netkit import skip_dag

import rules
from rules.registry import RuleOptionError
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene


def recurrent_genome() -> Genome:
    """in(6) -> A(5, tanh) -> out(3) with a skip, plus recurrent A->A and out->A."""
    nodes = (NodeGene(0, "input", 6), NodeGene(1, "output", 3), NodeGene(2, "hidden", 5, "tanh"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 1), ConnectionGene(2, 0, 1),
             ConnectionGene(3, 2, 2, recurrent=True), ConnectionGene(4, 1, 2, recurrent=True))
    return Genome(nodes, conns)


@pytest.mark.parametrize("name", rules.available())
@pytest.mark.parametrize("genome", [skip_dag(), recurrent_genome()], ids=["skip", "recurrent"])
def test_module_computes_the_rules_prediction(name, genome):
    rule = rules.get_rule(name)
    net = compile_genome(genome)
    params = init_params(net, [3], [1.0])
    if params.recurrent is not None:  # make the couplings matter
        params.recurrent.normal_(0.0, 0.3)
    x = torch.randn(17, net.n_inputs, generator=torch.Generator().manual_seed(0))
    module = rule.to_module(genome, params)
    with torch.no_grad():
        expected = rule.predict(net, params, x)[0]
        got = module(x)
    assert got.shape == (17, 3)
    assert torch.equal(got, expected)



@pytest.mark.parametrize("name", rules.available())
def test_a_module_moved_to_another_device_keeps_no_tensor_behind(name):
    """``module.to(device)`` must take every tensor its ``forward`` reads. Torch's ``meta``
    device stands in for a GPU on the CPU: an op mixing it with a host tensor raises as a
    CUDA one would. ff's prediction once read the compiled net's ``neuron_masks``, which no
    buffer held, and failed on a GPU only (tests/gpu_check.py found it on an H200). (A
    recurrent genome cannot stand in: ep's and chl's solve of recurrent couplings sizes a
    tensor from data, which the meta device does not hold.)"""
    genome = skip_dag()
    module = rules.get_rule(name).to_module(genome, init_params(compile_genome(genome), [3],
                                                                [1.0]))
    x = torch.randn(5, module.net.n_inputs).to("meta")
    with torch.no_grad():
        scores = module.to("meta")(x)
    assert scores.device.type == "meta" and scores.shape == (5, 3)

def test_relaxation_modules_differ_from_a_feedforward_pass():
    """The check above would be vacuous if ep's prediction were the feedforward pass."""
    genome = recurrent_genome()
    net = compile_genome(genome)
    params = init_params(net, [3], [1.0])
    params.recurrent.normal_(0.0, 0.3)
    x = torch.randn(17, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ep = rules.get_rule("ep").to_module(genome, params)(x)
        bp = rules.get_rule("bp").to_module(genome, params)(x)
    assert (ep - bp).abs().max() > 1e-3


def test_options_are_typed_and_reach_the_rule():
    ep = rules.get_rule("ep", {"symmetric": False})
    assert ep.options() == {"symmetric": False, "kernel": "auto"} and not ep.symmetric
    assert rules.get_rule("chl", {"kernel": "torch"}).kernel == "torch"
    assert rules.get_rule("ff", {"label_value": 4.0}).options() == {"label_value": 4.0}
    assert rules.get_rule("bp").options() == {}


@pytest.mark.parametrize("name, options, needle", [
    ("ep", {"free_step": 3}, "unknown option 'free_step'"),
    ("ep", {"symmetric": 1}, "symmetric expects a bool"),
    ("chl", {"kernel": 1}, "kernel expects a str"),
    ("chl", {"gamma": 0.5}, "'gamma' is a gene of the rule, not an option"),
    ("ep", {"free_steps": 3}, r"rule.hyperparameters.free_steps in a config"),
    ("bp", {"anything": 1}, "its options are: none"),
])
def test_bad_options_name_the_rule_and_key(name, options, needle):
    with pytest.raises(RuleOptionError, match=needle):
        rules.get_rule(name, options)


@pytest.mark.parametrize("name", ["ep", "chl"])
def test_a_members_relaxation_genes_are_what_its_module_relaxes_with(name):
    """γ and the sweep counts are genes: the module reads the member with its own, so a
    member trained under γ = 0.5 is not read under the default γ."""
    genome = recurrent_genome()
    net = compile_genome(genome)
    params = init_params(net, [3], [1.0])
    x = torch.randn(11, 6, generator=torch.Generator().manual_seed(0))
    rule = rules.get_rule(name)
    with torch.no_grad():
        default = rule.to_module(genome, params)(x)
        assert torch.equal(default, rule.to_module(genome, params, {"gamma": 0.1})(x))
        strong = rule.to_module(genome, params, {"gamma": 0.5})
        assert (strong(x) - default).abs().max() > 1e-4
        one_sweep = rule.to_module(genome, params, {"free_steps": 1})(x)
    assert (one_sweep - default).abs().max() > 1e-4
    assert "gamma=0.5" in repr(strong) and "free_steps=8" in repr(strong)
    with pytest.raises(rules.HyperparameterError, match="free_steps must be a whole number"):
        rule.to_module(genome, params, {"free_steps": 0})(x)
    # a count beyond the search's range (an option once allowed any) is still read
    with torch.no_grad():
        assert rule.to_module(genome, params, {"free_steps": 60})(x).shape == (11, 3)


def test_only_settings_that_were_options_move_from_options_to_genes():
    """ep's and chl's relaxation, recorded as options before it became genes, is read back
    as fixed genes; any other gene given as an option stays an option, which get_rule
    refuses."""
    assert rules.split_options("ep", {"gamma": 0.3, "symmetric": False}) == (
        {"symmetric": False}, {"gamma": 0.3})
    assert rules.split_options("pc", {"lr": 0.01}) == ({"lr": 0.01}, {})
    with pytest.raises(RuleOptionError, match="'lr' is a gene of the rule, not an option"):
        rules.get_rule("pc", {"lr": 0.01})


def test_options_change_the_prediction():
    """ff's label height is read at prediction time: a module rebuilt without the option
    would be a different model."""
    genome = skip_dag()
    net = compile_genome(genome)
    params = init_params(net, [1], [1.0])
    x = torch.randn(9, net.n_inputs, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a = rules.get_rule("ff").to_module(genome, params)(x)
        b = rules.get_rule("ff", {"label_value": 2.0}).to_module(genome, params)(x)
    assert not torch.allclose(a, b)
