"""The tables of docs/science.md and docs/benchmarks.md, generated from the benchmarks' JSON
and the rules' own declarations, so that no figure there is copied by hand.

Each table sits in a document between ``<!-- table:NAME -->`` and ``<!-- /table -->``;
``--write`` replaces those blocks, ``--check`` exits 1 when one differs (tests/test_docs.py
runs the check). Tables:

- ``headline``: one sentence, how many rules win;
- ``verdicts``: per task and rule, the best fixed MLP against the evolved front's pick at
  matched energy (benchmarks/evolved_vs_fixed.py's JSON, one file per task);
- ``capped``: per task and rule, the best fixed MLP against a search capped at its energy
  (results that ran one);
- ``grid``: every fixed MLP's verdict;
- ``repeats``: cells run again with another seed (``evolved_vs_fixed_repeat_*.json``);
- ``hypervolume``: evolved front against the fixed grid;
- ``topologies``: the evolved front's members;
- ``cost``: training seconds per evaluation;
- ``growth``: per generation, how large and deep the search's nets and front are (results
  that recorded it);
- ``groups256`` and ``groups256_means``: free searches with groups of up to 256 units
  judged against the grids of earlier runs (``evolved_vs_fixed_g256_*.json``, written by
  ``evolved_vs_fixed.py --grid-from``), per seed and as means over seeds, beside the
  earlier fronts (groups of up to 128);
- ``full256``: whole cells run with groups of up to 256 units (each with its own tuned grid
  and capped search; ``evolved_vs_fixed_g256full_*.json``);
- ``stability`` and ``sensitivity``: benchmarks/stability.py's JSON;
- ``limits``: which limits of backprop each compared rule removes (``rule_limits()``);
- ``fidelity``: benchmarks/rules.py's goals on mnist1d 40-256-256-10 (:data:`GAP_GOALS`),
  met or not, at its default 30 epochs and at the MNIST-1D MLP's 8,000 steps (80 epochs);
- ``rules_mnist1d``, ``rules_mnist1d_80epochs``, ``rules_digits``: every row of
  benchmarks/rules.py's JSON (docs/benchmarks.md);
- ``search_defaults``, ``relaxation_genes``, ``search_defaults_256``,
  ``search_defaults_512``: benchmarks/search_defaults.py's studies, as its ``--combine``
  prints them (:data:`DEFAULTS_STUDIES`).

    python benchmarks/science_tables.py [--write | --check] [--doc DOC ...]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rules

# appended, not prepended: benchmarks/rules.py must not shadow the rules package
sys.path.append(str(Path(__file__).resolve().parent))
import evolved_vs_fixed as evf_script  # noqa: E402
import search_defaults as defaults_script  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EVOLVED = sorted(RESULTS.glob("evolved_vs_fixed_full_*.json"))  # one per process that ran
REPEATS = sorted(RESULTS.glob("evolved_vs_fixed_repeat_*.json"))  # other seeds, same budgets
# free searches with groups of up to 256 units judged against earlier JSON's grids
# (evolved_vs_fixed.py --grid-from): one per budget and seed
REGRID = sorted(RESULTS.glob("evolved_vs_fixed_g256_*.json"))
# whole cells (search, tuned grid, capped search) run with groups of up to 256 units, where no
# grid of that budget existed to judge a search against
FULL256 = sorted(RESULTS.glob("evolved_vs_fixed_g256full_*.json"))
STABILITY = RESULTS / "stability_full.json"
# benchmarks/rules.py's JSON: every rule on fixed nets, at the default and the reference budget
RULES_DEFAULT = RESULTS / "rules_mnist1d.json"  # 30 epochs, both mnist1d nets
RULES_REFERENCE = RESULTS / "rules_mnist1d_80epochs.json"  # the MNIST-1D MLP's 8,000 steps
RULES_DIGITS = RESULTS / "rules_digits.json"
# the rules benchmark's goals on the MNIST-1D paper's net: bp's accuracy, each rule's largest
# gap to bp in points, and every rule's margin above the frozen-hidden control
REFERENCE_NET = "mnist1d 40-256-256-10"
BP_GOAL = 0.66
GAP_GOALS = {"pc": 3, "chl": 3, "lra": 3, "fa": 8, "dfa": 8, "ep": 10}
CONTROL_MARGIN = 0.10
# benchmarks/search_defaults.py's committed studies: table name -> (its JSON, the variant
# the others are compared with, seed by seed)
DEFAULTS_STUDIES = {
    "search_defaults": (RESULTS / "search_defaults.json", "default"),
    "relaxation_genes": (RESULTS / "relaxation_genes.json", "default"),
    "search_defaults_256": (RESULTS / "search_defaults_256.json", "groups up to 128"),
    "search_defaults_512": (RESULTS / "search_defaults_512.json", "groups up to 256"),
}
DOCS = [ROOT / "docs" / "science.md", ROOT / "docs" / "benchmarks.md"]
BLOCK = re.compile(r"(<!-- table:(\w+) -->\n)(.*?)(<!-- /table -->)", re.S)


def row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}"


def mlp(f: dict[str, Any]) -> str:
    return "-".join(map(str, f["widths"])) + f" {f['activation']}"


def budget(r: dict[str, Any]) -> str:
    return f"{r['population']} × {r['generations']}"


def largest(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task and rule, the result of the largest search (most evaluations; a task and
    rule may have run at several budgets), in the order given."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for r in results:
        key = (r["task"], r["rule"])
        if key not in best or r["evaluations"] > best[key]["evaluations"]:
            best[key] = r
    return [r for r in results if best[(r["task"], r["rule"])] is r]


def headline(evf: dict[str, Any]) -> list[str]:
    """How many rules' evolved fronts beat the best fixed MLP at matched energy (each task
    and rule at its largest search)."""
    tasks: dict[str, dict[str, str]] = {}
    for r in largest(evf["results"]):
        tasks.setdefault(r["rule"], {})[r["task"]] = r["verdict_vs_best"]
    names = sorted({t for v in tasks.values() for t in v})
    return [f"Of {len(tasks)} rules on {' and '.join(names)}, the evolved front beats the best "
            f"fixed MLP at matched energy (test accuracy) {tally(tasks)}; each task and rule "
            f"counted at its largest search."]


def tally(tasks: dict[str, dict[str, str]]) -> str:
    """``rule -> task -> verdict`` as the headlines' counts: rules that win every task, at
    least one, and that lose none."""
    def named(rules_: list[str]) -> str:
        return f"**{len(rules_)}** ({', '.join(rules_) or 'none'})"
    every = [rule for rule, v in tasks.items() if all(x == "win" for x in v.values())]
    some = [rule for rule, v in tasks.items() if any(x == "win" for x in v.values())]
    no_loss = [rule for rule, v in tasks.items() if all(x != "loss" for x in v.values())]
    return (f"on every task for {named(every)}, on at least one task for {named(some)}, and "
            f"is at least level on every task for {named(no_loss)}")


def capped_headline(evf: dict[str, Any]) -> list[str]:
    """How many rules' energy-capped searches beat the best fixed MLP (each task and rule at
    its largest search; cells without a capped search are left out and counted)."""
    tasks: dict[str, dict[str, str]] = {}
    cells = largest(evf["results"])
    clear = []  # wins by more than two standard errors of the difference
    for r in cells:
        c = r.get("capped")
        if c:
            tasks.setdefault(r["rule"], {})[r["task"]] = c["verdict"]
            b = r["best_fixed"]
            if c["verdict"] == "win" and (c["test"] - b["test"]
                                          > two_se(c["test"], b["test"], r["test_size"])):
                clear.append(f"{r['task']} {r['rule']}")
    if not tasks:
        return ["No result ran an energy-capped search."]
    left = sum(1 for r in cells if not r.get("capped"))
    return [f"Of {len(tasks)} rules, a search capped at the best fixed MLP's energy beats that "
            f"MLP (test accuracy) {tally(tasks)}; wins by more than two standard errors: "
            f"**{len(clear)}** ({', '.join(clear) or 'none'})"
            + (f"; {left} task and rule cells ran no capped search." if left else ".")]


def capped(evf: dict[str, Any]) -> list[str]:
    """The best fixed MLP against the search capped at its energy, per task and rule."""
    out = [row("task", "rule", "search (population × generations)",
               "trained evaluations (capped search / the MLP)", "over the cap (untrained)",
               "best fixed MLP (by valid.)", "its test %", "its energy (nJ)",
               "capped pick test %", "pick energy (nJ)", "difference (pts) ± 2 SE",
               "verdict", "capped pick"),
           row(*["---"] * 13)]
    for r in evf["results"]:
        c, b = r.get("capped"), r["best_fixed"]
        if not c:
            continue
        found = "test" in c
        diff = difference(c["test"], b["test"], r["test_size"]) if found else "–"
        out.append(row(r["task"], r["rule"], budget(r), f"{c['trained']} / {b['evaluations']}",
                       c["infeasible"], mlp(b), pct(b["test"]), f"{b['energy'] * 1e9:.0f}",
                       pct(c["test"]) if found else "–",
                       f"{c['energy'] * 1e9:.0f}" if found else "–", diff,
                       f"**{c['verdict']}**", c.get("topology", "–")))
    return out


def shared_headline(evf: dict[str, Any]) -> list[str]:
    """How many rules' evolved fronts beat the best MLP of the grid read at the search's own
    total budget (each task and rule at its largest search)."""
    tasks: dict[str, dict[str, str]] = {}
    for r in largest(evf["results"]):
        tasks.setdefault(r["rule"], {})[r["task"]] = shared_verdict(r)
    return [f"Of {len(tasks)} rules, the evolved front beats the best MLP of a grid that "
            f"shared the search's budget (matched energy, test accuracy) {tally(tasks)}."]


def shared(evf: dict[str, Any]) -> list[str]:
    """The front against the best MLP of the grid read at the search's own total budget."""
    return verdict_table(evf, shared_verdict,
                         lambda r: (r.get("shared_budget") or {}).get("best_fixed"),
                         "the best MLP's share")


def shared_verdict(r: dict[str, Any]) -> str:
    """The front's verdict against the grid read at the search's budget ("no fixed MLP"
    when no MLP trained within its share)."""
    best = (r.get("shared_budget") or {}).get("best_fixed")
    return best["verdict"] if best else "no fixed MLP"


def two_se(a: float, b: float, n: int) -> float:
    """Two standard errors of the difference of two accuracies measured on ``n`` test
    examples each (as independent proportions; the shared test set makes it conservative)."""
    return 2 * math.sqrt((a * (1 - a) + b * (1 - b)) / n)


def difference(a: float, b: float, n: int) -> str:
    """``a - b`` in points with two standard errors, as a table cell."""
    return f"{100 * (a - b):+.1f} ± {100 * two_se(a, b, n):.1f}"


def verdicts(evf: dict[str, Any]) -> list[str]:
    return verdict_table(evf, lambda r: r["verdict_vs_best"], lambda r: r["best_fixed"])


def verdict_table(evf: dict[str, Any], verdict: Callable[[dict[str, Any]], str],
                  best: Callable[[dict[str, Any]], dict[str, Any] | None],
                  mlp_evaluations: str = "each MLP") -> list[str]:
    """Per result, ``best(result)`` (a tuned MLP) against the front's pick at its energy."""
    out = [row("task", "rule", "search (population × generations)",
               f"evaluations (search / {mlp_evaluations})", "best fixed MLP (by valid.)",
               "its test %", "its energy (nJ)", "front pick test %", "pick energy (nJ)",
               "difference (pts) ± 2 SE", "verdict"),
           row(*["---"] * 11)]
    for r in evf["results"]:
        out.append(row(r["task"], r["rule"], budget(r), *verdict_cells(r, best(r), verdict(r))))
    return out


def verdict_cells(r: dict[str, Any], b: dict[str, Any] | None, verdict: str) -> list[str]:
    """One result's evaluations, a fixed MLP ``b``, the front's pick at its energy and the
    verdict between them, as table cells ("–" where no MLP trained)."""
    if b is None:
        return [f"{r['evaluations']} / –", *["–"] * 6, f"**{verdict}**"]
    e = b["evolved"]
    diff = difference(e["test"], b["test"], r["test_size"]) if e else "–"
    return [f"{r['evaluations']} / {b['evaluations']}", mlp(b), pct(b["test"]),
            f"{b['energy'] * 1e9:.0f}", pct(e["test"]) if e else "–",
            f"{e['energy'] * 1e9:.0f}" if e else "–", diff, f"**{verdict}**"]


def repeats(evf: dict[str, Any], again: list[dict[str, Any]]) -> list[str]:
    """A task and rule run again with another seed (same budget), next to the run the
    other tables use: how much of a verdict is the seed."""
    out = [row("task", "rule", "search", "seed", "evaluations (search / each MLP)",
               "best fixed MLP (by valid.)", "its test %", "its energy (nJ)",
               "front pick test %", "pick energy (nJ)", "difference (pts) ± 2 SE", "verdict",
               "capped pick test %", "capped verdict", "verdict vs the grid sharing the budget"),
           row(*["---"] * 15)]
    cells = {(r["task"], r["rule"], budget(r)) for r in again}
    for r in sorted([*evf["results"], *again], key=lambda r: (order(r), r["seed"])):
        if (r["task"], r["rule"], budget(r)) in cells:
            c = r.get("capped") or {}
            out.append(row(r["task"], r["rule"], budget(r), r["seed"],
                           *verdict_cells(r, r["best_fixed"], r["verdict_vs_best"]),
                           pct(c.get("test")), f"**{c['verdict']}**" if c else "–",
                           f"**{shared_verdict(r)}**"))
    return out


def regridded(paths: list[Path]) -> list[dict[str, Any]]:
    """The results of these ``--grid-from`` JSON files, each with its file's seed and the
    result it was judged against (``earlier``: the same task and rule in the JSON named by
    its ``grid_from``, looked up among the committed results by file name)."""
    out = []
    earlier: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}  # by file: read once
    for path in paths:
        data = json.loads(path.read_text())
        name = Path(data["settings"]["grid_from"]).name
        if name not in earlier:
            earlier[name] = {(r["task"], r["rule"]): r
                             for r in json.loads((RESULTS / name).read_text())["results"]}
        out += [{**r, "seed": data["settings"]["seed"],
                 "earlier": earlier[name][r["task"], r["rule"]]} for r in data["results"]]
    return sorted(out, key=lambda r: (order(r), r["seed"]))


def pick_cells(pick: dict[str, Any] | None, b: dict[str, Any], n: int) -> list[str]:
    """A front's pick at the best MLP's energy as test % and difference ± 2 SE."""
    if pick is None:
        return ["–", "–"]
    return [pct(pick["test"]), difference(pick["test"], b["test"], n)]


def earlier_pick(r: dict[str, Any]) -> dict[str, Any] | None:
    """The earlier front's pick (groups of up to 128) at the energy of this result's best
    MLP, which a grid extended by ``--widths`` may have moved from the earlier one's."""
    return evf_script.matched(r["earlier"]["front"], r["best_fixed"]["energy"])


def groups256(regrid: list[dict[str, Any]]) -> list[str]:
    """Per task, rule, budget and seed: the best fixed MLP against the free front's pick at
    its energy, with groups of up to 128 units (the earlier run) and of up to 256."""
    out = [row("task", "rule", "search", "seed", "best fixed MLP (by valid.)", "its test %",
               "pick, groups ≤ 128: test %", "difference (pts) ± 2 SE",
               "pick, groups ≤ 256: test %", "difference (pts) ± 2 SE", "verdict",
               "pick's energy / the MLP's", "pick, groups ≤ 256"),
           row(*["---"] * 13)]
    for r in (r for r in regrid if r["best_fixed"]):
        b, n = r["best_fixed"], r["test_size"]
        e = b["evolved"]
        out.append(row(r["task"], r["rule"], budget(r), r["seed"], mlp(b), pct(b["test"]),
                       *pick_cells(earlier_pick(r), b, n),
                       *pick_cells(e, b, n), f"**{r['verdict_vs_best']}**",
                       f"{e['energy'] / b['energy']:.2f}" if e else "–",
                       e["topology"] if e else "–"))
    return out


def by_cell(results: list[dict[str, Any]]) -> dict[tuple[str, str, str], list[dict[str, Any]]]:
    """The results where an MLP trained, grouped by task, rule and budget (one per seed)."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in (r for r in results if r["best_fixed"]):
        cells.setdefault((r["task"], r["rule"], budget(r)), []).append(r)
    return cells


def gap(pick: dict[str, Any] | None, best: dict[str, Any]) -> float:
    """A pick's test accuracy minus the best MLP's, in points; no pick counts as 0% test."""
    return 100 * ((pick or {"test": 0.0})["test"] - best["test"])


def mean_points(values: list[float]) -> str:
    """A mean difference in points as a table cell ("–" for none)."""
    return f"{sum(values) / len(values):+.1f}" if values else "–"


def groups256_means(regrid: list[dict[str, Any]]) -> list[str]:
    """Per task, rule and budget over its seeds: the mean difference of the front's pick to
    the best MLP (a missing pick counts as 0% test), with groups of up to 128 and 256, the
    wins, and the mean test hypervolumes of both fronts and the grid."""
    out = [row("task", "rule", "search", "seeds", "mean difference (pts), groups ≤ 128",
               "groups ≤ 256", "wins ≤ 128 / ≤ 256", "HV test: front ≤ 128", "front ≤ 256",
               "grid"), row(*["---"] * 10)]
    for (task, rule, size), rs in by_cell(regrid).items():
        before = [r["earlier"] for r in rs]
        picks = [earlier_pick(r) for r in rs]
        verdicts = [evf_script.verdict(e, r["best_fixed"]) for e, r in zip(picks, rs)]
        out.append(row(task, rule, size, " ".join(str(r["seed"]) for r in rs),
                       mean_points([gap(e, r["best_fixed"]) for e, r in zip(picks, rs)]),
                       mean_points([gap(r["best_fixed"]["evolved"], r["best_fixed"])
                                    for r in rs]),
                       f"{verdicts.count('win')} / "
                       f"{sum(r['verdict_vs_best'] == 'win' for r in rs)}",
                       *(f"{sum(x['hypervolume'][k] for x in side) / len(side):.3f}"
                         for side, k in ((before, "evolved_test"), (rs, "evolved_test"),
                                         (rs, "fixed_test")))))
    return out


def net(f: dict[str, Any]) -> str:
    return "-".join(map(str, f["widths"]))


def grid(evf: dict[str, Any]) -> list[str]:
    """Every fixed MLP's verdict; a net not in a run's grid is "–"."""
    nets = list(dict.fromkeys(net(f) for r in evf["results"] for f in r["fixed"]))
    out = [row("task", "rule", "search", *nets, "wins / ties / losses"),
           row(*["---"] * (len(nets) + 4))]
    for r in evf["results"]:
        cells = {}
        for f in r["fixed"]:
            e = f.get("evolved")
            cells[net(f)] = (f"{pct(f['test'])} vs {pct(e['test']) if e else '–'} "
                             f"{f['verdict']}" if f["ok"] else "not trained")
        counts = [sum(f.get("verdict") == v for f in r["fixed"]) for v in ("win", "tie", "loss")]
        out.append(row(r["task"], r["rule"], budget(r), *(cells.get(n, "–") for n in nets),
                       " / ".join(map(str, counts))))
    return out


def full256(results: list[dict[str, Any]]) -> list[str]:
    """Whole cells with groups of up to 256 units: the best tuned MLP against the free
    front's pick and the capped search at its energy, the grid sharing the budget, and the
    test hypervolumes."""
    out = [row("task", "rule", "search", "seed", "evaluations (search / each MLP)",
               "best fixed MLP (by valid.)", "its test %", "its energy (nJ)",
               "front pick test %", "pick energy (nJ)", "difference (pts) ± 2 SE", "verdict",
               "capped pick test %", "capped verdict", "verdict vs the grid sharing the budget",
               "HV test: front / grid", "front's pick"),
           row(*["---"] * 17)]
    for r in results:
        c, b = r.get("capped") or {}, r["best_fixed"]
        pick = (b or {}).get("evolved")
        out.append(row(r["task"], r["rule"], budget(r), r["seed"],
                       *verdict_cells(r, b, r["verdict_vs_best"]),
                       pct(c.get("test")), f"**{c['verdict']}**" if c else "–",
                       f"**{shared_verdict(r)}**",
                       f"{r['hypervolume']['evolved_test']:.3f} / "
                       f"{r['hypervolume']['fixed_test']:.3f}",
                       pick["topology"] if pick else "–"))
    return out


def full256_means(results: list[dict[str, Any]]) -> list[str]:
    """Per task, rule and budget of the whole cells over their seeds: the mean difference of
    the free front's pick and of the capped search's to the best MLP (a missing pick counts
    as 0% test; a cell with no capped search is left out of its mean), the wins, and the
    mean test hypervolumes of the front and the grid."""
    out = [row("task", "rule", "search", "seeds", "mean difference (pts): front",
               "capped", "wins: front / capped", "HV test: front", "grid"),
           row(*["---"] * 9)]
    for (task, rule, size), rs in by_cell(results).items():
        capped = [r for r in rs if r.get("capped")]
        out.append(row(task, rule, size, " ".join(str(r["seed"]) for r in rs),
                       mean_points([gap(r["best_fixed"]["evolved"], r["best_fixed"])
                                    for r in rs]),
                       # a capped search that trained nothing has no "test": 0% test
                       mean_points([gap(r["capped"] if "test" in r["capped"] else None,
                                        r["best_fixed"]) for r in capped]),
                       f"{sum(r['verdict_vs_best'] == 'win' for r in rs)} / "
                       f"{sum(r['capped']['verdict'] == 'win' for r in capped)}",
                       *(f"{sum(r['hypervolume'][k] for r in rs) / len(rs):.3f}"
                         for k in ("evolved_test", "fixed_test"))))
    return out


def hypervolume(evf: dict[str, Any]) -> list[str]:
    out = [row("task", "rule", "search", "fixed MLPs", "HV valid: evolved",
               "HV valid: fixed grid", "HV test: evolved", "HV test: fixed grid"),
           row(*["---"] * 8)]
    for r in evf["results"]:
        h = r["hypervolume"]
        out.append(row(r["task"], r["rule"], budget(r), len(r["fixed"]),
                       *(f"{h[k]:.3f}" for k in
                                               ("evolved_valid", "fixed_valid",
                                                "evolved_test", "fixed_test"))))
    return out


def topologies(evf: dict[str, Any]) -> list[str]:
    out = [row("task", "rule", "search", "front member (hidden groups, edges)", "valid %",
               "test %", "energy (nJ)"), row(*["---"] * 7)]
    for r in evf["results"]:
        for m in sorted(r["front"], key=lambda m: m["energy"]):
            out.append(row(r["task"], r["rule"], budget(r), m["topology"], pct(m["valid"]),
                           pct(m["test"]), f"{m['energy'] * 1e9:.0f}"))
    return out


def cost(evf: dict[str, Any]) -> list[str]:
    """Training seconds per evaluation: the search's and the fixed MLPs' range (results that
    recorded them; from the run records, so ``--reuse`` gives the same figures)."""
    out = [row("task", "rule", "search", "s / evaluation: search",
               "s / evaluation: fixed MLPs"), row(*["---"] * 5)]
    for r in evf["results"]:
        if "seconds_per_evaluation" not in r:
            continue
        fixed = [f["seconds_per_evaluation"] for f in r["fixed"]]
        out.append(row(r["task"], r["rule"], budget(r), f"{r['seconds_per_evaluation']:.2f}",
                       f"{min(fixed):.2f}–{max(fixed):.2f}"))
    return out


def growth(evf: dict[str, Any]) -> list[str]:
    """Per generation: of the new evaluations, how many are linear (no hidden group) and the
    deepest and largest; of the front so far, its size, deepest and largest member and best
    validation accuracy (benchmarks/evolved_vs_fixed.py's ``growth``)."""
    out = [row("task", "rule", "search", "generation", "evaluations", "linear",
               "deepest (levels)", "largest (hidden units)", "front size",
               "front: deepest", "front: largest", "front: best valid %"),
           row(*["---"] * 12)]
    for r in evf["results"]:
        for g in r.get("growth", []):
            out.append(row(r["task"], r["rule"], budget(r), g["generation"], g["evaluations"],
                           g["linear"], g["max_depth"], g["max_units"], g["front_size"],
                           g["front_max_depth"], g["front_max_units"],
                           pct(g["front_best_valid"])))
    return out


def stability(stab: dict[str, Any]) -> list[str]:
    out = [row("rule", "evaluations", "failed", "diverged, all %", "box samples",
               "diverged, box samples %"), row(*["---"] * 6)]
    for s in stab["rules"]:
        out.append(row(s["rule"], s["evaluations"], s["failed"], pct(s["diverged_all"]),
                       s["box_samples"], pct(s["diverged_box"])))
    return out


def sensitivity(stab: dict[str, Any]) -> list[str]:
    tasks = sorted({t for s in stab["rules"] for g in s["genes"].values() for t in g["tasks"]})
    out = [row("rule", "gene", "diverged % by third (low / mid / high)",
               *(f"{t}: Spearman ρ, spread" for t in tasks)), row(*["---"] * (3 + len(tasks)))]
    for s in stab["rules"]:
        for gene, g in s["genes"].items():
            cells = []
            for t in tasks:
                v = g["tasks"].get(t)
                rho = "–" if not v or v["spearman"] is None else f"{v['spearman']:+.2f}"
                spread = "–" if not v or v["spread"] is None else f"{v['spread']:.2f}"
                cells.append(f"{rho}, {spread}")
            out.append(row(s["rule"], gene, " / ".join(pct(x) for x in g["diverged_by_third"]),
                           *cells))
    return out


def bench_rows(bench: dict[str, dict[str, Any]]) -> list[str]:
    """Every row of a benchmarks/rules.py JSON: test and training accuracy (mean ± sd over
    its seeds), the margin over the frozen control and the gap to bp, time relative to bp."""
    out = [row("data", "topology", "rule", "test", "train", "−frozen", "−bp", "time × bp"),
           row(*["---"] * 8)]
    for by_rule in bench.values():
        for name, r in by_rule.items():
            out.append(row(r["data"], r["topology"], name, f"{pct(r['mean'])} ± {pct(r['sd'])}",
                           pct(r["train_mean"]), points(r["margin_over_frozen"]),
                           points(r["gap_to_bp"]), f"{r['time_vs_bp']:.2f}"))
    return out


def points(x: float) -> str:
    return "0" if round(100 * x, 1) == 0 else f"{100 * x:+.1f}".replace("-", "−")


def goal(name: str) -> str:
    margin = f">= {100 * CONTROL_MARGIN:.0f} over the control"
    if name == "bp":
        return f">= {100 * BP_GOAL:.0f}%, {margin}"
    if name in GAP_GOALS:
        return f"within {GAP_GOALS[name]} of bp, {margin}"
    return margin


def met(name: str, r: dict[str, Any]) -> bool:
    """Whether a rule's row meets its goal and the control margin every rule is held to,
    judged on the figures as the table shows them (points, one decimal), so a row never reads
    "−3.0 ... not met" against a goal of 3 for a float's last bit."""
    def shown(x: float) -> float:
        return round(100 * x, 1)
    if shown(r["margin_over_frozen"]) < shown(CONTROL_MARGIN):
        return False
    if name == "bp":
        return shown(r["mean"]) >= shown(BP_GOAL)
    return name not in GAP_GOALS or -shown(r["gap_to_bp"]) <= GAP_GOALS[name]


def fidelity(budgets: list[dict[str, Any]]) -> list[str]:
    """Per rule, on the reference net, each budget's test accuracy, gap to bp and margin over
    the control, and whether the goals hold there (``budgets``: rules.py JSON files, each
    labelled by the epochs its rows trained)."""
    rows = {f"{bench[REFERENCE_NET]['bp']['epochs']} epochs": bench[REFERENCE_NET]
            for bench in budgets}
    names = [n for n in next(iter(rows.values())) if n != "frozen"]
    head = [c for label in rows for c in (f"{label}: test %", "−bp", "−control", "goal met")]
    out = [row("rule", "goal", *head), row(*["---"] * (2 + len(head)))]
    for name in names:
        cells = []
        for by_rule in rows.values():
            r = by_rule[name]
            cells += [pct(r["mean"]), points(r["gap_to_bp"]), points(r["margin_over_frozen"]),
                      "met" if met(name, r) else "**not met**"]
        out.append(row(name, goal(name), *cells))
    return out


def limits(evf: dict[str, Any]) -> list[str]:
    names = list(dict.fromkeys(r["rule"] for r in evf["results"]))
    out = [row("rule", *rules.LIMITS, "verdicts vs best fixed MLP",
               "capped search vs best fixed MLP"),
           row(*["---"] * (len(rules.LIMITS) + 3))]
    for name in names:
        declared = rules.get_rule(name).rule_limits()
        marks = ["✓" if declared[k]["removed"] else "–" for k in rules.LIMITS]
        cells = [r for r in largest(evf["results"]) if r["rule"] == name]
        won = ", ".join(f"{r['task']} {r['verdict_vs_best']}" for r in cells)
        capped_won = ", ".join(f"{r['task']} {r['capped']['verdict']}" for r in cells
                               if r.get("capped"))
        out.append(row(name, *marks, won, capped_won or "–"))
    return out


def order(result: dict[str, Any]) -> tuple[int, int, str, str, int, int]:
    """Tasks, then rules, in the benchmark's order (unknown ones last, by name), then the
    smaller search first — by its budget (population × generations), not by the
    evaluations it ran, which differ a little from seed to seed."""
    def at(names: list[str], name: str) -> int:
        return names.index(name) if name in names else len(names)
    return (at(evf_script.TASKS, result["task"]), at(evf_script.RULES, result["rule"]),
            result["task"], result["rule"], result["population"] * result["generations"],
            result["population"])


def tables(evf: dict[str, Any], stab: dict[str, Any], again: list[dict[str, Any]],
           bench: dict[str, dict[str, Any]], regrid: list[dict[str, Any]],
           whole256: list[dict[str, Any]]) -> dict[str, str]:
    """Every generated table by name; ``bench`` holds benchmarks/rules.py's JSON by budget
    (``default``, ``reference``, ``digits``), ``regrid`` the ``--grid-from`` results
    (:func:`regridded`), ``whole256`` the whole cells with groups of up to 256."""
    made = {"groups256": groups256(regrid), "groups256_means": groups256_means(regrid),
            "full256": full256(whole256), "full256_means": full256_means(whole256),
            "fidelity": fidelity([bench["default"], bench["reference"]]),
            "rules_mnist1d": bench_rows(bench["default"]),
            "rules_mnist1d_80epochs": bench_rows(bench["reference"]),
            "rules_digits": bench_rows(bench["digits"]),
            "headline": headline(evf), "verdicts": verdicts(evf), "grid": grid(evf),
            "capped_headline": capped_headline(evf), "capped": capped(evf),
            "shared_headline": shared_headline(evf), "shared": shared(evf),
            "repeats": repeats(evf, again),
            "hypervolume": hypervolume(evf), "topologies": topologies(evf),
            "growth": growth(evf), "cost": cost(evf),
            "stability": stability(stab), "sensitivity": sensitivity(stab), "limits": limits(evf)}
    made |= {name: defaults_table(path, baseline).splitlines()
             for name, (path, baseline) in DEFAULTS_STUDIES.items()}
    return {k: "\n".join(v) + "\n" for k, v in made.items()}


def defaults_table(path: Path, baseline: str) -> str:
    """A search-defaults study's table from its runs, as ``search_defaults.py --combine``
    prints it (the summary is computed again, so a JSON written before the summary had a
    field still gives the whole table)."""
    runs = json.loads(path.read_text())["runs"]
    return defaults_script.markdown(defaults_script.summarise(runs, baseline), baseline)


def render(doc: str, made: dict[str, str]) -> str:
    def fill(m: re.Match[str]) -> str:
        if m.group(2) not in made:
            raise SystemExit(f"docs table {m.group(2)!r} is not one of {sorted(made)}")
        return m.group(1) + made[m.group(2)] + m.group(4)
    return BLOCK.sub(fill, doc)


def seeded(paths: list[Path]) -> list[dict[str, Any]]:
    """The results of these JSON files, each with its file's seed."""
    out = []
    for path in paths:
        data = json.loads(path.read_text())
        out += [{**r, "seed": data["settings"]["seed"]} for r in data["results"]]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--doc", type=Path, nargs="+", default=DOCS,
                   help="the documents whose table blocks to fill or check")
    p.add_argument("--evolved", type=Path, nargs="+", default=EVOLVED,
                   help="evolved_vs_fixed.py JSON files; their results are concatenated")
    p.add_argument("--repeats", type=Path, nargs="*", default=REPEATS,
                   help="evolved_vs_fixed.py JSON files of the same cells with other seeds")
    p.add_argument("--regrid", type=Path, nargs="*", default=REGRID,
                   help="evolved_vs_fixed.py --grid-from JSON files (groups of up to 256)")
    p.add_argument("--full256", type=Path, nargs="*", default=FULL256,
                   help="evolved_vs_fixed.py JSON files of whole cells with groups of up to 256")
    p.add_argument("--stability", type=Path, default=STABILITY)
    p.add_argument("--rules-default", type=Path, default=RULES_DEFAULT,
                   help="benchmarks/rules.py JSON at its default budget (mnist1d)")
    p.add_argument("--rules-reference", type=Path, default=RULES_REFERENCE,
                   help="benchmarks/rules.py JSON at the reference budget (mnist1d)")
    p.add_argument("--rules-digits", type=Path, default=RULES_DIGITS)
    p.add_argument("--png", type=Path, help="also draw one figure, a panel per task and "
                   "rule (its largest search)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    results = seeded(args.evolved)
    evf = {"results": sorted(results, key=order)}
    bench = {"default": json.loads(args.rules_default.read_text()),
             "reference": json.loads(args.rules_reference.read_text()),
             "digits": json.loads(args.rules_digits.read_text())}
    made = tables(evf, json.loads(args.stability.read_text()),
                  sorted(seeded(args.repeats), key=order), bench, regridded(args.regrid),
                  sorted(seeded(args.full256), key=lambda r: (order(r), r["seed"])))
    if args.png:
        evf_script.plot(largest(evf["results"]), args.png)  # one panel per task and rule
    if not (args.check or args.write):
        print("\n".join(f"<!-- table:{k} -->\n{v}<!-- /table -->" for k, v in made.items()))
        return 0
    stale = []
    for path in args.doc:
        doc = path.read_text()
        new = render(doc, made)
        if new != doc:
            stale.append(path)
            if args.write:
                path.write_text(new)
    if args.check and stale:
        print(f"{[str(p) for p in stale]}: tables differ from the benchmarks' JSON; run "
              "benchmarks/science_tables.py --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
