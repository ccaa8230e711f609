"""The fused pc relaxation kernel, run by Triton's CPU interpreter, against the torch path:
padded populations with mixed activations, skip edges and a different T and γ per member —
relaxed states and the weight updates made from them within 1e-4."""

from __future__ import annotations

import os

os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is first imported

import pytest  # noqa: E402
import torch  # noqa: E402
from netkit import load_script, mlp  # noqa: E402

from rules.kernels import pc_relax  # noqa: E402
from rules.local import one_hot  # noqa: E402
from rules.pc import local_updates, relax  # noqa: E402
from search_spaces.compile import compile_genome, init_params, stack  # noqa: E402
from search_spaces.genome import ConnectionGene, Genome, NodeGene  # noqa: E402


def mixed_dag() -> Genome:
    """Three hidden levels with skip edges; level 1 mixes tanh and relu groups, and every
    activation the search space knows appears somewhere."""
    nodes = (NodeGene(0, "input", 7), NodeGene(1, "output", 4),
             NodeGene(2, "hidden", 5, "tanh"), NodeGene(3, "hidden", 3, "relu"),
             NodeGene(4, "hidden", 4, "sigmoid"), NodeGene(5, "hidden", 6, "elu"),
             NodeGene(6, "hidden", 2, "hardsigmoid"))
    edges = [(0, 2), (0, 3), (2, 4), (3, 4), (4, 5), (0, 5), (5, 1), (2, 1), (0, 6), (6, 5)]
    return Genome(nodes, tuple(ConnectionGene(i, s, d) for i, (s, d) in enumerate(edges)))


def population():
    genomes = [mixed_dag(), mlp([7, 9, 4], "tanh"), mlp([7, 5, 6, 4], "sigmoid"),
               mlp([7, 4])]  # the last has no hidden level: nothing moves
    return padded_problem(genomes, seed=0)


def padded_problem(genomes, seed: int):
    """The four ``genomes`` as one padded population, their parameters, a batch of inputs
    and one-hot targets per member."""
    net = stack([compile_genome(g) for g in genomes])
    params = init_params(net, [11, 12, 13, 14], [1.5] * 4)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(21, 7, generator=gen)  # 21: not a multiple of the batch tile
    y = torch.randint(0, 4, (4, 21), generator=gen)
    return net, params, x, one_hot(y, 4)


STEPS = torch.tensor([20, 7, 13, 20])
GAMMA = torch.tensor([0.1, 0.3, 0.05, 0.1])


def reference(net, params, x, target):
    return relax(net, params, x, target, STEPS, GAMMA).states


def start(net, params, x, target):
    return relax(net, params, x, target, 0, 0.0).states  # the feedforward start


@pytest.mark.parametrize("solver", ["dense-torch", "triton"])
def test_relaxed_states_and_updates_match_the_torch_path(solver):
    net, params, x, target = population()
    problem = pc_relax.dense_problem(net, params, x, start(net, params, x, target))
    run = pc_relax.relax_triton if solver == "triton" else pc_relax.relax_dense_torch
    states = pc_relax.states_from_dense(net, run(problem, STEPS, GAMMA), x, target)
    expected = reference(net, params, x, target)
    assert len(states) == len(expected)
    for mine, theirs in zip(states, expected, strict=True):
        torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=0)
    moved = (expected[1] - start(net, params, x, target)[1]).abs().max()
    assert moved > 1e-2  # the check above would be vacuous if nothing relaxed
    for mine, theirs in zip(local_updates(net, params, states)[:2],
                            local_updates(net, params, expected)[:2], strict=True):
        for a, b in zip(mine, theirs, strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_a_member_alone_relaxes_as_in_the_population():
    net, params, x, target = population()
    problem = pc_relax.dense_problem(net, params, x, start(net, params, x, target))
    together = pc_relax.relax_triton(problem, STEPS, GAMMA)
    alone_net = compile_genome(mixed_dag())
    alone_params = init_params(alone_net, [11], [1.5])
    alone = pc_relax.dense_problem(alone_net, alone_params, x,
                                   start(alone_net, alone_params, x, target[:1]))
    relaxed = pc_relax.relax_triton(alone, STEPS[:1], GAMMA[:1])
    mine = pc_relax.states_from_dense(alone_net, relaxed, x, target[:1])
    theirs = pc_relax.states_from_dense(net, together, x, target)
    for level in range(1, alone_net.depth):
        n = mine[level].shape[2]
        torch.testing.assert_close(mine[level][0], theirs[level][0, :, :n], atol=1e-5, rtol=0)


def test_pc_trains_the_same_with_the_kernel_as_with_torch():
    """A short fit through the rule, kernel='triton' (interpreted) vs kernel='torch'."""
    from netkit import digits_subset

    import rules

    data = digits_subset(n_train=96, n_valid=48)
    net = stack([compile_genome(mlp([64, 12, 10], "tanh")),
                 compile_genome(mlp([64, 8, 6, 10], "relu"))])
    budget = rules.Budget(epochs=1, batch_size=32, patience=1)
    hyper = [{"steps": 12}, {"steps": 5, "state_step": 0.2}]
    fits = [rules.get_rule("pc", {"kernel": k}).fit(net, data, hyper, budget, [1, 2])
            for k in ("torch", "triton")]
    for a, b in zip(fits[0].params.tensors(), fits[1].params.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert fits[0].valid_accuracy == pytest.approx(fits[1].valid_accuracy, abs=1e-9)


def test_kernel_option_is_checked():
    import rules
    from rules.registry import RuleOptionError

    with pytest.raises(RuleOptionError, match="kernel must be one of"):
        rules.get_rule("pc", {"kernel": "cuda"})
    assert rules.get_rule("pc").options() == {"kernel": "auto"}


def test_the_kernel_benchmark_runs_and_says_what_it_timed(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "kernels.py"
    out = tmp_path / "k.json"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, str(script), "--quick", "--json", str(out),
                             "--budget-s", "0"],
                            capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["rows"] and all(r["torch_s"] > 0 and r["dense_s"] > 0 for r in data["rows"])
    assert {r["rule"] for r in data["rows"]} == {"pc", "ep", "chl"}
    # every row checks the path it times against the reference (a fast kernel that computes
    # something else is caught in the run that times it)
    assert all(0 <= r["dense_error"] < 1e-5 for r in data["rows"])
    # no compile starts past --budget-s, and the row says why its column is empty
    assert all(r["compiled_s"] is None and r["compiled_failure"].startswith("skipped")
               for r in data["rows"])
    if data["device"] == "cpu":
        assert "torch paths only" in result.stdout
        assert all(r["triton_s"] is None for r in data["rows"])  # never estimated


def test_the_kernel_benchmark_checks_each_kernel_variant_it_times(monkeypatch):
    """The Triton columns (``--warps`` variants too) are checked against the reference in
    the run that times them. Run here through Triton's interpreter, as if on CUDA: the
    plumbing of every variant is exercised, and their errors are real (the interpreter
    ignores num_warps, which only a GPU can time)."""
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "kernels.py"
    bench = load_script(script)
    monkeypatch.setattr(bench, "on_cuda", lambda device: True)
    monkeypatch.setattr(bench, "synchronizer", lambda device: (lambda: None))
    pc_row, _ = bench.case(2, 6, "cpu", 1, warps=(8,))
    ep_row, _ = bench.energy_case("ep", 1, 6, "cpu", 1, False, warps=(2,))
    for row, keys in ((pc_row, ("triton", "triton_w8")),
                      (ep_row, ("triton", "triton_w2"))):
        for key in keys:
            assert row[f"{key}_s"] > 0 and 0 <= row[f"{key}_error"] < 1e-5, (key, row)


def test_the_kernel_benchmark_times_triton_on_any_cuda_device():
    """``--device cuda:0`` is a CUDA device as much as ``cuda`` (the Triton column was
    skipped for it); an unknown device is refused naming the option."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "kernels.py"
    bench = load_script(script)
    assert bench.on_cuda("cuda") and bench.on_cuda("cuda:0") and bench.on_cuda("cuda:1")
    assert not bench.on_cuda("cpu") and not bench.on_cuda("meta")
    refused = ["gpu0", "meta"]  # meta is a torch device, but none the benchmark can time on
    if not torch.cuda.is_available():
        refused.append("cuda")  # said in one line, not a traceback from the first .to()
    for device in refused:
        result = subprocess.run([sys.executable, str(script), "--device", device],
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 2 and f"--device '{device}'" in result.stderr.splitlines()[-1]
        assert "Traceback" not in result.stderr
    # --warps times only the kernels, which run on CUDA alone: refused before any timing
    # rather than ending minutes of torch timings with an empty table of warps
    result = subprocess.run([sys.executable, str(script), "--device", "cpu", "--warps", "4,8"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "--warps: the kernels are timed on CUDA only" in \
        result.stderr.splitlines()[-1]


# -- ep / chl: the relaxation phases ---------------------------------------------------------
def energy_dag(output: str, output_loop: bool) -> Genome:
    """:func:`mixed_dag`'s levels and skip edges plus recurrent couplings: a hidden self-loop,
    output -> hidden feedback and, with ``output_loop``, couplings inside the output level
    (which a linear output solves exactly)."""
    base = mixed_dag()
    nodes = tuple(NodeGene(n.id, "output", n.size, output) if n.role == "output" else n
                  for n in base.nodes)
    extra = [ConnectionGene(20, 4, 4, recurrent=True), ConnectionGene(21, 1, 3, recurrent=True)]
    if output_loop:
        extra.append(ConnectionGene(22, 1, 1, recurrent=True))
    return Genome(nodes, (*base.connections, *extra))


def with_output(genome: Genome, output: str) -> Genome:
    return genome.with_changes(nodes=tuple(
        NodeGene(n.id, "output", n.size, output) if n.role == "output" else n
        for n in genome.nodes))


def energy_population(output: str):
    """A padded population with mixed activations, skip edges, recurrent couplings and a
    member with no hidden level; a linear output (``identity``) also gets couplings inside
    the output level, a nonlinear one has no exact solve to make."""
    linear = output == "identity"
    genomes = [energy_dag(output, linear), with_output(mlp([7, 9, 4], "tanh"), output),
               with_output(mlp([7, 5, 6, 4], "sigmoid"), output), with_output(mlp([7, 4]), output)]
    return padded_problem(genomes, seed=1)


SWEEPS = torch.tensor([5, 2, 3, 5])  # a different sweep count per member
ENERGY_GAMMA = torch.tensor([0.5, 0.3, 1.0, 0.7])
ENERGY_BETA = torch.tensor([0.1, -0.2, 0.3, 0.05])


def per_member_torch(net, c, start, steps, **phase):
    """The torch path (one sweep count for all) run once per distinct count, each member
    read from the run with its own count."""
    from rules.chl import relax as torch_relax

    out = torch.empty_like(start)
    for count in torch.unique(steps).tolist():
        relaxed = torch_relax(net, c, start.clone(), int(count), **phase)
        out[steps == count] = relaxed[steps == count]
    return out


@pytest.mark.parametrize("output", ["identity", "tanh"])
@pytest.mark.parametrize("solver", ["dense-torch", "triton"])
def test_energy_phases_match_the_torch_path(output, solver):
    """Free, clamped and ±β-nudged phases, both sweep orders, per-member sweeps, γ and β."""
    from rules.chl import couplings, initial_state
    from rules.chl import relax as torch_relax
    from rules.kernels import energy_relax

    net, params, x, target = energy_population(output)
    c = couplings(net, params, ENERGY_GAMMA)
    assert (c.out_self is not None) == (output == "identity")  # the exact solve is covered
    start = torch_relax(net, c, initial_state(net, x, torch.float32), 2)
    beta = ENERGY_BETA.view(-1, 1, 1)
    phases = {"free": {}, "clamped": {"target": target},
              "plus": {"target": target, "beta": beta}, "minus": {"target": target, "beta": -beta}}
    for down_first in (False, True):
        for name, phase in phases.items():
            expected = per_member_torch(net, c, start, SWEEPS, down_first=down_first, **phase)
            mine = energy_relax.relax(net, c, start.clone(), SWEEPS, down_first=down_first,
                                      solver=solver, **phase)
            torch.testing.assert_close(mine, expected, atol=1e-4, rtol=0, msg=name)
            hidden = slice(net.n_inputs, net.offsets()[net.depth])
            assert (expected[:, :, hidden] - start[:, :, hidden]).abs().max() > 1e-2, name


@pytest.mark.parametrize("rule_name", ["ep", "chl"])
def test_energy_updates_match_the_torch_path(rule_name):
    """The rule's weight, bias and recurrent updates, kernel='triton' vs kernel='torch'."""
    import rules

    net, params, x, target = energy_population("identity")
    y = target.argmax(dim=2)
    # each member relaxes with its own γ and sweep counts (the kernel's per-member loop
    # against the torch path's masked one)
    hyper = [{"lr": 1e-3, "init_scale": 1.0, "beta": float(abs(b)), "gamma": gamma,
              "free_steps": free, "nudge_steps": nudge}
             for b, gamma, free, nudge in zip(ENERGY_BETA, (0.1, 0.5, 1.0, 0.1), (3, 2, 3, 1),
                                              (2, 2, 1, 3), strict=True)]
    results = []
    for kernel in ("torch", "triton"):
        rule = rules.get_rule(rule_name, {"kernel": kernel})
        state = rule.init_state(net, params, hyper, [0, 1, 2, 3])
        results.append(rule.energy_updates(net, params, state, x, y))
    (dw, db, dr, loss), (dw_k, db_k, dr_k, loss_k) = results
    assert dr is not None and dr.abs().max() > 0  # the recurrent updates are compared too
    for a, b in zip([*dw, *db, dr, loss], [*dw_k, *db_k, dr_k, loss_k], strict=True):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0)


@pytest.mark.parametrize("rule_name", ["ep", "chl"])
def test_energy_rules_train_the_same_with_the_kernel_as_with_torch(rule_name):
    """A short fit on digits through the rule, kernel='triton' (interpreted) vs 'torch'."""
    from netkit import digits_subset

    import rules

    data = digits_subset(n_train=64, n_valid=32)
    net = stack([compile_genome(mlp([64, 8, 10], "tanh")),
                 compile_genome(mlp([64, 6, 5, 10], "relu"))])
    budget = rules.Budget(epochs=1, batch_size=32, patience=1)
    hyper = [{"free_steps": 3, "nudge_steps": 2}, {"free_steps": 2, "nudge_steps": 3}]
    fits = [rules.get_rule(rule_name, {"kernel": k}).fit(net, data, hyper, budget, [1, 2])
            for k in ("torch", "triton")]
    for a, b in zip(fits[0].params.tensors(), fits[1].params.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert fits[0].valid_accuracy == pytest.approx(fits[1].valid_accuracy, abs=1e-9)


@pytest.mark.parametrize("rule_name", ["ep", "chl"])
def test_energy_kernel_option_is_checked(rule_name):
    import rules
    from rules.registry import RuleOptionError

    with pytest.raises(RuleOptionError, match=f"rule {rule_name}: option kernel must be one of"):
        rules.get_rule(rule_name, {"kernel": "gpu"})
    assert rules.get_rule(rule_name).options()["kernel"] == "auto"


def test_auto_takes_the_kernel_only_for_nets_small_enough_to_gain():
    """``auto`` relaxes CUDA tensors in Triton up to AUTO_MAX_ROWS non-input neurons, where an
    H200 measured the kernel faster (25x pc, 2x ep/chl at 64 rows; at 128, on each kernel's
    WARPS, 1.0-2.6x pc and 1.8-2.8x ep/chl), and in torch above; an explicit ``triton``
    still takes every net the kernel can hold."""
    from types import SimpleNamespace

    from rules.kernels import dispatch, triton_available

    assert triton_available()  # the kernels extra is installed wherever the suite runs
    on_gpu = SimpleNamespace(is_cuda=True)  # use_triton reads only where x lives
    limit = dispatch.AUTO_MAX_ROWS
    assert dispatch.use_triton("pc", "auto", on_gpu, True, limit)
    assert not dispatch.use_triton("pc", "auto", on_gpu, True, limit + 1)
    assert not dispatch.use_triton("pc", "auto", on_gpu, False, 8)  # does not fit at all
    assert not dispatch.use_triton("pc", "auto", SimpleNamespace(is_cuda=False), True, 8)
    assert dispatch.use_triton("ep", "triton", on_gpu, True, limit + 1)
    assert not dispatch.use_triton("ep", "torch", on_gpu, True, 8)


def test_the_kernels_hold_no_block_that_a_gpu_cannot():
    """A 256-row block needs 272 KB of shared memory, over an H100/H200's 227 KB per block
    (Triton's OutOfResources on an H200, benchmarks/results/kernels_gpu.json): the kernels
    take at most 128 rows, and a larger net is not offered to them."""
    from rules.kernels import energy_relax

    assert pc_relax.MAX_ROWS == energy_relax.MAX_ROWS == 128
    wide = stack([compile_genome(mlp([64, 60, 60, 10], "tanh"))])  # 130 non-input neurons
    assert not energy_relax.fits(wide)
    assert energy_relax.fits(stack([compile_genome(mlp([64, 59, 59, 10], "tanh"))]))


def test_pc_precision_is_made_on_the_states_device():
    """The output precision Π_L is made where the states live: the fused path's feedforward
    start passes the scalar default, and a [P] tensor on the host failed every CUDA
    minibatch ("Expected all tensors to be on the same device", seen on an H200, where a
    default pc search lost every candidate with a hidden level)."""
    from rules.pc import _precision

    made = _precision(0.5, 3, torch.float32, torch.device("meta"))
    assert made.device.type == "meta" and made.shape == (3, 1, 1)
    with pytest.raises(ValueError, match="output_precision must be > 0"):
        _precision(torch.tensor([1.0, 0.0, 1.0]), 3, torch.float32, torch.device("cpu"))


def test_auto_falls_back_to_torch_only_when_the_gpu_cannot_hold_the_kernel():
    from triton.runtime.errors import OutOfResources

    from rules.kernels.dispatch import run_fused

    def too_big():
        raise OutOfResources(300_000, 232_448, "shared memory")

    with pytest.warns(RuntimeWarning, match="rule ep: the fused kernel does not fit"):
        assert run_fused("ep", "auto", too_big, lambda: "torch") == "torch"
    with pytest.raises(OutOfResources):  # asked for explicitly: the error stands
        run_fused("ep", "triton", too_big, lambda: "torch")

    def broken():
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):  # anything else is never hidden
        run_fused("ep", "auto", broken, lambda: "torch")
    assert run_fused("pc", "auto", lambda: "fused", lambda: "torch") == "fused"


def test_relative_error_is_zero_for_equal_results_and_nan_for_nan():
    """The benchmarks' and gpu_check's one measure of how far a kernel is from torch."""
    from rules.kernels import relative_error

    a = torch.tensor([3.0, 4.0])
    assert relative_error(a, a.clone()) == 0.0
    assert relative_error([a, a], [a + 1, a]) == pytest.approx((2 / (41 + 25)) ** 0.5)
    assert relative_error(a, torch.tensor([0.0, 0.0])) == 5.0  # no norm: the absolute error
    assert relative_error(a, torch.tensor([float("nan"), 1.0])) != \
        relative_error(a, torch.tensor([float("nan"), 1.0]))  # NaN, which no tolerance passes
