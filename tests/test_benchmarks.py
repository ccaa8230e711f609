"""The search-quality benchmark runs end to end (tiny budget), and its summaries are right."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netkit import load_script as netkit_load_script

import rules

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "search_quality.py"


def load_script():
    return netkit_load_script(SCRIPT)


def test_budget_summaries_by_hand():
    sq = load_script()
    curve = [[20, 1.0], [38, 2.0], [60, 2.5]]  # evaluations after each generation, hv
    assert sq.hv_at(curve, 19) == 0.0 and sq.hv_at(curve, 38) == 2.0 and sq.hv_at(curve, 59) == 2.0
    assert sq.evals_to(curve, 2.4) == 60 and sq.evals_to(curve, 3.0) is None
    runs = [{"task": "t", "strategy": "a", "seed": s, "wall_s": 1.0, "curve": c}
            for s, c in enumerate([curve, [[20, 3.0], [40, 3.0]]])]
    runs.append({"task": "t", "strategy": "b", "seed": 0, "wall_s": 2.0, "curve": [[50, 1.0]]})
    rows = {r["strategy"]: r for r in sq.summarise(runs, [40])}
    assert rows["a"]["hv_mean"] == pytest.approx(2.5) and rows["b"]["hv_mean"] == 0.0
    assert rows["a"]["target_hv"] == pytest.approx(0.95 * 3.0)
    assert rows["a"]["reached"] == 1 and rows["a"]["evals_to_95_mean"] == 20


def test_search_quality_runs_end_to_end(tmp_path):
    out = tmp_path / "sq.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--budgets", "24", "--seeds", "0",
         "--population", "8", "--strategies", "neat-pso", "random", "neat-pso-steady",
         "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [r["strategy"] for r in data["summary"]] == ["neat-pso", "random",
                                                        "neat-pso-steady"]
    assert all(r["hv_mean"] > 0 for r in data["summary"])
    for run in data["runs"]:  # stopped at the budget: the last generation crossed it
        evals = [e for e, _ in run["curve"]]
        assert evals[-1] >= 24 and (len(evals) == 1 or evals[-2] < 24)
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "neat-pso" in result.stdout and "hypervolume" in result.stdout


def test_cluster_simulation_runs_and_is_checked_against_ray(tmp_path):
    """cluster_sim.py --quick on a tiny recorded run: the simulated table and its validation
    against real Ray (local x1, x2, a 3-node Cluster) come out; the model itself is exact
    on a hand-made case."""
    import evolve
    from evolve.config import SearchConfig, override

    run = evolve.search(override(SearchConfig(), {
        "generations": 2, "population": 6, "task": {"name": "iris"}, "rule": {"name": "bp"},
        "training": {"epochs": 2}, "executor": {"name": "serial"},
        "out": str(tmp_path / "runs")}), reporters=())
    script = ROOT / "benchmarks" / "cluster_sim.py"
    out = tmp_path / "sim.json"
    result = subprocess.run([sys.executable, str(script), "--quick", "--run", str(run.path),
                             "--replay-seconds", "2", "--json", str(out)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [(r["setting"], r["mode"]) for r in data["validation"]] == [
        (setting, mode) for setting in ("local x1", "local x2", "cluster 3 nodes")
        for mode in ("generational", "steady")]
    assert all(r["measured_s"] > 0 and r["simulated_s"] > 0 for r in data["validation"])
    for r in data["validation"]:  # each row says whether it met the goal, and where time went
        assert r["within_10pct"] == (r["deviation"] <= 0.10)
        split = r["breakdown"]
        assert sum(split["tasks_per_node"]) == split["tasks"] > 0
        assert len(split["tasks_per_node"]) <= (3 if r["setting"].startswith("cluster") else 1)
        assert r["task_overhead_s"] > 0
        assert len(r["burst_overhead_s"]) == (r["workers"] if r["workers"] > 1 else 0)
    assert "within 10%" in result.stdout
    assert {(r["population"], r["workers"]) for r in data["simulation"]} >= {(1000, 64)}
    assert all(0 < r["utilisation"] <= 1 and 0 < r["steady_utilisation"] <= 1
               for r in data["simulation"])
    assert all(r["picked"] == ("steady" if r["steady_wall_s"] < r["wall_s"] else "generational")
               for r in data["simulation"])
    sim = _load(script)
    assert sim.makespan([3.0, 2.0, 2.0, 1.0], 2) == 4.0  # LPT on two workers: {3,1} {2,2}
    assert sim.makespan([1.0, 1.0], 4) == 1.0
    # steady mode on two workers, quorum 1/2: generation 1 starts when the 1 s candidate of
    # generation 0 is in, beside its 3 s one (the generational barrier: 3 s + 2 s)
    shape = sim.Shape((4, 3))
    gens = [[sim.Evaluated(shape, c) for c in costs] for costs in ([3.0, 1.0], [1.0] * 4)]
    assert sum(sim.makespan(sim.chunk_costs(g, 2), 2) for g in gens) == 5.0
    assert sim.steady_makespan(gens, 2, driver_s=0.0, quorum=0.5) == 4.0
    assert sim.steady_makespan(gens, 2, driver_s=0.0, quorum=1.0) == 5.0
    # measured overheads: the k-th chunk of a burst pays burst[k], a chunk submitted alone
    # (after the first wave, or into one free slot) pays single
    ov = sim.Overheads(single=0.5, burst=(0.25, 1.0))
    assert sim.chunk_costs(gens[0], 2, ov) == [3.25, 2.0]  # {3} + 0.25, {1} + 1
    assert sim.chunk_costs(gens[1], 2, ov) == [2.25, 3.0]  # {1, 1} + 0.25, {1, 1} + 1
    assert sim.chunk_costs(gens[1], 1, ov) == [4.5]  # one worker: never a burst
    # steady: {3} + 0.25 | {1} + 1 end at 3.25 and 2; told at 2 (quorum), one free slot:
    # {1} + 0.5 alone, 2 -> 3.5; then one at a time as slots free: 3.25 -> 4.75,
    # 3.5 -> 5, 4.75 -> 6.25
    assert sim.steady_makespan(gens, 2, driver_s=0.0, quorum=0.5, overhead=ov) == 6.25


def _load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_driver_benchmark_runs_and_reports_both_populations(tmp_path):
    """benchmarks/driver.py --quick: ask/tell/record times at two populations side by side,
    bytes written per generation and the checkpoint's read-back time, in the table and JSON."""
    out = tmp_path / "driver.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "driver.py"), "--quick",
                             "--json", str(out)], capture_output=True, text=True, timeout=600,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert [r["population"] for r in data["results"]] == [100, 1000]
    for r in data["results"]:
        assert r["median_tell_s"] > 0 and r["median_record_s"] > 0
        assert len(r["bytes_written"]) == r["generations"] == 3
        assert r["evaluations"] >= r["population"] * 3 - 3 * 10  # elites are not re-asked
        assert r["resume_read_s"] > 0 and r["checkpoint_bytes"] > 0
    assert "ask+tell: population 1,000 / 100" in result.stdout


def test_evolved_vs_fixed_picks_by_hand():
    """Matched energy picks the front's best-validation member no costlier than the MLP;
    the verdict compares test accuracy; the hypervolume is the archive's."""
    evf = _load(ROOT / "benchmarks" / "evolved_vs_fixed.py")
    front = [{"valid": 0.90, "test": 0.80, "energy": 1e-7},
             {"valid": 0.95, "test": 0.97, "energy": 3e-7},
             {"valid": 0.99, "test": 0.93, "energy": 9e-7}]
    assert evf.matched(front, 5e-7)["valid"] == 0.95
    assert evf.matched(front, 9e-7)["valid"] == 0.99  # by validation, not by test
    assert evf.matched(front, 5e-8) is None
    fixed = {"test": 0.95}
    assert evf.verdict(front[1], fixed) == "win" and evf.verdict(front[2], fixed) == "loss"
    assert evf.verdict(None, fixed) == "loss" and evf.verdict({"test": 0.95}, fixed) == "tie"
    refs = {"accuracy": 0.0, "energy": 1e-3}
    # energy on log10: one point (acc a, energy 10^-7) dominates a * (log10(1e-3) + 7) = 4a
    assert evf.hypervolume([(0.5, 1e-7)], refs) == pytest.approx(2.0)
    assert evf.hypervolume([(0.5, 1e-7), (0.4, 1e-6)], refs) == pytest.approx(2.0)
    assert evf.hypervolume([], refs) == 0.0


def test_evolved_vs_fixed_depth_counts_hidden_levels_of_grown_genomes():
    """``depth`` is the longest path's hidden levels, a skip edge does not add one, and
    ``units`` sums the hidden groups — on genomes grown by the space's own operators."""
    import numpy as np

    from search_spaces.innovation import InnovationTracker
    from search_spaces.space import SearchSpace

    evf = _load(ROOT / "benchmarks" / "evolved_vs_fixed.py")
    space, tracker, rng = SearchSpace(10, 3), InnovationTracker(), np.random.default_rng(0)
    linear = space.minimal_genome(tracker)
    one = space.add_node(linear, rng, tracker)
    # split the hidden group's edge to the output: input -> h -> h2 -> output
    hidden = one.hidden_ids[0]
    two = one
    while len(two.hidden_ids) < 2 or evf.depth(two) < 2:
        two = space.add_node(one, rng, tracker)
    assert [evf.depth(g) for g in (linear, one, two)] == [0, 1, 2]
    skip = two
    while len(skip.connections) == len(two.connections):
        skip = space.add_edge(two, rng, tracker)  # any new forward edge skips or is parallel
    assert evf.depth(skip) == 2
    assert evf.units(linear) == 0
    assert evf.units(two) == sum(n.size for n in two.nodes if n.id in two.hidden_ids)
    assert evf.units(one) == one.node(hidden).size


def test_evolved_vs_fixed_runs_end_to_end_and_feeds_the_stability_study(tmp_path):
    out, runs = tmp_path / "evf.json", tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "evolved_vs_fixed.py"), "--quick",
         "--json", str(out), "--runs", str(runs), "--hold", "dfa.lr_decay=0.5"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["settings"]["hold"] == {"dfa": {"lr_decay": 0.5}}
    assert [(r["task"], r["rule"]) for r in data["results"]] == [("digits", "bp"),
                                                                  ("digits", "dfa")]
    for r in data["results"]:
        assert len(r["fixed"]) == 4 and r["front"] and r["test_size"] == 360  # digits' split
        assert r["seconds_per_evaluation"] > 0
        assert all(f["seconds_per_evaluation"] > 0 for f in r["fixed"])
        for f in r["fixed"]:  # each MLP got at least the search's evaluations, in whole
            assert r["evaluations"] <= f["evaluations"] < r["evaluations"] + 4  # generations
            assert f["verdict"] in ("win", "tie", "loss") and 0 < f["test"] <= 1
        best = max(r["fixed"], key=lambda f: (f["valid"], -f["energy"]))
        assert r["best_fixed"] == best and r["verdict_vs_best"] == best["verdict"]
        assert all(v > 0 for v in r["hypervolume"].values())
        # growth: one row per generation, covering every evaluation; generation 0 holds
        # NEAT's minimal genome; the front so far ends at the final front's best
        growth = r["growth"]
        assert [g["generation"] for g in growth] == [0, 1]
        assert sum(g["evaluations"] for g in growth) == r["evaluations"]
        assert growth[0]["linear"] >= 1 and growth[0]["max_depth"] <= 1
        assert growth[-1]["front_best_valid"] == max(m["valid"] for m in r["front"])
        # the search capped at the best MLP's energy: its pick is within the cap, its
        # verdict compares test accuracies
        c = r["capped"]
        assert c["cap"] == best["energy"] and c["energy"] <= c["cap"]
        assert c["trained"] + c["infeasible"] == c["evaluations"] >= 6
        assert c["trained"] <= best["evaluations"]
        assert c["verdict"] == ("win" if c["test"] > best["test"] else
                                "tie" if c["test"] == best["test"] else "loss")
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "best fixed MLP" in result.stdout and "rules whose evolved front" in result.stdout
    assert "rules whose energy-capped search" in result.stdout
    assert "rules whose evolved front beats the best MLP of a grid sharing" in result.stdout
    # every fixed MLP run froze its structure: one genome shape per run
    import evolve
    from search_spaces.genome import Genome
    # --hold fixed dfa's lr_decay for its search, its capped search and its grid alike
    for path in runs.glob("*-dfa-*"):
        genes = [json.loads(h) for h in
                 evolve.load_run(path).evaluations().column("hyperparameters").to_pylist()]
        assert {g["lr_decay"] for g in genes} == {0.5}, path.name
        assert len({g["lr"] for g in genes}) > 1, path.name
    for path in runs.glob("*-fixed-*"):
        sizes = {tuple(n.size for n in Genome.from_json(g).nodes if n.role == "hidden")
                 for g in evolve.load_run(path).evaluations().column("genome").to_pylist()}
        assert sizes == {tuple(int(w) for w in path.name.split("-")[-1].split("x"))}
    # the grid sharing the search's budget: the MLPs' shares (the first ones in grid order one
    # more) sum to the search's evaluations; each MLP read at its first evaluations in id
    # order, recomputed here from the records
    evf = _load(ROOT / "benchmarks" / "evolved_vs_fixed.py")
    for r in data["results"]:
        each = r["shared_budget"]["each"]
        assert sum(each) == r["evaluations"] and max(each) - min(each) <= 1
        assert each == sorted(each, reverse=True)
        picks = []
        for f, share in zip(r["fixed"], each, strict=True):
            name = "x".join(map(str, f["widths"]))
            rows = sorted(evolve.load_run(runs / f"digits-{r['rule']}-fixed-{name}")
                          .evaluations().to_pylist(), key=lambda x: x["candidate_id"])[:share]
            picks += [(x["objective.accuracy"], -x["objective.energy"], -x["candidate_id"],
                       x["test_accuracy"], share) for x in rows if x["status"] == "ok"]
        shared = r["shared_budget"]["best_fixed"]
        valid, energy, _, test, share = max(picks)
        assert (shared["valid"], shared["energy"], shared["test"]) == (valid, -energy, test)
        assert shared["evaluations"] == share and shared["valid"] <= r["best_fixed"]["valid"]
        e = evf.matched(r["front"], shared["energy"])
        assert shared["evolved"] == e and shared["verdict"] == (
            "loss" if e is None or e["test"] < test else "win" if e["test"] > test else "tie")

    # --reuse reads the same runs back to the same comparison, and refuses other settings
    again = tmp_path / "again.json"
    script = [sys.executable, str(ROOT / "benchmarks" / "evolved_vs_fixed.py"), "--quick",
              "--runs", str(runs), "--reuse", "--hold", "dfa.lr_decay=0.5"]
    result = subprocess.run([*script, "--json", str(again)], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reread = json.loads(again.read_text())

    def without_wall(results):
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in results]

    assert without_wall(reread["results"]) == without_wall(data["results"])
    result = subprocess.run([*script, "--generations", "3", "--json", str(again)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode != 0 and "is not a finished run of these settings" in result.stderr

    # --grid-from: the same grid judged against a search run again, without tuning the grid
    # again; with the same defaults the search repeats, and so do the front and the verdicts
    regrid, fresh = tmp_path / "regrid.json", tmp_path / "fresh"
    script = [sys.executable, str(ROOT / "benchmarks" / "evolved_vs_fixed.py"), "--grid-from",
              str(out), "--runs", str(fresh)]
    result = subprocess.run([*script, "--rules", "dfa", "--json", str(regrid)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    (again_dfa,) = json.loads(regrid.read_text())["results"]
    (first_dfa,) = [r for r in data["results"] if r["rule"] == "dfa"]
    assert [p.name for p in fresh.iterdir()] == ["digits-dfa-evolved"]  # nothing tuned again
    assert again_dfa["front"] == first_dfa["front"]  # lr_decay held as the earlier JSON held it
    assert again_dfa["fixed"] == first_dfa["fixed"]
    assert again_dfa["best_fixed"] == first_dfa["best_fixed"]
    assert again_dfa["capped"] is None and again_dfa["shared_budget"] is None
    assert again_dfa["grid_fewest_evaluations"] == min(f["evaluations"]
                                                      for f in first_dfa["fixed"])
    # --set changes the search's space, not the grid: the same MLPs against smaller groups
    small = tmp_path / "small"
    result = subprocess.run([*script[:-1], str(small), "--rules", "dfa", "--set",
                             "space.max_hidden_size=6", "--json", str(regrid)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    (smaller,) = json.loads(regrid.read_text())["results"]

    def picks(fixed):  # the MLPs' own figures, without the front's pick at their energy
        return [{k: v for k, v in f.items() if k not in ("evolved", "verdict")} for f in fixed]

    assert picks(smaller["fixed"]) == picks(first_dfa["fixed"])
    small_run = evolve.load_run(small / "digits-dfa-evolved")
    assert small_run.config.space.max_hidden_size == 6
    assert max(evf.units(Genome.from_json(g)) for g in
               small_run.evaluations().column("genome").to_pylist()) > 0
    assert all(n.size <= 6 for g in small_run.evaluations().column("genome").to_pylist()
               for n in Genome.from_json(g).nodes if n.role == "hidden")
    # --widths with --grid-from: the earlier MLPs kept, the ones it lacks tuned here
    wider = tmp_path / "wider"
    result = subprocess.run([*script[:-1], str(wider), "--rules", "bp", "--widths", "8", "32",
                             "12", "--json", str(regrid)], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    (extended,) = json.loads(regrid.read_text())["results"]
    (first_bp,) = [r for r in data["results"] if r["rule"] == "bp"]
    assert picks(extended["fixed"][:4]) == picks(first_bp["fixed"])
    assert [f["widths"] for f in extended["fixed"][4:]] == [[12], [12, 12]]
    assert sorted(p.name for p in wider.iterdir()) == [
        "digits-bp-evolved", "digits-bp-fixed-12", "digits-bp-fixed-12x12"]
    assert all(extended["evaluations"] <= f["evaluations"] for f in extended["fixed"][4:])
    assert extended["capped"] is None and extended["shared_budget"] is None
    for flags, message in ((["--rules", "pc"], "has only ['bp', 'dfa']"),
                           (["--hold", "bp.lr=0.01"], "the genes held are the earlier JSON's"),
                           (["--set", "training.epochs=1"], "only the searches' space.*"),
                           (["--seed", "3"], "the budget, seed and chip are the earlier"),
                           (["--set", "space.max_hidden_size=x"], "space.max_hidden_size")):
        wrong = subprocess.run([*script, *flags], capture_output=True, text=True, timeout=300,
                               cwd=tmp_path)
        assert wrong.returncode == 2 and message in wrong.stderr, wrong.stderr
    wrong = subprocess.run([*script[:2], "--grid-from", str(regrid), "--runs", str(fresh)],
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert wrong.returncode == 2 and "give the JSON that tuned them" in wrong.stderr

    stab = tmp_path / "stab.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "stability.py"), "--runs", str(runs),
         "--json", str(stab)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    studies = {s["rule"]: s for s in json.loads(stab.read_text())["rules"]}
    assert set(studies) == {"bp", "dfa"}
    for s in studies.values():
        assert s["evaluations"] >= 10 + 4 * 12 and 0 <= s["diverged_all"] <= 1
        # every trained evaluation of the rule's runs (the capped one's too), none that a
        # constraint refused before training
        statuses = [x for path in runs.glob(f"digits-{s['rule']}-*")
                    for x in evolve.load_run(path).evaluations().column("status").to_pylist()]
        assert s["evaluations"] == len(statuses) - statuses.count("infeasible")
        assert s["box_samples"] == 4 * 4  # generation 0 of each fixed MLP's tuning run
        # every gene of the rule (dfa's include weight_decay), and the genome's size
        genes = set(rules.get_rule(s["rule"]).hyperparameters().names())
        assert set(s["genes"]) == genes | {"hidden_neurons"} and "lr" in genes
        assert -1 <= s["genes"]["lr"]["tasks"]["digits"]["spearman"] <= 1
    assert stab.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"


def test_capped_search_never_trains_a_net_over_its_cap(tmp_path):
    """The energy cap is checked before training: every net over it is recorded infeasible
    and untrained, every trained one is within it, and the pick is the best-validation
    trained one."""
    evf = _load(ROOT / "benchmarks" / "evolved_vs_fixed.py")
    args = evf.parse_args(["--quick", "--runs", str(tmp_path), "--rules", "bp"])
    free = evf.search(args, evf.evolved_config(args, "digits", "bp"))
    energies = sorted({json.loads(c)["energy_j"]
                       for c in free.evaluations().column("costs").to_pylist()})
    cap = energies[len(energies) // 2]  # some of what the search grows is over it
    run = evf.search(args, evf.capped_config(args, "digits", "bp", (64,)), (evf.energy_cap(cap),))
    assert run.description.constraints == (f"energy_at_most_{cap!r}",)
    assert run.objective_names() == ["accuracy"]
    rows = run.evaluations().to_pylist()
    over = [r for r in rows if json.loads(r["costs"])["energy_j"] > cap]
    assert over and all(r["status"] == "infeasible" and r["epochs"] == 0 for r in over)
    trained = [r for r in rows if r["status"] == "ok"]
    assert trained and all(json.loads(r["costs"])["energy_j"] <= cap for r in trained)
    pick = evf.capped_pick(run, cap, budget=len(rows))
    assert pick["valid"] == max(r["valid_accuracy"] for r in trained)
    assert (pick["trained"], pick["infeasible"]) == (len(rows) - len(over), len(over))
    # a smaller budget reads only the first trained evaluations (in id order)
    first = sorted(trained, key=lambda r: r["candidate_id"])[:3]
    pick = evf.capped_pick(run, cap, budget=3)
    assert pick["trained"] == 3 and pick["ran"] == len(rows)
    assert pick["valid"] == max(r["valid_accuracy"] for r in first)
    # the stability study reads what was trained, not what the cap refused
    stab = _load(ROOT / "benchmarks" / "stability.py")
    assert len(stab.load([tmp_path])["bp"]) == free.evaluations().num_rows + len(rows) - len(over)
    # --reuse refuses a run capped elsewhere
    args.reuse = True
    with pytest.raises(SystemExit, match="not a finished run of these settings"):
        evf.search(args, evf.capped_config(args, "digits", "bp", (64,)),
                   (evf.energy_cap(cap / 2),))


def test_a_reused_tuning_run_of_another_length_reads_as_a_fresh_one(tmp_path):
    """A fixed MLP's tuning run is sized by the search's evaluations; with --reuse one recorded
    for fewer generations is resumed to the wanted number and one recorded for more is read
    up to it, and both give what a fresh run of that length records and picks."""
    evf = _load(ROOT / "benchmarks" / "evolved_vs_fixed.py")

    def setup(folder):
        args = evf.parse_args(["--quick", "--runs", str(tmp_path / folder), "--rules", "bp"])
        return args, lambda evaluations: evf.fixed_config(args, "digits", "bp", (8,),
                                                          evaluations)

    def records(run, generations):
        keep = ("candidate_id", "generation", "genome", "hyperparameters", "valid_accuracy",
                "test_accuracy", "curve")
        return sorted(tuple(r[k] for k in keep) for r in evf.evaluation_rows(run, generations))

    def pick(run, generations):
        return {k: v for k, v in evf.fixed_pick(run, generations=generations).items()
                if k != "seconds_per_evaluation"}

    args, config = setup("fresh")
    fresh = evf.search(args, config(12), tuning=True)  # 3 generations of 4
    assert fresh.completed_generations() == 3
    for folder, recorded in (("shorter", 4), ("longer", 20)):
        args, config = setup(folder + "-made")
        made = evf.search(args, config(recorded), tuning=True)
        # a larger budget starts from a copy of a smaller one's grid in its own folder
        args, config = setup(folder)
        (tmp_path / folder).mkdir()
        shutil.copytree(made.path, tmp_path / folder / made.path.name)
        args.reuse = True
        run = evf.search(args, config(12), tuning=True)
        assert run.completed_generations() == max(3, evf.tuning_generations(args, recorded))
        assert records(run, 3) == records(fresh, None)
        assert pick(run, 3) == pick(fresh, None)
        # a search's or capped search's run of another length is still refused
        with pytest.raises(SystemExit, match="not a finished run of these settings"):
            evf.search(args, config(8))


def test_stability_thirds_and_shares_by_hand():
    stab = _load(ROOT / "benchmarks" / "stability.py")
    rows = [{"genes": {"lr": x}, "diverged": d} for x, d in
            [(1e-4, False), (5e-4, False), (2e-3, True), (1e-2, True), (1e-1, True)]]
    parts = stab.thirds(rows, "lr", (1e-4, 1e-1, True))  # log thirds: 1e-4 | 1e-3 | 1e-2 | 1e-1
    assert [len(p) for p in parts] == [2, 1, 2]
    assert [stab.share(p) for p in parts] == [0.0, 1.0, 1.0] and stab.share([]) is None


def run_rules_benchmark(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "rules.py"), "--tasks", "digits",
         "--rules", "fa", "--no-baselines", "--seeds", "0", "--epochs", "1", *args],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_rules_benchmark_writes_strict_json_without_baselines(tmp_path):
    """Without the bp and frozen rows, the comparisons with them are JSON ``null``, not the
    ``NaN`` token that strict JSON parsers (JavaScript's, jq) refuse."""
    out = tmp_path / "rules.json"
    result = run_rules_benchmark(tmp_path, "--json", str(out))
    assert result.returncode == 0, result.stderr

    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")
    data = json.loads(out.read_text(), parse_constant=refuse)
    (row,) = [r for by_rule in data.values() for r in by_rule.values()]
    assert row["gap_to_bp"] is None and row["margin_over_frozen"] is None
    assert row["time_vs_bp"] is None and 0 <= row["mean"] <= 1


def test_rules_benchmark_trains_with_a_set_gene_and_refuses_a_wrong_one(tmp_path):
    """``--set`` reaches the fit (a tiny learning rate learns less in one epoch than the
    default) and is recorded; a gene the rule lacks, or a rule the run skips, is refused
    before any training, naming it."""
    rows = {}
    for tag, extra in (("default", []), ("slow", ["--set", "fa.lr=1e-4"])):
        out = tmp_path / f"{tag}.json"
        result = run_rules_benchmark(tmp_path, *extra, "--json", str(out))
        assert result.returncode == 0, result.stderr
        rows[tag] = json.loads(out.read_text())["digits 64-128-10"]
    assert set(rows["default"]) == {"fa"}  # --no-baselines: no bp or frozen rows
    assert rows["default"]["fa"]["hyper"] == {} and rows["slow"]["fa"]["hyper"] == {"lr": 1e-4}
    assert rows["slow"]["fa"]["valid_mean"] < rows["default"]["fa"]["valid_mean"]
    assert rows["default"]["fa"]["epochs"] == 1
    wrong = run_rules_benchmark(tmp_path, "--set", "fa.momentum=0.5")
    assert wrong.returncode != 0 and "momentum" in wrong.stderr
    skipped = run_rules_benchmark(tmp_path, "--set", "pc.lr=1e-3")
    assert skipped.returncode != 0 and "'pc'" in skipped.stderr


def test_science_tables_count_each_task_and_rule_at_its_largest_search():
    """A task and rule run at two budgets: the headline and the limits table count the
    larger search; the grid shows every net of either grid, "–" where a run lacked one."""
    tables = _load(ROOT / "benchmarks" / "science_tables.py")

    def result(population, evaluations, verdict, nets):
        fixed = [{"widths": w, "ok": 1, "test": 0.5, "verdict": verdict,
                  "evolved": {"test": 0.5 + (verdict == "win") * 0.1}} for w in nets]
        return {"task": "mnist1d", "rule": "bp", "population": population, "generations": 4,
                "evaluations": evaluations, "verdict_vs_best": verdict, "fixed": fixed}

    small = result(12, 40, "loss", [[16], [64]])
    large = result(16, 100, "win", [[64], [64, 64]])
    for order in ([small, large], [large, small]):
        assert tables.largest(order) == [large]
        assert "**1** (bp)" in tables.headline({"results": order})[0]
    assert tables.limits({"results": [small, large]})[-1].endswith("| mnist1d win | – |")
    # the capped search is counted at the largest search too, and only where it ran
    small["capped"] = {"verdict": "win"}
    assert tables.capped_headline({"results": [small, large]}) == [
        "No result ran an energy-capped search."]
    large["capped"] = {"verdict": "loss", "test": 0.4}
    large["best_fixed"], large["test_size"] = {"test": 0.5}, 1000
    line = tables.capped_headline({"results": [small, large]})[0]
    assert line.startswith("Of 1 rules, a search capped")
    assert "every task for **0** (none)" in line and "at least one task for **0**" in line
    last = tables.limits({"results": [small, large]})[-1]
    assert last.endswith("| mnist1d win | mnist1d loss |")
    # a win counts as clear only beyond two standard errors (0.045 at 0.5 on 1000 examples)
    for test, clear in ((0.54, "**0** (none)"), (0.55, "**1** (mnist1d bp)")):
        large["capped"] = {"verdict": "win", "test": test}
        assert f"two standard errors: {clear}" in tables.capped_headline(
            {"results": [small, large]})[0]
    rows = tables.grid({"results": [small, large]})
    assert rows[0] == "| task | rule | search | 16 | 64 | 64-64 | wins / ties / losses |"
    assert rows[2].endswith("| 12 × 4 | 50.0 vs 50.0 loss | 50.0 vs 50.0 loss | – | 0 / 0 / 2 |")
    assert rows[3].endswith("| 16 × 4 | – | 50.0 vs 60.0 win | 50.0 vs 60.0 win | 2 / 0 / 0 |")


def test_science_tables_repeats_show_only_the_cells_run_again():
    """The repeats table puts a cell's other seeds next to the run the tables use, and
    leaves out cells that were not run again."""
    tables = _load(ROOT / "benchmarks" / "science_tables.py")

    def result(rule, seed, test):
        best = {"widths": [64, 64], "activation": "relu", "evaluations": 170, "test": 0.6,
                "energy": 1e-6, "evolved": {"test": test, "energy": 5e-7}}
        return {"task": "mnist1d", "rule": rule, "population": 20, "generations": 10,
                "evaluations": 160, "seed": seed, "test_size": 1000, "best_fixed": best,
                "verdict_vs_best": "win" if test > 0.6 else "loss",
                "shared_budget": {"each": 18, "best_fixed": {**best, "verdict": "tie"}}}

    evf = {"results": [result("bp", 0, 0.58), result("lra", 0, 0.5)]}
    again = result("bp", 1, 0.62)
    again["evaluations"] = 150  # fewer than seed 0's: the seeds still come in order
    again["capped"] = {"test": 0.59, "verdict": "loss"}
    rows = tables.repeats(evf, [again])
    assert len(rows) == 4 and all("| bp |" in r for r in rows[2:])
    assert "| 0 | 160 / 170 | 64-64 relu | 60.0 | 1000 | 58.0 | 500 | -2.0 ± 4.4 | **loss** |" \
        " – | – | **tie** |" in rows[2]  # this run had no capped search
    assert rows[3].endswith("| 1 | 150 / 170 | 64-64 relu | 60.0 | 1000 | 62.0 | 500 | "
                            "+2.0 ± 4.4 | **win** | 59.0 | **loss** | **tie** |")
    # the grid read at the search's own budget: its own best MLP, verdict and headline
    again["shared_budget"]["best_fixed"] = {**again["best_fixed"], "evaluations": 17,
                                            "widths": [128], "verdict": "win"}
    shared = tables.shared({"results": [again]})
    assert shared[2].endswith("| 20 × 10 | 150 / 17 | 128 relu | 60.0 | 1000 | 62.0 | 500 | "
                              "+2.0 ± 4.4 | **win** |")
    line = tables.shared_headline({"results": [evf["results"][0], again]})[0]
    assert "every task for **0** (none)" in line  # bp counted at seed 0, the larger search
    # no MLP trained within its share: a row of dashes, no crash
    lost = {**again, "shared_budget": {"each": [17], "best_fixed": None}}
    assert tables.shared({"results": [lost]})[2].endswith(
        "| 150 / – | – | – | – | – | – | – | **no fixed MLP** |")
    assert "**no fixed MLP**" in tables.repeats(evf, [lost])[-1]
    line = tables.shared_headline({"results": [again, evf["results"][1]]})[0]
    assert "every task for **1** (bp)" in line
    assert "level on every task for **2** (bp, lra)" in line


def test_science_tables_groups256_judge_each_seed_and_average_the_seeds():
    """The groups-of-256 tables: per seed, the earlier front's pick (groups of up to 128)
    and the new one against the same best MLP — the earlier front judged again at this best
    MLP's energy, which a grid extended by --widths may have moved; over seeds, their mean
    differences (a front with nothing that cheap counts as 0% test), the wins and the mean
    hypervolumes."""
    tables = _load(ROOT / "benchmarks" / "science_tables.py")

    def judged(pick_test, energy=1e-6):
        pick = None if pick_test is None else {"test": pick_test, "valid": pick_test,
                                               "energy": 5e-7,
                                               "topology": "[256 relu] 2 edges"}
        best = {"widths": [128], "activation": "relu", "test": 0.6, "energy": energy,
                "evolved": pick if energy >= 5e-7 else None}
        won = best["evolved"] is not None and pick_test > 0.6
        return {"task": "mnist1d", "rule": "bp", "population": 20, "generations": 40,
                "test_size": 1000, "best_fixed": best, "front": [pick] if pick else [],
                "verdict_vs_best": "win" if won else "loss",
                "hypervolume": {"evolved_test": 2.0 + (pick_test or 0), "fixed_test": 2.3}}

    def result(seed, test, earlier_test):
        return {**judged(test), "seed": seed, "earlier": judged(earlier_test)}

    regrid = [result(0, 0.62, 0.55), result(1, None, 0.58)]
    rows = tables.groups256(regrid)
    assert rows[2] == ("| mnist1d | bp | 20 × 40 | 0 | 128 relu | 60.0 | 55.0 | -5.0 ± 4.4 | "
                       "62.0 | +2.0 ± 4.4 | **win** | 0.50 | [256 relu] 2 edges |")
    assert rows[3].endswith("| 1 | 128 relu | 60.0 | 58.0 | -2.0 ± 4.4 | – | – | **loss** | "
                            "– | – |")
    (mean,) = tables.groups256_means(regrid)[2:]
    # 128: (-5 - 2) / 2; 256: (+2 - 60) / 2; hypervolumes 2.565, 2.31 and the grid's 2.3
    assert mean == ("| mnist1d | bp | 20 × 40 | 0 1 | -3.5 | -29.0 | 0 / 1 | 2.565 | 2.310 | "
                    "2.300 |")
    # an extended grid whose best MLP is cheaper than the earlier pick: nothing that cheap
    cheaper = {**judged(0.62, energy=4e-7), "seed": 2, "earlier": judged(0.65)}
    assert tables.groups256([cheaper])[2].endswith(
        "| 60.0 | – | – | – | – | **loss** | – | – |")
    assert tables.groups256_means([cheaper])[2].startswith(
        "| mnist1d | bp | 20 × 40 | 2 | -60.0 | -60.0 | 0 / 0 |")


def test_science_tables_full256_show_the_whole_cell():
    """A whole cell run with groups of up to 256: the best MLP against the front's pick and
    the capped search, the verdict against the grid sharing the budget, and the test
    hypervolumes; a cell where no MLP trained has dashes, not a crash."""
    tables = _load(ROOT / "benchmarks" / "science_tables.py")
    pick = {"test": 0.62, "valid": 0.63, "energy": 4.8e-6, "topology": "[184 relu] 2 edges"}
    best = {"widths": [128, 128, 128], "activation": "relu", "test": 0.638, "energy": 5.2e-6,
            "evaluations": 660, "evolved": pick}
    cell = {"task": "mnist1d", "rule": "ep", "population": 20, "generations": 40, "seed": 0,
            "evaluations": 652, "test_size": 1000, "best_fixed": best,
            "verdict_vs_best": "loss", "capped": {"test": 0.633, "verdict": "loss"},
            "shared_budget": {"best_fixed": {"verdict": "win"}},
            "hypervolume": {"evolved_test": 2.4245, "fixed_test": 2.36}}
    assert tables.full256([cell])[2] == (
        "| mnist1d | ep | 20 × 40 | 0 | 652 / 660 | 128-128-128 relu | 63.8 | 5200 | 62.0 | "
        "4800 | -1.8 ± 4.3 | **loss** | 63.3 | **loss** | **win** | 2.425 / 2.360 | "
        "[184 relu] 2 edges |")
    empty = {**cell, "best_fixed": None, "capped": None, "shared_budget": None}
    assert tables.full256([empty])[2].startswith("| mnist1d | ep | 20 × 40 | 0 | 652 / – | – |")
    # over seeds: a pick missing counts as 0% test, a cell without a capped search is left
    # out of the capped mean, and a cell where no MLP trained is left out altogether
    missing = {**cell, "seed": 1, "capped": None, "verdict_vs_best": "loss",
               "best_fixed": {**best, "evolved": None},
               "hypervolume": {"evolved_test": 2.2, "fixed_test": 2.4}}
    won = {**cell, "seed": 2, "verdict_vs_best": "win",
           "best_fixed": {**best, "evolved": {**pick, "test": 0.648}},
           "capped": {"test": 0.645, "verdict": "win"}}
    (mean,) = tables.full256_means([cell, missing, won, {**empty, "seed": 3}])[2:]
    # front: (-1.8 - 63.8 + 1.0) / 3; capped: (-0.5 + 0.7) / 2; hypervolumes averaged
    assert mean == ("| mnist1d | ep | 20 × 40 | 0 1 2 | -21.5 | +0.1 | 1 / 1 | 2.350 | "
                    "2.373 |")


def test_science_tables_judge_the_rules_goals_at_each_budget():
    """The fidelity table: a rule meets its goal within its gap to bp (the boundary counts)
    and only 10 points or more above the frozen control; bp by its own accuracy."""
    tables = _load(ROOT / "benchmarks" / "science_tables.py")

    def bench(epochs=30, **means):
        rows = {}
        for name, mean in {"bp": 0.66, "frozen": 0.40, **means}.items():
            rows[name] = {"data": "mnist1d", "topology": "40-256-256-10", "mean": mean,
                          "epochs": epochs,
                          "sd": 0.01, "train_mean": 0.9, "time_vs_bp": 1.0,
                          "gap_to_bp": mean - 0.66, "margin_over_frozen": mean - 0.40}
        return {tables.REFERENCE_NET: rows}

    short = bench(chl=0.63, dfa=0.57, dtp=0.45, ff=0.52)
    long = bench(epochs=80, chl=0.62, dfa=0.61, dtp=0.55, ff=0.52)
    rows = tables.fidelity([short, long])
    assert rows[0] == ("| rule | goal | 30 epochs: test % | −bp | −control | goal met | "
                       "80 epochs: test % | −bp | −control | goal met |")
    by_rule = {r.split(" | ")[0].strip("| "): r for r in rows[2:]}
    assert set(by_rule) == {"bp", "chl", "dfa", "dtp", "ff"}  # the control is not a rule
    assert by_rule["bp"] == ("| bp | >= 66%, >= 10 over the control | 66.0 | 0 | +26.0 | met "
                             "| 66.0 | 0 | +26.0 | met |")
    assert by_rule["chl"].endswith("| 63.0 | −3.0 | +23.0 | met | 62.0 | −4.0 | +22.0 | "
                                   "**not met** |")
    assert by_rule["dfa"] == ("| dfa | within 8 of bp, >= 10 over the control | 57.0 | −9.0 | "
                              "+17.0 | **not met** | 61.0 | −5.0 | +21.0 | met |")
    # no gap goal: only the control margin (5 points short at 30 epochs, 15 over at 80)
    assert by_rule["dtp"] == ("| dtp | >= 10 over the control | 45.0 | −21.0 | +5.0 | "
                              "**not met** | 55.0 | −11.0 | +15.0 | met |")
    assert tables.met("bp", bench(bp=0.659)[tables.REFERENCE_NET]["bp"]) is False
    assert tables.bench_rows(short)[2] == (
        "| mnist1d | 40-256-256-10 | bp | 66.0 ± 1.0 | 90.0 | +26.0 | 0 | 1.00 |")


def test_search_defaults_measures_each_variant_within_the_budget(tmp_path):
    """benchmarks/search_defaults.py: each variant's run is read at the generations that ended
    within ``--budget`` evaluations, generation 0's linear share follows the variant's
    initial add-node rate, and ``--combine`` gives the paired difference to the default."""
    sd = _load(ROOT / "benchmarks" / "search_defaults.py")
    out = tmp_path / "sd.json"
    assert sd.main(["--cells", "digits:bp", "--seeds", "2", "--population", "4",
                    "--generations", "2", "--budget", "5", "--variants", "default",
                    "gen-0 hidden", "--json", str(out)]) == 0
    runs = {r["variant"]: r for r in json.loads(out.read_text())["runs"]}
    for r in runs.values():  # generation 0 (4 evaluations) ends within 5, generation 1 not
        assert (r["generations"], r["evaluations"]) == (1, 4)
        assert 0 < r["best_valid"] <= 1 and r["hypervolume"] > 0
    assert runs["gen-0 hidden"]["generation0_linear"] == 1  # only the minimal genome
    combined = tmp_path / "combined.json"
    assert sd.main(["--combine", str(out), "--json", str(combined)]) == 0
    summary = {s["variant"]: s for s in json.loads(combined.read_text())["summary"]}
    assert summary["gen-0 hidden"]["vs_baseline"] == pytest.approx(
        runs["gen-0 hidden"]["best_valid"] - runs["default"]["best_valid"])
    assert summary["default"]["vs_baseline"] == 0.0
    # --baseline: the paired difference to another variant, which the table lists first
    assert sd.main(["--combine", str(out), "--baseline", "gen-0 hidden", "--json",
                    str(combined)]) == 0
    summary = {s["variant"]: s for s in json.loads(combined.read_text())["summary"]}
    assert summary["default"]["vs_baseline"] == pytest.approx(
        runs["default"]["best_valid"] - runs["gen-0 hidden"]["best_valid"])
    assert summary["default"]["baseline"] == "gen-0 hidden"


@pytest.mark.parametrize("script", ["activations", "constrained"])
def test_quick_benchmarks_run_and_write_their_json(script, tmp_path):
    """A benchmark no other test runs still runs: a stand-in that falls behind the code it
    measures (activations.py's did, once pc read an attribute it lacked) fails here."""
    out = tmp_path / f"{script}.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{script}.py"),
                             "--quick", "--json", str(out)], capture_output=True, text=True,
                            timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(out.read_text()), "empty figures"
    assert result.stdout.strip(), "no table printed"


def test_rules_benchmark_builds_a_rule_with_a_set_option_and_refuses_a_wrong_one(tmp_path):
    """``--option`` reaches the rule (ff with another label height trains to other weights)
    and is recorded; an option the rule lacks is refused before any training, and so is a
    gene given as an option, with the flag that sets it."""
    rows = {}
    for tag, extra in (("default", []), ("height", ["--option", "ff.label_value=3.0"])):
        out = tmp_path / f"{tag}.json"
        result = run_rules_benchmark(tmp_path, "--rules", "ff", *extra, "--json", str(out))
        assert result.returncode == 0, result.stderr
        rows[tag] = json.loads(out.read_text())["digits 64-128-10"]["ff"]
    assert rows["default"]["options"] == {}
    assert rows["height"]["options"] == {"label_value": 3.0}
    assert rows["height"]["train_mean"] != rows["default"]["train_mean"]
    wrong = run_rules_benchmark(tmp_path, "--rules", "ep", "--option", "ep.gama=1")
    assert wrong.returncode != 0 and "unknown option 'gama'" in wrong.stderr
    gene = run_rules_benchmark(tmp_path, "--rules", "ep", "--option", "ep.gamma=1")
    assert gene.returncode != 0 and "--set ep.gamma=1" in gene.stderr


# every script with options (engine.py's neat-python comes with the bench extra)
@pytest.mark.parametrize("script", sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py")
                                          if "add_argument" in p.read_text()))
def test_benchmark_help_opens_with_the_whole_first_sentence(script):
    """``--help`` opens with the script's first paragraph whole: rules.py once took the
    docstring's first line only and stopped mid-sentence ("the margin above a net whose")."""
    path = ROOT / "benchmarks" / f"{script}.py"
    doc = ast.get_docstring(ast.parse(path.read_text()))
    # compared without whitespace: argparse wraps lines, and breaks a word at its hyphen
    first = "".join(doc.split("\n\n")[0].split())
    result = subprocess.run([sys.executable, str(path), "--help"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert first in "".join(result.stdout.split())


def test_cluster_sim_refuses_a_wrong_argument_in_one_line_before_any_replay(tmp_path):
    """A --run that is no run or has nothing trained yet, a --replay-seconds of 0 (once
    taken as 'not given': a 32 s replay ran) and a --json whose folder is missing (once found
    only when the minute of replays was done, losing them) each end at once: exit 2, one
    error line naming the option, no traceback."""
    import evolve
    from evolve.config import SearchConfig, override
    from evolve.reporters import Reporter

    class StopAtStart(Reporter):
        def search_start(self, run_dir: str, config: object, first_generation: int) -> None:
            raise RuntimeError("stopped before the first generation")

    try:  # a run recorded, then stopped before its first generation
        evolve.search(override(SearchConfig(), {
            "generations": 1, "population": 4, "task": {"name": "iris"},
            "executor": {"name": "serial"}, "out": str(tmp_path / "runs")}),
            reporters=[StopAtStart()])
    except RuntimeError as e:  # the run it leaves is what this test needs
        untrained = e.neurevo_run
    else:
        raise AssertionError("a search on an address nothing answers at ran")
    script = ROOT / "benchmarks" / "cluster_sim.py"
    cases = {"--run": ["--run", str(tmp_path / "nosuch")],
             "no evaluation with recorded training time": ["--run", str(untrained)],
             "--replay-seconds": ["--replay-seconds", "0"],
             "its folder does not exist": ["--json", str(tmp_path / "nodir" / "sim.json")]}
    for expected, args in cases.items():
        result = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                                text=True, timeout=300, cwd=tmp_path)
        last = result.stderr.strip().splitlines()[-1]
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert "Traceback" not in result.stderr and expected in last, (args, result.stderr)
        assert not result.stdout.strip(), (args, result.stdout)  # nothing replayed
    assert not (tmp_path / "nodir").exists()


def test_rules_benchmark_refuses_a_json_path_whose_folder_is_missing(tmp_path):
    """Refused before any training (once a FileNotFoundError after the first fit)."""
    result = run_rules_benchmark(tmp_path, "--json", str(tmp_path / "nodir" / "r.json"))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "--json" in result.stderr
    assert "its folder does not exist" in result.stderr and not result.stdout.strip()


def test_devices_benchmark_times_the_host_and_says_what_it_did_not_time(tmp_path):
    """benchmarks/devices.py trains each rule's population and runs a short search, and on a
    machine without CUDA times the CPU path alone and says so (GPU figures are measured,
    never estimated). Its search row counts failed evaluations: on a GPU, a bug that failed
    every pc candidate with a hidden level showed only there (2.4 s for 128 evaluations)."""
    import torch

    script = ROOT / "benchmarks" / "devices.py"
    out = tmp_path / "devices.json"
    result = subprocess.run([sys.executable, str(script), "--quick", "--rules", "pc,ep",
                             "--sizes", "3", "--search", "1", "--search-population", "6",
                             "--chunk-sizes", "2,6", "--json", str(out)],
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(out.read_text())
    assert [(r["rule"], r["population"]) for r in data["rows"]] == [("pc", 3), ("ep", 3)]
    for row in data["rows"]:
        assert row["cpu_s_per_epoch"] > 0 and 0 <= row["cpu_valid_mean"] <= 1
        assert row["padded_neurons"] <= rules.kernels.pc_relax.MAX_ROWS  # triton times kernels
    searches = [s for s in data["searches"] if s["device"] == "cpu"]
    assert [(s["population"], s["chunk_size"]) for s in searches] == [(6, 2), (6, 6)]
    for search in searches:
        assert search["evaluations"] > 0 and search["failed"] == 0
        assert search["first_error"] is None
    # a member's result never depends on its chunk: one chunk per generation or three, the
    # same search
    assert len({(s["evaluations"], s["front_size"], s["front_best_valid"])
                for s in searches}) == 1
    if not torch.cuda.is_available():
        assert "no CUDA device" in result.stdout
        assert not any(key.startswith(("cuda", "triton")) for r in data["rows"] for key in r)
        assert len(data["searches"]) == 2


@pytest.mark.parametrize("args, option", [(["--rules", "pc,nope"], "--rules"),
                                          (["--sizes", "0"], "--sizes"),
                                          (["--epochs", "0"], "--epochs"),
                                          (["--rules", ""], "--rules"),
                                          (["--task", "no_such_task"], "--task"),
                                          (["--json", "missing/out.json"], "--json"),
                                          (["--chunk-sizes", "4"], "--chunk-sizes"),
                                          (["--search", "1", "--chunk-sizes", "0"],
                                           "--chunk-sizes"),
                                          (["--search", "1", "--search-population", "1"],
                                           "--search-population")])
def test_devices_benchmark_refuses_a_wrong_argument_before_training(args, option, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "devices.py"), *args],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 2 and option in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_devices_benchmark_times_no_triton_column_for_a_stack_the_kernels_cannot_hold():
    """``kernel = triton`` relaxes a net over the kernels' MAX_ROWS in torch: a ``triton``
    column for such a stack (``--widths 64`` and up) would time the torch path under the
    kernels' name, so it is not timed and the row says why."""
    path = ROOT / "benchmarks" / "devices.py"
    saved = list(sys.path)
    try:
        devices = netkit_load_script(path)
    finally:
        sys.path[:] = saved
    limit = rules.kernels.pc_relax.MAX_ROWS
    assert [p[0] for p in devices.paths("pc", "cuda", limit)] == ["cpu", "cuda", "triton"]
    assert [p[0] for p in devices.paths("ep", "cuda", limit + 1)] == ["cpu", "cuda"]
    assert [p[0] for p in devices.paths("bp", "cuda", 8)] == ["cpu", "cuda"]


def test_devices_benchmark_records_a_search_that_stops_instead_of_crashing(monkeypatch):
    """A search that stops with an error (a generation whose every evaluation failed) is a
    row saying so, and the table prints it: the rows measured before it are kept."""
    import evolve

    bench = netkit_load_script(ROOT / "benchmarks" / "devices.py")

    def stops(config, reporters=None):
        raise RuntimeError("generation 1: all 20 evaluations failed")
    monkeypatch.setattr(evolve, "search", stops)
    row = bench.search_row("cpu", 1, "iris")
    assert row["stopped"] == "RuntimeError: generation 1: all 20 evaluations failed"
    assert row["seconds"] >= 0 and "front_best_valid" not in row
    bench.print_tables([], [row], None)  # prints the row, does not raise


def test_seeded_search_starts_from_the_best_mlp_and_is_judged_like_the_free_one(tmp_path):
    """benchmarks/seeded_vs_fixed.py reads an evolved_vs_fixed JSON, starts a neat-pso
    search of the same settings from each task and rule's best tuned MLP (its widths and
    activation), and judges the front's pick at the MLP's energy on test accuracy."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    evf_json, out = tmp_path / "evf.json", tmp_path / "seeded.json"
    first = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "evolved_vs_fixed.py"),
                            "--quick", "--rules", "bp", "--json", str(evf_json)],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    runs = tmp_path / "runs"
    script = [sys.executable, str(ROOT / "benchmarks" / "seeded_vs_fixed.py"), "--from",
              str(evf_json), "--runs", str(runs), "--json", str(out)]
    result = subprocess.run(script, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                            env=env)
    assert result.returncode == 0, result.stderr
    (earlier,) = json.loads(evf_json.read_text())["results"]
    (r,) = json.loads(out.read_text())["results"]
    best = earlier["best_fixed"]
    assert r["best_fixed"]["widths"] == best["widths"] and r["best_fixed"]["test"] == best["test"]
    assert r["evaluations"] >= 6  # the earlier search's population and generations
    import evolve
    from search_spaces.genome import Genome
    (path,) = runs.iterdir()
    run = evolve.load_run(path)
    assert run.config.space.start_widths == tuple(best["widths"])
    assert run.config.space.start_activation == best["activation"]
    first_genome = Genome.from_json(run.evaluations().to_pylist()[0]["genome"])
    assert [n.size for n in first_genome.nodes if n.role == "hidden"] == best["widths"]
    # the pick: the front's best-validation member within the MLP's energy, judged on test
    affordable = [m for m in r["front"] if m["energy"] <= best["energy"]]
    if affordable:
        assert r["pick"] == min(affordable, key=lambda m: (-m["valid"], m["energy"]))
        assert r["verdict"] == ("win" if r["pick"]["test"] > best["test"] else
                                "tie" if r["pick"]["test"] == best["test"] else "loss")
    else:
        assert r["pick"] is None and r["verdict"] == "loss"
    assert "rules whose seeded search beats the best MLP" in result.stdout
    again = subprocess.run([*script, "--reuse"], capture_output=True, text=True, timeout=600,
                           cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(out.read_text())["results"][0]["pick"] == r["pick"]
    wrong = subprocess.run([*script[:-2], "--rules", "pc"], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path)
    assert wrong.returncode == 2 and "has only ['bp']" in wrong.stderr
    # a JSON that lacks what the search needs ends before anything runs, naming what is missing
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"settings": {"quick": True}, "results": [{"task": "x"}]}))
    # (the front too, which the seeded search is judged against after it has run)
    wrong = subprocess.run([*script[:2], "--from", str(partial)], capture_output=True,
                           text=True, timeout=300, cwd=tmp_path)
    assert wrong.returncode == 2 and "not a JSON written by evolved_vs_fixed.py" in wrong.stderr
    assert "population" in wrong.stderr and "results[0].rule" in wrong.stderr
    assert "results[0].front" in wrong.stderr
    # --start-share: another run, half of generation 0 from the MLP, half minimal
    shared = subprocess.run([*script, "--start-share", "0.5"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env=env)
    assert shared.returncode == 0, shared.stderr
    assert json.loads(out.read_text())["settings"]["start_share"] == 0.5
    (mixed,) = [evolve.load_run(p) for p in runs.iterdir() if p.name.endswith("-share0.5")]
    assert mixed.config.space.start_share == 0.5
    zero = [Genome.from_json(e["genome"]) for e in mixed.evaluations().to_pylist()
            if e["generation"] == 0]
    half = mixed.config.population // 2
    chain = set(range(2, 2 + len(best["widths"])))  # the MLP's groups' node ids
    assert all(chain <= set(g.hidden_ids) for g in zero[:half])
    assert all(len(g.hidden_ids) <= 1 and not chain & set(g.hidden_ids) for g in zero[half:])
    # --set: the search's space, recorded in the run and the JSON's settings
    other = tmp_path / "other"
    result = subprocess.run([*script[:4], "--runs", str(other), "--json", str(out), "--set",
                             "space.max_hidden_size=40"], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["settings"]["set"] == ["space.max_hidden_size=40"]
    (path,) = other.iterdir()
    assert evolve.load_run(path).config.space.max_hidden_size == 40
    wrong = subprocess.run([*script, "--set", "training.epochs=1"], capture_output=True,
                           text=True, timeout=300, cwd=tmp_path)
    assert wrong.returncode == 2 and "only the searches' space.*" in wrong.stderr
    # the start is checked against the space --set makes, before anything runs
    narrow = f"space.max_hidden_size={max(best['widths']) - 1}"
    wrong = subprocess.run([*script, "--set", narrow], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path)
    assert wrong.returncode == 2 and "cannot start a search of this space" in wrong.stderr


def test_rules_benchmark_reads_a_member_with_the_genes_it_trained_with(tmp_path):
    """With ep's relaxation set by ``--set``, the test and train columns read the member by
    the relaxation it trained under, as its export would (read with ep's defaults instead,
    this net scores otherwise on both splits: 0.277 vs 0.281 test)."""
    import torch

    import rules
    from evolve.tasks import load_task
    from search_spaces.compile import compile_genome
    from search_spaces.genome import layered

    genes = {"gamma": 1.0, "free_steps": 2, "nudge_steps": 1}
    out = tmp_path / "ep.json"
    result = run_rules_benchmark(
        tmp_path, "--tasks", "mnist1d", "--topology", "40-100-100-10", "--rules", "ep",
        *(arg for k, v in genes.items() for arg in ("--set", f"ep.{k}={v}")),
        "--json", str(out))
    assert result.returncode == 0, result.stderr
    run = json.loads(out.read_text())["mnist1d 40-100-100-10"]["ep"]["runs"][0]
    task, rule = load_task("mnist1d", seed=0), rules.get_rule("ep")
    net = compile_genome(layered([40, 100, 100, 10], "relu"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the benchmark trains, so the fit is the same
    try:
        fit = rule.fit(net, task, genes, rules.Budget(epochs=1, batch_size=32, patience=1), [0])
        module = rule.to_module(layered([40, 100, 100, 10], "relu"), fit.params, genes)
        with torch.no_grad():
            for split, column in ((task.test, "test_accuracy"), (task.train, "train_accuracy")):
                correct = (module(split.x).argmax(1) == split.y).double().mean().item()
                assert run[column] == pytest.approx(correct, abs=1e-12), column
    finally:
        torch.set_num_threads(threads)


def test_engine_quick_compares_both_engines_on_the_same_fitness(tmp_path):
    """benchmarks/engine.py --quick against neat-python (the bench extra): a table and JSON
    with both engines' times per generation and their ratio, at each population."""
    out = tmp_path / "engine.json"
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "engine.py"), "--quick",
                             "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(out.read_text())["results"]
    assert [r["population"] for r in rows] == [150, 1000]
    for r in rows:
        assert r["neurevo"]["median_ms"] > 0 and r["ratio"] > 0
        assert len(r["neurevo"]["ms"]) == r["generations"]
    assert "ratio" in result.stdout
