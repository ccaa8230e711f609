"""bp, the yardstick: it must train a fixed topology to the accuracy plain torch reaches."""

from __future__ import annotations

import pytest
from netkit import mlp

import rules
from evolve.tasks import load_task
from search_spaces.compile import compile_genome


def test_bp_reaches_95_percent_on_digits_with_64_64_10():
    task = load_task("digits", seed=0)
    net = compile_genome(mlp([64, 64, 10]))
    rule = rules.get_rule("bp")
    fit = rule.fit(net, task, {}, rules.Budget(epochs=40, batch_size=32, patience=8), [0])
    assert fit.status == ["ok"]
    test = rules.accuracy(rule.predict(net, fit.params, task.test.x), task.test.y).item()
    assert test >= 0.95, test
    curve = [e["valid_accuracy"] for e in fit.curves[0]]
    assert curve[-1] > curve[0] or max(curve) > 0.9  # it learned over the epochs


@pytest.mark.parametrize("bad, needle", [({"lr": 1.0}, "lr"), ({"momentum": 0.9}, "momentum")])
def test_bad_hyperparameters_are_named(bad, needle):
    space = rules.get_rule("bp").hyperparameters()
    with pytest.raises(rules.HyperparameterError, match=needle):
        space.resolve(bad)


def test_registry_register_and_lookup():
    @rules.register
    class Custom(rules.LearningRule):
        name = "custom-test-rule"

        def hyperparameters(self) -> rules.HyperSpace:  # what get_rule checks a rule has
            return rules.HyperSpace(())

    assert "custom-test-rule" in rules.available()
    assert isinstance(rules.get_rule("custom-test-rule"), Custom)
    with pytest.raises(rules.UnknownRuleError, match="available") as unknown:
        rules.get_rule("no-such-rule")
    assert "did you mean" not in str(unknown.value)
    # names are exact (runs record them), so a case slip is suggested, not taken
    with pytest.raises(rules.UnknownRuleError, match=r"'PC' \(did you mean 'pc'\?\)"):
        rules.get_rule("PC")
