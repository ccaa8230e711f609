"""The contract of a search strategy: ask/tell over explicit, JSON-serialisable state.

A strategy never holds run state in attributes: ``init`` returns a state dict,
``ask(state)`` returns the candidates to evaluate in the state's current generation, and
``tell(state, scored)`` receives their scores and returns the next state. A checkpoint is
just that dict, so resuming is loading it, and a strategy is tested by feeding it scores.

When each method is called by the search loop (evolve/loop.py):

- ``init(seed)`` — once, when a run is created;
- ``ask(state)`` — at the start of every generation (pure: it may be called again after a
  resume and returns the same candidates);
- ``tell(state, scored)`` — once per generation, with one :class:`Scored` per asked candidate
  (failed evaluations included, with ``ok=False``).

The base class does the bookkeeping (decoding candidates, checking that ``tell`` got exactly
what ``ask`` handed out); subclasses implement ``_init`` and ``_tell``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from evolve.collector import collector_paused
from rules.base import HyperSpace
from search_spaces.genome import Genome
from search_spaces.space import SearchSpace

if TYPE_CHECKING:
    from evolve.strategies import StrategyConfig


# slotted: a generation's ten thousand candidates are one object each for the cyclic
# collector, not two (benchmarks/driver.py)
@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    generation: int
    genome: Genome
    hyperparameters: Mapping[str, float]
    parents: tuple[int, ...] = ()
    species: int = -1

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, its genome as the genome's own JSON text (:meth:`Genome.to_json`,
        made once per genome and shared by its clones): a state holds ten thousand of these
        at population 10,000, and the genome as nested lists was most of the objects a
        ``tell`` made (``benchmarks/driver.py``)."""
        return {"id": self.id, "generation": self.generation, "genome": self.genome.to_json(),
                "hyperparameters": dict(self.hyperparameters),
                "parents": self.parents,  # the (immutable) tuple: a JSON array all the same
                "species": self.species}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Candidate:
        genome = data["genome"]  # JSON text; older checkpoints hold it as a dict (still read)
        if isinstance(genome, str):
            genome = json.loads(genome)
        genome = Genome.from_dict(genome, validate=False)  # compile validates
        return cls(int(data["id"]), int(data["generation"]), genome,
                   {k: float(v) for k, v in data["hyperparameters"].items()},
                   tuple(int(p) for p in data["parents"]), int(data["species"]))


@dataclass(frozen=True, slots=True)
class Scored:
    """A candidate with its objective values (in the search's objective order)."""

    candidate: Candidate
    values: tuple[float, ...]
    violation: float = 0.0  # total constraint violation; 0 = feasible
    ok: bool = True

    @property
    def rankable(self) -> bool:
        """Takes part in ranking: trained with finite values, or infeasible (then only its
        violation counts, so a candidate recorded infeasible before training, whose values
        were never measured, ranks exactly like a trained infeasible one)."""
        return self.ok and (self.violation > 0 or all(map(math.isfinite, self.values)))

    def to_dict(self) -> dict[str, Any]:
        return {"candidate": self.candidate.to_dict(),
                "values": [v if math.isfinite(v) else None for v in self.values],
                "violation": self.violation, "ok": self.ok}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scored:
        values = tuple(float("nan") if v is None else float(v) for v in data["values"])
        return cls(Candidate.from_dict(data["candidate"]), values, float(data["violation"]),
                   bool(data["ok"]))


@dataclass(frozen=True)
class Problem:
    """What a strategy needs to know about the search (no data, no rule internals)."""

    directions: tuple[str, ...]
    # the rule's resolved hyperparameters (start values); for a run recorded while some genes
    # were rule options, without those (evolve.loop.Session.build adds them to each candidate)
    hyperparameters: Mapping[str, float]
    population: int
    # the continuous genes: the rule's hyperparameter space (bounds, log scale); the names
    # in ``fixed`` were set by the user (rule.hyperparameters) and must not be moved
    hyper_space: HyperSpace | None = None
    fixed: frozenset[str] = frozenset()


class Strategy:
    name: ClassVar[str] = ""
    # Keys of the state whose value only ever grows over a run: a dict that only gains keys
    # (values never change) or a list only appended to. A checkpoint stores what each
    # generation added to them in an append-only log instead of rewriting them whole
    # (evolve/records.py), so what is written per generation does not grow with the run.
    growing_keys: ClassVar[tuple[str, ...]] = ()
    # steady-state evaluation (evolve/steady.py): the share of a generation's candidates
    # that must have been told before the next generation is asked; None: the strategy
    # needs every result of a generation (it cannot run in steady mode)
    steady_quorum: ClassVar[float | None] = None
    # The tables of the ``[strategy]`` config the strategy reads, in the order its
    # constructor takes them after (space, problem): a table it does not name cannot change
    # it, and a search warns when such a table was set (StrategyConfig.unread_tables).
    tables: ClassVar[tuple[str, ...]] = ()
    # whether its genomes grow from the space's start genome (SearchSpace.start_genome,
    # ``space.start_widths``); a strategy of a fixed-depth layered space does not read it
    grows_from_start: ClassVar[bool] = False

    @classmethod
    def from_config(cls, space: SearchSpace, problem: Problem,
                    config: StrategyConfig) -> Strategy:
        """The strategy built from the tables of the ``[strategy]`` config that it reads."""
        return cls(space, problem, *(getattr(config, table) for table in cls.tables))

    def init(self, seed: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        state = self._init(rng)
        state["rng"] = rng.bit_generator.state
        return state

    def ask(self, state: Mapping[str, Any]) -> list[Candidate]:
        pending = state["pending"]
        known = self.__dict__.get("_told")
        if known is not None and known[0] is pending and len(known[1]) == len(pending):
            return list(known[1])
        with collector_paused():
            return [Candidate.from_dict(c) for c in pending]

    def _remember(self, pending: list[dict[str, Any]], candidates: Sequence[Candidate]) -> None:
        """Keep the candidates that ``pending`` (a list ``tell`` just built, each entry their
        ``to_dict``) encodes, so that ``ask`` on the state ``tell`` returned hands them out
        without decoding them again (``benchmarks/driver.py`` times ``ask``). Only a cache:
        ``ask`` on any other state, a checkpoint
        read back included, decodes as always; states are never changed in place."""
        self._told = (pending, tuple(candidates))

    def tell(self, state: Mapping[str, Any], scored: Sequence[Scored]) -> dict[str, Any]:
        asked = sorted(c["id"] for c in state["pending"])
        told = sorted(s.candidate.id for s in scored)
        if asked != told:
            raise ValueError(f"tell() got candidates {told}, but ask() handed out {asked}")
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng"]
        # a shallow copy: _tell must not change nested parts of the caller's state in place
        # either (copy what it updates), so that telling one state twice gives one answer;
        # the contract test checks this for every strategy. (A deep copy here cost more,
        # at population 1000, than NEAT's reproduction itself.)
        with collector_paused():
            new_state = self._tell(dict(state), list(scored), rng)
        new_state["rng"] = rng.bit_generator.state
        return new_state

    def tell_arrived(self, state: Mapping[str, Any], scored: Sequence[Scored]
                     ) -> dict[str, Any]:
        """``tell`` with the results that have arrived so far, for steady-state evaluation.

        ``scored`` may hold any of the candidates still owed a result: those of the current
        generation (``pending``) and those asked in earlier generations that were not told
        yet (``owed``). The strategy reproduces from these results as if they were the
        generation (late ones join the next call); what was not told stays in the new
        state's ``owed`` list, in the order it was asked, and must come in a later call, so
        every asked candidate is told exactly once."""
        owed = {int(c["id"]): c for c in (*state.get("owed", ()), *state["pending"])}
        told = [s.candidate.id for s in scored]
        unknown = sorted(set(told) - owed.keys())
        if unknown or len(set(told)) != len(told):
            raise ValueError(f"tell_arrived() got candidates {sorted(told)}; owed a result "
                             f"are only {sorted(owed)}, each once")
        view = dict(state, pending=[owed[i] for i in told])
        new_state = self.tell(view, scored)
        still = [c for i, c in owed.items() if i not in set(told)]
        new_state["owed"] = still
        self._keep_owed(state, new_state, [int(c["id"]) for c in still])
        return new_state

    # -- subclass hooks ----------------------------------------------------------------------
    def _keep_owed(self, old: Mapping[str, Any], new: dict[str, Any], owed: list[int]) -> None:
        """Carry what the strategy keeps per live candidate (NEAT-PSO: its particle) from
        ``old`` into ``new`` for the candidates still owed a result; ``tell`` itself only
        keeps it for the next generation's."""

    def _init(self, rng: np.random.Generator) -> dict[str, Any]:
        """Return the first state; its ``pending`` list holds generation 0's candidates."""
        raise NotImplementedError

    def _tell(self, state: dict[str, Any], scored: list[Scored],
              rng: np.random.Generator) -> dict[str, Any]:
        """Return the next state, with the next generation's candidates in ``pending``."""
        raise NotImplementedError


def check_ranges(settings: object, conditions: Mapping[str, tuple[bool, str]]) -> None:
    """Raise ``ValueError("<field> must be <what>, got <value>")`` for the first field whose
    condition is false; the message starts with the field's name so that the config can put
    its table in front (``strategy.neat.target_species must be >= 1, got 0``).

    Every float field must be finite first: ``inf`` passes ``>= 0`` and would reach the
    swarm's arithmetic as NaN velocities many generations later."""
    for f in dataclasses.fields(settings):  # type: ignore[arg-type]
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")
    for name, (ok, what) in conditions.items():
        if not ok:
            raise ValueError(f"{name} must be {what}, got {getattr(settings, name)!r}")
