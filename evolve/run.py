"""Reading a finished (or running, or interrupted) run: :func:`load_run` -> :class:`Run`.

>>> run = evolve.load_run("runs/20261201-120000-digits-bp-s0")     # doctest: +SKIP
>>> run.evaluations().num_rows                                      # doctest: +SKIP
>>> best = max(run.pareto_front(), key=lambda a: a.objectives["accuracy"])  # doctest: +SKIP
>>> best.to_module()(x)                                             # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from evolve.config import SearchConfig, from_toml
from evolve.records import OBJECTIVE_PREFIX, RecordError, RunStore
from search_spaces.genome import Genome
from search_spaces.module import GenomeModule
from search_spaces.net import Params


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
    _params: Params | None = field(default=None, repr=False)
    # known for exports (evolve.export): output i is class_names[i]; the network expects
    # inputs standardised with the run's train statistics, see :meth:`standardise`
    class_names: tuple[str, ...] = ()
    input_mean: torch.Tensor | None = field(default=None, repr=False)
    input_std: torch.Tensor | None = field(default=None, repr=False)
    source: dict[str, str] = field(default_factory=dict)  # run_id, task of an export

    def params(self) -> Params:
        if self._params is None:
            if self.weights_path is None or not self.weights_path.is_file():
                raise RecordError(f"weights of candidate {self.candidate_id} are missing "
                                  f"({self.weights_path})")
            self._params = RunStore(self.weights_path.parent.parent).read_weights(
                self.candidate_id)
        return self._params

    def to_module(self) -> torch.nn.Module:
        """A ``torch.nn.Module`` with the trained weights: ``module(x[B, n_in]) -> scores``."""
        return GenomeModule(self.genome, self.params())

    def standardise(self, x: torch.Tensor | Any) -> torch.Tensor:
        """Raw features ``x[B, n_in]`` as the network saw them in training: ``(x - mean) /
        std`` with the run's train statistics (an export carries them)."""
        if self.input_mean is None or self.input_std is None:
            raise RecordError(f"architecture {self.candidate_id} carries no input "
                              "standardisation (load it from an export: neurevo export)")
        x = torch.as_tensor(x, dtype=torch.float32)
        return (x - self.input_mean) / self.input_std

    def to_dict(self) -> dict[str, Any]:
        def clean(v: float) -> float | None:
            return v if math.isfinite(v) else None
        return {"candidate_id": self.candidate_id, "generation": self.generation,
                "rule": self.rule, "objectives": {k: clean(v) for k, v in self.objectives.items()},
                "costs": self.costs, "violations": self.violations,
                "test_accuracy": clean(self.test_accuracy),
                "valid_accuracy": clean(self.valid_accuracy),
                "hyperparameters": self.hyperparameters, "genome": self.genome.to_dict()}


class Run:
    """A run directory: its config, its records and its Pareto front."""

    def __init__(self, path: str | Path) -> None:
        self.store = RunStore(path)
        if not self.store.config_path.is_file():
            raise RecordError(f"{path}: not a neurevo run (no config.toml)")
        self.path = self.store.root
        self.config: SearchConfig = from_toml(self.store.config_path)

    @property
    def run_id(self) -> str:
        return self.path.name

    def evaluations(self) -> pa.Table:
        """Every evaluation recorded so far, one row each (see docs/records.md)."""
        return self.store.read_evaluations()

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
        """The objectives the evaluations were scored on, in order (custom objectives given
        to ``evolve.search(objectives=...)`` included, which ``config.objectives`` lacks)."""
        names = [f.name[len(OBJECTIVE_PREFIX):] for f in self.store.read_evaluations().schema
                 if f.name.startswith(OBJECTIVE_PREFIX)]
        return names or list(self.config.objectives)

    def completed_generations(self) -> int:
        return int(self.store.read_checkpoint()["strategy"]["generation"])

    def pareto_front(self) -> list[Architecture]:
        """The non-dominated feasible architectures found so far, best first objective first."""
        path = self.path / "pareto.parquet"
        if not path.is_file():
            return []
        rows = pq.read_table(path).to_pylist()
        front = [architecture_from_row(row, self.store) for row in rows]
        first = self.config.objectives[0]
        sign = -1.0 if first == "accuracy" else 1.0
        return sorted(front, key=lambda a: (sign * a.objectives.get(first, 0.0), a.candidate_id))


def architecture_from_row(row: dict[str, Any], store: RunStore) -> Architecture:
    objectives = {k[len(OBJECTIVE_PREFIX):]: float(v) for k, v in row.items()
                  if k.startswith(OBJECTIVE_PREFIX) and v is not None}
    costs = {k: float(v) for k, v in json.loads(row.get("costs") or "{}").items()}
    violations = {k: float(v) for k, v in json.loads(row.get("violations") or "{}").items()}
    return Architecture(
        candidate_id=int(row["candidate_id"]), generation=int(row["generation"]),
        rule=row["rule"], genome=Genome.from_json(row["genome"]), objectives=objectives,
        test_accuracy=float(row["test_accuracy"]), valid_accuracy=float(row["valid_accuracy"]),
        hyperparameters=json.loads(row["hyperparameters"]), costs=costs, violations=violations,
        weights_path=store.weights_path(int(row["candidate_id"])),
    )


def load_run(path: str | Path) -> Run:
    return Run(path)
