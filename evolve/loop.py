"""The search loop: ask -> evaluate -> tell -> archive -> record, once per generation.

:class:`Session` wires a resolved config to its parts (task, search space, rule, strategy,
objectives, executor, store) and runs generations from a checkpoint. It is the only place
that knows all of them; each part only knows its own contract.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rules
from evolve import hardware
from evolve.archive import Archive, ArchiveEntry
from evolve.chunking import plan_chunks, rule_step_cost
from evolve.config import ConfigError, SearchConfig, override
from evolve.constraints import Constraint, check_constraints
from evolve.evaluate import (
    Outcome,
    RuleSpec,
    evaluate_chunk,
    failed_outcomes,
    outcome_from_row,
    outcome_to_row,
)
from evolve.executors import Executor, TaskFailure, make_executor
from evolve.messages import SetupPluginFailed, failure_detail
from evolve.metadata import (
    ObjectiveRecord,
    RuleRecord,
    RunDescription,
    TaskRecord,
    defined_in,
    fingerprint,
    gene_record,
)
from evolve.objectives import (
    Measurements,
    Metric,
    Objective,
    covering_references,
    declared_metrics,
    is_builtin,
    resolve_objectives,
    unreachable_target,
)
from evolve.plugin_imports import load_installed_plugins
from evolve.plugins import plugin_objects
from evolve.recording import CHECKPOINT_VERSION, Recorder
from evolve.records import PROFILE_FILE, RunStore
from evolve.reporters import Reporter
from evolve.scoring import CostFn, Evaluation, Scorer, cost_fn_name
from evolve.strategies import Candidate, Problem, Strategy, make_strategy
from evolve.tasks import (
    ARRAYS_TASK,
    Task,
    TaskError,
    is_registered_task,
    keep_feature_names,
    load_task,
    task_from_arrays,
)
from search_spaces.space import SearchSpace


def locate_task(config: SearchConfig, recorded: RunDescription | None,
                task_file: str | None = None, data: Sequence[Any] | None = None) -> Task:
    """The task of a new run from its config (or in-memory ``data``); of a resumed run, the
    data it started on: the recorded absolute path if the file there still has the recorded
    content hash, else ``task_file`` (or ``data``) if its hash matches (a run copied to
    another machine), else an error."""
    t = config.task
    if data is not None:
        task = task_from_arrays(data, seed=config.seed, valid_fraction=t.valid_fraction,
                                test_fraction=t.test_fraction)
        if recorded is not None and task.content_hash != recorded.task.content_hash:
            raise TaskError(f"data: these arrays ({task.content_hash[:19]}...) differ from "
                            f"the data this run started on "
                            f"({recorded.task.content_hash[:19]}...)")
        return keep_feature_names(task, recorded.task.feature_names if recorded else ())
    if (recorded.task.name if recorded is not None else t.name) == ARRAYS_TASK:
        raise TaskError("this run was trained on in-memory arrays, which a run does not "
                        "store: pass the same arrays again from Python, data=(X, y) (or "
                        "(X, y, X_test, y_test)): run.task(data=...) for its splits, "
                        "evolve.resume(RUN, data=...) to go on, "
                        "evolve.export_architecture(arch, PATH, data=...) for a NIR export")

    def load(name: str) -> Task:
        return load_task(name, seed=config.seed, valid_fraction=t.valid_fraction,
                         test_fraction=t.test_fraction, label_column=t.label_column)
    if recorded is None:
        return load(task_file or t.name)
    want = recorded.task
    candidates = [c for c in (task_file, want.path) if c] or [t.name]
    if not want.path and task_file is None:  # a built-in task: rebuilt from its name
        candidates = [t.name]
    for source in candidates:
        if want.path and not Path(source).is_file():
            if source == task_file:  # asked for: never passed over for the recorded path
                raise TaskError(f"--task {task_file}: no such file; this run started on the "
                                f"data file {want.path}, so --task must name a copy of it")
            continue
        task = load(source)
        if not want.content_hash or task.content_hash == want.content_hash:
            return task
        if source == task_file:
            raise TaskError(f"--task {task_file}: its content ({task.content_hash[:19]}...) "
                            f"differs from the data this run started on "
                            f"({want.content_hash[:19]}...)")
    if not want.path and is_registered_task(t.name):
        raise TaskError(f"task {t.name!r}: its registered loader now returns other data than "
                        f"this run started on (content hash {want.content_hash[:19]}...): "
                        "register the loader that returns that data")
    where = want.path or t.name
    raise TaskError(f"the data this run started on is not at {where} (or has changed since); "
                    f"give it with --task FILE (from Python: task_file=FILE to evolve.resume, "
                    f"Run.task and Architecture.task; a NIR export takes "
                    f"data=arch.task(task_file=FILE)); its content hash must be "
                    f"{want.content_hash[:19]}...")


class GenerationFailed(RuntimeError):
    """Every evaluation of a generation failed; carries the first one's error and
    traceback. The generation is recorded; ``resume`` goes on once the cause is fixed."""

    def __init__(self, generation: int, count: int, run_dir: str, error: str,
                 traceback: str, advice: str = "") -> None:
        self.generation, self.count, self.run_dir = generation, count, run_dir
        self.error, self.traceback = error, traceback
        # how to go on: by default where the tracebacks are; a cause with a setting to
        # change (every evaluation over its time limit) names that setting instead
        self.advice = advice or (
            f"tracebacks in the 'traceback' column of its records of generation = "
            f"{generation}, counted from 0; set tolerate_failures = true to go on regardless")
        super().__init__(self.summary() + (f"\n\nfirst failure:\n{traceback}" if traceback
                                           else ""))

    def summary(self) -> str:
        return (f"generation {self.generation + 1}: all {self.count} evaluations failed, "
                f"first: {self.error} (run {self.run_dir}; {self.advice})")


def fixed_genes(config: SearchConfig, space: rules.HyperSpace,
                former: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The genes of the rule (its ``space``) that the search holds: ``rule.hyperparameters``;
    the genes the rule holds by default at their defaults, unless ``rule.searched`` names
    them; and a gene that was an option when the run was recorded (ep's and chl's ``gamma``,
    ``free_steps``, ``nudge_steps``), set so in its config or, at its value then, in its
    run.json (``former``: :func:`recorded_options_genes`). Such a run resumes as it ran:
    those genes held where they were, its search state over the genes it had."""
    genes = {**(former or {}),
             **rules.split_options(config.rule.name, config.rule.options)[1]}
    unknown = [g for g in config.rule.searched if g not in space.names()]
    if unknown:
        raise ConfigError(f"rule.searched names {unknown}, which are not genes of rule "
                          f"{config.rule.name} ({list(space.names())})")
    both = sorted(set(config.rule.searched) & set(config.rule.hyperparameters))
    if both:
        raise ConfigError(f"rule.searched and rule.hyperparameters both name {both}: a gene "
                          "is either searched or held at a value, not both")
    defaults = space.defaults()
    held = {g: defaults[g] for g in space.held() if g not in config.rule.searched}
    return {**held, **genes, **config.rule.hyperparameters}


def recorded_options_genes(recorded: RunDescription | None) -> dict[str, Any]:
    """The genes a recorded run held as rule options (its run.json's ``rule.options`` from
    before they were genes), at the values it used; empty for a new run or a later one."""
    if recorded is None:
        return {}
    return rules.split_options(recorded.rule.name, recorded.rule.options)[1]


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
    # every gene of the rule at its start value (fixed genes at theirs): see :meth:`ask`
    start_genes: Mapping[str, float] = field(default_factory=dict)
    # whether the references were judged against a generation's worth of evaluations yet
    references_checked: bool = field(default=False, init=False)

    @classmethod
    def build(cls, config: SearchConfig, store: RunStore, run_id: str,
              objectives: Sequence[str | Objective] | None = None,
              reporters: Sequence[Reporter] = (), constraints: Sequence[Constraint] = (),
              cost_fn: CostFn | None = None, recorded: RunDescription | None = None,
              task_file: str | None = None, data: Sequence[Any] | None = None) -> Session:
        """Wire a search; ``recorded`` is the run's own description when it resumes (its data
        is then found by path or content hash, and its chip profile read from the run)."""
        constraints = check_constraints(constraints)
        task = locate_task(config, recorded, task_file, data)
        load_installed_plugins()  # a rule an installed neurevo.plugins module registers
        # options a config recorded before they became genes are among the fixed genes
        rule = rules.get_rule(config.rule.name,
                              rules.split_options(config.rule.name, config.rule.options)[0])
        former = recorded_options_genes(recorded)
        genes = rule.hyperparameters()  # the rule's gene space, built once here
        fixed = fixed_genes(config, genes, former)
        try:
            # a run recorded before whole counts were checked resumes as it trained
            hyper = genes.resolve_fixed(fixed) if recorded is None else genes.resolve(fixed)
        except rules.HyperparameterError as exc:  # named by the config key that set it
            raise rules.HyperparameterError(f"rule.hyperparameters (rule {rule.name}): "
                                            f"{exc}") from None
        resolved = resolve_objectives(objectives if objectives is not None else config.objectives)
        declared_metrics((*resolved, *constraints))  # one function per metric name
        unknown = set(config.stop_when) - {o.name for o in resolved}
        if unknown:
            raise ConfigError(f"stop_when names {sorted(unknown)}, which are not objectives "
                              f"of this search ({[o.name for o in resolved]})")
        for o in resolved:
            why = unreachable_target(o, config.stop_when[o.name]) \
                if o.name in config.stop_when else None
            if why:
                raise ConfigError(f"{why}: the run would never stop early")
        if config.space.allow_recurrent and rule.trains_recurrent is False and recorded is None:
            raise ConfigError(f"space.allow_recurrent = true, but rule {rule.name} does not "
                              "train recurrent edges (ep and chl relax through them): theirs "
                              "would keep their initial weights yet count in params and on the "
                              "chip; set it false, or search with ep or chl")
        space = SearchSpace(task.n_features, task.n_classes, config.space)
        # a run recorded while some genes were options keeps its strategy over the genes it
        # had: the strategy neither sees nor keys its candidates by those (its checkpoint's
        # repeat keys were made without them), and :meth:`complete` adds them to every
        # candidate at the run's values
        problem = Problem(tuple(o.direction for o in resolved),
                          {k: v for k, v in hyper.items() if k not in former},
                          config.population, genes, frozenset(fixed))
        strategy = make_strategy(space, problem, config.strategy)
        profile = (hardware.load_profile(store.root / PROFILE_FILE) if recorded is not None
                   else hardware.resolve_profile(config.hardware.profile))
        cost_fn = cost_fn or hardware.cost
        if cost_fn is hardware.cost:
            _check_something_fits(space, profile, config)
        if any(o.covers_space for o in resolved):
            covering = [o.name for o in resolved if o.covers_space]
            resolved = covering_references(resolved, _costliest(space, profile, cost_fn, config,
                                                                hyper, covering))
        return cls(config, store, run_id, task, rule, resolved, strategy, profile,
                   cost_fn, constraints, list(reporters), hyper)

    def initial_checkpoint(self) -> dict[str, Any]:
        return {"version": CHECKPOINT_VERSION, "run_id": self.run_id,
                "strategy": self.strategy.init(self.config.seed), "archive": [], "history": [],
                "references": self._references()}

    def describe(self, constraint_names: Sequence[str] = ()) -> RunDescription:
        """What this run is, as ``run.json`` records it when the run starts."""
        genes = self.rule.hyperparameters()
        return RunDescription(
            run_id=self.run_id,
            objectives=tuple(ObjectiveRecord.of(o) for o in self.objectives),
            constraints=tuple(constraint_names) or tuple(c.name for c in self.constraints),
            task=TaskRecord.of(self.config.task.name, self.task),
            rule=RuleRecord(self.rule.name, self.rule.options(),
                            fixed_genes(self.config, genes), self.rule.rule_limits(),
                            gene_record(genes), defined_in(self.rule)),
            profile=self.profile.name, profile_source=self.config.hardware.profile,
            custom_cost_fn=self.cost_fn is not hardware.cost,
            fingerprint=fingerprint(self.config, self.task.content_hash))

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
    def _as_trained(self) -> SearchConfig:
        """The config with the data file this process trains on as its task: a resume given
        the run's data at a new path (``--task``) shows that path, not the recorded one."""
        path = self.task.path
        if not path or Path(path).resolve() == Path(self.config.task.name).resolve():
            return self.config
        return override(self.config, {"task": {"name": path}})

    def run(self, checkpoint: dict[str, Any], executor: Executor | None = None, *,
            close_executor: bool = False) -> None:
        """Run the generations from ``checkpoint``; the executor is made here, or given
        (and then closed at the end only when ``close_executor`` hands it over)."""
        own_executor = executor is None or close_executor
        if executor is None:
            executor = make_executor(self.config.executor)
        try:
            self._run_on(checkpoint, executor)
        finally:  # also when a plug-in fails to ship or a reporter raises at the start
            if own_executor:
                executor.close()
        for r in self.reporters:
            r.search_end(str(self.store.root))

    def _run_on(self, checkpoint: dict[str, Any], executor: Executor) -> None:
        self._adopt_references(checkpoint)
        executor.ship(plugin_objects([type(self.rule)], self.objectives, self.constraints,
                                     [self.cost_fn]))
        scorer = Scorer(self.objectives, self.constraints, self.cost_fn, self.profile,
                        self.config.hardware, self.rule.name)
        history = list(checkpoint["history"])  # commit() appends each generation's summary
        recorder = Recorder(self.store, self.run_id, self.rule.name, tuple(self._names()),
                            self.strategy.growing_keys, recorded=len(history))
        archive = Archive(self.objectives)
        archive.load(checkpoint["archive"])
        for r in self.reporters:
            if history:
                r.search_resumed(list(history))
            r.search_start(str(self.store.root), self._as_trained(),
                           checkpoint["strategy"]["generation"])
        try:
            reached = self._target_reached(archive) if history else None
            if reached:  # a resume of a run that already stopped there; progress, not a
                # warning: a search told to report nothing (reporters=()) says nothing
                if self.reporters:
                    print(f"neurevo: stop_when already reached ({reached}): nothing to train",
                          file=sys.stderr)
            elif self.config.strategy.mode == "steady":
                from evolve.steady import SteadyDriver

                SteadyDriver(self, executor, scorer, recorder, archive).run(checkpoint, history)
            else:
                self._run_generations(checkpoint, history, executor, scorer, recorder, archive)
            if not recorder.wrote_generation:
                recorder.write_front(archive)
        finally:
            recorder.write_summaries(history)

    def _run_generations(self, checkpoint: dict[str, Any], history: list[dict[str, Any]],
                         executor: Executor, scorer: Scorer, recorder: Recorder,
                         archive: Archive) -> None:
        """The generational mode: each generation is asked, evaluated to its last candidate
        (the barrier) and told at once."""
        state = checkpoint["strategy"]
        while state["generation"] < self.config.generations:
            generation = state["generation"]
            candidates = self.ask(state)
            infeasible = {c.id: ev for c in candidates
                          if (ev := scorer.precheck(c)) is not None}
            outcomes = self._evaluate(executor, generation,
                                      [c for c in candidates if c.id not in infeasible],
                                      scorer.metrics(), len(candidates),
                                      [ev.outcome for ev in infeasible.values()])
            evaluations = [infeasible.get(c.id) or scorer.score(c, outcomes[c.id])
                           for c in candidates]
            rows = recorder.rows(evaluations)
            state = self.strategy.tell(state, [ev.scored() for ev in evaluations])
            if self.commit(generation, evaluations, rows, state, recorder, archive, history):
                break

    def ask(self, state: dict[str, Any]) -> list[Candidate]:
        """The strategy's next candidates, each :meth:`complete`."""
        return [self.complete(c) for c in self.strategy.ask(state)]

    def complete(self, candidate: Candidate) -> Candidate:
        """``candidate`` holding every gene of the rule. A checkpoint may hold candidates
        drawn before a gene existed (a run recorded by an older version, resumed; steady
        mode's owed ones too): such a candidate gets the run's start value for it, which
        for a gene that was an option then is the value the run used, so it trains as its
        run did and its record says with what."""
        start = self.start_genes
        if start.keys() <= candidate.hyperparameters.keys():
            return candidate
        return dataclasses.replace(candidate,
                                   hyperparameters={**start, **candidate.hyperparameters})

    def commit(self, generation: int, evaluations: list[Evaluation], rows: list[dict[str, Any]],
               state: dict[str, Any], recorder: Recorder, archive: Archive,
               history: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> bool:
        """Record what a generation (steady mode: a step) told the strategy — rows, archive,
        summary, checkpoint with the strategy's new ``state`` and ``extra`` keys — and tell
        the reporters; True when the search should stop (a ``stop_when`` target reached)."""
        added, removed = archive.update([
            ArchiveEntry(ev.candidate.id, generation,
                         dict(zip(self._names(), ev.values, strict=True)), row)
            for ev, row in zip(evaluations, rows, strict=True) if ev.feasible])
        summary = self._summary(generation, evaluations, archive, state)
        history.append(summary)
        recorder.write_generation(generation, evaluations, rows, archive, added, history,
                                  {"version": CHECKPOINT_VERSION, "run_id": self.run_id,
                                   "strategy": state, "archive": archive.to_dict(),
                                   "history": history, "references": self._references(),
                                   **(extra or {})})
        for cid in removed:
            self.store.remove_weights(cid)
        self.store.clear_partial(generation)
        for r in self.reporters:
            r.generation_end(generation, summary)
        self._check_failures(generation, evaluations)
        if evaluations and summary["infeasible"] == len(evaluations) and generation == 0:
            print(f"neurevo: warning: every candidate of generation 1 is infeasible "
                  f"({evaluations[0].outcome.error or 'over a limit'}); the chip "
                  "budget or the constraints may be too tight for this search space",
                  file=sys.stderr)
        if not self.references_checked and \
                sum(h["evaluations"] for h in history) >= self.config.population:
            self.references_checked = True  # a generation's worth seen (steady: several steps)
            self._warn_unbeaten_references(archive)
        reached = self._target_reached(archive)
        if reached and self.reporters:  # progress: silent with reporters=(), as it is
            print(f"neurevo: stop_when reached after generation {generation + 1} ({reached}); "
                  "the run stops here", file=sys.stderr)
        return reached is not None

    def _warn_unbeaten_references(self, archive: Archive) -> None:
        """A user's objective whose hypervolume reference no candidate beats (alone, or with
        the others at once) keeps the hypervolume at 0: said once, after the first
        generation's worth of evaluations. neurevo's own references are not the user's to
        move (a space whose every network is the costliest meets them exactly)."""
        if not archive.entries or all(is_builtin(o) for o in self.objectives):
            return
        every = archive.beyond_reference()
        beyond = [(o, best) for o, best in every if not is_builtin(o)]
        if not every and not archive.inside_reference():
            print("neurevo: warning: no candidate of the first generation is better than the "
                  "hypervolume reference point on every objective at once, so the "
                  "hypervolume stays 0 until one is: give your objectives references that "
                  f"the values they take can beat together ({self._references()})",
                  file=sys.stderr)
        for objective, best in beyond:
            side = "below" if objective.direction == "max" else "above"
            print(f"neurevo: warning: objective {objective.name}: no candidate of the first "
                  f"generation is better than its hypervolume reference "
                  f"{objective.reference:g} (best {best:g}), so the hypervolume stays 0 "
                  f"until one is: give it a reference {side} the values it takes",
                  file=sys.stderr)

    def _check_failures(self, generation: int, evaluations: list[Evaluation]) -> None:
        """Stop when every evaluation of a generation failed (after it was recorded, so
        nothing is lost): a bug in a rule, an objective or a constraint would otherwise
        fail every candidate of the whole budget and end in an empty front."""
        failed = [ev for ev in evaluations if ev.outcome.status in ("failed", "timeout")]
        if not failed or len(failed) < len(evaluations) or self.config.tolerate_failures:
            return
        advice = ""
        if all(ev.outcome.status == "timeout" for ev in failed):  # no traceback to read
            advice = (f"every one ran past its time limit, executor.eval_timeout = "
                      f"{self.config.executor.eval_timeout:g} s per candidate: raise it (0 for "
                      f"none) as you resume, `neurevo resume {self.store.root} --set "
                      "executor.eval_timeout=SECONDS`")
        raise GenerationFailed(generation, len(evaluations), str(self.store.root),
                               failed[0].outcome.error, failed[0].outcome.traceback, advice)

    def _target_reached(self, archive: Archive) -> str | None:
        return archive.targets_reached(self.config.stop_when)

    def _names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def _evaluate(self, executor: Executor, generation: int, candidates: list[Candidate],
                  metrics: tuple[Metric, ...], asked: int,
                  decided: Sequence[Outcome] = ()) -> dict[int, Outcome]:
        """Train what the journal of this generation does not already hold (``asked``:
        the generation's size, infeasible candidates that are not trained included;
        ``decided``: the outcomes of those, which the reporters see first)."""
        for r in self.reporters:
            r.generation_start(generation, asked)
        for done, outcome in enumerate(decided, 1):
            for r in self.reporters:
                r.evaluation_done(generation, done, asked, outcome)
        # the journal's weights are checked against these genomes: what does not fit is set
        # aside and evaluated again rather than trusted
        wanted = {c.id: c.genome for c in candidates}
        outcomes = {row["candidate_id"]: outcome_from_row(row, params)
                    for row, params in self.store.read_partial(generation, wanted)
                    if row["candidate_id"] in wanted}
        for done, outcome in enumerate(outcomes.values(), len(decided) + 1):  # a resume's
            for r in self.reporters:  # reporters see the journal's results as if they came
                r.evaluation_done(generation, done, asked, outcome)
        budget = self.config.training
        todo = [c for c in candidates if c.id not in outcomes]
        per_worker = math.ceil(len(todo) / max(executor.parallelism(), 1)) if todo else 1
        chunks = plan_chunks(todo, max(1, min(self.config.executor.chunk_size, per_worker)),
                             step_cost=rule_step_cost(self.rule))
        shared = (self.task, RuleSpec.of(self.rule), budget, self.config.seed, metrics)
        results = executor.map(evaluate_chunk, chunks, shared, sizes=[len(c) for c in chunks])
        for i, result in results:
            if isinstance(result, TaskFailure):
                result = failed_outcomes(chunks[i], self.config.seed, result.status,
                                         result.error, result.detail)
            self.store.write_partial(generation, [outcome_to_row(o) for o in result],
                                     {o.candidate_id: o.params for o in result
                                      if o.params is not None})
            for outcome in result:
                outcomes[outcome.candidate_id] = outcome
                for r in self.reporters:
                    r.evaluation_done(generation, len(outcomes) + asked - len(candidates),
                                      asked, outcome)
        return outcomes

    def _summary(self, generation: int, evaluations: list[Evaluation], archive: Archive,
                 state: dict[str, Any]) -> dict[str, Any]:
        best = {}
        for i, o in enumerate(self.objectives):
            vals = [ev.values[i] for ev in evaluations if ev.ok]
            best[o.name] = (max(vals) if o.direction == "max" else min(vals)) if vals else math.nan
        return {"generation": generation, "evaluations": len(evaluations),
                "failed": sum(ev.outcome.status in ("failed", "timeout") for ev in evaluations),
                "infeasible": sum(not ev.feasible and ev.outcome.status in ("ok", "infeasible")
                                  for ev in evaluations),
                "hypervolume": archive.hypervolume(),
                "pareto_size": len(archive.entries), "species": len(state.get("species", [])),
                "best": best}


def _check_something_fits(space: SearchSpace, profile: hardware.CoreBudget,
                          config: SearchConfig) -> None:
    """Refuse a search in which no network can fit the chip (``ConfigError``, before anything
    is trained), where that is certain whatever the hidden groups: more input features than
    the chip's input channels or more classes than its output channels (every genome has the
    task's input and output groups), or a chip budget the output group alone exceeds (it
    needs at least ⌈outputs / neurons_per_core⌉ cores on a chip whose groups have cores of
    their own). Such a run would record every candidate ``infeasible``, untrained, for all
    its generations and end with an empty front. Cores in general do not grow with the net
    (a narrow hidden group can need fewer synapses per core than inputs wired straight to
    outputs), so nothing weaker than that bound is refused. Only for the built-in cost
    model, whose limits these are."""
    why, fixes = [], []
    if profile.input_channels is not None and space.n_inputs > profile.input_channels:
        why.append(f"the task has {space.n_inputs} input features and {profile.name} takes "
                   f"{profile.input_channels}")
    if profile.output_channels is not None and space.n_outputs > profile.output_channels:
        why.append(f"the task has {space.n_outputs} classes and {profile.name} has "
                   f"{profile.output_channels} output channels")
    if why:  # channels are per chip: more chips do not add any
        fixes.append("reduce the task's features or classes")
    chips = config.hardware.chips
    least = -(-space.n_outputs // profile.neurons_per_core)
    if chips and not profile.shared_cores and least > chips * profile.cores_per_chip:
        why.append(f"its {space.n_outputs} output neurons alone need {least} cores of "
                   f"{profile.neurons_per_core} neurons and hardware.chips = {chips} gives "
                   f"{chips * profile.cores_per_chip}")
        fixes.insert(0, "raise hardware.chips")
    if why:
        raise ConfigError(
            f"no network of this search fits hardware.profile = {profile.name!r}: "
            + "; ".join(why) + ". Every candidate would be infeasible, so the run would train "
            f"nothing: choose another profile, or {' or '.join(fixes)}")


def _costliest(space: SearchSpace, profile: hardware.CoreBudget, cost_fn: CostFn,
               config: SearchConfig, hyper: dict[str, float],
               covering: Sequence[str] = ()) -> Measurements:
    """What the costliest network of the space would measure (objectives.covering_references)."""
    scorer = Scorer((), (), cost_fn, profile, config.hardware, config.rule.name)
    genome = space.costliest_genome()
    # measured activity can reach 1 (every neuron active): the bound must hold for it too
    busiest = {n.id: 1.0 for n in genome.nodes}
    try:
        return scorer.measure_genome(genome, hyper, activity=busiest)[0]
    except Exception as exc:
        if cost_fn is hardware.cost:
            raise
        # a user's cost function, called before any candidate: one line naming it, not a
        # traceback from inside the search's set-up
        name = cost_fn_name(cost_fn)
        raise SetupPluginFailed(
            f"{name} failed on the search space's costliest network (which sets the "
            f"hypervolume reference of {', '.join(covering)}): {failure_detail(exc, name)}"
        ) from exc
