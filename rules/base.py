"""The contract every learning rule fulfils, and the shared training loop.

A rule is written once against :class:`~search_spaces.net.Net` (weights stored by level, with
a population axis), so the same code trains one candidate or a padded batch of candidates.
The base class does the bookkeeping every rule shares: parameter init from each
member's seed, per-member minibatch order, the epoch budget, early stopping on a validation
plateau, divergence detection, the training curve. A rule supplies only its math:

- :meth:`LearningRule.init_state` — called once before training (optimizer moments,
  fixed feedback matrices, ...);
- :meth:`LearningRule.train_step` — called for every minibatch, updates ``params`` in place
  and returns each member's loss;
- :meth:`LearningRule.predict` — called on validation/test data, returns class scores. A
  rule whose prediction depends on a member's genes (ep's and chl's relaxation) overrides
  :meth:`LearningRule.predict_members` instead, which every caller goes through.

Members never influence each other, and a member that stops early keeps the parameters of
its best validation epoch, so a member's result does not depend on what it was batched with.
A member that stops (plateau, perfect score, divergence) leaves the stack — net, parameters
and rule state are cut down to the members still training (:meth:`LearningRule.select_state`)
— so a padded batch costs what its live members cost, not what its longest one does.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import torch

from rules.device import check_device_setting, resolve_device, to_device
from search_spaces.compile import init_params
from search_spaces.genome import Genome
from search_spaces.net import Net, Params
from search_spaces.settings import check_field_types


class HyperparameterError(ValueError):
    """A hyperparameter value is unknown or out of its bounds; the message names it."""


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    low: float
    high: float
    default: float
    log: bool = False  # search on a log scale (learning rates, scales)
    integer: bool = False
    doc: str = ""
    # whether a search moves it unless told otherwise; False: held at its default unless a
    # config names it in rule.searched (a gene whose search was measured not to pay)
    searched: bool = True

    def __post_init__(self) -> None:
        # a gene the search cannot draw from, or whose default it would clip away, is a
        # rule's bug: refused where the rule declares it, naming the gene
        if not isinstance(self.name, str) or not self.name:
            raise HyperparameterError(f"a hyperparameter needs a non-empty name, got "
                                      f"{self.name!r}")
        for field_name in ("low", "high", "default"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not math.isfinite(value):
                raise HyperparameterError(f"hyperparameter {self.name}: {field_name} must be "
                                          f"a finite number, got {value!r}")
        if self.low > self.high:
            raise HyperparameterError(f"hyperparameter {self.name}: low {self.low} > high "
                                      f"{self.high}")
        if not self.low <= self.default <= self.high:
            raise HyperparameterError(f"hyperparameter {self.name}: default {self.default} is "
                                      f"outside [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise HyperparameterError(f"hyperparameter {self.name}: a log-scale range needs "
                                      f"low > 0, got {self.low}")

    def clip(self, value: float) -> float:
        value = min(max(float(value), self.low), self.high)
        return float(round(value)) if self.integer else value


@dataclass(frozen=True)
class HyperSpace:
    """The continuous genes a rule exposes to PSO / Optuna: bounds, scale, defaults."""

    params: tuple[Hyperparameter, ...]

    def __post_init__(self) -> None:
        names = []
        for p in self.params:
            if not isinstance(p, Hyperparameter):
                raise HyperparameterError(f"a HyperSpace holds rules.Hyperparameter entries, "
                                          f"got {type(p).__name__} {p!r:.40}")
            if p.name in names:
                raise HyperparameterError(f"hyperparameter {p.name} is declared twice")
            names.append(p.name)

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def defaults(self) -> dict[str, float]:
        return {p.name: p.default for p in self.params}

    def held(self) -> tuple[str, ...]:
        """The genes a search holds at their defaults unless a config frees them."""
        return tuple(p.name for p in self.params if not p.searched)

    def resolve(self, values: Mapping[str, Any] | None) -> dict[str, float]:
        """Defaults overridden by ``values``; unknown names and out-of-bound values are errors."""
        out = self.defaults()
        by_name = {p.name: p for p in self.params}
        for key, value in (values or {}).items():
            if key not in by_name:
                raise HyperparameterError(
                    f"unknown hyperparameter {key!r}; expected one of {sorted(by_name)}"
                )
            spec = by_name[key]
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise HyperparameterError(
                    f"hyperparameter {key} must be a number, got {value!r}") from None
            if not (spec.low <= number <= spec.high) or math.isnan(number):
                raise HyperparameterError(
                    f"hyperparameter {key}={number} is outside [{spec.low}, {spec.high}]"
                )
            out[key] = spec.clip(number)
        return out

    def resolve_fixed(self, values: Mapping[str, Any] | None) -> dict[str, float]:
        """:meth:`resolve` for values a user fixes: an integer gene (a sweep count) must
        also be given a whole number, which a search's own draws are rounded to; a user's
        10.5 would otherwise train as 10 while the config recorded beside it says 10.5."""
        by_name = {p.name: p for p in self.params}
        for key, value in (values or {}).items():
            spec = by_name.get(key)
            if spec is not None and spec.integer and isinstance(value, numbers.Real) \
                    and math.isfinite(value) and not float(value).is_integer():
                raise HyperparameterError(f"hyperparameter {key} is a whole number (a count), "
                                          f"got {value!r}")
        return self.resolve(values)


#: The limits of backpropagation a rule can remove, in the order they are reported.
LIMITS: tuple[str, ...] = ("WT", "FL", "BL", "FBD")
LIMIT_NAMES: Mapping[str, str] = {
    "WT": "weight transport: the feedback path needs the forward weights, transposed",
    "FL": "forward locking: credit needs the whole forward pass before a level can update",
    "BL": "backward locking: a level waits for the error to come down every level above it",
    "FBD": "forward derivatives: the feedback or update needs f′ of the forward activations",
}


@dataclass(frozen=True)
class Limit:
    """Whether a rule removes one limit of backprop, and the reason in its own code's terms.

    Declared by hand on the rule class rather than measured: what a rule's feedback reads and
    what it waits for is a property of its algorithm, the same on every net and run."""

    removed: bool
    reason: str


@dataclass(frozen=True)
class Budget:
    """How much training each candidate gets (shared by a whole batch).

    A search's ``[training]`` config table is this type, so these defaults are the ones
    ``neurevo search`` uses; they are sized so that a default search is short (no
    benchmark times one, so no figure is given here).
    """

    epochs: int = 15
    batch_size: int = 64
    patience: int = 5  # epochs without a better validation accuracy before stopping
    # (training also stops at a perfect validation accuracy, which cannot improve)
    device: str = "cpu"  # cpu | cuda | cuda:N | auto: where a batch trains (rules/device.py)

    def __post_init__(self) -> None:
        # counts: a float (1.5) or a bool would fail deep inside training, not here; the
        # type check names it first ("epochs must be an integer, got 1.5")
        check_field_types(self, HyperparameterError)
        # the message starts with the field's name: the config prefixes its table
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise HyperparameterError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_device_setting(self.device)


class Labeled(Protocol):
    x: torch.Tensor
    y: torch.Tensor


class Dataset(Protocol):
    """Anything with ``train`` and ``valid`` splits (``evolve.tasks.Task`` is one)."""

    train: Labeled
    valid: Labeled


@dataclass
class FitResult:
    params: Params  # best-validation parameters of every member
    valid_accuracy: list[float]
    status: list[str]  # "ok" | "failed" per member
    reasons: list[str]  # why a member failed ("" when ok)
    epochs: list[int]  # epochs each member trained
    curves: list[list[dict[str, float]]] = field(default_factory=list)


class LearningRule:
    """Base class of learning rules; see the module docstring for when each hook runs."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    # Which limits of backprop the rule removes, keyed by every name in LIMITS (checked by
    # rules.register); empty means "not declared", so a user's rule needs no answer to run.
    limits: ClassVar[Mapping[str, Limit]] = {}
    # Genes that were constructor options in runs, configs and exports recorded before:
    # read back, such an option fixes the gene at its value (rules.split_options)
    former_options: ClassVar[tuple[str, ...]] = ()
    # Whether the rule trains recurrent (cycle-closing) edges: True for the energy rules,
    # which relax through them; False for a feedforward rule, whose recurrent weights would
    # keep their initial values yet count in params and on a chip (a search refuses
    # space.allow_recurrent with it); None, a user's rule that does not say: allowed.
    trains_recurrent: ClassVar[bool | None] = None

    @classmethod
    def rule_limits(cls) -> dict[str, dict[str, object]]:
        """``{"WT": {"removed": bool, "reason": str}, ...}`` in :data:`LIMITS` order, ``{}``
        when undeclared: plain JSON, so a record or report can carry it without this class."""
        return {key: {"removed": cls.limits[key].removed, "reason": cls.limits[key].reason}
                for key in LIMITS if key in cls.limits}

    def hyperparameters(self) -> HyperSpace:
        raise NotImplementedError(f"rule {self.name or type(self).__name__} must define "
                                  "hyperparameters() -> HyperSpace (its genes)")

    def init_state(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> Any:
        return None

    def train_step(self, net: Net, params: Params, state: Any, x: torch.Tensor,
                   y: torch.Tensor) -> torch.Tensor:
        """One minibatch: ``x[P, B, n_in]``, ``y[P, B]``; update params, return loss ``[P]``."""
        raise NotImplementedError(f"rule {self.name or type(self).__name__} must define "
                                  "train_step(net, params, state, x, y) -> loss [P]")

    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[P, B, n_out]`` for a shared input ``x[B, n_in]``."""
        raise NotImplementedError(f"rule {self.name or type(self).__name__} must define "
                                  "predict(net, params, x) -> class scores [P, B, C]")

    def predict_members(self, net: Net, params: Params, x: torch.Tensor,
                        hyper: Sequence[Mapping[str, Any]]) -> torch.Tensor:
        """:meth:`predict` for members whose genes are ``hyper`` (one mapping per member;
        genes left out take their defaults). Search, scoring and exports all predict
        through here, so a rule whose prediction reads a gene (ep's and chl's relaxation)
        reads each member with its own by overriding this; most rules' predictions read no
        gene, and this calls :meth:`predict`."""
        return self.predict(net, params, x)

    def start_epoch(self, state: Any, epoch: int, epochs: int) -> None:
        """Called before every epoch ``epoch`` (0-based) of a fit of ``epochs``: the one place
        a rule learns how far through its budget it is (a learning-rate schedule reads it).
        Nothing by default."""

    def step_cost(self, hyper: Mapping[str, Any]) -> float:
        """Relative compute of one training step of a member with the genes ``hyper``
        (missing genes at their defaults), in units of one forward and backward pass of the
        same net. The chunk planner (evolve/chunking.py) weighs a member's padded work by it
        and lays each chunk out by it, costliest first, so a rule can run the part of a
        step that a member's genes make longer on a shrinking prefix of the chunk (pc's
        relaxation does); 1 unless a gene sets how long a step runs."""
        return 1.0

    def select_state(self, state: Any, params: Params, keep: torch.Tensor) -> Any:
        """The training state of the members ``keep`` (indices along the population axis),
        for ``params`` already cut down to them. Called when members stop early, so they
        stop costing compute; a rule that cannot cut its state raises
        ``NotImplementedError`` and its stopped members train on, unrecorded."""
        raise NotImplementedError

    # -- settings and prediction outside a search -----------------------------------------
    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """The rule's options: its constructor's keyword parameters and their defaults.

        Options are settings that are not genes (relaxation sweeps, feedback gains, ...);
        a rule stores each one under the parameter's own name, so :meth:`options` can read
        them back and an export can rebuild the very rule that trained it."""
        if cls.__init__ is object.__init__:
            return {}
        out = {}
        for p in inspect.signature(cls.__init__).parameters.values():
            if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.default is p.empty:
                raise TypeError(f"rule {cls.name}: constructor parameter {p.name!r} needs a "
                                "default (rules are built from their name and options)")
            out[p.name] = p.default
        return out

    def options(self) -> dict[str, Any]:
        """This instance's options (defaults included), as recorded in runs and exports."""
        return {k: getattr(self, k, v) for k, v in self.option_defaults().items()}

    def to_module(self, genome: Genome, params: Params,
                  hyper: Mapping[str, Any] | None = None) -> torch.nn.Module:
        """A ``torch.nn.Module`` that computes exactly :meth:`predict_members` for one
        trained member with the genes ``hyper`` (``params`` in the genome's own layout,
        population axis 1): the rule owns its prediction, so an ff net is read by label
        goodness and an ep/chl net by its free relaxation under its own γ and sweeps, never
        by a feedforward pass it was not trained for."""
        from rules.module import RuleModule

        return RuleModule(self, genome, params, hyper)

    # -- the shared loop -----------------------------------------------------------------
    def fit(
        self,
        net: Net,
        data: Dataset,
        hyper: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
        budget: Budget,
        seeds: Sequence[int],
    ) -> FitResult:
        """Train every member of ``net`` from its seed; return best-validation parameters."""
        population = net.population
        if isinstance(hyper, Mapping) or hyper is None:
            hyper = [hyper or {}] * population
        if len(hyper) != population or len(seeds) != population:
            raise ValueError(f"need {population} hyperparameter sets and seeds")
        space = self.hyperparameters()
        resolved = [space.resolve(h) for h in hyper]
        scales = [h.get("init_scale", 1.0) for h in resolved]
        # the population trains on budget.device: parameters and the rule's state are set
        # up on the host (a seed gives the same start on every device), then the net, the
        # data, the parameters and the state move there once; results come back to the host
        device = resolve_device(budget.device)
        params = init_params(net, seeds, scales)
        state = self.init_state(net, params, resolved, seeds)
        net, params, state = net.to(device), params.to(device), to_device(state, device)
        shufflers = [torch.Generator().manual_seed(int(s) * 7919 + 17) for s in seeds]
        x_train, y_train = data.train.x.to(device), data.train.y.to(device)
        x_valid, y_valid = data.valid.x.to(device), data.valid.y.to(device)
        n = x_train.shape[0]
        batch = min(budget.batch_size, n)

        best = params.detach()
        # bookkeeping stays on the host; accuracies in float64, as accuracy() gives them
        best_acc = torch.full((population,), -1.0, dtype=torch.float64)
        since_best = torch.zeros(population, dtype=torch.long)
        active = torch.ones(population, dtype=torch.bool)
        status, reasons = ["ok"] * population, [""] * population
        epochs = [0] * population
        curves: list[list[dict[str, float]]] = [[] for _ in range(population)]
        # the members still in the stack (indices into the population); stopped members
        # are cut out of net, params and state, so they stop costing compute
        alive = torch.arange(population)
        compact = True
        for epoch in range(budget.epochs):
            self.start_epoch(state, epoch, budget.epochs)
            order = torch.stack([torch.randperm(n, generator=shufflers[p], device="cpu")
                                 for p in alive.tolist()]).to(device)
            loss_sum = torch.zeros(len(alive))
            steps = 0
            # each step's indices as one contiguous row [P * batch], cut once per epoch:
            # index_select on it gathers the minibatches faster than x[idx] with a
            # [P, batch] index (the same rows, so the same numbers)
            n_steps = n // batch
            batches = order[:, :n_steps * batch].reshape(len(alive), n_steps, batch) \
                .transpose(0, 1).reshape(n_steps, -1)
            for rows in batches:
                xb = x_train.index_select(0, rows).view(len(alive), batch, *x_train.shape[1:])
                yb = y_train.index_select(0, rows).view(len(alive), batch, *y_train.shape[1:])
                loss = self.train_step(net, params, state, xb, yb)
                check_loss(self.name, loss, len(alive))
                loss_sum += loss.detach().cpu()
                steps += 1
            train_loss = torch.full((population,), math.nan)
            train_loss[alive] = loss_sum / max(steps, 1)
            acc = torch.full((population,), -1.0, dtype=torch.float64)
            with torch.no_grad():
                scores = self.predict_members(net, params, x_valid,
                                              [resolved[p] for p in alive.tolist()])
                check_scores(self.name, scores, (len(alive), len(y_valid), net.n_outputs))
                acc[alive] = accuracy(scores, y_valid)
            # which of the three went non-finite, per member: a user's rule returning NaN
            # updates is told apart from one whose loss overflowed
            checks = {"training loss": torch.isfinite(train_loss[alive]),
                      "weights": torch.stack([torch.isfinite(t.reshape(len(alive), -1)).all(1)
                                              for t in params.tensors()]).all(0).cpu(),
                      "predictions": torch.isfinite(scores.reshape(len(alive), -1)).all(1).cpu()}
            finite = torch.zeros(population, dtype=torch.bool)
            finite[alive] = torch.stack(list(checks.values())).all(dim=0)
            for p in torch.nonzero(active & ~finite).flatten().tolist():
                row = int(torch.nonzero(alive == p)[0])
                bad = [what for what, ok in checks.items() if not ok[row]]
                status[p] = "failed"
                named = " and ".join([", ".join(bad[:-1]), bad[-1]] if len(bad) > 1 else bad)
                reasons[p] = (f"diverged: non-finite {named} at epoch {epoch + 1} "
                              f"(rule {self.name})")
            active &= finite
            improved = active & (acc > best_acc)
            if improved.any():
                rows = improved[alive]  # positions in the stack
                for kept, now in zip(best.tensors(), params.tensors(), strict=True):
                    kept[alive[rows]] = now.detach()[rows.to(now.device)]
                best_acc = torch.where(improved, acc, best_acc)
            since_best = torch.where(improved, torch.zeros_like(since_best), since_best + 1)
            for p in torch.nonzero(active).flatten().tolist():
                epochs[p] = epoch + 1
                curves[p].append({"epoch": epoch + 1, "train_loss": float(train_loss[p]),
                                  "valid_accuracy": float(acc[p])})
            # a plateau, or a perfect validation score that no epoch can improve on
            active &= (since_best < budget.patience) & (best_acc < 1.0)
            if not active.any():
                break
            still = active[alive]
            if compact and not bool(still.all()):
                keep = torch.nonzero(still).flatten()
                try:
                    kept_params = params.select(keep)
                    state = self.select_state(state, kept_params, keep)
                except NotImplementedError:
                    compact = False  # this rule trains its stopped members on, unrecorded
                else:
                    net, params, alive = net.select(keep), kept_params, alive[keep]
        valid = [float(a) if s == "ok" else float("nan")
                 for a, s in zip(best_acc.tolist(), status, strict=True)]
        return FitResult(best.to("cpu"), valid, status, reasons, epochs, curves)


def check_loss(rule: str, loss: Any, members: int) -> None:
    """``train_step``'s contract: the minibatch loss of each member, a tensor ``[P]``. A
    scalar would broadcast one number into every member's training curve, a ``[P, B]``
    fail inside the bookkeeping with a broadcasting error that names no rule."""
    if not isinstance(loss, torch.Tensor) or tuple(loss.shape) != (members,):
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"rule {rule}: train_step returned a loss of shape {got}, expected "
                         f"one per member, [members] = [{members}]")


def check_scores(rule: str, scores: Any, shape: tuple[int, int, int]) -> None:
    """``predict``'s contract, checked where its scores are read: a tensor of class scores
    ``[P, B, C]``. Another shape would be read without an error (``[B, C]`` broadcasts
    member 0's accuracy to every member) and recorded as if it were right."""
    if not isinstance(scores, torch.Tensor) or tuple(scores.shape) != shape:
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"rule {rule}: predict returned {got}, expected class scores of "
                         f"shape [members, inputs, classes] = {list(shape)}")


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-member accuracy of ``scores[P, B, C]`` against shared labels ``y[B]``."""
    # the max's index, not argmax: the same first index of the largest score (NaN counting
    # as largest, as in argmax), but faster on a strided class axis (a narrow output level
    # is computed classes × batch) than argmax, in place or on a contiguous copy
    correct = (scores.max(dim=-1).indices == y.unsqueeze(0)).sum(dim=1).cpu()
    # correct / examples in float64 on the host, as a user counts it (a float32 mean records
    # 14/15 as 0.9333333373...); float64 also where the device has none (MPS)
    return correct.double() / y.shape[0]
