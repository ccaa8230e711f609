"""Which search defaults let ``neat-pso`` reach the capacity a task needs?

Each *variant* is a set of config overrides of the structural search's defaults (how many
generation-0 children get a hidden group, add-node's rate, how large a new group is drawn).
For each variant, task, rule and seed it runs one ``neat-pso`` search through the ordinary
loop (``evolve.search``, serial executor) and reads back, at an equal budget of evaluations
(the generations that ended within ``--budget``):

- the Pareto front's best **validation** accuracy (what a variant is chosen by; test
  accuracy is not read, so choosing a default here does not tune on test),
- the hypervolume of (validation accuracy, energy) (``run.hypervolume_curve()``: the
  reference point is fixed by the objectives, so runs compare alike),
- how many generation-0 evaluations are linear, and the front's largest member (hidden
  units) — whether the search grew toward the fixed MLPs' size.

It writes JSON (settings, every run, the mean per variant, task and rule) and prints a table.
Seeds default to 2 and 3: seeds 0 and 1 are the ones docs/science.md reports, so the defaults
are chosen on other seeds.

    python benchmarks/search_defaults.py [--variants NAME ...] [--cells TASK:RULE ...]
        [--seeds 2 3] [--population 20] [--generations 10] [--budget 150] [--json PATH]

(``--json`` defaults to bench-out/search_defaults.json, scratch that git ignores.)

What it found (benchmarks/results/search_defaults.json, docs/science.md "Search defaults
tried on other seeds"): of the variants below, only groups of up to 128 units raised the
front's mean best validation accuracy in every cell (seeds 2-6), so ``space.max_hidden_size``
was raised to 128 (and later, by the study of 256 below, to 256); starting generation 0
with hidden groups, a higher add-node rate, larger or inherited new groups and more resizing
did not. The runs, one process per command:

    python benchmarks/search_defaults.py --seeds 2 --json bench-out/look_s2.json
    python benchmarks/search_defaults.py --seeds 3 4 --variants default "add-node 0.4" \
        "gen-0 hidden" "new group inherits" --json bench-out/look_s34.json
    python benchmarks/search_defaults.py --cells mnist1d:dfa --seeds 2 3 4 \
        --variants default "add-node 0.4" --json bench-out/look_dfa.json
    python benchmarks/search_defaults.py --seeds 2 3 4 --variants "add-node 0.3" \
        "resize 0.5" "groups up to 128" --json bench-out/look_more.json
    python benchmarks/search_defaults.py --cells mnist1d:dfa --seeds 2 3 4 \
        --variants "groups up to 128" --json bench-out/look_dfa128.json
    python benchmarks/search_defaults.py --cells mnist1d:bp mnist1d:lra mnist1d:dfa \
        digits:pc --seeds 5 6 --variants default "groups up to 128" \
        --json bench-out/look_s56.json
    python benchmarks/search_defaults.py --combine bench-out/look_*.json \
        --json benchmarks/results/search_defaults.json

Groups of up to 256 units against 128 (docs/science.md "Groups of up to 256 units"), on
the code of that study; the paired difference is to 128, the first variant, so no
``--baseline`` is needed:

    cd bench-out/g256
    python ../../benchmarks/search_defaults.py --cells mnist1d:bp mnist1d:lra mnist1d:dfa \
        --seeds 2 3 --variants "groups up to 128" "groups up to 256" --json look_s23.json
    (the same with --seeds 4 into look_s4.json, --seeds 5 6 into look_s56.json, and with
    --cells digits:pc, --seeds 2 3 4 into look_pc.json and --seeds 5 6 into look_pc56.json)
    python ../../benchmarks/search_defaults.py --combine look_s23.json look_s4.json \
        look_s56.json look_pc.json look_pc56.json \
        --json ../../benchmarks/results/search_defaults_256.json

Groups of up to 512 units against 256 (the same section, "not adopted"): only the new
variant runs, paired with the 256 runs above (a search repeats exactly with its seed):

    cd bench-out/g512
    python ../../benchmarks/search_defaults.py --cells mnist1d:bp mnist1d:dfa \
        --seeds 2 3 4 5 6 --variants "groups up to 512" --json look_bp_dfa.json
    python ../../benchmarks/search_defaults.py --cells mnist1d:lra digits:pc \
        --seeds 2 3 4 5 6 --variants "groups up to 512" --json look_lra_pc.json
    python ../../benchmarks/search_defaults.py --combine ../g256/look_s23.json \
        ../g256/look_s4.json ../g256/look_s56.json ../g256/look_pc.json \
        ../g256/look_pc56.json look_bp_dfa.json look_lra_pc.json \
        --baseline "groups up to 256" \
        --json ../../benchmarks/results/search_defaults_512.json

``--cells task:rule ...`` (default ``mnist1d:bp mnist1d:lra digits:pc``; digits with pc is
the default ``neurevo search``) picks the task and rule pairs. ``--combine A.json B.json``
runs nothing: it merges the runs of earlier outputs and prints the summary as the markdown
table docs/science.md quotes (mean ± standard deviation over seeds, and the mean difference
to the default run with the same seed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/rules.py would shadow the `rules` package that evolve imports: look in the
# repository root before this script's folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import evolve
from evolve.config import SearchConfig, override
from search_spaces.genome import Genome

# appended, not prepended: benchmarks/rules.py must not shadow the rules package
sys.path.append(str(Path(__file__).resolve().parent))
from evolved_vs_fixed import units  # noqa: E402

# the defaults the study started from, under every variant: "default" stays the baseline it
# was measured as, now that space.max_hidden_size defaults to 128 (the variant it chose)
BASE: dict[str, Any] = {"space": {"max_hidden_size": 64}}
# name -> overrides of the config (each applied on top of BASE)
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "add-node 0.3": {"strategy": {"mutation": {"add_node": 0.3, "initial_add_node": 0.3}}},
    "add-node 0.4": {"strategy": {"mutation": {"add_node": 0.4, "initial_add_node": 0.4}}},
    "gen-0 hidden": {"strategy": {"mutation": {"initial_add_node": 1.0}}},
    "new group >= 16": {"space": {"new_group_min_size": 16}},
    "new group inherits": {"space": {"new_group_size": "inherit"}},
    "gen-0 hidden, new group >= 16": {"strategy": {"mutation": {"initial_add_node": 1.0}},
                                      "space": {"new_group_min_size": 16}},
    "resize 0.5": {"strategy": {"mutation": {"resize_node": 0.5}}},
    "groups up to 128": {"space": {"max_hidden_size": 128}},
    "groups up to 256": {"space": {"max_hidden_size": 256}},
    "groups up to 512": {"space": {"max_hidden_size": 512}},
    # ep and chl: γ and the sweep counts held at their defaults (what "default" does since
    # this study), or searched per member (what "default" did when it ran)
    "relaxation fixed": {"rule": {"hyperparameters": {"gamma": 0.1, "free_steps": 8,
                                                      "nudge_steps": 4}}},
    "relaxation searched": {"rule": {"searched": ["gamma", "free_steps", "nudge_steps"]}},
}
CELLS = ["mnist1d:bp", "mnist1d:lra", "digits:pc"]


def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for key, value in b.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


def config(args: argparse.Namespace, variant: str, task: str, rule: str, seed: int,
           out: Path) -> SearchConfig:
    return override(SearchConfig(), merge({
        "generations": args.generations, "population": args.population, "seed": seed,
        "out": str(out), "run_id": f"{task}-{rule}-s{seed}",
        "objectives": ["accuracy", "energy"], "task": {"name": task}, "rule": {"name": rule},
        "strategy": {"name": "neat-pso"}, "executor": {"name": "serial"}},
        merge(BASE, VARIANTS[variant])))


def measure(run: evolve.Run, budget: int) -> dict[str, Any]:
    """The run's numbers over the generations that ended within ``budget`` evaluations."""
    curve = run.hypervolume_curve()
    within = [i for i, (spent, _) in enumerate(curve) if spent <= budget]
    last = within[-1] if within else 0
    rows = [r for r in run.evaluations().to_pylist()
            if r["generation"] <= last and r["status"] == "ok"]
    points = [(r["objective.accuracy"], r["objective.energy"], Genome.from_json(r["genome"]))
              for r in rows]
    front = [(a, e, g) for a, e, g in points
             if not any(a2 >= a and e2 <= e and (a2, e2) != (a, e) for a2, e2, _ in points)]
    generation0 = [g for r, (_, _, g) in zip(rows, points, strict=True) if r["generation"] == 0]
    best = max(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    return {"generations": last + 1, "evaluations": curve[last][0],
            "hypervolume": curve[last][1],
            "best_valid": points[best][0],
            # the genes and hidden groups of the member that accuracy belongs to
            "best_genes": json.loads(rows[best]["hyperparameters"]),
            "best_hidden_groups": len(points[best][2].hidden_ids),
            "front_max_units": max(units(g) for _, _, g in front),
            "generation0_linear": sum(not g.hidden_ids for g in generation0)}


MEASURES = ("best_valid", "hypervolume", "front_max_units", "generation0_linear",
            "evaluations", "wall_s")


def summarise(runs: list[dict[str, Any]], baseline: str = "default") -> list[dict[str, Any]]:
    """Mean and sample standard deviation over seeds, per variant, task and rule, and the
    mean paired difference of best validation accuracy to the ``baseline`` variant's run of
    the same task, rule and seed (the same data split and start)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    default = {(r["task"], r["rule"], r["seed"]): r for r in runs if r["variant"] == baseline}
    for r in runs:
        groups.setdefault((r["variant"], r["task"], r["rule"]), []).append(r)
    out = []
    for (v, t, ru), rs in groups.items():
        paired = [r["best_valid"] - default[t, ru, r["seed"]]["best_valid"] for r in rs
                  if (t, ru, r["seed"]) in default]
        out.append({"variant": v, "task": t, "rule": ru, "seeds": [r["seed"] for r in rs],
                    **{k: statistics.fmean(r[k] for r in rs) for k in MEASURES},
                    **{f"{k}_sd": statistics.stdev(r[k] for r in rs) if len(rs) > 1 else 0.0
                       for k in ("best_valid", "hypervolume")},
                    "baseline": baseline,
                    "vs_baseline": statistics.fmean(paired) if paired else None,
                    "vs_baseline_seeds": len(paired)})
    return out


def markdown(summary: list[dict[str, Any]], baseline: str = "default") -> str:
    """The summary as a table, each cell's ``baseline`` variant first; "vs" it is the mean
    paired difference over the seeds both ran."""
    lines = [f"| task | rule | variant | seeds | best valid. % (mean ± sd) | vs {baseline} (pts) "
             "| hypervolume (mean ± sd) | front's largest (units) | gen. 0 linear | mean wall s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    order = sorted(summary, key=lambda s: (s["task"] != "mnist1d", s["task"], s["rule"],
                                           s["variant"] != baseline, s["variant"]))
    for s in order:
        diff = ("" if s["variant"] == baseline or s["vs_baseline"] is None
                else f"{100 * s['vs_baseline']:+.1f}")
        lines.append(
            f"| {s['task']} | {s['rule']} | {s['variant']} | "
            f"{' '.join(map(str, s['seeds']))} | {100 * s['best_valid']:.1f} ± "
            f"{100 * s['best_valid_sd']:.1f} | {diff} | {s['hypervolume']:.3f} ± "
            f"{s['hypervolume_sd']:.3f} | {s['front_max_units']:.0f} | "
            f"{s['generation0_linear']:.1f} | {s['wall_s']:.0f} |")
    return "\n".join(lines)


def baseline(p: argparse.ArgumentParser, chosen: str | None, variants: list[str]) -> str:
    """The variant the others are compared with: ``chosen``, which must be among
    ``variants``, else "default" where it is, else the first."""
    if chosen is None:
        return "default" if "default" in variants else variants[0]
    if chosen not in variants:
        p.error(f"--baseline {chosen!r}: not among the variants {variants}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--cells", nargs="+", default=CELLS, help="task:rule pairs")
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 3])
    p.add_argument("--population", type=int, default=20)
    p.add_argument("--generations", type=int, default=10)
    p.add_argument("--budget", type=int, default=150,
                   help="evaluations: each run is measured at its generations within this")
    p.add_argument("--json", type=Path, default=Path("bench-out") / "search_defaults.json",
                   help="where the runs and summary go (default: %(default)s)")
    p.add_argument("--baseline", choices=list(VARIANTS),
                   help="the variant each is compared with, seed by seed (default: \"default\" "
                   "where it ran, else the first variant)")
    p.add_argument("--combine", type=Path, nargs="+", help="run nothing: read the runs of "
                   "these JSON files, write them with their summary to --json and print it "
                   "as a markdown table")
    args = p.parse_args(argv)
    args.json.parent.mkdir(parents=True, exist_ok=True)  # before a run, not after it
    if args.combine:
        runs = [r for path in args.combine for r in json.loads(path.read_text())["runs"]]
        args.baseline = baseline(p, args.baseline, list(dict.fromkeys(r["variant"]
                                                                      for r in runs)))
        summary = summarise(runs, args.baseline)
        args.json.write_text(json.dumps({"combined": [str(x) for x in args.combine],
                                         "runs": runs, "summary": summary}, indent=1))
        print(markdown(summary, args.baseline))
        return 0
    args.baseline = baseline(p, args.baseline, args.variants)
    runs = []
    for cell in args.cells:
        task, rule = cell.split(":")
        for seed in args.seeds:
            for variant in args.variants:
                with tempfile.TemporaryDirectory() as out:
                    cfg = config(args, variant, task, rule, seed, Path(out))
                    started = time.perf_counter()
                    run = evolve.search(cfg, reporters=())
                    wall = time.perf_counter() - started
                    runs.append({"variant": variant, "task": task, "rule": rule,
                                 "seed": seed, "wall_s": wall, **measure(run, args.budget)})
                r = runs[-1]
                print(f"{task:8} {rule:4} s{seed} {variant:30} evals {r['evaluations']:4d} "
                      f"valid {r['best_valid']:.4f} HV {r['hypervolume']:.4f} "
                      f"front units {r['front_max_units']:4d} gen0 linear "
                      f"{r['generation0_linear']:2d}  {wall:.0f} s", flush=True)
                args.json.write_text(json.dumps({
                    "settings": {k: str(v) if isinstance(v, Path) else v
                                 for k, v in vars(args).items()},
                    "variants": {v: VARIANTS[v] for v in args.variants},
                    "runs": runs, "summary": summarise(runs, args.baseline)}, indent=1))
    for s in summarise(runs, args.baseline):
        print(f"{s['task']:8} {s['rule']:4} {s['variant']:30} valid {s['best_valid']:.4f} "
              f"HV {s['hypervolume']:.4f} front units {s['front_max_units']:.0f} "
              f"gen0 linear {s['generation0_linear']:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
