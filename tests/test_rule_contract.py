"""The contract every registered rule meets one parametrised suite over the
registry, so a new rule is checked the moment it registers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from netkit import mlp

import evolve
import rules
from evolve.config import override
from evolve.tasks import load_task
from search_spaces.compile import compile_genome, member_params, stack
from search_spaces.genome import ConnectionGene, Genome


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_hyperparameter_space_is_complete_and_defaults_resolve(name):
    rule = rules.get_rule(name)
    space = rule.hyperparameters()
    assert {"lr", "init_scale"} <= set(space.names())
    defaults = space.resolve(None)
    for h in space.params:
        assert h.low <= defaults[h.name] <= h.high
        assert not (h.log and h.low <= 0), f"{name}.{h.name}: log scale needs low > 0"
    assert rule.description, f"{name} needs a one-line description for `neurevo rules`"


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_a_search_runs_with_every_rule(name, tmp_path):
    config = override(evolve.SearchConfig(), {
        "generations": 2, "population": 4, "out": str(tmp_path), "seed": 1,
        "task": {"name": "iris"}, "rule": {"name": name},
        "training": {"epochs": 20, "batch_size": 16, "patience": 20},
        "space": {"max_hidden_size": 8},
        "strategy": {"name": "neat", "mutation": {"add_node": 0.6}},
        "executor": {"name": "serial"},
    })
    run = evolve.search(config)
    rows = run.evaluations().to_pylist()
    assert rows and all(r["rule"] == name for r in rows)
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    front = run.pareto_front()
    assert front and all(math.isfinite(a.test_accuracy) for a in front)
    best = max(a.objectives["accuracy"] for a in front)
    assert best > 0.5, f"{name} should beat chance (1/3) on iris in 20 epochs: {best}"


# -- shared behaviour of the training loop, for every rule -------------------------------------


@pytest.fixture(scope="module")
def small_digits():
    task = load_task("digits", seed=0)
    return SimpleNamespace(train=SimpleNamespace(x=task.train.x[:256], y=task.train.y[:256]),
                           valid=SimpleNamespace(x=task.valid.x[:128], y=task.valid.y[:128]))


def off_default(space: rules.HyperSpace) -> dict[str, float]:
    """Every hyperparameter moved from its default to the middle of its range (geometric
    for log scales), so a batch member trains with settings of its own."""
    out = {}
    for h in space.params:
        mid = math.sqrt(h.low * h.high) if h.log else (h.low + h.high) / 2
        out[h.name] = h.clip(mid if abs(mid - h.default) > 1e-12 else h.low)
    out["lr"] = 5e-3
    return out


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_a_padded_population_trains_like_each_member_alone(name, small_digits):
    """Members never interact: each member's result is what it gets alone (its own seed,
    its own hyperparameters), whatever it is padded with."""
    rule = rules.get_rule(name)
    skip = mlp([64, 16, 16, 10], "tanh")
    skip = Genome(skip.nodes, (*skip.connections, ConnectionGene(9, 0, 1)))
    genomes = [mlp([64, 32, 10]), skip, mlp([64, 10])]
    hyper = [{}, off_default(rule.hyperparameters()), {"lr": 5e-3}]
    seeds = [0, 1, 2]
    budget = rules.Budget(epochs=2, batch_size=32, patience=5)
    batch = stack([compile_genome(g) for g in genomes])
    together = rule.fit(batch, small_digits, hyper, budget, seeds)
    for p, genome in enumerate(genomes):
        alone = rule.fit(compile_genome(genome), small_digits, hyper[p], budget, [seeds[p]])
        assert together.status[p] == alone.status[0] == "ok"
        mine = member_params(batch, together.params, p)
        for a, b in zip(alone.params.tensors(), mine.tensors(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
        assert together.valid_accuracy[p] == pytest.approx(alone.valid_accuracy[0], abs=1e-6)


def test_a_divergence_names_what_went_non_finite(small_digits):
    bp = type(rules.get_rule("bp"))

    class NaNLoss(bp):
        def train_step(self, net, params, state, x, y):
            return super().train_step(net, params, state, x, y) * math.nan  # weights fine

    class NaNWeights(bp):
        def train_step(self, net, params, state, x, y):
            loss = super().train_step(net, params, state, x, y)
            with torch.no_grad():
                params.weights[0][0, 0, 0] = math.nan  # the loss follows from the next step
            return loss

    genome, budget = mlp([64, 16, 10], "elu"), rules.Budget(epochs=2, batch_size=32)
    fit = NaNLoss().fit(compile_genome(genome), small_digits, {}, budget, [0])
    assert fit.reasons == ["diverged: non-finite training loss at epoch 1 (rule bp)"]
    fit = NaNWeights().fit(compile_genome(genome), small_digits, {}, budget, [0])
    assert fit.reasons == ["diverged: non-finite training loss, weights and predictions at "
                           "epoch 1 (rule bp)"]


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_divergence_is_a_failed_status_and_spares_the_neighbours(name, small_digits):
    base = type(rules.get_rule(name))

    class Exploding(base):
        def train_step(self, net, params, state, x, y):
            loss = super().train_step(net, params, state, x, y)
            if net.population == 2:  # member 0 only: a failed member leaves the stack
                with torch.no_grad():
                    params.weights[0][0].mul_(1e30)
            return loss

    genome = mlp([64, 16, 10], "elu")
    budget = rules.Budget(epochs=4, batch_size=32)
    fit = Exploding().fit(stack([compile_genome(genome)] * 2), small_digits, {}, budget, [0, 1])
    assert fit.status == ["failed", "ok"]
    assert fit.reasons[0].startswith("diverged: non-finite ") and fit.reasons[1] == ""
    assert fit.reasons[0].endswith(f"(rule {name})")
    assert math.isnan(fit.valid_accuracy[0])
    # the healthy neighbour ends exactly where it would have ended alone
    alone = base().fit(compile_genome(genome), small_digits, {}, budget, [1])
    assert fit.valid_accuracy[1] == pytest.approx(alone.valid_accuracy[0], abs=1e-6)


# every rule learns digits with its default hyperparameters; the activation and budget each
# rule's authors checked it with (the relaxation rules are slower, so they get fewer epochs)
LEARNING = {
    "fa": ("relu", rules.Budget(epochs=30, batch_size=32, patience=6)),
    "dfa": ("relu", rules.Budget(epochs=30, batch_size=32, patience=6)),
    "pc": ("relu", rules.Budget(epochs=30, batch_size=64, patience=6)),
    "chl": ("tanh", rules.Budget(epochs=15, batch_size=32, patience=5)),
    "ep": ("tanh", rules.Budget(epochs=15, batch_size=32, patience=5)),
}
DEFAULT_LEARNING = ("relu", rules.Budget(epochs=30, batch_size=32, patience=8))


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_learns_digits_with_64_128_10(name):
    activation, budget = LEARNING.get(name, DEFAULT_LEARNING)
    task = load_task("digits", seed=0)
    net = compile_genome(mlp([64, 128, 10], activation))
    rule = rules.get_rule(name)
    fit = rule.fit(net, task, {}, budget, [0])
    assert fit.status == ["ok"]
    test = rules.accuracy(rule.predict(net, fit.params, task.test.x), task.test.y).item()
    assert test >= 0.85, f"{name}: {test}"
    losses = [e["train_loss"] for e in fit.curves[0]]
    accuracies = [e["valid_accuracy"] for e in fit.curves[0]]
    assert losses[-1] < losses[0] and max(accuracies) > accuracies[0], name


def test_accuracy_takes_the_first_largest_score_as_argmax_does():
    """Ties (the first largest counts) and NaN (counts as largest), on the strided class
    axis a narrow output level gives: the accuracy of the fit loop is argmax's."""
    gen = torch.Generator().manual_seed(0)
    scores = torch.randint(-2, 2, (4, 10, 300), generator=gen).float().transpose(1, 2)
    scores[1, :50, 3] = float("nan")
    y = torch.randint(0, 10, (300,), generator=gen)
    expected = (scores.contiguous().argmax(dim=-1) == y).sum(dim=1).double() / len(y)
    assert torch.equal(rules.accuracy(scores, y), expected)
    # the ties matter: taking the last largest score instead changes the count
    last = 9 - scores.flip(-1).contiguous().argmax(dim=-1)
    assert not torch.equal((last == y).sum(dim=1).double() / len(y), expected)


# -- a user's rule that breaks the contract is caught, not recorded as if it were right ------
BP = type(rules.get_rule("bp"))


class NanPredict(BP):
    """Trains like bp, but member 0 predicts NaN (a bug in a user's predict)."""

    def predict(self, net, params, x):
        scores = super().predict(net, params, x).clone()
        if net.population == 2:  # member 0 only: a failed member leaves the stack
            scores[0] = float("nan")
        return scores


class NoMemberAxis(BP):
    def predict(self, net, params, x):
        return super().predict(net, params, x)[0]  # [B, C]: member 0's scores only


def test_non_finite_predictions_fail_the_member(small_digits):
    genome = mlp([64, 16, 10], "elu")
    fit = NanPredict().fit(stack([compile_genome(genome)] * 2), small_digits, {},
                           rules.Budget(epochs=2, batch_size=32), [0, 1])
    assert fit.status == ["failed", "ok"]
    assert "predictions" in fit.reasons[0]


def test_predictions_of_the_wrong_shape_are_refused(small_digits):
    genome = mlp([64, 16, 10], "elu")
    with pytest.raises(ValueError, match=r"predict returned \(\d+, 10\), expected class "
                                         r"scores of shape \[members, inputs, classes\]"):
        NoMemberAxis().fit(stack([compile_genome(genome)] * 2), small_digits, {},
                           rules.Budget(epochs=1, batch_size=32), [0, 1])


class HiddenOption(BP):
    name = "test-hidden-option"

    def __init__(self, scale: float = 1.0) -> None:
        self._scale = scale  # not under its own name: options() cannot see it


def test_an_option_the_rule_does_not_keep_under_its_name_is_refused():
    rules.register(HiddenOption)
    assert rules.get_rule(HiddenOption.name).options() == {"scale": 1.0}  # nothing given
    with pytest.raises(rules.registry.RuleOptionError, match=r"self.scale = scale"):
        rules.get_rule(HiddenOption.name, {"scale": 2.0})


def test_a_rule_defined_again_replaces_itself_but_not_another_rule():
    def define():
        class Again(BP):
            name = "test-defined-again"
        Again.__qualname__ = "Again"  # as a notebook cell run twice defines it
        return Again

    first, second = define(), define()
    rules.register(first)
    rules.register(second)  # the cell run again
    assert type(rules.get_rule("test-defined-again")) is second

    class Other(BP):
        name = "test-defined-again"
    with pytest.raises(ValueError, match="already registered"):
        rules.register(Other)

