"""Genes a rule holds at their defaults unless a config frees them (ep's and chl's γ and sweep
counts): a default search leaves them alone, ``rule.searched`` moves exactly the ones it
names, and a name that is not a gene, or one both held and searched, is refused."""

from __future__ import annotations

import json

import pytest

import evolve
import rules
from evolve.config import ConfigError, SearchConfig, override


def tiny(tmp_path, **rule) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 6, "seed": 2, "out": str(tmp_path / "runs"),
        "task": {"name": "iris"}, "rule": {"name": "chl", **rule},
        "training": {"epochs": 2, "patience": 2}, "executor": {"name": "serial"}})


def genes(run: evolve.Run) -> list[dict[str, float]]:
    return [json.loads(h) for h in run.evaluations().column("hyperparameters").to_pylist()]


def test_relaxation_genes_are_declared_held_and_the_others_searched():
    for name in ("ep", "chl"):
        space = rules.get_rule(name).hyperparameters()
        assert space.held() == ("gamma", "free_steps", "nudge_steps"), name
    assert rules.get_rule("pc").hyperparameters().held() == ()


def test_a_default_search_holds_them_and_rule_searched_frees_the_named_ones(tmp_path):
    held = genes(evolve.search(tiny(tmp_path)))
    assert {(g["gamma"], g["free_steps"], g["nudge_steps"]) for g in held} == {(0.1, 8, 4)}
    assert len({g["lr"] for g in held}) > 1  # the other genes are searched as ever
    freed = genes(evolve.search(tiny(tmp_path, searched=["gamma", "free_steps"])))
    assert len({g["gamma"] for g in freed}) > 1 and len({g["free_steps"] for g in freed}) > 1
    assert {g["nudge_steps"] for g in freed} == {4}


@pytest.mark.parametrize("rule, needle", [
    ({"searched": ["gama"]}, r"rule.searched names \['gama'\], which are not genes of rule chl"),
    ({"searched": ["gamma"], "hyperparameters": {"gamma": 0.3}},
     r"rule.searched and rule.hyperparameters both name \['gamma'\]"),
])
def test_rule_searched_refuses_what_it_cannot_search(tmp_path, rule, needle):
    with pytest.raises(ConfigError, match=needle):
        evolve.search(tiny(tmp_path, **rule))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
