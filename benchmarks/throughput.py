"""Evaluation throughput: what training candidates as padded population batches earns.

A real generation — the genomes and hyperparameters of the last generation of a seeded
default search (digits, neat-pso) — is trained three ways side by side in one run, for bp
and pc, with the same budget:

- ``chunked``: in padded chunks as the search plans them (evolve/chunking.py);
- ``alone``: each candidate alone through the same ``rule.fit``;
- ``plain``: each candidate as an ordinary torch module (its masked level blocks as
  ``nn.Parameter`` s) trained with ``torch.optim.Adam`` on cross-entropy — bp only, the
  yardstick a user would write by hand (pc has no plain counterpart).

Chunks are planned as the search plans them: by shape, each member's work weighted by the
rule's step cost, in the fewest chunks whose weighted padding stays within the bound, each
chunk laid out costliest first (pc then relaxes each member for its own ``steps`` only, on a
shrinking prefix of the chunk). pc is also trained in the shape-only plan (step costs
ignored, members in shape order: every member of a chunk relaxes for the chunk's largest
``steps``), to show what the cost-aware plan earns.

Also: each chunk's padded work over its members' own work (multiply-adds through the level
blocks, times the step cost), the share of this machine's measured matmul peak that
chunked bp reaches, and 32 identical 64-128-10 tanh nets trained as one padded population
vs as plain ``nn.Sequential`` + Adam one after another.

Times are both wall seconds and this process's CPU seconds (torch runs one thread here, so
CPU time is the work done, and moves less than wall time when other programs share the
machine); ratios are of times taken in the same run. Every timing is run ``--repeats``
times (default 3) interleaved with what it is compared to, and its fastest run counts.

Last, pc's training time over bp's on one mnist1d 40-100-100-10 relu net (the same
epochs, no early stopping), and pc on eight such nets whose members relax for 5-40 steps,
laid out by steps (members done with theirs leave the relaxation) against another order
(every member relaxes for the largest steps).

``--patience N`` trains the generation with early stopping (the search's default is 5)
instead of full epochs: stopped members leave their chunk's stack, so chunked vs alone shows
what that saves (the plain modules, the identical nets and mnist1d keep full epochs, so
"vs plain" and the GFLOP/s then compare unequal work).

``--parts`` also times the pieces of one training step of the 32 identical nets (minibatch
gather, forward and loss, backward, gradient masks, Adam; microseconds, fastest of seven
rounds), which says where a population step spends its time.

    python benchmarks/throughput.py [--quick] [--patience N] [--repeats N] [--parts]
                                    [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402

import evolve  # noqa: E402
import rules  # noqa: E402
from evolve.chunking import Shape, padding_ratio, plan_chunks, rule_step_cost  # noqa: E402
from evolve.config import SearchConfig, override  # noqa: E402
from evolve.evaluate import derive_seed  # noqa: E402
from evolve.strategies.base import Candidate  # noqa: E402
from evolve.tasks import load_task  # noqa: E402
from search_spaces.compile import compile_genome, init_params, stack  # noqa: E402
from search_spaces.genome import ConnectionGene, Genome, NodeGene, layered  # noqa: E402
from search_spaces.net import forward  # noqa: E402


def default_generation(quick: bool) -> list[Candidate]:
    """The last generation of a seeded default search (short training: only its genomes
    and hyperparameters are used)."""
    settings = {"generations": 4 if quick else 8, "seed": 0, "rule": {"name": "pc"},
                "training": {"epochs": 2, "patience": 2}, "executor": {"name": "serial"}}
    with tempfile.TemporaryDirectory() as out:
        run = evolve.search(override(SearchConfig(), {**settings, "out": out}), reporters=())
        rows = run.evaluations().to_pylist()
    last = max(r["generation"] for r in rows)
    return [Candidate(r["candidate_id"], r["generation"], Genome.from_json(r["genome"]),
                      json.loads(r["hyperparameters"]))
            for r in rows if r["generation"] == last]


def fit(rule_name: str, cands: list[Candidate], task, budget: rules.Budget) -> None:
    rule = rules.get_rule(rule_name)
    net = stack([compile_genome(c.genome) for c in cands])
    hyper = [{k: v for k, v in c.hyperparameters.items()
              if k in rule.hyperparameters().names()} for c in cands]
    rule.fit(net, task, hyper, budget, [derive_seed(0, c.generation, c.id) for c in cands])


def plain_bp(cand: Candidate, task, budget: rules.Budget) -> None:
    """One candidate as an ordinary torch module with torch.optim.Adam, same minibatches."""
    net = compile_genome(cand.genome)
    params = init_params(net, [1], [cand.hyperparameters.get("init_scale", 1.0)])
    module = rules.get_rule("bp").to_module(cand.genome, params)
    optimiser = torch.optim.Adam(module.parameters(), lr=cand.hyperparameters.get("lr", 3e-3))
    x, y = task.train.x, task.train.y
    n, batch = len(y), min(budget.batch_size, len(y))
    gen = torch.Generator().manual_seed(1)
    for _ in range(budget.epochs):
        order = torch.randperm(n, generator=gen)
        for start in range(0, n - batch + 1, batch):
            idx = order[start:start + batch]
            optimiser.zero_grad()
            nn.functional.cross_entropy(module(x[idx]), y[idx]).backward()
            optimiser.step()
        with torch.no_grad():
            module(task.valid.x)


def timed(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


REPEATS = 3  # --repeats


def best_of(*fns) -> list[tuple[float, float]]:
    """``timed`` of each of ``fns``, run :data:`REPEATS` times interleaved (a, b, a, b, ...),
    keeping each one's fastest run by CPU time: programs sharing the machine only ever slow
    a run down, so the minimum is the least disturbed one, and interleaving exposes every
    side of a ratio to the same hours of load."""
    runs: list[list[tuple[float, float]]] = [[] for _ in fns]
    for _ in range(REPEATS):
        for out, fn in zip(runs, fns, strict=True):
            out.append(timed(fn))
    return [min(out, key=lambda t: t[1]) for out in runs]


def matmul_peak() -> float:
    """GFLOP/s of a large float32 matmul on this machine (the yardstick for shares)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    a @ b
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    return 10 * 2 * 1024**3 / (time.perf_counter() - started) / 1e9


def tanh_net() -> Genome:
    """The 64-128-10 tanh net of the identical-nets comparison."""
    nodes = (NodeGene(0, "input", 64), NodeGene(1, "output", 10),
             NodeGene(2, "hidden", 128, "tanh"))
    return Genome(nodes, (ConnectionGene(0, 0, 2), ConnectionGene(1, 2, 1)))


def step_parts(task, batch: int, count: int = 32) -> dict[str, float]:
    """Microseconds of each piece of one bp step of ``count`` identical tanh nets (what
    rules/bp.py's train_step does, taken apart), fastest of seven rounds."""
    net = stack([compile_genome(tanh_net())] * count)
    rule = rules.get_rule("bp")
    params = init_params(net, list(range(count)))
    state = rule.init_state(net, params, [{"lr": 3e-3}] * count, list(range(count)))
    rows = torch.randint(0, len(task.train.y), (count * batch,),
                         generator=torch.Generator().manual_seed(0))
    x = task.train.x.index_select(0, rows).view(count, batch, -1)
    y = task.train.y.index_select(0, rows).view(count, batch)
    trained = [*params.weights, *params.biases]

    def loss() -> torch.Tensor:
        logits, _ = forward(net, params, x, premasked=True)
        return nn.functional.cross_entropy(logits.transpose(1, 2), y, reduction="none").sum()
    grads = list(torch.autograd.grad(loss(), trained))
    pieces = {
        "gather": lambda: (task.train.x.index_select(0, rows), task.train.y.index_select(0, rows)),
        "forward_and_loss": loss,
        "forward_loss_backward": lambda: torch.autograd.grad(loss(), trained),
        "gradient_masks": lambda: torch._foreach_mul_(grads[:net.depth], list(net.masks)),
        "adam": lambda: state.apply(trained, grads),
        "whole_step": lambda: rule.train_step(net, params, state, x, y),
    }
    out = {}
    for name, fn in pieces.items():
        fn()
        rounds = []
        for _ in range(7):
            started = time.process_time()
            for _ in range(20):
                fn()
            rounds.append((time.process_time() - started) / 20 * 1e6)
        out[name] = min(rounds)
    return out


def identical_nets(task, budget: rules.Budget, count: int = 32) -> dict:
    genome = tanh_net()
    cands = [Candidate(i, 0, genome, {"lr": 3e-3}) for i in range(count)]

    def sequential() -> None:
        for i in range(count):
            torch.manual_seed(i)
            model = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 10))
            optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
            gen = torch.Generator().manual_seed(i)
            x, y = task.train.x, task.train.y
            for _ in range(budget.epochs):
                order = torch.randperm(len(y), generator=gen)
                for start in range(0, len(y) - budget.batch_size + 1, budget.batch_size):
                    idx = order[start:start + budget.batch_size]
                    optimiser.zero_grad()
                    nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                    optimiser.step()
                with torch.no_grad():
                    model(task.valid.x)
    population, plain = best_of(lambda: fit("bp", cands, task, budget), sequential)
    return {"count": count, "population_s": population[0], "sequential_s": plain[0],
            "speedup": plain[0] / population[0], "population_cpu_s": population[1],
            "sequential_cpu_s": plain[1], "cpu_speedup": plain[1] / population[1]}


def pc_vs_bp_mnist1d(budget: rules.Budget) -> dict:
    """CPU seconds of one 40-100-100-10 relu net trained by bp and by pc on mnist1d."""
    task = load_task("mnist1d", seed=0)
    genome = mnist1d_net()
    full = rules.Budget(epochs=budget.epochs, batch_size=budget.batch_size, patience=10**6)
    names = ("bp", "pc")
    seconds = dict(zip(names, (t[1] for t in best_of(*(
        lambda n=name: rules.get_rule(n).fit(compile_genome(genome), task, {}, full, [0])
        for name in names))), strict=True))
    return {"bp_cpu_s": seconds["bp"], "pc_cpu_s": seconds["pc"],
            "pc_over_bp": seconds["pc"] / seconds["bp"]}


def mnist1d_net() -> Genome:
    """The MNIST-1D reference-sized 40-100-100-10 relu MLP (its hidden groups were identity
    before 2026-12-04, the figures measured up to then on that linear net)."""
    genome = layered([40, 100, 100, 10], ["relu", "relu"])
    assert tuple(compile_genome(genome).level_sizes) == (40, 100, 100, 10)
    return genome


def pc_steps_spread(budget: rules.Budget, steps: tuple[int, ...] = (40, 35, 30, 25, 20, 15, 10, 5)
                    ) -> dict:
    """CPU seconds of one padded population of mnist1d 40-100-100-10 nets whose members relax
    for different ``steps``, laid out by steps, largest first (as the search's chunks are:
    members done with their own steps leave the relaxation) and in another order (every
    member runs the largest steps, zero-sized past its own). Each member's seed follows its
    steps, so both orders train the same eight nets (tests/test_rule_pc.py checks that a
    member trains as alone either way)."""
    task = load_task("mnist1d", seed=0)
    genome = mnist1d_net()
    full = rules.Budget(epochs=1, batch_size=budget.batch_size, patience=10**6)
    pc = rules.get_rule("pc")
    orders = {"by_steps": sorted(steps, reverse=True), "other": [*steps[1::2], *steps[::2]]}
    seconds = dict(zip(orders, (t[1] for t in best_of(*(
        lambda o=order: pc.fit(stack([compile_genome(genome)] * len(o)), task,
                               [{"steps": t} for t in o], full, list(o))
        for order in orders.values()))), strict=True))
    return {"steps": list(steps), "by_steps_cpu_s": seconds["by_steps"],
            "other_order_cpu_s": seconds["other"],
            "speedup": seconds["other"] / seconds["by_steps"]}


def main() -> None:
    global REPEATS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter search and training")
    parser.add_argument("--patience", type=int, default=0,
                        help="early stopping as in a search (0: full epochs, equal work)")
    parser.add_argument("--json", metavar="PATH", help="write the figures here")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="interleaved runs of each timing; the fastest counts")
    parser.add_argument("--parts", action="store_true",
                        help="also time the pieces of one step of the 32 identical nets")
    args = parser.parse_args()
    REPEATS = max(1, args.repeats)
    torch.set_num_threads(1)  # what one evaluation task gets on a worker
    task = load_task("digits", seed=0)
    budget = rules.Budget(epochs=3 if args.quick else 15, batch_size=64,
                          patience=args.patience or 10**6)  # 0: full epochs, equal work
    cands = default_generation(args.quick)
    # as the serial executor plans them (one worker: at most executor.chunk_size = 16)
    plans = {name: plan_chunks(cands, max_size=16, step_cost=rule_step_cost(rules.get_rule(name)))
             for name in ("bp", "pc")}
    shape_plan = plan_chunks(cands, max_size=16)
    result = {"candidates": len(cands), "repeats": REPEATS,
              "mean_hidden_neurons": sum(sum(n.size for n in c.genome.nodes
                                             if n.role == "hidden") for c in cands) / len(cands),
              "max_hidden_neurons": max(sum(n.size for n in c.genome.nodes if n.role == "hidden")
                                        for c in cands),
              "rules": {}}
    own_work = sum(Shape.of(c.genome).work for c in cands)
    for rule_name in ("bp", "pc"):
        rule, chunks = rules.get_rule(rule_name), plans[rule_name]

        def ratios(chunks_: list[list[Candidate]], rule_=rule) -> list[float]:
            return [padding_ratio([Shape.of(c.genome) for c in ch],
                                  [rule_.step_cost(c.hyperparameters) for c in ch])
                    for ch in chunks_]

        def shape_ratios(chunks_: list[list[Candidate]]) -> list[float]:
            return [padding_ratio([Shape.of(c.genome) for c in ch]) for ch in chunks_]
        extra = {"pc": lambda: [fit("pc", c, task, budget) for c in shape_plan],
                 "bp": lambda: [plain_bp(c, task, budget) for c in cands]}[rule_name]
        chunked, alone, other = best_of(
            lambda r=rule_name, ch=chunks: [fit(r, c, task, budget) for c in ch],
            lambda r=rule_name: [fit(r, [c], task, budget) for c in cands], extra)
        row = {"chunk_sizes": [len(c) for c in chunks], "padding_ratios": ratios(chunks),
               "chunked_s": chunked[0], "alone_s": alone[0],
               "chunked_vs_alone": alone[0] / chunked[0],
               "chunked_cpu_s": chunked[1], "alone_cpu_s": alone[1],
               "chunked_vs_alone_cpu": alone[1] / chunked[1]}
        if rule_name == "pc":
            shaped = other
            row.update(shape_plan_chunk_sizes=[len(c) for c in shape_plan],
                       shape_plan_padding_ratios=shape_ratios(shape_plan),
                       shape_plan_s=shaped[0], shape_plan_cpu_s=shaped[1],
                       shape_plan_vs_alone_cpu=alone[1] / shaped[1])
        if rule_name == "bp":
            plain = other
            row.update(plain_s=plain[0], chunked_vs_plain=plain[0] / chunked[0],
                       plain_cpu_s=plain[1], chunked_vs_plain_cpu=plain[1] / chunked[1])
            examples = budget.epochs * (len(task.train.y) // budget.batch_size
                                        * budget.batch_size)
            flops = 3 * 2 * own_work * examples  # forward + two backward matmuls
            row["gflops"] = flops / chunked[1] / 1e9  # per CPU second: one thread
        result["rules"][rule_name] = row
    result["peak_gflops"] = matmul_peak()
    result["rules"]["bp"]["share_of_peak"] = result["rules"]["bp"]["gflops"] / \
        result["peak_gflops"]
    result["identical_64_128_10"] = identical_nets(task, rules.Budget(
        epochs=budget.epochs, batch_size=budget.batch_size, patience=10**6))
    result["mnist1d_pc_vs_bp"] = pc_vs_bp_mnist1d(budget)
    result["pc_steps_spread"] = pc_steps_spread(budget)
    if args.parts:
        result["identical_step_parts_us"] = step_parts(task, budget.batch_size)

    print(f"generation: {len(cands)} candidates, mean {result['mean_hidden_neurons']:.0f} "
          f"hidden neurons (max {result['max_hidden_neurons']})")
    for name, r in result["rules"].items():
        print(f"{name} chunks {r['chunk_sizes']}: padded/own work max "
              f"{max(r['padding_ratios']):.2f} mean "
              f"{sum(r['padding_ratios']) / len(r['padding_ratios']):.2f}")
    print(f"{'rule':<5} {'chunked s':>10} {'alone s':>9} {'plain s':>9} {'vs alone':>9} "
          f"{'vs plain':>9}   (CPU seconds; wall ratio in brackets)")
    for name, r in result["rules"].items():
        plain = f"{r['plain_cpu_s']:.2f}" if "plain_s" in r else "-"
        vs_plain = (f"{r['chunked_vs_plain_cpu']:.2f}x ({r['chunked_vs_plain']:.2f}x)"
                    if "plain_s" in r else "-")
        print(f"{name:<5} {r['chunked_cpu_s']:>10.2f} {r['alone_cpu_s']:>9.2f} {plain:>9} "
              f"{r['chunked_vs_alone_cpu']:>8.2f}x ({r['chunked_vs_alone']:.2f}x) {vs_plain}")
    pc = result["rules"]["pc"]
    print(f"pc in the shape-only plan {pc['shape_plan_chunk_sizes']} (every member relaxing "
          f"for its chunk's largest steps; shape padded/own work max "
          f"{max(pc['shape_plan_padding_ratios']):.2f}): "
          f"{pc['shape_plan_cpu_s']:.2f} s, {pc['shape_plan_vs_alone_cpu']:.2f}x vs alone")
    bp = result["rules"]["bp"]
    print(f"bp chunked: {bp['gflops']:.1f} GFLOP/s of a {result['peak_gflops']:.0f} GFLOP/s "
          f"matmul peak ({bp['share_of_peak']:.0%})")
    same = result["identical_64_128_10"]
    print(f"32 x 64-128-10 bp: padded population {same['population_cpu_s']:.2f} s vs plain "
          f"nn.Sequential one at a time {same['sequential_cpu_s']:.2f} s "
          f"({same['cpu_speedup']:.2f}x; wall {same['speedup']:.2f}x)")
    mn = result["mnist1d_pc_vs_bp"]
    print(f"mnist1d 40-100-100-10: pc {mn['pc_cpu_s']:.2f} s, bp {mn['bp_cpu_s']:.2f} s, "
          f"pc/bp {mn['pc_over_bp']:.2f}x")
    spread = result["pc_steps_spread"]
    print(f"pc, 8 mnist1d 40-100-100-10 nets with steps {spread['steps']}, one epoch: laid out "
          f"by steps {spread['by_steps_cpu_s']:.2f} s, in another order "
          f"{spread['other_order_cpu_s']:.2f} s ({spread['speedup']:.2f}x)")
    if args.parts:
        print("one step of the 32 nets, microseconds: " + ", ".join(
            f"{k} {v:.0f}" for k, v in result["identical_step_parts_us"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
