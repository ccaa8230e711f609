"""What a GPU earns in training: the same populations trained by each rule on the CPU and on a
CUDA device, side by side in one run, and whether the results agree.

For each rule and population size P, P nets of mixed shapes (one or two hidden levels of
widths drawn from ``--widths``, 16-48 by default; one padded stack, with more padding
than a search's chunks allow) train for ``--epochs`` epochs on a real task (digits by
default; batch 64, no early stopping) through ``rule.fit``:

- ``cpu``: on the host, with torch's default number of threads (all cores);
- ``cuda``: on the GPU, relaxations in torch (``kernel = torch`` for pc, ep and chl);
- ``triton``: pc, ep and chl on the GPU with their fused Triton relaxations
  (``kernel = triton``; rules/kernels).

Reported per row: seconds per epoch of each path (median of ``--repeats`` fits after a
warm-up fit), the GPU's speed-ups over the CPU, and how far the paths' results are apart:
the largest difference of any member's validation accuracy from the CPU's, and
``‖θ − θ_ref‖ / ‖θ_ref‖`` of the trained parameters of ``triton`` against ``cuda`` (same
device, same seeds: the kernels must give the torch path's result up to rounding; CPU and GPU
may drift further apart over epochs, as float sums in another order do).

``--search G`` also runs a G-generation search of the default config (digits, pc, neat-pso;
serial executor) with ``training.device`` set to each device, and reports its wall seconds and
the best validation accuracy on its front. ``--search-population P`` sets its population and
``--chunk-sizes C,C`` runs it once per ``executor.chunk_size`` (the most candidates trained as
one padded batch), which is what a GPU default for that setting would be chosen from.

On a machine without CUDA only the CPU is timed, and the table says so. GPU figures are only
ever measured, never estimated.

    python benchmarks/devices.py [--quick] [--rules pc,ep] [--sizes 8,64] [--widths 8,16]
                                 [--epochs N] [--task digits] [--repeats N] [--search G]
                                 [--search-population P] [--chunk-sizes C,C] [--json PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path

# benchmarks/rules.py is named like the `rules` package: drop this folder from the import path
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

import rules  # noqa: E402
from evolve import strict_json  # noqa: E402
from evolve.messages import one_line  # noqa: E402
from evolve.tasks import TaskError, load_task  # noqa: E402
from rules.kernels import pc_relax, relative_error  # noqa: E402
from search_spaces.compile import compile_genome, stack  # noqa: E402
from search_spaces.genome import Genome, layered  # noqa: E402

RULES = ("bp", "pc", "ep", "chl", "dfa")
KERNEL_RULES = ("pc", "ep", "chl")  # the rules with a fused Triton relaxation
# widths stay small enough that every padded stack fits the fused kernels (at most
# KERNEL_ROWS non-input neurons), so the triton column times the kernels, not a fallback; a
# stack of wider nets (--widths) is not timed there: kernel = triton would relax it in torch
KERNEL_ROWS = pc_relax.MAX_ROWS
WIDTHS = (16, 24, 32, 48)
ACTIVATIONS = ("tanh", "relu", "sigmoid")


def mixed_genome(n_in: int, n_out: int, rng: random.Random,
                 widths_from: tuple[int, ...] = WIDTHS) -> Genome:
    """A net with one or two hidden levels of widths drawn from ``widths_from``."""
    widths = [rng.choice(widths_from) for _ in range(rng.choice((1, 2)))]
    return layered([n_in, *widths, n_out], [rng.choice(ACTIVATIONS) for _ in widths])


def paths(rule: str, cuda: str | None, rows: int = 0) -> list[tuple[str, str, dict]]:
    """(path name, device, rule options) for each path this rule is trained on here; the
    ``triton`` path only for a stack of at most KERNEL_ROWS non-input neurons (``rows``): a
    larger one ``kernel = triton`` relaxes in torch, which that column would time unsaid."""
    kernel = {"kernel": "torch"} if rule in KERNEL_RULES else {}
    out = [("cpu", "cpu", kernel)]
    if cuda:
        out.append(("cuda", cuda, kernel))
        if rule in KERNEL_RULES and rows <= KERNEL_ROWS:
            out.append(("triton", cuda, {"kernel": "triton"}))
    return out


def sync(device: str) -> None:
    if device != "cpu":
        torch.cuda.synchronize(device)


def row_for(rule: str, size: int, task, epochs: int, repeats: int, cuda: str | None,
            widths: tuple[int, ...] = WIDTHS) -> dict:
    """One rule and population size trained on every path; times and agreement."""
    rng = random.Random(size)
    genomes = [mixed_genome(task.n_features, task.n_classes, rng, widths) for _ in range(size)]
    net = stack([compile_genome(g) for g in genomes])
    seeds = list(range(size))
    row: dict = {"rule": rule, "population": size, "epochs": epochs,
                 "padded_neurons": net.n_neurons - net.n_inputs,
                 "hidden_neurons_mean": statistics.mean(
                     sum(n.size for n in g.nodes if n.role == "hidden") for g in genomes)}
    fits = {}
    if cuda and rule in KERNEL_RULES and row["padded_neurons"] > KERNEL_ROWS:
        row["triton_failure"] = (f"not timed: the padded stack has {row['padded_neurons']} "
                                 f"non-input neurons, over the kernels' {KERNEL_ROWS}")
    for name, device, options in paths(rule, cuda, row["padded_neurons"]):
        learning_rule = rules.get_rule(rule, options)
        budget = rules.Budget(epochs=epochs, batch_size=64, patience=epochs, device=device)

        def fit(learning_rule=learning_rule, budget=budget, device=device):
            result = learning_rule.fit(net, task, None, budget, seeds)
            sync(device)
            return result
        try:
            fits[name] = fit()  # warm-up: allocations, kernel compilation, cuBLAS handles
        except Exception as exc:  # noqa: BLE001 - say which path failed, time the others
            row[f"{name}_failure"] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fit()
            times.append(time.perf_counter() - started)
        row[f"{name}_s_per_epoch"] = statistics.median(times) / epochs
    reference = torch.tensor(fits["cpu"].valid_accuracy) if "cpu" in fits else None
    for name, result in fits.items():
        accuracy = torch.tensor(result.valid_accuracy)
        row[f"{name}_valid_mean"] = float(accuracy.mean())
        if name != "cpu" and reference is not None:
            row[f"{name}_valid_max_diff"] = float((accuracy - reference).abs().max())
            row[f"{name}_speedup"] = row["cpu_s_per_epoch"] / row[f"{name}_s_per_epoch"]
    if "triton" in fits and "cuda" in fits:
        row["triton_param_error"] = relative_error(list(fits["triton"].params.tensors()),
                                                   list(fits["cuda"].params.tensors()))
    return row


def search_row(device: str, generations: int, task: str, population: int | None = None,
               chunk_size: int | None = None) -> dict:
    """A default-config search of ``generations`` generations trained on ``device`` (at
    ``population`` and ``chunk_size`` where given). A search that stops with an error (every
    evaluation of a generation failed) is a row saying so."""
    import evolve
    from evolve.config import SearchConfig, override

    row: dict = {"device": device, "generations": generations}
    executor: dict = {"name": "serial"}
    if chunk_size is not None:
        executor["chunk_size"] = chunk_size
    changes: dict = {"generations": generations, "seed": 0, "executor": executor,
                     "task": {"name": task}, "training": {"device": device}}
    if population is not None:
        changes["population"] = population
    with tempfile.TemporaryDirectory() as out:
        config = override(SearchConfig(), {**changes, "out": out})
        row.update(rule=config.rule.name, population=config.population,
                   chunk_size=config.executor.chunk_size)
        started = time.perf_counter()
        try:
            run = evolve.search(config, reporters=())
        except Exception as exc:  # noqa: BLE001 - the row records it; the others still run
            row.update(seconds=time.perf_counter() - started,
                       stopped=f"{type(exc).__name__}: {one_line(exc)}"[:300])
            return row
        row["seconds"] = time.perf_counter() - started
        front = run.pareto_front()
        records = run.evaluations().to_pylist()
    failed = [r for r in records if r["status"] in ("failed", "timeout")]
    row.update(evaluations=len(records), failed=len(failed),
               first_error=failed[0]["error"][:300] if failed else None,
               front_size=len(front),
               front_best_valid=max((m.valid_accuracy for m in front), default=None))
    return row


def cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def print_tables(rows: list[dict], searches: list[dict], cuda: str | None) -> None:
    if not cuda:
        print("no CUDA device: the CPU path only (GPU figures are measured on a GPU, never "
              "estimated)")
    print(f"{'rule':>4} {'P':>4} | {'cpu ms/ep':>10} {'cuda ms/ep':>10} {'triton ms/ep':>12} | "
          f"{'cuda x':>7} {'triton x':>8} | {'valid cpu':>9} {'max diff':>8} "
          f"{'triton err':>10}")
    for r in rows:
        diffs = [r.get(f"{k}_valid_max_diff") for k in ("cuda", "triton")]
        diffs = [d for d in diffs if d is not None]
        for name in ("cpu", "cuda", "triton"):
            if f"{name}_failure" in r:
                print(f"{r['rule']} P={r['population']}: {name} failed: {r[name + '_failure']}")
        print(f"{r['rule']:>4} {r['population']:>4} | "
              f"{cell(r.get('cpu_s_per_epoch') and r['cpu_s_per_epoch'] * 1e3, '.1f'):>10} "
              f"{cell(r.get('cuda_s_per_epoch') and r['cuda_s_per_epoch'] * 1e3, '.1f'):>10} "
              f"{cell(r.get('triton_s_per_epoch') and r['triton_s_per_epoch'] * 1e3, '.1f'):>12}"
              f" | {cell(r.get('cuda_speedup'), '.2f'):>7} "
              f"{cell(r.get('triton_speedup'), '.2f'):>8}"
              f" | {cell(r.get('cpu_valid_mean'), '.3f'):>9} "
              f"{cell(max(diffs) if diffs else None, '.3f'):>8} "
              f"{cell(r.get('triton_param_error'), '.0e'):>10}")
    if searches:
        print(f"\n{'search on':>9} {'P':>4} {'chunk':>5} | {'generations':>11} "
              f"{'evaluations':>11} {'failed':>6} {'seconds':>8} {'best valid':>10}")
        for s in searches:
            where = f"{s['device']:>9} {s['population']:>4} {s['chunk_size']:>5}"
            if "stopped" in s:
                print(f"{where} | stopped after {s['seconds']:.1f} s: {s['stopped']}")
                continue
            print(f"{where} | {s['generations']:>11} {s['evaluations']:>11} "
                  f"{s['failed']:>6} {s['seconds']:>8.1f} "
                  f"{cell(s['front_best_valid'], '.3f'):>10}")


def parse_list(parser, option: str, text: str, convert, allowed=None) -> list:
    try:
        values = [convert(v.strip()) for v in text.split(",") if v.strip()]
    except ValueError:
        parser.error(f"{option} {text!r}: expected a comma-separated list")
    if not values or (allowed and any(v not in allowed for v in values)):
        parser.error(f"{option} {text!r}: expected a comma-separated list"
                     + (f" of {', '.join(allowed)}" if allowed else ""))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="pc and bp, 4 nets, 1 epoch")
    parser.add_argument("--rules", help=f"comma-separated (default: {','.join(RULES)})")
    parser.add_argument("--sizes", help="population sizes, comma-separated (default: 8,64,256)")
    parser.add_argument("--widths", help="hidden widths to draw from, comma-separated "
                        f"(default: {','.join(map(str, WIDTHS))})")
    parser.add_argument("--epochs", type=int, help="epochs per fit (default 2; --quick 1)")
    parser.add_argument("--task", default="digits", help="built-in task (default: digits)")
    parser.add_argument("--repeats", type=int, help="timed fits per path (default 3; --quick 1)")
    parser.add_argument("--search", type=int, default=0, metavar="G",
                        help="also time a G-generation default search on each device")
    parser.add_argument("--search-population", type=int, metavar="P",
                        help="the search's population (default: the config's)")
    parser.add_argument("--chunk-sizes", metavar="C,C",
                        help="run the search once per executor.chunk_size "
                        "(default: the config's)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else None,
                        help="the CUDA device (default: cuda where there is one)")
    parser.add_argument("--json", metavar="PATH", help="write the figures here (after each row)")
    args = parser.parse_args()
    chosen = parse_list(parser, "--rules", args.rules, str, rules.available()) \
        if args.rules is not None else (["bp", "pc"] if args.quick else list(RULES))
    sizes = parse_list(parser, "--sizes", args.sizes, int) if args.sizes is not None else \
        ([4] if args.quick else [8, 64, 256])
    widths = tuple(parse_list(parser, "--widths", args.widths, int)) \
        if args.widths is not None else WIDTHS
    if any(width < 1 for width in widths):
        parser.error(f"--widths {args.widths!r}: widths must be at least 1")
    if any(size < 1 for size in sizes):
        parser.error(f"--sizes {args.sizes!r}: population sizes must be at least 1")
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 2)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    for option, value in (("--epochs", epochs), ("--repeats", repeats)):
        if value < 1:
            parser.error(f"{option} {value}: expected at least 1")
    if args.search < 0:
        parser.error(f"--search {args.search}: expected a number of generations >= 0")
    if args.search_population is not None and args.search_population < 2:
        parser.error(f"--search-population {args.search_population}: expected at least 2")
    chunk_sizes = parse_list(parser, "--chunk-sizes", args.chunk_sizes, int) \
        if args.chunk_sizes is not None else [None]
    if any(c is not None and c < 1 for c in chunk_sizes):
        parser.error(f"--chunk-sizes {args.chunk_sizes!r}: chunk sizes must be at least 1")
    if (args.search_population is not None or args.chunk_sizes is not None) and not args.search:
        parser.error("--search-population and --chunk-sizes set the search: give --search G")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        parser.error(f"--json {args.json}: its folder does not exist")
    cuda = args.device
    if cuda is not None:
        try:
            if torch.device(cuda).type != "cuda":
                raise RuntimeError
        except RuntimeError:
            parser.error(f"--device {cuda!r}: expected cuda or cuda:N")
        if not torch.cuda.is_available():
            parser.error(f"--device {cuda!r}: this machine has no CUDA device")
    try:
        task = load_task(args.task, seed=0)
    except TaskError as exc:
        parser.error(f"--task {args.task!r}: {exc}")
    header = {"task": args.task, "batch": 64, "repeats": repeats, "timing": "median",
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "gpu": torch.cuda.get_device_name(cuda) if cuda else None}
    rows: list[dict] = []
    searches: list[dict] = []

    def save() -> None:
        if args.json:
            Path(args.json).write_text(strict_json.dumps(
                {**header, "rows": rows, "searches": searches}))
    for rule in chosen:
        for size in sizes:
            rows.append(row_for(rule, size, task, epochs, repeats, cuda, widths))
            save()
    if args.search:
        for chunk_size in chunk_sizes:
            for device in ["cpu", *([cuda] if cuda else [])]:
                searches.append(search_row(device, args.search, args.task,
                                           args.search_population, chunk_size))
                save()
    print_tables(rows, searches, cuda)


if __name__ == "__main__":
    main()
