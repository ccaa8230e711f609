"""Reading a finished (or running, or interrupted) run: :func:`load_run` -> :class:`Run`.

>>> run = evolve.load_run("runs/20261201-120000-digits-bp-s0")     # doctest: +SKIP
>>> run.evaluations().num_rows                                      # doctest: +SKIP
>>> best = max(run.pareto_front(), key=lambda a: a.objectives["accuracy"])  # doctest: +SKIP
>>> best.to_module()(x)                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from evolve.config import SearchConfig, from_toml
from evolve.messages import one_line
from evolve.metadata import (
    RunDescription,
    fingerprint,
    fingerprint_mismatch,
    read_description,
)
from evolve.records import (
    CONFIG_FILE,
    OBJECTIVE_PREFIX,
    WEIGHTS_DIR,
    RecordError,
    RunStore,
    evaluation_schema,
)
from evolve.selection import rank_and_crowding
from evolve.tasks import Task, keep_feature_names, rebuild_task, table_columns
from search_spaces.genome import Genome
from search_spaces.net import Params


@dataclass(frozen=True)
class Source:
    """Where an architecture comes from: its run, the data it was trained on and the chip
    profile its costs and violations were priced on (written into exports, so a file says
    which run, task and chip its figures belong to)."""

    run_id: str = ""
    task: str = ""
    profile: str = ""  # the chip profile's name ("" in exports from before it was kept)
    # what rebuilds the data the member was trained on, split as the run split it
    # (evolve.tasks.DATA_RECORD_KEYS): a NIR export made from an export alone needs the
    # training split; {} where unknown (exports from before it was kept)
    data: dict[str, Any] = field(default_factory=dict, hash=False)  # Source stays hashable

    def to_dict(self) -> dict[str, Any]:
        """The keys an export's description carries them under."""
        return {"task": self.task, "run_id": self.run_id, "profile": self.profile,
                **({"data": dict(self.data)} if self.data else {})}


@dataclass
class Architecture:
    """One member of a Pareto front, with what it scored and the weights it learned."""

    candidate_id: int
    generation: int
    rule: str
    genome: Genome
    objectives: dict[str, float]
    test_accuracy: float
    valid_accuracy: float
    hyperparameters: dict[str, float]
    costs: dict[str, float] = field(default_factory=dict)
    violations: dict[str, float] = field(default_factory=dict)
    weights_path: Path | None = None
    # the validation metrics its run's objectives and constraints declared (an ECE a
    # constraint bounds): what decided its feasibility, beside what it scored
    metrics: dict[str, float] = field(default_factory=dict)
    _params: Params | None = field(default=None, repr=False)
    rank: int = 1  # Pareto rank among the front (1 = non-dominated)
    species: int = -1
    rule_options: dict[str, Any] = field(default_factory=dict)  # how the rule was built
    rule_limits: dict[str, Any] = field(default_factory=dict)  # limits of backprop it removes
    curve: list[dict[str, float]] = field(default_factory=list)  # per-epoch training record
    # known for exports (evolve.export): output i is class_names[i]; the network expects
    # inputs standardised with the run's train statistics, see :meth:`standardise`
    class_names: tuple[str, ...] = ()
    # input j is feature_names[j] where the run's data named its features (a CSV's or
    # Parquet file's columns): standardise() then takes a table by column name
    feature_names: tuple[str, ...] = ()
    input_mean: torch.Tensor | None = field(default=None, repr=False)
    input_std: torch.Tensor | None = field(default=None, repr=False)
    source: Source = field(default_factory=Source)
    # the run used its features as given (xor): no statistics, and none are missing
    features_as_given: bool = False

    def params(self) -> Params:
        if self._params is None:
            if self.weights_path is None or not self.weights_path.is_file():
                raise RecordError(self._missing_weights())
            # checked against the genome before loading: the module built from them must be
            # the network the genome describes, and no larger than the file
            self._params = RunStore(self.weights_path.parent.parent).read_weights(
                self.candidate_id, self.weights_path, self.genome)
        return self._params

    def _missing_weights(self) -> str:
        """Why the weights file is gone: a member read from a run that went on may have left
        its front since, and a run keeps the weights of its front's members only (read
        lazily, so reading a front stays cheap) — not damage, but a stale member."""
        missing = f"{self.weights_path}: weights of candidate {self.candidate_id} are missing"
        try:
            run = self.run()
            front = run.pareto_front() if run is not None else None
        except Exception:  # noqa: BLE001 - not a run any more, or damaged: say what is known
            return missing
        if front is None or any(a.candidate_id == self.candidate_id for a in front):
            return missing
        return (f"{missing}: the run went on after this member was read, and it has left the "
                "run's Pareto front, whose members alone keep their weights; read the front "
                "again (evolve.load_run(...).pareto_front()), or export a member while it is "
                "on the front")

    def run(self) -> Run | None:
        """The run whose records hold this member's weights (``RUN/weights/<id>.safetensors``
        of a run whose id is the member's); None for an export, wherever it is kept."""
        path = self.weights_path
        if path is None or path.parent.name != WEIGHTS_DIR or \
                path.name != f"{self.candidate_id}.safetensors" or \
                not (path.parent.parent / CONFIG_FILE).is_file():
            return None
        run = Run(path.parent.parent)
        if self.source.run_id and run.run_id != self.source.run_id:
            return None
        return run

    def task(self, data: Sequence[Any] | None = None, task_file: str | None = None) -> Task:
        """The data this member was trained on, split as its run split it (``train``,
        ``valid``, ``test``, standardised with the train split's statistics): its recorded
        accuracies are its rule's prediction on ``task().valid`` and ``task().test``. Read
        from its run (:meth:`Run.task`), or for an export from the data it records; ``data``
        gives in-memory arrays again and ``task_file`` a data file that has moved, each
        checked against the recorded content hash."""
        run = self.run()
        if run is not None:
            return run.task(data=data, task_file=task_file)
        record = self.source.data
        if not record:
            raise ValueError(f"architecture {self.candidate_id} is not in a run, and its "
                             "export is from before exports recorded their data: load the "
                             "task as its run did (evolve.tasks.load_task(name, seed=...)), "
                             "or pass data=<that Task> where one is asked for")
        task = rebuild_task(record, data if data is not None else task_file,
                            file_option="task_file", arrays_keyword="data",
                            moved_hint="arch.task(task_file=FILE) (for a NIR export, "
                                       "export_architecture(arch, PATH, "
                                       "data=arch.task(task_file=FILE)))")
        return keep_feature_names(task, self.feature_names) if data is not None else task

    def to_module(self) -> torch.nn.Module:
        """A ``torch.nn.Module`` with the trained weights: ``module(x[B, n_in]) -> scores``.

        Its forward pass is the rule's own prediction (built with the options the run used,
        read with the member's genes), so it scores exactly what the run recorded: label
        goodness for ff, the free relaxation under the member's γ and sweeps for ep/chl, a
        feedforward pass for the others."""
        import rules
        from evolve.plugin_imports import load_installed_plugins

        load_installed_plugins()  # a rule an installed neurevo.plugins module registers
        # a run recorded while ep's/chl's relaxation settings were options holds them there
        options, genes = rules.split_options(self.rule, self.rule_options)
        return rules.get_rule(self.rule, options).to_module(
            self.genome, self.params(), {**genes, **self.hyperparameters})

    def standardise(self, x: torch.Tensor | Any) -> torch.Tensor:
        """Raw features ``x[B, n_in]`` as the network saw them in training: ``(x - mean) /
        std`` with the run's train statistics (an export carries them), or ``x`` itself
        (as float32) for a run that used its features as given (xor), as its ONNX export
        does. A table (pandas DataFrame, pyarrow Table) is read by column name where the
        run's data named its features (:attr:`feature_names`): extra columns, the label's
        among them, are left out, and a missing one is refused."""
        # float64, as the run standardised its splits (then float32): the same raw features
        # give the very inputs the run scored. A copy: a read-only array (a memmap, a
        # DataFrame's values) would make torch warn, and the caller's array is never written
        x = self._by_name(x)
        try:
            x = x.double() if isinstance(x, torch.Tensor) else \
                torch.from_numpy(np.array(x, dtype=np.float64))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"standardise: expected numeric raw features ({exc})") from None
        n_in = self.genome.input_size
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"standardise: expected raw features of shape [batch, {n_in}], "
                             f"got {list(x.shape)}")
        bad = (~torch.isfinite(x)).nonzero()
        if len(bad):  # the run refused such samples; the network would score them anyway
            row, col = (int(i) for i in bad[0])
            feature = f"feature {col}" + (f" ({self.feature_names[col]!r})"
                                          if len(self.feature_names) == n_in else "")
            raise ValueError(f"standardise: raw features must be finite, but row {row}, "
                             f"{feature} is {float(x[row, col])} ({len(bad)} such "
                             "value(s)); impute or drop them first")
        if self.input_mean is None or self.input_std is None:
            if self.features_as_given:
                return x.float()
            raise RecordError(f"architecture {self.candidate_id} carries no input "
                              "standardisation: export it again from its run (an export of "
                              "a run that used its features as given says so since this "
                              "version), or, built by hand, with feature_mean and feature_std")
        return ((x - self.input_mean.double()) / self.input_std.double()).float()

    def _by_name(self, x: Any) -> Any:
        """A table (pandas DataFrame, pyarrow Table) as its columns of this member's features,
        in the order the run read them: a table whose columns are in another order, or that
        still holds the label, would otherwise be read by position, and scored wrong without
        a word. Anything else, and any table where the run's data named no features, is
        taken as given (by position)."""
        columns = table_columns(x)
        if columns is None or not self.feature_names:
            return x
        labels = {str(c): c for c in columns}
        counts = {n: sum(str(c) == n for c in columns) for n in self.feature_names}
        twice = next((n for n, count in counts.items() if count > 1), None)
        if twice is not None:
            raise ValueError(f"standardise: the table has {counts[twice]} columns named "
                             f"{twice!r}, a feature of this member: keep one")
        missing = [n for n in self.feature_names if n not in labels]
        if missing:
            shown = ", ".join(repr(n) for n in missing[:5]) + \
                (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            near = {n: c for n in missing for c in labels
                    if c not in self.feature_names and c.strip().lower() == n.strip().lower()}
            hint = "".join(f"; the table has {c!r}, not {n!r}" for n, c in near.items())
            positional = all(isinstance(c, (int, np.integer)) for c in columns)
            raise ValueError(f"standardise: the table lacks feature column(s) {shown} of the "
                             f"{len(self.feature_names)} this member was trained on "
                             f"(arch.feature_names){hint}"
                             + ("; its columns are numbered, not named: name them as "
                                "arch.feature_names does, or pass its values (in that order) "
                                "as an array" if positional else ""))

        arrow = hasattr(x, "column_names")

        def values(name: str) -> np.ndarray:
            column = x.column(name) if arrow else x[labels[name]]
            try:
                # pandas' missing values (pd.NA of a nullable column) as NaN, which the
                # check below names as missing, not as text
                if arrow:
                    raw = column.to_numpy(zero_copy_only=False)
                else:
                    try:  # pandas
                        raw = column.to_numpy(dtype=np.float64, na_value=np.nan)
                    except TypeError:  # another frame library's column (polars)
                        raw = np.asarray(column)
                return np.array(raw, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"standardise: feature column {name!r} is not numeric "
                                 f"({one_line(exc)})") from None
        return np.column_stack([values(n) for n in self.feature_names])

    def described(self) -> dict[str, Any]:
        """The description an export carries (``neurevo.architecture``): what it scored, its
        genome, the names of its outputs and inputs, and where it came from."""
        return {**self.to_dict(), "class_names": list(self.class_names),
                "feature_names": list(self.feature_names), **self.source.to_dict()}

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None
        return {"candidate_id": self.candidate_id, "generation": self.generation,
                "rank": self.rank, "species": self.species,
                "rule": self.rule, "rule_options": self.rule_options,
                "rule_limits": self.rule_limits,
                "objectives": {k: clean(v) for k, v in self.objectives.items()},
                "costs": self.costs, "violations": self.violations,
                "metrics": {k: clean(v) for k, v in self.metrics.items()},
                "test_accuracy": clean(self.test_accuracy),
                "valid_accuracy": clean(self.valid_accuracy),
                "hyperparameters": self.hyperparameters, "curve": self.curve,
                "genome": self.genome.to_dict()}


class Run:
    """A run directory: its config, its records and its Pareto front."""

    def __init__(self, path: str | Path) -> None:
        # the records are read from the absolute path, so the run and the members it hands
        # out still read them after the process changes directory; ``path`` stays as given
        # (what the CLI prints)
        self.store = RunStore(Path(path).absolute())
        require_run_dir(path)
        if not self.store.config_path.is_file():
            raise not_a_run(path)
        self.path = Path(path)
        self.config: SearchConfig = read_config(self.store.config_path)
        # what the run is (objectives' directions, task, rule, chip); None for runs written
        # before runs described themselves, whose readers fall back to the config
        self.description: RunDescription | None = read_description(self.store.root)
        self._check_config_is_the_runs()
        self._missing_warned = False  # committed generations without a file: said once

    def _check_config_is_the_runs(self) -> None:
        """config.toml edited since the run started (a seed, a split, the whole file
        emptied) would have every reader rebuild another split and describe another search
        over this run's records: exports would carry the wrong split, a member would score
        on data it trained on. run.json's fingerprint of the settings that decide results
        tells; a resume refuses the same, in its own words."""
        d = self.description
        if d is None or not d.fingerprint:
            return
        why = fingerprint_mismatch(d.fingerprint, fingerprint(self.config, d.task.content_hash))
        if why:
            raise RecordError(f"{self.store.config_path}: does not describe the run it belongs "
                              f"to: {why}; restore it")

    @property
    def run_id(self) -> str:
        """The run's id as its records carry it (run.json, the evaluations' ``run_id``
        column, every export's source): the name its directory was created with, kept when
        the directory is copied or moved under another name (``path`` is where it is now).
        A run from before run.json was written answers with its directory's name."""
        return self.description.run_id if self.description is not None else self.store.root.name

    def task(self, data: Sequence[Any] | None = None, task_file: str | None = None) -> Task:
        """The data the run trained on, split as it split them (``train``, ``valid``,
        ``test``; features standardised with the train split's statistics, as its members
        saw them): found where the run recorded it (a built-in task is rebuilt), or given
        again, ``task_file`` for a data file that has moved, ``data`` for the in-memory
        arrays of a run trained on them; either is refused unless its content hash is the
        run's."""
        from evolve.loop import locate_task

        return locate_task(self.config, self.description, task_file, data)

    def evaluations(self) -> pa.Table:
        """Every evaluation recorded so far, one row each (see docs/records.md); no rows,
        with the columns, for a run stopped before it recorded one (as its front is empty)."""
        upto = self._committed()
        self._warn_missing_generations(upto)
        if not self.store.generation_files(upto):
            names = self.description.objective_names if self.description is not None \
                else list(self.config.objectives)
            return evaluation_schema(names).empty_table()
        return self.store.read_evaluations(upto, objectives=self._recorded_objectives())

    def _warn_missing_generations(self, committed: int | None) -> None:
        """Name, once per run read, committed generations whose evaluation file is gone: a
        file moved out on purpose (a damaged one, to resume without it) is allowed, but one
        that vanished would otherwise shorten every table and figure without a word."""
        if committed is None or self._missing_warned:
            return
        self._missing_warned = True
        have = {int(p.stem[4:]) for p in self.store.generation_files(committed)}
        missing = [g for g in range(committed) if g not in have]
        if missing:
            shown = ", ".join(f"gen-{g:05d}.parquet" for g in missing[:3]) + \
                (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            print(f"neurevo: warning: {self.store.root / 'evaluations'}: {shown} missing, though "
                  f"the checkpoint records {committed} generation(s): their rows are left out "
                  "(restore the file; moved out on purpose, as a damaged one may be, this is "
                  "expected)",
                  file=sys.stderr)

    def _committed(self) -> int | None:
        """The generations the checkpoint records. A generation writes its evaluations,
        weights and front before the checkpoint that commits it, so a run stopped in
        between has records of a generation it has not done: a resume trains it again (to
        the same results), and until then every reader shows the run as the checkpoint
        does. None where the checkpoint is missing or cannot be read (a damaged run, as a
        run is never without one: what is there is shown, and the commands that need the
        checkpoint say what is wrong with it)."""
        try:
            return self.store.completed_generations()
        except (RecordError, KeyError, TypeError, ValueError):
            return None

    def _recorded_objectives(self) -> list[str]:
        """The objective columns every table of the run must have (known from run.json)."""
        return self.description.objective_names if self.description is not None else []

    def history(self) -> list[dict[str, Any]]:
        return list(self.store.read_checkpoint()["history"])

    def hypervolume_curve(self) -> list[tuple[int, float]]:
        """``(evaluations spent so far, hypervolume)`` after each completed generation."""
        spent, curve = 0, []
        for h in self.history():
            spent += int(h["evaluations"])
            curve.append((spent, float(h["hypervolume"])))
        return curve

    def references(self) -> dict[str, float]:
        """The hypervolume's reference point, per objective, as the run recorded it (empty
        for runs from before references were recorded)."""
        return dict(self.store.read_checkpoint().get("references") or {})

    def objective_names(self) -> list[str]:
        """The objectives the evaluations were scored on, in order, as run.json records them
        (custom objectives given to ``evolve.search(objectives=...)`` included, which the
        ``config.objectives`` of runs recorded before they were written there lacks)."""
        if self.description is not None:
            return self.description.objective_names
        names = [f.name[len(OBJECTIVE_PREFIX):] for f in self.store.read_evaluations().schema
                 if f.name.startswith(OBJECTIVE_PREFIX)]
        return names or list(self.config.objectives)

    def objective_directions(self) -> dict[str, str]:
        """``name -> "max" | "min"`` as recorded; built-in objectives' own for old runs."""
        if self.description is not None:
            return {o.name: o.direction for o in self.description.objectives}
        from evolve.objectives import resolve_objectives

        out = {}
        for name in self.objective_names():
            try:
                out[name] = resolve_objectives([name])[0].direction
            except KeyError:
                out[name] = "max" if name == "accuracy" else "min"
        return out

    def _committed_front(self, table: pa.Table | None) -> pa.Table | None:
        """``pareto.parquet``, or, where it holds another front than the checkpoint's
        archive (written for a generation the checkpoint does not commit: see
        :meth:`_committed`), the archive's own records, whose weights are still kept."""
        if table is None or not self.store.checkpoint_path.is_file():
            return table
        try:
            archive = self.store.read_checkpoint()["archive"]
            committed = [m["record"] for m in archive]
            ids = sorted(int(r["candidate_id"]) for r in committed)
        except (RecordError, KeyError, TypeError, ValueError):
            return table  # damaged: what pareto.parquet holds
        if ids == sorted(table.column("candidate_id").to_pylist()):
            return table
        try:
            return pa.Table.from_pylist(committed, schema=table.schema)
        except (pa.ArrowException, TypeError, ValueError):  # records of another shape
            return table

    def completed_generations(self) -> int:
        """How many generations are recorded: where ``evolve.resume`` goes on from."""
        return self.store.completed_generations()

    def pareto_front(self) -> list[Architecture]:
        """The non-dominated feasible architectures found so far, best first objective first."""
        table = self._committed_front(self.store.read_pareto(self._recorded_objectives()))
        if table is None:
            done = self.completed_generations() if self.store.checkpoint_path.is_file() else 0
            if done:  # written with every generation: gone, not empty
                raise RecordError(f"{self.store.pareto_path}: missing, though {done} "
                                  "generation(s) are recorded; restore it from a copy")
            return []
        front = []
        for row in table.to_pylist():
            try:
                front.append(architecture_from_row(row, self.store, self.description,
                                                   self.config))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                what = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
                raise RecordError(f"{self.store.pareto_path}: candidate "
                                  f"{row['candidate_id']}: {one_line(what)}") from None
        directions = self.objective_directions()
        names = list(directions)
        if front:
            values = np.array([[a.objectives.get(n, np.nan) for n in names] for a in front])
            ranks, _ = rank_and_crowding(values, [directions[n] for n in names])
            for arch, r in zip(front, ranks.tolist(), strict=True):
                arch.rank = int(r) + 1
        first = names[0]
        sign = -1.0 if directions[first] == "max" else 1.0
        return sorted(front, key=lambda a: (a.rank, sign * a.objectives.get(first, 0.0),
                                            a.candidate_id))


def architecture_from_row(row: dict[str, Any], store: RunStore,
                          description: RunDescription | None = None,
                          config: SearchConfig | None = None) -> Architecture:
    """An archive row as an Architecture; a row whose JSON fields do not parse to what
    readers use raises ValueError, KeyError or TypeError naming the field."""
    objectives = {k[len(OBJECTIVE_PREFIX):]: float(v) for k, v in row.items()
                  if k.startswith(OBJECTIVE_PREFIX) and v is not None}
    costs = {k: float(v) for k, v in _json_object(row, "costs").items()}
    violations = {k: float(v) for k, v in _json_object(row, "violations").items()}
    metrics = {k: math.nan if v is None else float(v)
               for k, v in _json_object(row, "metrics").items()}
    hyperparameters = _json_object(row, "hyperparameters")
    curve = json.loads(row.get("curve") or "[]")
    if not isinstance(curve, list) or not all(
            isinstance(p, dict) and {"epoch", "valid_accuracy"} <= p.keys() for p in curve):
        raise ValueError("curve: expected a list of {epoch, valid_accuracy, ...} objects")
    return Architecture(
        candidate_id=int(row["candidate_id"]), generation=int(row["generation"]),
        rule=str(row["rule"]), genome=Genome.from_json(row["genome"]), objectives=objectives,
        test_accuracy=float(row["test_accuracy"]), valid_accuracy=float(row["valid_accuracy"]),
        hyperparameters=hyperparameters, costs=costs, violations=violations,
        weights_path=store.weights_path(int(row["candidate_id"])), metrics=metrics,
        species=int(row.get("species") if row.get("species") is not None else -1),
        curve=curve,
        **(_from_description(description, config) if description is not None else {}),
    )


def _json_object(row: dict[str, Any], key: str) -> dict[str, Any]:
    value = json.loads(row.get(key) or "{}")
    if not isinstance(value, dict):
        raise ValueError(f"{key}: expected a JSON object, got {type(value).__name__}")
    return value


def require_run_dir(path: str | Path) -> None:
    """``path`` must be a directory: one error, the same from the command line and from
    Python, for whatever reads or resumes a run. A file given instead is most likely an
    export, so the error says how to read one."""
    given, path = str(path), Path(path)  # the error names the path as it was given
    if path.is_dir():
        return
    if path.exists():
        hint = (" (an export: `neurevo show` draws it, and evolve.load_architecture reads it)"
                if path.suffix.lower() == ".safetensors" else "")
        raise RecordError(f"{given!r} is a file, not a run directory{hint}")
    raise RecordError(f"run directory {given!r} does not exist")


def not_a_run(path: str | Path) -> RecordError:
    """A directory without config.toml; if runs lie inside it (an output root, as ``--out``
    names one), the error says how to list them."""
    inside = sorted(p.name for p in Path(path).iterdir()
                    if p.is_dir() and (p / CONFIG_FILE).is_file())
    hint = (f"; it holds runs ({inside[0]}{', ...' if len(inside) > 1 else ''}): `neurevo runs "
            f"{path}` lists them, evolve.list_runs from Python" if inside else "")
    return RecordError(f"{path}: not a neurevo run (no config.toml){hint}")


def read_config(path: Path) -> SearchConfig:
    """The run's config; a file that is not text is a damaged record (a config that is not
    TOML, or names what does not exist, is the config's own error)."""
    try:
        return from_toml(path)
    except UnicodeDecodeError as exc:
        raise RecordError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def run_split(config: SearchConfig) -> dict[str, Any]:
    """What rebuilds a run's splits from its data (evolve.tasks.SPLIT_KEYS): seed, fractions,
    label column."""
    t = config.task
    return {"seed": config.seed, "valid_fraction": t.valid_fraction,
            "test_fraction": t.test_fraction, "label_column": t.label_column}


def data_record(config: SearchConfig, d: RunDescription) -> dict[str, Any]:
    """The run's data as an export carries it (evolve.tasks.DATA_RECORD_KEYS): the task's
    name, file and content hash, and the split of :func:`run_split`."""
    return {"name": d.task.name, "path": d.task.path, "content_hash": d.task.content_hash,
            **run_split(config)}


def _from_description(d: RunDescription, config: SearchConfig | None = None
                      ) -> dict[str, Any]:
    """What every member of a run shares: the rule's settings, class names, standardisation."""
    # float64: the statistics exactly as the run fitted them (run.json keeps them so)
    mean = torch.tensor(d.task.feature_mean, dtype=torch.float64) if d.task.feature_mean \
        else None
    std = torch.tensor(d.task.feature_std, dtype=torch.float64) if d.task.feature_std else None
    return {"rule_options": dict(d.rule.options), "rule_limits": dict(d.rule.limits),
            "class_names": tuple(d.task.class_names),
            "feature_names": tuple(d.task.feature_names), "input_mean": mean, "input_std": std,
            "features_as_given": mean is None,
            "source": Source(d.run_id, d.task.name, d.profile,
                             data_record(config, d) if config is not None else {})}


def load_run(path: str | Path) -> Run:
    return Run(path)
