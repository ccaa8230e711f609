"""Does an evolved topology beat a hand-designed MLP trained with the same rule?

For each task and rule, one ``neat-pso`` search (structure and the rule's hyperparameters
evolve together) runs against a grid of fixed MLPs — ``depth`` hidden layers of equal
``width``, every depth × width of ``--depths`` × ``--widths`` — trained with the same rule,
training budget, chip and data split. The comparison isolates topology from tuning: each
fixed MLP gets *at least as many evaluations as the whole search spent* to tune the rule's
hyperparameters and the hidden activation with its structure frozen (``optuna`` with the
TPE sampler over ``strategy.layered.widths`` = that MLP and
``strategy.layered.search_activation = true``; whole generations of ``--tuning-population``,
so it may get up to one generation more). Both sides run through ``evolve.search`` (serial
executor) and are read back from their Parquet records.

Each side picks its member by **validation** accuracy; **test** accuracy is only reported:

- a fixed MLP's pick is its best-validation tuning evaluation (ties: lower energy);
- at matched energy, the evolved side's pick for that MLP is the best-validation member of
  the search's Pareto front whose energy (J per inference on ``--hardware``) is at most the
  MLP's; the verdict compares their test accuracies (``win`` / ``tie`` / ``loss``; ``loss``
  too when no front member is that cheap);
- the headline per task and rule is the verdict against the *best* fixed MLP (the grid's
  best-validation pick).

One search's front spreads its evaluations over every energy, while each fixed MLP spends its
whole tuning budget at one. So a second evolved side asks the question at the best MLP's own
energy: an **energy-capped search** — ``neat-pso`` again, the same population and generations
as the free search, with validation accuracy as its only objective and the best fixed MLP's
energy as a constraint (``evolve.constraints.Constraint``, checked before training: a net
over the cap is recorded ``infeasible`` and never trained). Its pick is its best-validation
evaluation among its first trained evaluations up to the MLP's tuning evaluations (with the
same population and generations it may run a few more; those are not read); its verdict
against the best MLP compares test accuracies as above.

The grid is also read as if it **shared the search's budget** — each of its ``k`` MLPs at
its first ⌊N / k⌋ tuning evaluations, the first N mod k of them in grid order one more (N:
the search's evaluations), so the grid's total equals the search's, the usual footing of
architecture-search comparisons — and its best-validation MLP there is compared with the
front's pick at its energy in the same way (``shared_budget``).

Hypervolume (the run's own reference point, ``evolve.archive.Archive``: moocore, as DEAP)
of (accuracy, energy) is given for the evolved front and for the fixed grid's picks, once
with validation accuracy (what the search optimised) and once with test accuracy.

Why a search falls behind is in its records, and the JSON keeps it: ``growth`` gives, per
generation, how many new evaluations are linear (no hidden group: NEAT starts every search
from the minimal genome, and a generation-0 child gains a hidden group only if its one
mutation pass draws add-node), the deepest and largest net, and the same for the Pareto
front so far with its best validation accuracy; ``seconds_per_evaluation`` is the mean
training time per evaluation, for the search and for each fixed MLP.

It writes JSON (settings, every fixed MLP's and front member's numbers, the verdicts), a PNG
(test accuracy against energy: the evolved front, the tuned fixed MLPs and the capped search's
pick, one panel per task and rule), prints a table, and keeps the run records under ``--runs`` for
benchmarks/stability.py; ``--reuse`` reads the finished runs there instead of running them
again (to redraw the figure or recompute the JSON).

    python benchmarks/evolved_vs_fixed.py [--quick] [--json PATH] [--png PATH]
                                          [--runs DIR [--reuse]] [--hold RULE.GENE=VALUE ...]
                                          [--set KEY=VALUE ...] [--grid-from RESULTS.json]

``--grid-from RESULTS.json`` judges a search run again against the grids an earlier JSON of
this script tuned, without tuning them again: the search takes that JSON's settings (budget,
seed, chip, held genes) and today's defaults, so a change of the search's defaults is
measured against the same MLPs. The grid's runs do not depend on the search's defaults,
only on its number of evaluations; each result's ``grid_fewest_evaluations`` says how many
the least-tuned MLP had, against the search's ``evaluations``. No capped search runs, and
the shared-budget reading needs the grid's records, so both are ``null`` there.
``--widths``/``--depths`` given with it span a larger grid: the earlier JSON's MLPs are
kept, and each MLP of the new grid it lacks is tuned here as in a full run (sized by this
search's evaluations), e.g. ``--widths 16 64 128 256`` to add a column of 256-wide MLPs.

``--set KEY=VALUE`` changes a setting of the searches' space or strategy (``space.*``,
``strategy.*``; the free and the capped search alike, not the grid, whose structure is fixed),
e.g. ``--set space.max_hidden_size=256``.

``--hold`` fixes a gene for both sides (``rule.hyperparameters`` in every config it writes),
e.g. ``--hold ep.gamma=0.1 --hold ep.free_steps=8 --hold ep.nudge_steps=4`` for ep as it was
measured while its relaxation settings were options.

Full run (the defaults): tasks digits and mnist1d, rules bp pc dfa ep lra, population 20,
generations 6, depths 1 2 3 × widths 16 64 128 (128: the default space's largest group
when the study was made; it is 256 now, and ``--widths`` adds wider columns),
tuning population 10, seed 0, Loihi, the config's training budget (15 epochs, patience 5).
docs/science.md ran it one process per task and rule on a 2-core machine, at several
budgets (``--population``, ``--generations``) and seeds; its Reproduce section has the
commands.

``--quick`` (seconds; the benchmark test runs it): task digits, rules bp and dfa, population
6, generations 2, depths 1 2 × widths 8 32, tuning population 4, training 2 epochs with
patience 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# benchmarks/rules.py would shadow the `rules` package that evolve imports: look in the
# repository root before this script's folder
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# this folder after the root (the same when imported by another script or a test)
sys.path.append(str(Path(__file__).resolve().parent))

from gene_settings import parse_genes  # this folder's shared argument parser  # noqa: E402

import evolve
from evolve.archive import Archive, ArchiveEntry
from evolve.config import ConfigError, SearchConfig, override, override_steps, parse_assignments
from evolve.constraints import Constraint
from evolve.objectives import resolve_objectives
from search_spaces.genome import Genome

RULES = ["bp", "pc", "dfa", "ep", "lra"]
TASKS = ["digits", "mnist1d"]


# -- what the runs are ------------------------------------------------------------------------
def base_settings(args: argparse.Namespace, task: str, rule: str, run_id: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "seed": args.seed, "out": str(args.runs), "run_id": run_id,
        "objectives": ["accuracy", "energy"], "task": {"name": task},
        "rule": {"name": rule, "hyperparameters": args.hold.get(rule, {})},
        "hardware": {"profile": args.hardware}, "executor": {"name": "serial"},
    }
    if args.quick:
        settings["training"] = {"epochs": 2, "patience": 1}
    return settings


def evolved_config(args: argparse.Namespace, task: str, rule: str) -> SearchConfig:
    return search_settings(args, override(SearchConfig(), {
        **base_settings(args, task, rule, f"{task}-{rule}-evolved"),
        "generations": args.generations, "population": args.population,
        "strategy": {"name": "neat-pso"}}))


def search_settings(args: argparse.Namespace, config: SearchConfig) -> SearchConfig:
    """A search's config with ``--set``'s settings of the search space and strategy (the
    searches' alone: the grid's structure is fixed, and its tuning is optuna's)."""
    for pair in args.set:
        if not pair.partition("=")[0].strip().startswith(("space.", "strategy.")):
            raise ConfigError(f"{pair}: only the searches' space.* and strategy.* settings "
                              "(training, task, rule and chip are the grid's too)")
    return override_steps(config, [parse_assignments(args.set)]) if args.set else config


def tuning_generations(args: argparse.Namespace, evaluations: int) -> int:
    """Whole generations of ``--tuning-population`` until at least ``evaluations``."""
    return math.ceil(evaluations / args.tuning_population)


def fixed_config(args: argparse.Namespace, task: str, rule: str, widths: tuple[int, ...],
                 evaluations: int) -> SearchConfig:
    name = "x".join(map(str, widths))
    return override(SearchConfig(), {
        **base_settings(args, task, rule, f"{task}-{rule}-fixed-{name}"),
        "generations": tuning_generations(args, evaluations),
        "population": args.tuning_population,
        "strategy": {"name": "optuna", "optuna": {"sampler": "tpe"},
                     "layered": {"depth": len(widths), "widths": list(widths),
                                 "search_activation": True}}})


def capped_config(args: argparse.Namespace, task: str, rule: str,
                  widths: tuple[int, ...]) -> SearchConfig:
    """The search capped at the energy of the MLP of these ``widths``: the free search's
    settings with accuracy as the only objective (the cap itself is a constraint,
    :func:`energy_cap`, not part of the config)."""
    name = "x".join(map(str, widths))
    return search_settings(args, override(SearchConfig(), {
        **base_settings(args, task, rule, f"{task}-{rule}-capped-{name}"),
        "objectives": ["accuracy"], "generations": args.generations,
        "population": args.population, "strategy": {"name": "neat-pso"}}))


def energy_cap(energy: float) -> Constraint:
    """At most ``energy`` J per inference. Under the config's fixed activity a net's energy
    is its genome's and chip's alone, so the cap is checked before training; its name holds
    the exact cap so that ``--reuse`` can tell a run capped elsewhere."""
    return Constraint(f"energy_at_most_{energy!r}", lambda m: m.costs["energy_j"] - energy,
                      genome_only=True)


# -- reading the records ----------------------------------------------------------------------
def levels(genome: Genome) -> dict[int, int]:
    """Each group's longest-path level from the input group (0) over enabled feedforward
    edges; groups the input does not reach are absent."""
    edges = [c for c in genome.connections if c.enabled and not c.recurrent]
    level = {0: 0}
    for _ in genome.nodes:  # longest-path levels (the feedforward part is acyclic)
        for c in edges:
            if c.src in level:
                level[c.dst] = max(level.get(c.dst, 0), level[c.src] + 1)
    return level


def depth(genome: Genome) -> int:
    """Hidden levels on the longest path from the input to the output group (0: linear)."""
    return max(levels(genome).get(1, 0), 1) - 1


def describe(genome: Genome) -> str:
    """A topology in one line: hidden groups (size, activation) in id order, enabled edges,
    and how many of them skip a level (join groups that are not consecutive on the longest
    path from the input)."""
    edges = [c for c in genome.connections if c.enabled]
    level = levels(genome)
    skips = sum(1 for c in edges if not c.recurrent and c.src in level and c.dst in level
                and level[c.dst] - level[c.src] > 1)
    hidden = [f"{n.size} {n.activation}" for n in genome.nodes if n.role == "hidden"]
    return (f"[{', '.join(hidden) or 'none'}] {len(edges)} edges, {skips} skip, "
            f"depth {depth(genome)}")


def evaluation_rows(run: evolve.Run, generations: int | None = None) -> list[dict[str, Any]]:
    """The run's evaluations, of its first ``generations`` generations (all by default)."""
    rows = run.evaluations().to_pylist()
    return rows if generations is None else [r for r in rows if r["generation"] < generations]


def trained(row: dict[str, Any]) -> bool:
    return (row["status"] == "ok" and math.isfinite(row["objective.accuracy"])
            and math.isfinite(row["objective.energy"]))


def seconds_per_evaluation(rows: list[dict[str, Any]]) -> float:
    """Mean training seconds per evaluation of a run's ``rows``: a generation's candidates
    train as one stacked batch, and each row carries its share of the batch's time."""
    seconds = [r["train_seconds"] for r in rows]
    return sum(seconds) / len(seconds) if seconds else math.nan


def fixed_pick(run: evolve.Run, budget: int | None = None,
               generations: int | None = None) -> dict[str, Any]:
    """The tuned MLP: its best-validation evaluation (ties: lower energy, earlier id), among
    its first ``budget`` evaluations in id order (all of them by default) of its first
    ``generations`` generations (all of them by default: a reused tuning run may be longer
    than the comparison reads, :func:`search`)."""
    every = evaluation_rows(run, generations)
    rows = [r for r in every if trained(r)]
    n = len(every)
    if budget is not None:
        first = set(sorted(r["candidate_id"] for r in every)[:budget])
        rows, n = [r for r in rows if r["candidate_id"] in first], len(first)
    spent = seconds_per_evaluation(every)
    if not rows:
        return {"evaluations": n, "ok": 0, "seconds_per_evaluation": spent}
    best = min(rows, key=lambda r: (-r["objective.accuracy"], r["objective.energy"],
                                    r["candidate_id"]))
    genome = Genome.from_json(best["genome"])
    return {"evaluations": n, "ok": len(rows), "valid": best["objective.accuracy"],
            "test": best["test_accuracy"], "energy": best["objective.energy"],
            "activation": next(x.activation for x in genome.nodes if x.role == "hidden"),
            "hyperparameters": json.loads(best["hyperparameters"]),
            "seconds_per_evaluation": spent}


def capped_pick(run: evolve.Run, cap: float, budget: int) -> dict[str, Any]:
    """The capped search's best-validation trained evaluation within the cap (ties: lower
    energy, earlier id) among its first ``budget`` trained evaluations — the MLP's tuning
    evaluations, so that the capped search never trains more nets than the MLP was tuned
    with —, with how many it trained and how many the cap refused up to there."""
    every = sorted(evaluation_rows(run), key=lambda r: r["candidate_id"])
    kept, n_trained = [], 0
    for r in every:
        if r["status"] != "infeasible":
            if n_trained == budget:
                break
            n_trained += 1
        kept.append(r)
    rows = [dict(r, energy=json.loads(r["costs"])["energy_j"]) for r in kept
            if r["status"] == "ok" and math.isfinite(r["objective.accuracy"])]
    rows = [r for r in rows if r["energy"] <= cap]
    infeasible = sum(r["status"] == "infeasible" for r in kept)
    out = {"cap": cap, "evaluations": len(kept), "trained": n_trained, "infeasible": infeasible,
           "ran": len(every), "seconds_per_evaluation": seconds_per_evaluation(every)}
    if not rows:
        return out
    best = min(rows, key=lambda r: (-r["objective.accuracy"], r["energy"], r["candidate_id"]))
    return {**out, "valid": best["objective.accuracy"], "test": best["test_accuracy"],
            "energy": best["energy"], "topology": describe(Genome.from_json(best["genome"])),
            "hyperparameters": json.loads(best["hyperparameters"])}


def front_members(run: evolve.Run) -> list[dict[str, Any]]:
    return [{"valid": a.objectives["accuracy"], "test": a.test_accuracy,
             "energy": a.objectives["energy"], "topology": describe(a.genome),
             "hyperparameters": dict(a.hyperparameters)} for a in run.pareto_front()]


def growth(every: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """How the search's nets grow, per generation of its evaluations ``every``: how many
    evaluations it ran; of those that trained, how many have no hidden group (the minimal
    genome NEAT starts from), the most hidden groups, the deepest and the largest (total
    hidden units); and of the Pareto front of every trained evaluation so far (validation
    accuracy up, energy down), its size, deepest and largest member and its best validation
    accuracy. It shows whether a search had the generations to reach the capacity a task
    needs (docs/science.md)."""
    rows = [r for r in every if trained(r)]
    ran = [r["generation"] for r in every]
    out: list[dict[str, Any]] = []
    seen: list[tuple[float, float, Genome]] = []
    for g in range(max(ran, default=-1) + 1):
        new = [r for r in rows if r["generation"] == g]
        genomes = [Genome.from_json(r["genome"]) for r in new]
        seen += [(r["objective.accuracy"], r["objective.energy"], x)
                 for r, x in zip(new, genomes)]
        front = [(a, e, x) for a, e, x in seen
                 if not any(a2 >= a and e2 <= e and (a2, e2) != (a, e) for a2, e2, _ in seen)]
        out.append({
            "generation": g, "evaluations": ran.count(g),
            "linear": sum(not x.hidden_ids for x in genomes),
            "max_groups": max((len(x.hidden_ids) for x in genomes), default=0),
            "max_depth": max((depth(x) for x in genomes), default=0),
            "max_units": max((units(x) for x in genomes), default=0),
            "front_size": len(front),
            "front_max_depth": max(depth(x) for _, _, x in front) if front else 0,
            "front_max_units": max(units(x) for _, _, x in front) if front else 0,
            "front_best_valid": max(a for a, _, _ in front) if front else None})
    return out


def units(genome: Genome) -> int:
    """Total hidden units."""
    return sum(n.size for n in genome.nodes if n.role == "hidden")


def matched(front: list[dict[str, Any]], energy: float) -> dict[str, Any] | None:
    """The front's best-validation member costing at most ``energy`` (ties: cheaper)."""
    affordable = [m for m in front if m["energy"] <= energy]
    if not affordable:
        return None
    return min(affordable, key=lambda m: (-m["valid"], m["energy"]))


def verdict(evolved: dict[str, Any] | None, fixed: dict[str, Any]) -> str:
    if evolved is None or evolved["test"] < fixed["test"]:
        return "loss"
    return "win" if evolved["test"] > fixed["test"] else "tie"


def hypervolume(points: list[tuple[float, float]], references: dict[str, float]) -> float:
    """Hypervolume of (accuracy, energy) points with the run's reference point."""
    objectives = tuple(dataclasses.replace(o, reference=references.get(o.name, o.reference))
                       for o in resolve_objectives(["accuracy", "energy"]))
    archive = Archive(objectives)
    archive.update([ArchiveEntry(i, 0, {"accuracy": a, "energy": e})
                    for i, (a, e) in enumerate(points)])
    return archive.hypervolume()


def best_of(tuned: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The grid's best MLP: the best-validation pick (ties: lower energy)."""
    tuned = [f for f in tuned if f["ok"]]
    return min(tuned, key=lambda f: (-f["valid"], f["energy"])) if tuned else None


def against_front(fixed: dict[str, Any], front: list[dict[str, Any]]) -> None:
    """Give a tuned MLP's pick the front's pick at its energy and the verdict between them."""
    fixed["evolved"] = matched(front, fixed["energy"])
    fixed["verdict"] = verdict(fixed["evolved"], fixed)


# -- one task and rule ------------------------------------------------------------------------
def search(args: argparse.Namespace, config: SearchConfig,
           constraints: tuple[Constraint, ...] = (), tuning: bool = False) -> evolve.Run:
    """The run ``config`` describes; with ``--reuse``, the one already under ``--runs`` if its
    recorded config and constraints are these and it ran every generation (a run cut short
    is refused).

    A run copied from another ``--runs`` folder is the same run (its config still names the
    folder it was made in). A fixed MLP's ``tuning`` run is sized by the search's evaluations,
    which change when the search does, so one recorded for another number of generations is
    reused too: a shorter one is resumed to ``config.generations`` (so a larger budget can
    start from a copy of a smaller one's grid), a longer one is read only up to them by its
    callers (``fixed_pick(generations=...)``). Either gives the records of a fresh run of
    ``config.generations``: an optuna run's first generations do not depend on how many
    follow, and a resumed run continues as an uninterrupted one
    (tests/test_benchmarks.py checks both)."""
    path = Path(config.out) / config.run_id
    if args.reuse and path.exists():
        run = evolve.load_run(path)
        names = run.description.constraints if run.description else ()
        # the constraints are compared by the names run.json records (config.toml names
        # them too since neurevo records the constraints a search is given; older runs not)
        recorded = dataclasses.replace(run.config, out=config.out,
                                       constraints=config.constraints)
        if tuning:
            recorded = dataclasses.replace(recorded, generations=config.generations)
        if (recorded != config or tuple(names) != tuple(c.name for c in constraints)
                or run.completed_generations() < run.config.generations):
            raise SystemExit(f"--reuse: {path} is not a finished run of these settings "
                             f"(move it away to run it again)")
        if run.completed_generations() < config.generations:
            run = evolve.resume(path, generations=config.generations, reporters=())
        return run
    return evolve.search(config, reporters=(), constraints=constraints)


def compare(args: argparse.Namespace, task: str, rule: str) -> dict[str, Any]:
    started = time.perf_counter()
    evolved_run = search(args, evolved_config(args, task, rule))
    evolved_rows = evaluation_rows(evolved_run)
    spent = len(evolved_rows)
    front = front_members(evolved_run)
    references = evolved_run.references()
    earlier = args.grid.get((task, rule))  # empty without --grid-from
    # the grid as the earlier JSON tuned it (its picks, without its records), and every MLP
    # of --depths x --widths it lacks tuned here
    taken = {tuple(f["widths"]): {k: v for k, v in f.items() if k not in ("evolved", "verdict")}
             for f in (earlier or {}).get("fixed", [])}
    grid = {(width,) * depth: search(args, fixed_config(args, task, rule, (width,) * depth,
                                                        spent), tuning=True)
            for depth in args.depths for width in args.widths
            if (width,) * depth not in taken}
    tuned_generations = tuning_generations(args, spent)
    fixed = [*taken.values(), *({"widths": list(widths),
                                 **fixed_pick(run, generations=tuned_generations)}
                                for widths, run in grid.items())]
    tuned = [f for f in fixed if f["ok"]]
    for f in tuned:
        against_front(f, front)
    best = best_of(tuned)
    shared_budget = None
    if earlier is None:
        # the grid read as if it shared the search's budget: the MLPs' shares sum to it
        shares = [spent // len(grid) + (i < spent % len(grid)) for i in range(len(grid))]
        shared = best_of([{"widths": list(widths),
                           **fixed_pick(run, share, generations=tuned_generations)}
                          for (widths, run), share in zip(grid.items(), shares, strict=True)])
        if shared is not None:
            against_front(shared, front)
        shared_budget = {"each": shares, "best_fixed": shared}
    hv = {f"{side}_{acc}": hypervolume([(m[acc], m["energy"]) for m in members], references)
          for side, members in (("evolved", front), ("fixed", tuned))
          for acc in ("valid", "test")}
    capped = None
    if best is not None and earlier is None:
        cap = energy_cap(best["energy"])
        config = capped_config(args, task, rule, tuple(best["widths"]))
        capped = capped_pick(search(args, config, (cap,)),
                             best["energy"], best["evaluations"])
        capped["verdict"] = verdict(capped if "test" in capped else None, best)
    test_size = evolved_run.description.task.split_sizes["test"]
    out = {"task": task, "rule": rule, "population": args.population,
           "generations": args.generations, "evaluations": spent, "test_size": test_size,
           "seconds_per_evaluation": seconds_per_evaluation(evolved_rows),
           "front": front, "growth": growth(evolved_rows), "fixed": fixed,
           "best_fixed": best, "verdict_vs_best": best["verdict"] if best else "no fixed",
           "capped": capped, "shared_budget": shared_budget,
           "hypervolume": hv, "wall_s": time.perf_counter() - started}
    if earlier is not None:
        # an MLP tuned with fewer evaluations than this search spent had less than its share
        out["grid_fewest_evaluations"] = min(f["evaluations"] for f in fixed)
    return out


# -- output -----------------------------------------------------------------------------------
def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per rule: tasks won against the best fixed MLP (by the free search's front, by the
    energy-capped search, and by the front against the grid that shared the search's
    budget), and the front's wins/ties/losses over the grid."""
    by_rule: dict[str, dict[str, Any]] = {}
    for r in results:
        s = by_rule.setdefault(r["rule"], {"rule": r["rule"], "tasks_won": [],
                                           "capped_tasks_won": [], "shared_tasks_won": [],
                                           "tasks": [],
                                           "win": 0, "tie": 0, "loss": 0})
        s["tasks"].append(r["task"])
        if r["verdict_vs_best"] == "win":
            s["tasks_won"].append(r["task"])
        if (r.get("capped") or {}).get("verdict") == "win":
            s["capped_tasks_won"].append(r["task"])
        if ((r.get("shared_budget") or {}).get("best_fixed") or {}).get("verdict") == "win":
            s["shared_tasks_won"].append(r["task"])
        for f in r["fixed"]:
            if "verdict" in f:
                s[f["verdict"]] += 1
    rows = list(by_rule.values())
    out: dict[str, Any] = {"rules": rows}
    for side, won in (("", "tasks_won"), ("capped_", "capped_tasks_won"),
                      ("shared_", "shared_tasks_won")):
        out[f"rules_{side}winning_all_tasks"] = [s["rule"] for s in rows
                                                 if len(s[won]) == len(s["tasks"])]
        out[f"rules_{side}winning_any_task"] = [s["rule"] for s in rows if s[won]]
    return out


def print_table(results: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    print(f"{'task':8} {'rule':4} {'evals':>5} {'best fixed MLP':16} {'fixed test':>10} "
          f"{'evolved test':>12} {'energy ratio':>12}  verdict   grid w/t/l   "
          f"HV(test) evolved/fixed  evolved pick")
    for r in results:
        b = r["best_fixed"]
        if b is None:
            print(f"{r['task']:8} {r['rule']:4} no fixed MLP trained")
            continue
        e = b["evolved"]
        counts = [sum(f.get("verdict") == v for f in r["fixed"]) for v in ("win", "tie", "loss")]
        mlp = "-".join(map(str, b["widths"])) + f" {b['activation']}"
        print(f"{r['task']:8} {r['rule']:4} {r['evaluations']:5d} {mlp:16} {b['test']:10.3f} "
              f"{(e['test'] if e else float('nan')):12.3f} "
              f"{(e['energy'] / b['energy'] if e else float('nan')):12.2f}  "
              f"{r['verdict_vs_best']:8}  {'/'.join(map(str, counts)):10}   "
              f"{r['hypervolume']['evolved_test']:.3g}/{r['hypervolume']['fixed_test']:.3g}"
              f"  {e['topology'] if e else '-'}")
        c = r.get("capped")
        if c:
            print(f"{'':13} capped at the best MLP's energy: {c['trained']} trained, "
                  f"{c['infeasible']} over the cap; test {c.get('test', float('nan')):.3f}, "
                  f"energy ratio {c.get('energy', float('nan')) / b['energy']:.2f}, "
                  f"{c['verdict']}  {c.get('topology', '-')}")
        shared = (r["shared_budget"] or {}).get("best_fixed")
        if shared:
            e = shared["evolved"]
            each = r["shared_budget"]["each"]
            print(f"{'':13} grid sharing the search's budget ({min(each)}-{max(each)} "
                  f"each): best {'-'.join(map(str, shared['widths']))} "
                  f"{shared['activation']} test {shared['test']:.3f}; front pick "
                  f"{(e['test'] if e else float('nan')):.3f}, {shared['verdict']}")
    print(f"rules whose evolved front beats the best fixed MLP on every task: "
          f"{len(totals['rules_winning_all_tasks'])} {totals['rules_winning_all_tasks']}; "
          f"on at least one: {len(totals['rules_winning_any_task'])} "
          f"{totals['rules_winning_any_task']}")
    print(f"rules whose energy-capped search beats the best fixed MLP on every task: "
          f"{len(totals['rules_capped_winning_all_tasks'])} "
          f"{totals['rules_capped_winning_all_tasks']}; on at least one: "
          f"{len(totals['rules_capped_winning_any_task'])} "
          f"{totals['rules_capped_winning_any_task']}")
    print(f"rules whose evolved front beats the best MLP of a grid sharing its budget on every "
          f"task: {len(totals['rules_shared_winning_all_tasks'])} "
          f"{totals['rules_shared_winning_all_tasks']}; on at least one: "
          f"{len(totals['rules_shared_winning_any_task'])} "
          f"{totals['rules_shared_winning_any_task']}")


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    tasks = list(dict.fromkeys(r["task"] for r in results))
    rules_ = list(dict.fromkeys(r["rule"] for r in results))
    fig, axes = plt.subplots(len(tasks), len(rules_), squeeze=False,
                             figsize=(3.2 * len(rules_), 2.9 * len(tasks)))
    for r in results:
        ax = axes[tasks.index(r["task"])][rules_.index(r["rule"])]
        front = sorted(r["front"], key=lambda m: m["energy"])
        ax.plot([m["energy"] for m in front], [m["test"] for m in front], "o-", color="C0",
                label="evolved front", ms=4)
        tuned = [f for f in r["fixed"] if f["ok"]]
        ax.scatter([f["energy"] for f in tuned], [f["test"] for f in tuned], marker="s",
                   color="C1", s=18, label="fixed MLP, tuned")
        for f in tuned:
            ax.annotate("-".join(map(str, f["widths"])), (f["energy"], f["test"]), fontsize=5)
        capped = r.get("capped") or {}
        if "test" in capped:
            ax.scatter([capped["energy"]], [capped["test"]], marker="*", color="C2", s=60,
                       label="capped search's pick", zorder=3)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{r['task']} · {r['rule']}", fontsize=9)
        ax.tick_params(labelsize=7)
    done = {(tasks.index(r["task"]), rules_.index(r["rule"])) for r in results}
    for i, row in enumerate(axes):
        for j, ax in enumerate(row):
            if (i, j) not in done:  # a task and rule that did not run
                ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("energy per inference (J)", fontsize=8)
    for row in axes:
        row[0].set_ylabel("test accuracy", fontsize=8)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--tasks", nargs="+")
    p.add_argument("--rules", nargs="+")
    p.add_argument("--population", type=int)
    p.add_argument("--generations", type=int)
    p.add_argument("--depths", type=int, nargs="+")
    p.add_argument("--widths", type=int, nargs="+")
    p.add_argument("--tuning-population", type=int)
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--hardware", help="default loihi")
    p.add_argument("--runs", type=Path, help="where the run records go (default: a temporary "
                   "folder, removed at the end)")
    p.add_argument("--reuse", action="store_true", help="read runs already under --runs "
                   "instead of running them again (e.g. to combine tasks run separately)")
    p.add_argument("--json", type=Path, help="where the figures go (default: "
                   "bench-out/evolved_vs_fixed_quick.json or _full.json)")
    p.add_argument("--png", type=Path, help="the plot (default: the JSON path with .png)")
    p.add_argument("--hold", action="append", default=[], metavar="RULE.GENE=VALUE",
                   help="fix a gene for the search and the grid's tuning alike, e.g. "
                   "ep.gamma=0.1 (repeatable)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting of the searches' space or strategy (space.* or "
                   "strategy.*, as neurevo search --set takes it), e.g. "
                   "space.max_hidden_size=256 (repeatable)")
    p.add_argument("--grid-from", type=Path, metavar="RESULTS.json",
                   help="take each task and rule's tuned grid from a JSON this script wrote "
                   "instead of tuning it again, and run only the free search, with that "
                   "JSON's settings and today's defaults (no capped search, no shared budget); "
                   "--widths/--depths given too: the MLPs of that grid it lacks are tuned here")
    args = p.parse_args(argv)
    if args.reuse and args.runs is None:
        p.error("--reuse needs --runs")
    args.hold = parse_genes(args.hold, "--hold")  # checked against each rule's genes
    try:
        search_settings(args, SearchConfig())
    except ConfigError as exc:
        p.error(f"--set: {exc}")
    args.grid = {}
    if args.grid_from:
        grid_from(p, args)
    full = {"tasks": TASKS, "rules": RULES, "population": 20, "generations": 6,
            "depths": [1, 2, 3], "widths": [16, 64, 128], "tuning_population": 10,
            "seed": 0, "hardware": "loihi"}
    quick = {"tasks": ["digits"], "rules": ["bp", "dfa"], "population": 6, "generations": 2,
             "depths": [1, 2], "widths": [8, 32], "tuning_population": 4, "seed": 0,
             "hardware": "loihi"}
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    mode = "quick" if args.quick else "full"
    # scratch by default (git ignores bench-out/): the committed results are written only
    # when named
    args.json = args.json or Path("bench-out") / f"evolved_vs_fixed_{mode}.json"
    args.png = args.png or args.json.with_suffix(".png")
    return args


EARLIER_SETTINGS = ("quick", "population", "generations", "seed", "hardware")


def read_earlier(p: argparse.ArgumentParser, flag: str, path: Path,
                 needed: tuple[str, ...] = (), needed_in_results: tuple[str, ...] = ()
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The settings and results of a JSON this script wrote, for a script that judges or
    starts a search against its figures; anything else ends the command with ``flag``'s
    one-line error (exit 2) before a run starts."""
    try:
        data = json.loads(path.read_text())
        settings, results = data["settings"], data["results"]
        missing = [k for k in (*EARLIER_SETTINGS, *needed) if k not in settings] + [
            f"results[{i}].{k}" for i, r in enumerate(results)
            for k in ("task", "rule", "fixed", "best_fixed", *needed_in_results) if k not in r]
        if missing:
            raise KeyError(", ".join(missing))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        p.error(f"{flag} {path}: not a JSON written by evolved_vs_fixed.py ({exc!r})")
    return settings, results


def adopt_earlier(args: argparse.Namespace, settings: dict[str, Any],
                  keys: tuple[str, ...] = EARLIER_SETTINGS) -> None:
    """Run with the earlier JSON's budget, seed and chip, and the genes it held (a JSON from
    before ``--hold`` existed held none beyond what a search holds by default)."""
    for key in keys:
        setattr(args, key, settings[key])
    args.hold = settings.get("hold", {})


def grid_from(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--grid-from``: the earlier JSON's settings and tuned grids, so that a new default of
    the search is judged against the same MLPs without tuning them again (the grid's runs do
    not depend on the search's defaults, only on its number of evaluations)."""
    taken = (*EARLIER_SETTINGS, "tuning_population")
    given = [f"--{k.replace('_', '-')}" for k in taken if getattr(args, k) not in (None, False)]
    if given:
        p.error(f"{', '.join(given)}: with --grid-from the budget, seed and chip are the "
                "earlier JSON's")
    settings, results = read_earlier(p, "--grid-from", args.grid_from,
                                     ("tuning_population", "depths", "widths"))
    cells = [(r["task"], r["rule"]) for r in results if r["fixed"]]
    if settings.get("grid_from"):
        p.error(f"--grid-from {args.grid_from}: its grids were read from another JSON; give "
                "the JSON that tuned them")
    if len(cells) < len(results):
        p.error(f"--grid-from {args.grid_from}: a result without a tuned grid")
    for flag, chosen, known in (("--tasks", args.tasks, [t for t, _ in cells]),
                                ("--rules", args.rules, [r for _, r in cells])):
        if chosen and set(chosen) - set(known):
            p.error(f"{flag} {chosen}: {args.grid_from} has only {sorted(set(known))}")
    if args.hold:
        p.error("--hold: with --grid-from the genes held are the earlier JSON's")
    adopt_earlier(args, settings, taken)
    for key in ("depths", "widths"):  # given: the grid those span, the earlier MLPs kept
        if getattr(args, key) is None:
            setattr(args, key, settings[key])
    args.grid = {(r["task"], r["rule"]): r for r in results
                 if (not args.tasks or r["task"] in args.tasks)
                 and (not args.rules or r["rule"] in args.rules)}
    if not args.grid:
        p.error(f"--tasks {args.tasks} --rules {args.rules}: no such cell in {args.grid_from} "
                f"({cells})")
    args.tasks = list(dict.fromkeys(t for t, _ in args.grid))
    args.rules = list(dict.fromkeys(r for _, r in args.grid))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        if args.runs is None:
            args.runs = Path(scratch)
        results = []
        cells = list(args.grid) if args.grid_from else [(task, rule) for task in args.tasks
                                                         for rule in args.rules]
        for task, rule in cells:
            results.append(compare(args, task, rule))
            print(f"done {task} {rule} in {results[-1]['wall_s']:.0f} s", file=sys.stderr,
                  flush=True)
    totals = summary(results)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k != "grid"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"settings": settings, "summary": totals,
                                     "results": results}, indent=1))
    plot(results, args.png)
    print_table(results, totals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
