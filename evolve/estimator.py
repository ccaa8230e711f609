"""A search as a scikit-learn classifier: :class:`NeurevoClassifier`.

``fit`` runs a whole search on the arrays it is given and keeps one member of the Pareto
front, so a search drops into the tools people already use to judge a model (pipelines,
``cross_val_score``, grid searches) without a separate export step.

>>> from evolve import NeurevoClassifier
>>> clf = NeurevoClassifier(rule="bp", generations=2, population=8)    # doctest: +SKIP
>>> clf.fit(X, y).score(X_test, y_test)                                # doctest: +SKIP
>>> NeurevoClassifier(select={"energy": 1e-6}).fit(X, y)               # doctest: +SKIP
>>> evolve.export_architecture(clf.architecture_, "best.safetensors")  # doctest: +SKIP

See docs/estimator.md for every parameter and the scikit-learn checks it passes.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import re
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from evolve.config import ConfigError, SearchConfig, override
from evolve.hardware.cost import SCALAR_COSTS
from evolve.messages import plural
from evolve.objectives import resolve_objectives
from evolve.reporters import ProgressBar
from evolve.run import Architecture
from evolve.search import search
from evolve.tasks import TaskError
from rules.registry import RuleOptionError, UnknownRuleError

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn: the estimator's own method
    def _validate_data(estimator: BaseEstimator, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)

__all__ = ["NeurevoClassifier", "parse_budget"]

# The estimator's defaults are the search's own (one home for each default), except where an
# estimator is used differently from a search: see the class docstring.
_DEFAULTS = SearchConfig()

# Budget names that are not spelled like their cost: ``energy`` reads ``energy_j`` where the
# run did not optimise energy as an objective, so a budget does not depend on the objectives.
_COST_ALIASES = {"energy": "energy_j", "latency": "latency_s"}

# Parameters that name a config key; ``config`` may not set these a second time.
_NAMED_KEYS = {
    "generations": "generations", "population": "population", "seed": "random_state",
    "out": "out", "objectives": "objectives", "rule.name": "rule",
    "rule.options": "rule_options", "hardware.profile": "hardware", "hardware.chips": "chips",
    "training.epochs": "epochs", "training.patience": "patience",
    "training.batch_size": "batch_size", "executor.name": "executor",
    "task.valid_fraction": "valid_fraction", "task.test_fraction": "test_fraction",
}

_PREDICT_BLOCK = 8192  # rows per forward pass: bounds the memory of ep/chl relaxations


class NeurevoClassifier(ClassifierMixin, BaseEstimator):
    """A neuro-evolutionary search that is fitted and scored like any classifier.

    ``fit(X, y)`` searches architectures (and rule hyperparameters) trained with the local
    learning rule ``rule``, priced on the chip ``hardware``, and keeps one member of the
    resulting Pareto front (``select``). The search splits ``X`` itself into train /
    validation / test parts (stratified, seeded by ``random_state``): validation accuracy
    ranks candidates, so it is what ``select`` compares; the member's own held-out test
    accuracy is ``architecture_.test_accuracy``.

    Parameters
    ----------
    rule : learning rule name (``pc``, ``bp``, ``fa``, ``dfa``, ``ep``, ``chl``, ``ff``,
        ``dtp``, ``lra``).
    generations, population : the search budget.
    hardware : chip profile name (``loihi``, ``truenorth``, ...) or a TOML profile path.
    chips : chip budget (0 = none); needing more chips makes a candidate infeasible.
    select : which front member to keep. ``None``: the best validation accuracy. A budget,
        as a dict ``{"energy": 1e-6, "cores": 4}`` or a string ``"energy<=1e-6,cores<=4"``:
        the best validation accuracy among members within every bound (``<=``); a name is
        an objective of the run or a hardware cost (``energy``/``energy_j`` in joules,
        ``cores``, ``chips``, ``latency``/``latency_s``, ``neurons``, ``synapses``,
        ``synaptic_ops``, ...). A callable ``front -> Architecture``: anything else.
    epochs, patience, batch_size : training budget of each candidate.
    objectives : the search's objectives (names or :class:`evolve.Objective` objects);
        ``None``: the search's default, accuracy and energy.
    rule_options : the rule's constructor settings (not genes), e.g. ``{"symmetric": False}``
        for ep.
    valid_fraction, test_fraction : shares of ``X`` the search holds out.
    executor : ``"serial"`` (default here, unlike the CLI: ``cross_val_score(n_jobs=...)``
        already runs fits in parallel, and Ray inside joblib workers would nest) or
        ``"ray"``.
    out : directory the run is recorded under; ``None``: a fresh temporary directory per
        fit (kept, so that ``run_path_`` stays readable).
    random_state : seed of the search and its data split (an int is used as is; ``None``
        or a ``RandomState`` draws one).
    verbose : show the search's progress bar on stderr.
    config : further search settings as a nested dict of config keys (see docs/config.md),
        e.g. ``{"strategy": {"name": "random"}}``; keys with a parameter above are refused.

    Attributes
    ----------
    architecture_ : the kept :class:`evolve.Architecture` (weights in memory; exportable
        with :func:`evolve.export_architecture`).
    run_path_ : the run directory (``evolve.load_run(run_path_)`` has the whole front).
    classes_ : the labels, in the order of ``predict_proba``'s columns.
    n_features_in_ : number of features seen in ``fit``.

    ``predict_proba`` is the softmax of the kept network's class scores. For rules whose
    output error is a softmax cross-entropy's (bp, fa, dfa, dtp, lra) that is their own
    estimate; pc (squared error to one-hot targets), ff (label goodness) and ep/chl (output
    activity at the free fixed point) score classes otherwise, so for them the softmax ranks
    classes as the rule does but is not calibrated.
    """

    def __init__(self, rule: str = _DEFAULTS.rule.name, *,
                 generations: int = _DEFAULTS.generations,
                 population: int = _DEFAULTS.population,
                 hardware: str = _DEFAULTS.hardware.profile,
                 chips: int = _DEFAULTS.hardware.chips,
                 select: None | str | Mapping[str, float] | Callable[..., Architecture] = None,
                 epochs: int = _DEFAULTS.training.epochs,
                 patience: int = _DEFAULTS.training.patience,
                 batch_size: int = _DEFAULTS.training.batch_size,
                 objectives: Any = None,
                 rule_options: Mapping[str, Any] | None = None,
                 valid_fraction: float = _DEFAULTS.task.valid_fraction,
                 test_fraction: float = _DEFAULTS.task.test_fraction,
                 executor: str = "serial",
                 out: str | Path | None = None,
                 random_state: Any = _DEFAULTS.seed,
                 verbose: bool = False,
                 config: Mapping[str, Any] | None = None) -> None:
        self.rule = rule
        self.generations = generations
        self.population = population
        self.hardware = hardware
        self.chips = chips
        self.select = select
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.objectives = objectives
        self.rule_options = rule_options
        self.valid_fraction = valid_fraction
        self.test_fraction = test_fraction
        self.executor = executor
        self.out = out
        self.random_state = random_state
        self.verbose = verbose
        self.config = config

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> NeurevoClassifier:
        """Run a search on ``(X, y)`` and keep one member of its Pareto front.

        A search needs at least 3 samples of every class (its split is stratified three
        ways); fewer raises the search's own :class:`evolve.tasks.TaskError`."""
        X, y = _validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise ValueError("NeurevoClassifier needs samples of at least 2 classes, but y "
                             f"contains only one class: {classes.tolist()[0]!r}")
        try:
            config, objectives = self._search_config()
        except ConfigError as exc:
            raise ConfigError(_in_parameter_terms(str(exc))) from None
        reporters = [ProgressBar()] if self.verbose else ()
        try:
            # a malformed select, or one naming no quantity a front member has, fails before
            # the search runs, not after it
            choose = _selector(self.select, known=(*config.objectives, *SCALAR_COSTS,
                                                   *_COST_ALIASES),
                               maximised=_maximised(objectives or config.objectives))
            # the original labels go to the search, so an export names its classes by them,
            # and the columns' names where X had them, so an export reads a table by them
            run = search(config, data=(_named(X, getattr(self, "feature_names_in_", None)), y),
                         objectives=objectives, reporters=reporters)
        except (ConfigError, TaskError, UnknownRuleError, RuleOptionError) as exc:
            self._remove_fresh_out(config)  # refused before the run: in this estimator's
            # terms (valid_fraction, rule_options, ...)
            raise type(exc)(_in_parameter_terms(str(exc))) from None
        except BaseException:
            self._remove_fresh_out(config)
            raise
        front = run.pareto_front()
        if not front:
            raise RuntimeError(f"the search found no feasible architecture (run {run.path}); "
                               "relax the chip budget or give it more generations")
        # a search is worth keeping even when nothing fits a budget or a user's select
        # fails: every error from here on names the run, which is kept
        try:
            arch = choose(front)
        except Exception as exc:
            raise _naming_run(exc, run.path) from exc
        if not isinstance(arch, Architecture):
            raise TypeError(f"select returned {type(arch).__name__}, expected an "
                            "evolve.Architecture from the front it was given (the run is "
                            f"kept: {run.path})")
        arch.params()  # weights into memory: the estimator outlives its run directory
        names = tuple(str(c) for c in classes)
        if arch.class_names and tuple(arch.class_names) != names:
            raise RuntimeError(f"the run's classes {arch.class_names} are not y's {names}")
        self.classes_ = classes
        self.architecture_ = arch
        self.run_path_ = Path(run.path)
        return self

    def _remove_fresh_out(self, config: SearchConfig) -> None:
        if self.out is None:  # the fresh temporary directory holds no run: remove it
            with contextlib.suppress(OSError):
                Path(config.out).rmdir()

    def _search_config(self) -> tuple[SearchConfig, Any]:
        """The search this estimator's parameters describe, and its objectives (passed to
        :func:`evolve.search` itself, which takes user-defined :class:`Objective` s too)."""
        extra = dict(self.config or {})
        for key, param in _NAMED_KEYS.items():
            if _has_key(extra, key):
                raise ValueError(f"config sets {key!r}, which is the parameter {param!r}: "
                                 f"use NeurevoClassifier({param}=...)")
        for key in ("task.name", "task.label_column"):
            if _has_key(extra, key):
                raise ValueError(f"config sets {key!r}, but the estimator trains on the X "
                                 "and y given to fit: drop it")
        updates: dict[str, Any] = {
            "generations": self.generations, "population": self.population,
            "seed": _seed(self.random_state),
            "rule": {"name": self.rule, "options": dict(self.rule_options or {})},
            "hardware": {"profile": str(self.hardware), "chips": self.chips},
            "training": {"epochs": self.epochs, "patience": self.patience,
                         "batch_size": self.batch_size},
            "executor": {"name": self.executor},
            "task": {"valid_fraction": self.valid_fraction,
                     "test_fraction": self.test_fraction},
        }
        config = override(override(SearchConfig(), extra), updates)
        objectives = None
        if self.objectives is not None:
            objectives = ([name.strip() for name in self.objectives.split(",")]
                          if isinstance(self.objectives, str) else list(self.objectives))
            names = [o if isinstance(o, str) else o.name for o in objectives]
            config = override(config, {"objectives": names})
        out = tempfile.mkdtemp(prefix="neurevo-") if self.out is None else str(self.out)
        return override(config, {"out": out}), objectives

    # -- predicting -------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the kept network's class scores, columns in ``classes_`` order (not
        calibrated for pc/ff/ep/chl, whose scores are not logits: see the class docstring)."""
        scores = self._scores(X)
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=1, keepdims=True)
        return scores

    def predict(self, X: Any) -> np.ndarray:
        """The label with the highest class score (the rule's own prediction)."""
        scores = self._scores(X)  # first: it tells an unfitted estimator what it lacks
        return self.classes_[np.argmax(scores, axis=1)]

    def _scores(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=np.float64)
        arch = self.architecture_
        module = arch.to_module().eval()
        blocks = []
        with torch.no_grad():
            for start in range(0, len(X), _PREDICT_BLOCK):
                x = arch.standardise(X[start:start + _PREDICT_BLOCK])
                blocks.append(module(x).double().numpy())
        return np.concatenate(blocks)  # validation refuses an X without rows


# -- select -----------------------------------------------------------------------------------
_TERM = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*<=\s*(\S+)\s*")


def parse_budget(text: str) -> dict[str, float]:
    """``"energy<=1e-6, cores<=4"`` -> ``{"energy": 1e-6, "cores": 4.0}``.

    Only upper bounds: every budgetable quantity (energy, cores, latency, ...) is one
    that is cheaper when smaller, and one spelling is easier to read back than several."""
    budget: dict[str, float] = {}
    for term in text.split(","):
        match = _TERM.fullmatch(term)
        value = _number(match.group(2)) if match else None
        if value is None:
            raise ValueError(f"select={text!r}: expected budgets like 'energy<=1e-6' or "
                             "'energy<=1e-6,cores<=4' (name<=number, joined by commas)")
        budget[match.group(1)] = value
    return budget


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if not math.isnan(value) else None


def _selector(select: Any, known: Collection[str], maximised: Collection[str] = ()
              ) -> Callable[[list[Architecture]], Architecture]:
    """``select`` as a function of the front, checked before any training is spent: a
    budget may name the run's objectives and the hardware costs (``known``), but not an
    objective the search maximises (``maximised``), which an upper bound cannot budget."""
    if select is None:
        return _best_within({})
    if callable(select):
        return select
    if isinstance(select, str):
        return _best_within(_known_budget(parse_budget(select), known, maximised))
    if isinstance(select, Mapping):
        budget = {}
        for name, bound in select.items():
            if not isinstance(name, str) or isinstance(bound, bool) \
                    or not isinstance(bound, numbers.Real) or math.isnan(bound):
                raise ValueError(f"select={dict(select)!r}: expected {{name: upper bound}} "
                                 "with numeric bounds, e.g. {'energy': 1e-6}")
            budget[name] = float(bound)
        return _best_within(_known_budget(budget, known, maximised))
    raise TypeError(f"select must be None, a budget (dict or 'name<=value' string) or a "
                    f"callable front -> Architecture, got {type(select).__name__}")


def _best_within(budget: dict[str, float]) -> Callable[[list[Architecture]], Architecture]:
    """Best validation accuracy among the members within ``budget``; ties go to the lower
    energy (the front trades the two), then to the earlier candidate."""
    def choose(front: list[Architecture]) -> Architecture:
        within = [a for a in front
                  if all(_quantity(a, name) <= bound for name, bound in budget.items())]
        if not within:
            spent = "; ".join(
                f"{name}: least on the front {min(_quantity(a, name) for a in front):.4g}"
                for name in budget)
            members = plural(len(front), "architecture")
            raise ValueError(f"no member of the Pareto front ({members}) is "
                             f"within the budget {budget} ({spent}); raise the budget, make "
                             "the search longer, or add the quantity as an objective")
        return min(within, key=lambda a: (-_accuracy(a), a.costs.get("energy_j", math.inf),
                                          a.candidate_id))
    return choose


def _known_budget(budget: dict[str, float], known: Collection[str],
                  maximised: Collection[str] = ()) -> dict[str, float]:
    upward = sorted(set(budget) & set(maximised))
    if upward:
        raise ValueError(f"select: {upward[0]!r} is an objective the search maximises, and a "
                         "budget is an upper bound (name<=value) on a cost; the kept member "
                         "is already the most accurate within the budget. Budget one of "
                         f"{sorted(set(known) - set(maximised))}, or pass select=callable "
                         "to choose by other rules")
    unknown = sorted(set(budget) - set(known))
    if unknown:
        raise ValueError(f"select: unknown budget {unknown[0]!r}; expected one of "
                         f"{sorted(set(known) - set(maximised))}")
    for name, bound in budget.items():  # a cost is never negative: no member could be kept
        if bound < 0 and name in (*SCALAR_COSTS, *_COST_ALIASES, "params"):
            raise ValueError(f"select: {name} <= {bound:g} can never hold, {name} is never "
                             "negative; give a budget >= 0")
    return budget


def _named(X: np.ndarray, names: Any) -> Any:
    """``X`` as a pyarrow Table of its columns under ``names`` (scikit-learn's
    ``feature_names_in_``, set when the caller's X named its columns in text), so the run
    records them as its feature names; ``X`` itself where there are none. The values, and
    so the run's content hash, are ``X``'s."""
    if names is None:
        return X
    import pyarrow as pa

    return pa.Table.from_arrays([pa.array(X[:, j]) for j in range(X.shape[1])],
                                names=[str(n) for n in names])


def _in_parameter_terms(message: str) -> str:
    """A config error as the estimator's user set it: ``training.epochs`` is the parameter
    ``epochs`` here (keys the ``config`` parameter set itself are named as they are, and
    an unknown key's list of the keys there are is left whole)."""
    if message.startswith("unknown config key"):
        return message
    for key, param in _NAMED_KEYS.items():
        if "." in key:
            message = re.sub(rf"(?<![\w.]){re.escape(key)}\b", param, message)
    return message


def _maximised(objectives: Any) -> set[str]:
    """The names of the objectives (names or :class:`Objective` s) that are maximised; a
    name that is not registered is left to the search to refuse, in its own words."""
    out = set()
    for item in objectives:
        try:
            (objective,) = resolve_objectives([item])
        except (KeyError, TypeError, ValueError):
            continue
        if objective.direction == "max":
            out.add(objective.name)
    return out


def _naming_run(exc: Exception, path: Any) -> Exception:
    """``exc`` again, of its own type where that can be built from one message, with the
    kept run's directory added (the search it holds is not lost with the error)."""
    message = f"{exc.args[0] if len(exc.args) == 1 else exc} (the run is kept: {path})"
    try:
        return type(exc)(message)
    except Exception:
        return RuntimeError(f"select raised {type(exc).__name__}: {message}")


def _accuracy(arch: Architecture) -> float:
    value = arch.valid_accuracy
    return value if math.isfinite(value) else -math.inf


def _quantity(arch: Architecture, name: str) -> float:
    """An objective of the run, else a hardware cost (``energy`` reads ``energy_j``)."""
    for table, key in ((arch.objectives, name), (arch.costs, name),
                       (arch.costs, _COST_ALIASES.get(name, name))):
        if key in table:
            return float(table[key])
    known = sorted(set(arch.objectives) | set(arch.costs) | set(_COST_ALIASES))
    raise ValueError(f"select: unknown budget {name!r}; expected one of {known}")


# -- helpers ----------------------------------------------------------------------------------
def _seed(random_state: Any) -> int:
    """An int seeds the search as given (so ``random_state=3`` is the CLI's ``seed = 3``);
    ``None`` and ``RandomState`` objects draw one, as scikit-learn estimators do."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def _has_key(table: Mapping[str, Any], dotted: str) -> bool:
    head, _, rest = dotted.partition(".")
    if head not in table:
        return False
    return not rest or (isinstance(table[head], Mapping) and _has_key(table[head], rest))
