"""Typed config: TOML and --set override defaults; unknown keys and bad types are errors."""

from __future__ import annotations

import pytest

from evolve.config import (
    ConfigError,
    SearchConfig,
    from_toml,
    override,
    parse_assignments,
    to_toml,
)


def test_toml_round_trip_of_the_resolved_config(tmp_path):
    config = override(SearchConfig(), {"population": 7, "rule": {"hyperparameters": {"lr": 0.01}},
                                       "space": {"hidden_activations": ["relu"]},
                                       "stop_when": {"accuracy": 0.99}})
    path = tmp_path / "c.toml"
    path.write_text(to_toml(config))
    assert from_toml(path) == config


def test_set_assignments_are_coerced_to_field_types():
    config = override(SearchConfig(), parse_assignments([
        "generations=3", "strategy.crossover_rate=0.5", "space.allow_recurrent=true",
        "space.hidden_activations=relu,tanh", "rule.hyperparameters={lr = 0.02}"]))
    assert config.generations == 3 and config.strategy.crossover_rate == 0.5
    assert config.space.allow_recurrent is True
    assert config.space.hidden_activations == ("relu", "tanh")
    assert config.rule.hyperparameters == {"lr": 0.02}


@pytest.mark.parametrize("updates, needle", [
    ({"nope": 1}, "nope"),
    ({"strategy": {"nope": 1}}, "strategy.nope"),
    ({"population": "x"}, "population"),
    ({"population": 1}, "population"),
    ({"space": {"allow_recurrent": "maybe"}}, "space.allow_recurrent"),
    ({"task": 3}, "task"),
])
def test_errors_name_the_key(updates, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        override(SearchConfig(), updates)


def test_bad_toml_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("population = = 3")
    with pytest.raises(ConfigError, match="bad.toml"):
        from_toml(path)
