"""Small builders and views shared by the rule tests (imported as ``from netkit import ...``;
pytest puts this folder on the import path)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import torch

import rules
from evolve.tasks import load_task
from rules.local import cross_entropy
from search_spaces.compile import compile_genome, init_params
from search_spaces.genome import ConnectionGene, Genome, NodeGene, layered
from search_spaces.net import Net, Params, forward


def mlp(sizes: list[int], activation: str = "relu") -> Genome:
    """A layered genome: input group, one hidden group per inner size, output group."""
    return layered(sizes, activation)


def skip_dag() -> Genome:
    """in(5) -> A(4, tanh) -> B(3, sigmoid) -> out(3), plus skips in -> B and A -> out."""
    nodes = (NodeGene(0, "input", 5), NodeGene(1, "output", 3), NodeGene(2, "hidden", 4, "tanh"),
             NodeGene(3, "hidden", 3, "sigmoid"))
    conns = (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 3), ConnectionGene(2, 3, 1),
             ConnectionGene(3, 0, 3), ConnectionGene(4, 2, 1))
    return Genome(nodes, conns)


def digits_subset(n_train: int = 240, n_valid: int = 120) -> SimpleNamespace:
    task = load_task("digits", seed=0)
    return SimpleNamespace(
        train=SimpleNamespace(x=task.train.x[:n_train], y=task.train.y[:n_train]),
        valid=SimpleNamespace(x=task.valid.x[:n_valid], y=task.valid.y[:n_valid]))


def three_genomes() -> list[Genome]:
    """A batch for ep/chl: 64-32-10 with recurrent out->hidden and hidden->hidden edges
    (padded, its hidden-output gap of 1 spans 2 padded levels), 64-16-16-10 with a skip
    input->output, and 64-10."""
    with_recurrence = mlp([64, 32, 10], "tanh")
    with_recurrence = with_recurrence.with_changes(connections=(
        *with_recurrence.connections, ConnectionGene(7, 1, 2, recurrent=True),
        ConnectionGene(8, 2, 2, recurrent=True)))
    deep = mlp([64, 16, 16, 10], "sigmoid")
    deep = deep.with_changes(connections=(*deep.connections, ConnectionGene(9, 0, 1)))
    return [with_recurrence, deep, mlp([64, 10])]


# -- views of one genome node inside a single compiled Net ------------------------------------
def cols(net: Net, node: int) -> slice:
    lv, a, b = net.members[0].node_slices[node]
    start = sum(net.members[0].level_sizes[:lv])
    return slice(start + a, start + b)


def rows(net: Net, node: int) -> tuple[int, slice]:
    lv, a, b = net.members[0].node_slices[node]
    return lv - 1, slice(a, b)


def block(net: Net, blocks, src: int, dst: int) -> torch.Tensor:
    i, r = rows(net, dst)
    return blocks[i][0, r, cols(net, src)]


def bias(net: Net, biases, node: int) -> torch.Tensor:
    i, r = rows(net, node)
    return biases[i][0, r]


def make_setup(rule_name: str):
    """``setup(genome, hyper, seed) -> (net, rule, params, state)`` for one rule."""
    def setup(genome: Genome, hyper: dict | None = None, seed: int = 3):
        net = compile_genome(genome)
        rule = rules.get_rule(rule_name)
        h = rule.hyperparameters().resolve(hyper or {})
        params = init_params(net, [seed], [h["init_scale"]])
        state = rule.init_state(net, params, [h], [seed])
        return net, rule, params, state
    return setup


# -- gradients to compare against ---------------------------------------------------------------
def data(net: Net, batch: int = 7, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(net.population, batch, net.n_inputs, generator=gen)
    return x, torch.randint(0, net.n_outputs, (net.population, batch), generator=gen)


def bp_gradients(net: Net, params: Params, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """Autograd of the same per-member mean cross-entropy (summed over members)."""
    tensors = [t.detach().clone().requires_grad_(True) for t in [*params.weights, *params.biases]]
    leaf = Params(tensors[:net.depth], tensors[net.depth:])
    loss = cross_entropy(forward(net, leaf, x)[0], y).sum()
    return list(torch.autograd.grad(loss, tensors))


def masked(net: Net, dw: list[torch.Tensor], db: list[torch.Tensor]) -> list[torch.Tensor]:
    return [d * m for d, m in zip([*dw, *db], [*net.masks, *net.neuron_masks], strict=True)]


def load_script(path: Path) -> ModuleType:
    """A script (a benchmark, tests/gpu_check.py) imported as a module, without running its
    ``main``, so a test can call its functions."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
