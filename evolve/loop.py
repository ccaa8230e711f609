"""The search loop: ask -> evaluate -> tell -> archive -> record, once per generation.

:class:`Session` wires a resolved config to its parts (task, search space, rule, strategy,
objectives, executor, store) and runs generations from a checkpoint. It is the only place
that knows all of them; each part only knows its own contract.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

import rules
from evolve import hardware
from evolve.archive import Archive, ArchiveEntry
from evolve.config import ConfigError, SearchConfig
from evolve.constraints import Constraint, violations
from evolve.evaluate import (
    Outcome,
    chunk_by_shape,
    evaluate_chunk,
    failed_outcomes,
    outcome_from_row,
    outcome_to_row,
)
from evolve.executors import Executor, TaskFailure, make_executor
from evolve.objectives import Measurements, Objective, covering_references, resolve_objectives
from evolve.records import OBJECTIVE_PREFIX, RunStore, evaluation_schema, write_table
from evolve.reporters import Reporter
from evolve.strategies import Candidate, Problem, Scored, Strategy, make_strategy
from evolve.tasks import Task, load_task
from search_spaces.space import SearchSpace

CHECKPOINT_VERSION = 1
CostFn = Callable[..., Any]  # (genome, profile, *, chips, activity, timesteps) -> HardwareCost


def resolve_profile(name_or_path: str) -> hardware.CoreBudget:
    """A registered profile by name, or a TOML profile file (``*.toml``)."""
    if name_or_path.endswith(".toml"):
        return hardware.load_profile(name_or_path)
    return hardware.get_profile(name_or_path)


@dataclass
class Session:
    config: SearchConfig
    store: RunStore
    run_id: str
    task: Task
    rule: rules.LearningRule
    objectives: tuple[Objective, ...]
    strategy: Strategy
    profile: hardware.CoreBudget
    cost_fn: CostFn
    constraints: Sequence[Constraint] = ()
    reporters: Sequence[Reporter] = field(default_factory=list)

    @classmethod
    def build(cls, config: SearchConfig, store: RunStore, run_id: str,
              objectives: Sequence[str | Objective] | None = None,
              reporters: Sequence[Reporter] = (), constraints: Sequence[Constraint] = (),
              cost_fn: CostFn | None = None) -> Session:
        task = load_task(config.task.name, seed=config.seed,
                         valid_fraction=config.task.valid_fraction,
                         test_fraction=config.task.test_fraction,
                         label_column=config.task.label_column)
        rule = rules.get_rule(config.rule.name)
        hyper = rule.hyperparameters().resolve(config.rule.hyperparameters)
        resolved = resolve_objectives(objectives if objectives is not None else config.objectives)
        unknown = set(config.stop_when) - {o.name for o in resolved}
        if unknown:
            raise ConfigError(f"stop_when names {sorted(unknown)}, which are not objectives "
                              f"of this search ({[o.name for o in resolved]})")
        sp = config.space
        space = SearchSpace(
            n_inputs=task.n_features, n_outputs=task.n_classes,
            hidden_activations=sp.hidden_activations, output_activation=sp.output_activation,
            min_hidden_size=sp.min_hidden_size, max_hidden_size=sp.max_hidden_size,
            max_hidden_nodes=sp.max_hidden_nodes, max_connections=sp.max_connections,
            allow_recurrent=sp.allow_recurrent,
        )
        problem = Problem(tuple(o.direction for o in resolved), hyper, config.population,
                          rule.hyperparameters(), frozenset(config.rule.hyperparameters))
        strategy = make_strategy(config.strategy.name, space, problem, config.strategy)
        profile = resolve_profile(config.hardware.profile)
        cost_fn = cost_fn or hardware.cost
        if any(o.covers_space for o in resolved):
            resolved = covering_references(resolved, _costliest(space, profile, cost_fn, config,
                                                                hyper))
        return cls(config, store, run_id, task, rule, resolved, strategy, profile,
                   cost_fn, tuple(constraints), list(reporters))

    def initial_checkpoint(self) -> dict[str, Any]:
        return {"version": CHECKPOINT_VERSION, "run_id": self.run_id,
                "strategy": self.strategy.init(self.config.seed), "archive": [], "history": [],
                "references": self._references()}

    def _references(self) -> dict[str, float]:
        return {o.name: o.reference for o in self.objectives}

    def _adopt_references(self, checkpoint: dict[str, Any]) -> None:
        """Measure hypervolume against the reference point the run started with (recorded in
        its checkpoint), whatever this version of the code would compute for it now, so that
        a resumed run's curve never jumps. Checkpoints from before references were recorded
        adopt the current ones."""
        recorded = checkpoint.get("references") or self._references()
        self.objectives = tuple(dataclasses.replace(o, reference=float(recorded[o.name]))
                                if o.name in recorded else o for o in self.objectives)

    # -- the loop ----------------------------------------------------------------------------
    def run(self, checkpoint: dict[str, Any], executor: Executor | None = None) -> None:
        own_executor = executor is None
        if executor is None:
            options = dataclasses.asdict(self.config.executor)
            executor = make_executor(options.pop("name"), **options)
        self._adopt_references(checkpoint)
        state = checkpoint["strategy"]
        archive = Archive(self.objectives)
        archive.load(checkpoint["archive"])
        history = list(checkpoint["history"])
        for r in self.reporters:
            r.search_start(str(self.store.root), self.config, state["generation"])
        try:
            while state["generation"] < self.config.generations:
                generation = state["generation"]
                candidates = self.strategy.ask(state)
                outcomes = self._evaluate(executor, generation, candidates)
                scored, rows = self._score(candidates, outcomes)
                state = self.strategy.tell(state, scored)
                entries = [ArchiveEntry(s.candidate.id, generation,
                                        dict(zip(self._names(), s.values, strict=True)), row)
                           for s, row in zip(scored, rows, strict=True)
                           if s.ok and s.violation <= 0]
                added, removed = archive.update(entries)
                summary = self._summary(generation, scored, archive, state)
                history.append(summary)
                self._record(generation, rows, outcomes, archive, added, history)
                self.store.write_checkpoint({"version": CHECKPOINT_VERSION, "run_id": self.run_id,
                                             "strategy": state, "archive": archive.to_dict(),
                                             "history": history,
                                             "references": self._references()})
                for cid in removed:
                    self.store.remove_weights(cid)
                self.store.clear_partial(generation)
                for r in self.reporters:
                    r.generation_end(generation, summary)
                if self._target_reached(summary):
                    break
        finally:
            if own_executor:
                executor.close()
        for r in self.reporters:
            r.search_end(str(self.store.root))

    def _relative(self, name: str, amount: float) -> float:
        """A hardware violation as a share of its limit (cores over / cores budgeted, axons
        over / axons per core, ...), so limits in different units add up fairly; a custom
        constraint's value counts as it is."""
        if not name.startswith("hardware."):
            return amount
        limit = name[len("hardware."):]
        if limit == "chips":
            cap = self.config.hardware.chips * self.profile.cores_per_chip
        else:
            cap = getattr(self.profile, limit, None)
        return amount / cap if isinstance(cap, (int, float)) and cap > 0 else amount

    def _target_reached(self, summary: dict[str, Any]) -> bool:
        """True once every ``stop_when`` objective's best value reached its target."""
        if not self.config.stop_when:
            return False
        directions = {o.name: o.direction for o in self.objectives}
        for name, target in self.config.stop_when.items():
            best = summary["best"].get(name, math.nan)
            if not math.isfinite(best):
                return False
            if (best < target) if directions[name] == "max" else (best > target):
                return False
        return True

    def _names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def _evaluate(self, executor: Executor, generation: int,
                  candidates: list[Candidate]) -> dict[int, Outcome]:
        """Evaluate what the journal of this generation does not already hold."""
        for r in self.reporters:
            r.generation_start(generation, len(candidates))
        asked = {c.id for c in candidates}
        outcomes = {row["candidate_id"]: outcome_from_row(row, params)
                    for row, params in self.store.read_partial(generation)
                    if row["candidate_id"] in asked}
        budget = rules.Budget(self.config.training.epochs, self.config.training.batch_size,
                              self.config.training.patience)
        todo = [c for c in candidates if c.id not in outcomes]
        per_worker = math.ceil(len(todo) / max(executor.parallelism(), 1)) if todo else 1
        chunks = chunk_by_shape(todo, max(1, min(self.config.executor.chunk_size, per_worker)))
        shared = (self.task, self.config.rule.name, budget, self.config.seed)
        results = executor.map(evaluate_chunk, chunks, shared, sizes=[len(c) for c in chunks])
        for i, result in results:
            if isinstance(result, TaskFailure):
                result = failed_outcomes(chunks[i], self.config.seed, result.status, result.error)
            self.store.write_partial(generation, [outcome_to_row(o) for o in result],
                                     {o.candidate_id: o.params for o in result
                                      if o.params is not None})
            for outcome in result:
                outcomes[outcome.candidate_id] = outcome
                for r in self.reporters:
                    r.evaluation_done(generation, len(outcomes), len(candidates), outcome)
        return outcomes

    def _score(self, candidates: list[Candidate], outcomes: dict[int, Outcome]
               ) -> tuple[list[Scored], list[dict[str, Any]]]:
        scored, rows = [], []
        hw = self.config.hardware
        for cand in candidates:
            out = outcomes[cand.id]
            ok = out.status == "ok"
            values = [math.nan] * len(self.objectives)
            costs: dict[str, float] = {}
            violated: dict[str, float] = {}
            try:
                cost = self.cost_fn(cand.genome, self.profile, chips=hw.chips or None,
                                    activity=hw.activity, timesteps=hw.timesteps)
                costs = {k: float(v) for k, v in cost.as_dict().items()}
                m = Measurements(cand.genome, self.config.rule.name, cand.hyperparameters,
                                 out.valid_accuracy, out.test_accuracy,
                                 cand.genome.n_parameters(), costs, {})
                violated = violations(m, self.constraints, cost.violations)
                if ok:
                    values = [o(m) for o in self.objectives]
            except Exception as exc:  # noqa: BLE001 - a user function failing is data
                if ok:
                    ok, out.status = False, "failed"
                    where = "objectives/costs/constraints"
                    out.error = f"{type(exc).__name__} in {where}: {exc}"[:500]
            if ok and not all(math.isfinite(v) for v in values):
                ok, out.status = False, "failed"
                out.error = out.error or "an objective is not finite"
            total = sum(self._relative(name, amount) for name, amount in violated.items())
            scored.append(Scored(cand, tuple(values), total, ok))
            rows.append(self._row(cand, out, values, costs, violated))
        return scored, rows

    def _row(self, cand: Candidate, out: Outcome, values: list[float], costs: dict[str, float],
             violated: dict[str, float]) -> dict[str, Any]:
        row = {
            "run_id": self.run_id, "generation": cand.generation, "candidate_id": cand.id,
            "parent_ids": list(cand.parents), "species": cand.species,
            "genome": cand.genome.to_json(), "genome_hash": cand.genome.stable_hash(),
            "rule": self.config.rule.name,
            "hyperparameters": json.dumps(dict(cand.hyperparameters), sort_keys=True),
            "valid_accuracy": out.valid_accuracy, "test_accuracy": out.test_accuracy,
            "params": cand.genome.n_parameters(), "status": out.status, "error": out.error,
            "epochs": out.epochs, "train_seconds": out.train_seconds, "worker": out.worker,
            "seed": out.seed, "costs": json.dumps(costs, sort_keys=True),
            "violations": json.dumps(violated, sort_keys=True),
            "violation_total": float(sum(self._relative(k, v) for k, v in violated.items())),
        }
        for o, v in zip(self.objectives, values, strict=True):
            row[OBJECTIVE_PREFIX + o.name] = v
        return row

    def _summary(self, generation: int, scored: list[Scored], archive: Archive,
                 state: dict[str, Any]) -> dict[str, Any]:
        best = {}
        for i, o in enumerate(self.objectives):
            vals = [s.values[i] for s in scored if s.ok]
            best[o.name] = (max(vals) if o.direction == "max" else min(vals)) if vals else math.nan
        return {"generation": generation, "evaluations": len(scored),
                "failed": sum(not s.ok for s in scored), "hypervolume": archive.hypervolume(),
                "pareto_size": len(archive.entries), "species": len(state.get("species", [])),
                "best": best}

    def _record(self, generation: int, rows: list[dict[str, Any]], outcomes: dict[int, Outcome],
                archive: Archive, added: list[int], history: list[dict[str, Any]]) -> None:
        names = self._names()
        self.store.write_generation(generation, rows, names)
        for cid in added:
            params = outcomes[cid].params
            if params is not None:
                self.store.write_weights(cid, params)
        pareto = pa.Table.from_pylist([m.record for m in archive.entries],
                                      schema=evaluation_schema(names))
        write_table(self.store.root / "pareto.parquet", pareto)
        flat = [{"generation": h["generation"], "evaluations": h["evaluations"],
                 "failed": h["failed"], "hypervolume": h["hypervolume"],
                 "pareto_size": h["pareto_size"], "species": h["species"],
                 **{f"best.{k}": v for k, v in h["best"].items()}} for h in history]
        write_table(self.store.root / "generations.parquet", pa.Table.from_pylist(flat))


def _costliest(space: SearchSpace, profile: hardware.CoreBudget, cost_fn: CostFn,
               config: SearchConfig, hyper: dict[str, float]) -> Measurements:
    """What the costliest network of the space would measure (objectives.covering_references)."""
    genome = space.costliest_genome()
    hw = config.hardware
    cost = cost_fn(genome, profile, chips=hw.chips or None, activity=hw.activity,
                   timesteps=hw.timesteps)
    costs = {k: float(v) for k, v in cost.as_dict().items()}
    return Measurements(genome, config.rule.name, hyper, 0.0, 0.0, genome.n_parameters(), costs,
                        {})
