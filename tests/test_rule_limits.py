"""Which limits of backprop each rule removes (rules/base.py ``Limit``): every registered rule
answers for all four, `neurevo rules` prints the answers, a malformed declaration is refused
at registration, and the contested entries are checked against what the code computes, so a
table that drifts from the implementation fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from netkit import data, mlp

import rules
from evolve.cli import main
from rules import registry
from rules.base import HyperSpace, LearningRule, Limit
from rules.dfa import dfa_updates, draw_direct_feedback
from rules.fa import draw_feedback_blocks, fa_updates
from rules.local import INIT_SCALE, LR, one_hot
from rules.pc import local_updates, relax
from search_spaces.compile import compile_genome, init_params
from search_spaces.net import Params

ROOT = Path(__file__).resolve().parent.parent

def removed(name: str) -> set[str]:
    return {k for k, v in rules.get_rule(name).rule_limits().items() if v["removed"]}


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_every_rule_declares_all_four_limits_with_a_reason(name):
    rule = rules.get_rule(name)
    assert tuple(rule.limits) == rules.LIMITS
    table = rule.rule_limits()
    assert tuple(table) == rules.LIMITS
    for key, entry in table.items():
        assert isinstance(entry["removed"], bool), (name, key)
        assert entry["reason"].strip() and "\n" not in entry["reason"], (name, key)
    assert json.loads(json.dumps(table)) == table  # the JSON form is plain data


def test_neurevo_rules_prints_every_rules_limits(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    blocks: dict[str, list[str]] = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            blocks[line.split(":", 1)[0]] = []
        else:
            blocks[next(reversed(blocks))].append(line.strip())
    assert sorted(blocks) == rules.available()
    for name, lines in blocks.items():
        table = rules.get_rule(name).rule_limits()
        gone = [k for k, v in table.items() if v["removed"]] or ["none"]
        kept = [k for k, v in table.items() if not v["removed"]] or ["none"]
        assert f"removes: {', '.join(gone)}   keeps: {', '.join(kept)}" in lines, name
        for key, entry in table.items():
            state = "removed" if entry["removed"] else "kept"
            assert any(line.split()[:2] == [key, state] and line.endswith(entry["reason"])
                       for line in lines), (name, key)
        assert any(line.startswith("lr ") for line in lines), name  # hyperparameters stay


class _Plain(LearningRule):
    name = "limits-test-plain"
    description = "declares no limits"

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((LR, INIT_SCALE))


def _rule_with(limits: dict) -> type[LearningRule]:
    return type("Declared", (_Plain,), {"name": "limits-test-declared", "limits": limits})


ALL_KEPT = {key: Limit(False, "reason") for key in rules.LIMITS}


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish with it."""
    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))


@pytest.mark.parametrize("limits, needles", [
    ({**ALL_KEPT, "XL": Limit(True, "no such limit")}, ["limits-test-declared", "'XL'"]),
    ({k: v for k, v in ALL_KEPT.items() if k != "BL"}, ["limits-test-declared", "'BL'"]),
    ({**{k: v for k, v in ALL_KEPT.items() if k != "FBD"}, "fbd": Limit(True, "lower case")},
     ["'FBD'", "'fbd'"]),
])
def test_register_refuses_a_bad_or_missing_limit_name(scratch_registry, limits, needles):
    with pytest.raises(ValueError) as info:
        rules.register(_rule_with(limits))
    assert all(n in str(info.value) for n in needles), str(info.value)
    assert "limits-test-declared" not in rules.available()


@pytest.mark.parametrize("value", [True, Limit(1, "int, not bool"), Limit(True, "  ")])
def test_register_refuses_a_limit_that_is_not_a_limit(scratch_registry, value):
    with pytest.raises(TypeError, match=r"limits-test-declared.*'WT'"):
        rules.register(_rule_with({**ALL_KEPT, "WT": value}))


def test_a_rule_that_declares_nothing_registers_and_shows_not_declared(scratch_registry,
                                                                       capsys):
    rules.register(_Plain)
    assert _Plain.rule_limits() == {}
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    block = out.split("limits-test-plain:", 1)[1].split("\n")
    assert block[3].strip() == "limits of backprop: not declared"


# -- the table, against the code ----------------------------------------------------------------


def test_declared_facts():
    assert removed("bp") == set()  # the yardstick removes nothing
    assert removed("fa") == {"WT"}  # random feedback, but still level by level, still f′
    assert removed("dfa") == {"WT", "BL"}
    assert removed("ff") == {"WT", "FL", "BL"}  # its local gradient still goes through f′
    assert removed("ep") == removed("chl") == {"FBD"}  # symmetric weights carry the feedback
    assert "WT" not in removed("pc") and "BL" not in removed("pc")


def test_fa_is_backward_locked_and_dfa_is_not():
    """Level 1's update in fa changes with the feedback into level 2 (its error comes through
    level 2); in dfa it does not (it reads the output error directly)."""
    net = compile_genome(mlp([6, 5, 5, 4], "tanh"))
    params = init_params(net, [1])
    x, y = data(net)
    feedback = draw_feedback_blocks(net, [1], [1.0], salt=0xFA)
    other = [b.clone() for b in feedback]
    other[2] = -other[2]  # output -> level 2 feedback only
    assert not torch.allclose(fa_updates(net, params, feedback, x, y)[0][0],
                              fa_updates(net, params, other, x, y)[0][0])
    direct = draw_direct_feedback(net, [1], salt=0xDFA)
    other = [direct[0], -direct[1]]  # output -> level 2 feedback only
    first, second = dfa_updates(net, params, direct, x, y), dfa_updates(net, params, other, x, y)
    assert torch.equal(first[0][0], second[0][0])
    assert not torch.allclose(first[0][1], second[0][1])


def test_pc_is_backward_locked_during_inference():
    """On a chain, each inference step brings the error one level further down: after T
    steps only the top T + 1 blocks have an update, so a level's update waits for the error
    to pass every level above it."""
    net = compile_genome(mlp([6, 5, 5, 5, 4], "tanh"))
    params = init_params(net, [1])
    x, y = data(net)
    for steps in (1, 2, 3):
        states = relax(net, params, x, one_hot(y, 4), steps, 0.1).states
        dw, _, _ = local_updates(net, params, states)
        moved = [bool(d.abs().max() > 0) for d in dw]
        assert moved == [False] * (3 - steps) + [True] * (steps + 1), (steps, moved)


def test_ff_is_not_forward_locked():
    """A level's ff gradient does not change when every level above it changes: it needs
    only the forward pass up to itself."""
    net = compile_genome(mlp([6, 5, 5, 4], "relu"))
    rule = rules.get_rule("ff")
    params = init_params(net, [1])
    above = Params([params.weights[0], -params.weights[1], -params.weights[2]],
                   [params.biases[0], params.biases[1] + 1.0, params.biases[2] - 1.0])
    hyper = [rule.hyperparameters().resolve(None)]
    x, y = data(net)
    dw = [rule.updates(net, p, rule.init_state(net, p, hyper, [1]), x, y)[0]
          for p in (params, above)]
    assert torch.allclose(dw[0][0], dw[1][0])
    assert not torch.allclose(dw[0][1], dw[1][1])


# -- the docs say what the code declares ---------------------------------------------------------


def _mark(entry: dict) -> str:
    return "✓" if entry["removed"] else "–"


@pytest.mark.parametrize("name", rules.BUILTIN_RULES)
def test_docs_and_readme_tables_match_the_declarations(name):
    table = rules.get_rule(name).rule_limits()
    page = (ROOT / "docs" / "rules.md").read_text()
    for key, entry in table.items():
        assert f"| `{name}` | {key} | {_mark(entry)} | {entry['reason']} |" in page, (name, key)
    marks = " | ".join(_mark(entry) for entry in table.values())
    assert f"| `{name}` | {marks} |" in page, name
    readme = [line for line in (ROOT / "README.md").read_text().splitlines()
              if line.startswith(f"| `{name}` |")]
    assert len(readme) == 1 and readme[0].endswith(f"| {marks} |"), (name, readme)
