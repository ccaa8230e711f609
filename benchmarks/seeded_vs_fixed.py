"""Can a search started from the best hand-designed MLP improve on it?

benchmarks/evolved_vs_fixed.py compares a ``neat-pso`` search that starts from NEAT's
minimal genome with a grid of MLPs, each tuned as hard as the whole search. Its searches
start small and grow slowly, so their fronts hold far smaller nets than the grid's best.
This script asks the question from the other end: a ``neat-pso`` search with the same
population, generations, seed, chip and training budget, started from the grid's best MLP
(``space.start_widths`` = its widths, ``space.start_activation`` = its tuned activation;
generation 0 is that MLP and its one-mutation children, with the rule's default
hyperparameters, which the swarm then moves). The MLP's pick, test accuracy and energy are
read from an evolved_vs_fixed JSON (``--from``), so the grid is not tuned again.

As in evolved_vs_fixed.py, each side picks by **validation** accuracy and **test** accuracy
is only reported: the seeded search's pick is its front's best-validation member whose
energy is at most the MLP's (``win`` / ``tie`` / ``loss`` on test; ``loss`` when none is
that cheap). The seeded search knows what the grid found best, and the MLP had as many
tuning evaluations as the unseeded search spent (the seeded one spends about as many):
a win says evolution can improve a good hand-designed net at its energy, not that it finds
one from scratch. The JSON also gives the start MLP's own first evaluation (the rule's
default hyperparameters), the seeded front, its hypervolume next to the unseeded front's and
the tuned grid's (test accuracy; all three with the seeded run's reference point, which
depends only on the search space, the task and the chip, as the unseeded run's does), and
the seconds.

    python benchmarks/seeded_vs_fixed.py --from RESULTS.json [--rules bp dfa] [--json PATH]
                                         [--runs DIR [--reuse]] [--start-share S]
                                         [--set KEY=VALUE ...]

With ``--start-share S`` below 1 (``space.start_share``) only that share of generation 0
grows from the MLP and the rest from NEAT's minimal genome, so the search keeps the cheap
end of the front that a search started wholly from the MLP never explores.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/rules.py would shadow the `rules` package that evolve imports: look in the
# repository root before this script's folder
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolve import strict_json  # noqa: E402
from evolve.config import override  # noqa: E402
from search_spaces.genome import Genome  # noqa: E402
from search_spaces.space import SpaceError, SpaceSettings  # noqa: E402


def load_comparison():
    """benchmarks/evolved_vs_fixed.py as a module: the same settings, picks and verdicts."""
    path = Path(__file__).resolve().parent / "evolved_vs_fixed.py"
    spec = importlib.util.spec_from_file_location("evolved_vs_fixed", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["evolved_vs_fixed"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


evf = load_comparison()


def seeded_config(args: argparse.Namespace, task: str, rule: str, best: dict[str, Any]):
    name = "x".join(map(str, best["widths"]))
    # a share below 1 is another run (the default's run ids are those of the first runs)
    share = "" if args.start_share == 1.0 else f"-share{args.start_share:g}"
    return override(evf.evolved_config(args, task, rule), {
        "run_id": f"{task}-{rule}-seeded-{name}-{best['activation']}{share}",
        "space": {"start_widths": list(best["widths"]),
                  "start_activation": best["activation"],
                  "start_share": args.start_share}})


def compare(args: argparse.Namespace, earlier: dict[str, Any]) -> dict[str, Any] | None:
    task, rule, best = earlier["task"], earlier["rule"], earlier["best_fixed"]
    if best is None:
        return None
    started = time.perf_counter()
    # evolved_vs_fixed's runner: with --reuse, the finished run under --runs
    run = evf.search(args, seeded_config(args, task, rule, best))
    rows = evf.evaluation_rows(run)
    front = evf.front_members(run)
    pick = evf.matched(front, best["energy"])
    start = next(r for r in rows if r["generation"] == 0)  # the MLP, default hyperparameters
    references = run.references()
    hv = {"seeded_test": evf.hypervolume([(m["test"], m["energy"]) for m in front], references),
          "unseeded_test": evf.hypervolume([(m["test"], m["energy"])
                                            for m in earlier["front"]], references),
          "fixed_test": evf.hypervolume([(f["test"], f["energy"]) for f in earlier["fixed"]
                                         if f["ok"]], references)}
    return {"task": task, "rule": rule, "evaluations": len(rows),
            "best_fixed": {k: best[k] for k in ("widths", "activation", "valid", "test",
                                                "energy", "evaluations")},
            "start": {"valid": start["valid_accuracy"], "test": start["test_accuracy"],
                      "topology": evf.describe(Genome.from_json(start["genome"])),
                      "status": start["status"]},
            "pick": pick, "verdict": evf.verdict(pick, best),
            "unseeded_pick": best.get("evolved"), "unseeded_verdict": best.get("verdict"),
            "front": front, "hypervolume": hv, "wall_s": time.perf_counter() - started}


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"{'task':<8} {'rule':<4} {'best fixed MLP':<22} {'test':>6} {'energy nJ':>9} | "
          f"{'seeded pick':<26} {'test':>6} {'energy nJ':>9} {'verdict':>7} | "
          f"{'unseeded':>8} | {'HV seeded/unseeded/fixed':>26}")
    for r in results:
        b, p, hv = r["best_fixed"], r["pick"], r["hypervolume"]
        mlp = "-".join(map(str, b["widths"])) + " " + b["activation"]
        picked = (p["topology"][:26], f"{100 * p['test']:.1f}", f"{p['energy'] * 1e9:.0f}") \
            if p else ("(none that cheap)", "-", "-")
        print(f"{r['task']:<8} {r['rule']:<4} {mlp:<22} {100 * b['test']:>6.1f} "
              f"{b['energy'] * 1e9:>9.0f} | {picked[0]:<26} {picked[1]:>6} {picked[2]:>9} "
              f"{r['verdict']:>7} | {r['unseeded_verdict'] or '-':>8} | "
              f"{hv['seeded_test']:.3g}/{hv['unseeded_test']:.3g}/{hv['fixed_test']:.3g}")
    wins = sorted({r["rule"] for r in results if r["verdict"] == "win"})
    print(f"rules whose seeded search beats the best MLP on some task: {len(wins)} "
          f"({', '.join(wins) or 'none'})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--from", dest="source", type=Path, required=True,
                   help="a JSON written by benchmarks/evolved_vs_fixed.py")
    p.add_argument("--rules", nargs="+", help="its rules to run (default: all of them)")
    p.add_argument("--runs", type=Path, help="where the run records go (default: a temporary "
                   "folder, removed at the end)")
    p.add_argument("--reuse", action="store_true",
                   help="read finished runs under --runs instead of running them again")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the search's space or strategy, as evolved_vs_fixed.py "
                   "takes it, e.g. space.max_hidden_size=128 (repeatable)")
    p.add_argument("--start-share", type=float, default=SpaceSettings.start_share,
                   help="the share of generation 0 grown from the MLP, the rest from NEAT's "
                        "minimal genome (space.start_share; default %(default)s: all)")
    args = p.parse_args(argv)
    if args.reuse and args.runs is None:
        p.error("--reuse needs --runs")
    try:  # at once, whichever rules run; the space's own check, on a one-group start
        SpaceSettings(start_widths=(SpaceSettings.min_hidden_size,),
                      start_share=args.start_share)
    except SpaceError as exc:
        p.error(f"--start-share: {exc}")
    settings, args.earlier = evf.read_earlier(p, "--from", args.source,
                                              needed_in_results=("front",))
    known = sorted({r["rule"] for r in args.earlier})
    if args.rules and set(args.rules) - set(known):
        p.error(f"--rules {args.rules}: {args.source} has only {known}")
    if args.json and not args.json.resolve().parent.is_dir():
        p.error(f"--json {args.json}: its folder does not exist")
    # the searches' settings are the earlier run's, so only the start differs (genes it
    # held stay held; for ep and chl a JSON from before --hold held the relaxation as options)
    evf.adopt_earlier(args, settings)
    # the earlier searches' settings of the space and strategy, then this run's own
    args.set = [*settings.get("set", []), *args.set]
    try:
        space = evf.search_settings(args, evf.SearchConfig()).space
    except evf.ConfigError as exc:
        p.error(f"--set: {exc}")
    for r in args.earlier:  # a start outside the space would stop the run midway
        if (not args.rules or r["rule"] in args.rules) and r["best_fixed"]:
            try:
                dataclasses.replace(space, start_widths=tuple(r["best_fixed"]["widths"]),
                                    start_activation=r["best_fixed"]["activation"],
                                    start_share=args.start_share)
            except SpaceError as exc:
                p.error(f"--from {args.source}: {r['task']} {r['rule']}'s best MLP cannot "
                        f"start a search of this space: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        if args.runs is None:
            args.runs = Path(scratch)
        for earlier in args.earlier:
            if args.rules and earlier["rule"] not in args.rules:
                continue
            result = compare(args, earlier)
            if result is not None:
                results.append(result)
                print(f"done {result['task']} {result['rule']} in {result['wall_s']:.0f} s",
                      file=sys.stderr, flush=True)
    if args.json:
        settings = {"from": str(args.source), "population": args.population,
                    "generations": args.generations, "seed": args.seed,
                    "hardware": args.hardware, "quick": args.quick,
                    "start_share": args.start_share, "set": args.set}
        args.json.write_text(strict_json.dumps({"settings": settings, "results": results}))
    print_table(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
