"""A user's plug-in that misbehaves — a cost function, objective or constraint returning
garbage or raising, a rule returning updates or losses of the wrong shape, a class that is
not a rule — is named in one line: as a failed candidate's ``error`` (its traceback kept in
the records) or, where it is called before any candidate, as the error of the search."""

from __future__ import annotations

import dataclasses
import math

import pytest

import evolve
from evolve.config import SearchConfig, override
from evolve.hardware import cost as model_cost
from evolve.loop import GenerationFailed
from evolve.objectives import Metric
from evolve.reporters import HOOKS


def tiny(tmp_path, **extra) -> SearchConfig:
    return override(SearchConfig(), {
        "generations": 1, "population": 4, "out": str(tmp_path), "task": {"name": "iris"},
        "rule": {"name": "bp"}, "training": {"epochs": 2}, "executor": {"name": "serial"},
        **extra})


def returns_none(genome, profile, **kwargs):
    return None


def negative_energy(genome, profile, **kwargs):
    return dataclasses.replace(model_cost(genome, profile, **kwargs), energy_j=-1.0)


def raises(genome, profile, **kwargs):
    raise RuntimeError("the cost table is missing")


def failed_errors(run_dir) -> list[str]:
    table = evolve.load_run(run_dir).evaluations()
    assert set(table.column("status").to_pylist()) == {"failed"}
    assert all(table.column("traceback").to_pylist())
    return table.column("error").to_pylist()


def as_dict(genome, profile, **kwargs):
    return model_cost(genome, profile, **kwargs).as_dict()


def test_a_long_value_in_a_message_is_cut_where_it_says_so():
    from evolve.scoring import checked_cost

    value = {"cores": 1, "chips": 1, "neurons": 13, "synapses": 251148, "energy_j": 1e-6}
    with pytest.raises(TypeError) as refused:
        checked_cost(as_dict, value)
    assert str(refused.value) == ("cost_fn as_dict returned dict {'cores': 1, 'chips': 1, "
                                  "'neurons': 13, 'synapses': 25114...; expected an "
                                  "evolve.hardware.HardwareCost (e.g. dataclasses.replace of "
                                  "evolve.hardware.cost(genome, profile, **kwargs))")


@pytest.mark.parametrize(("cost_fn", "says"), [
    (returns_none, "cost_fn returns_none returned NoneType None; expected an "
                   "evolve.hardware.HardwareCost"),
    (negative_energy, "cost_fn negative_energy returned energy_j = -1.0; expected a finite "
                      "number >= 0"),
])
def test_a_cost_fn_returning_garbage_fails_its_candidates_naming_it(tmp_path, cost_fn, says):
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path, objectives=["accuracy"]), cost_fn=cost_fn)
    assert says in str(failed.value)
    assert all(says in error for error in failed_errors(failed.value.run_dir))


def test_a_registered_cost_fn_is_named_as_the_config_names_it(tmp_path, monkeypatch):
    """A lambda registered as "priced" is "cost_fn priced" in its errors (the name the
    config gives), not "cost_fn <lambda>"."""
    from evolve import cost_functions

    monkeypatch.setattr(cost_functions, "_COST_FNS", dict(cost_functions._COST_FNS))
    evolve.register_cost_fn("priced", lambda genome, profile, **kwargs: {"energy_j": 1.0})
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path, objectives=["accuracy"],
                           hardware={"cost_fn": "priced"}), reporters=())
    assert "cost_fn priced returned dict" in str(failed.value), str(failed.value)


@pytest.mark.parametrize(("cost_fn", "says"), [
    (returns_none, "cost_fn returns_none returned NoneType None"),
    (negative_energy, "cost_fn negative_energy returned energy_j = -1.0"),
    (raises, "RuntimeError: the cost table is missing"),
])
def test_a_cost_fn_failing_on_the_costliest_network_stops_the_search_in_one_line(
        tmp_path, cost_fn, says):
    # energy's hypervolume reference is the costliest network's energy, priced before any
    # candidate: the search stops there, naming the function, and leaves no run behind
    with pytest.raises(ValueError) as error:
        evolve.search(tiny(tmp_path), cost_fn=cost_fn)
    message = str(error.value)
    assert message.startswith(f"cost_fn {cost_fn.__name__} failed on the search space's "
                              "costliest network (which sets the hypervolume reference of "
                              "energy)")
    assert says in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def divide_by_zero(m):
    return 1 / 0


def missing_key(m):
    return m.costs["no such cost"]


def exhausts_memory(m):
    raise MemoryError("cannot allocate 8 GiB")


@pytest.mark.parametrize(("plugins", "says"), [
    ({"objectives": ["accuracy", evolve.Objective("calm", "max", lambda m: float("nan"),
                                                  reference=0.0)]},
     "objective calm returned nan; expected a finite number"),
    ({"objectives": ["accuracy", evolve.Objective("huge", "min", lambda m: float("inf"),
                                                  reference=1.0)]},
     "objective huge returned inf; expected a finite number"),
    ({"objectives": ["accuracy", evolve.Objective("mood", "max", lambda m: "high",
                                                  reference=0.0)]},
     "objective mood returned str 'high'; expected a number"),
    ({"objectives": ["accuracy", evolve.Objective("ratio", "max", divide_by_zero,
                                                  reference=0.0)]},
     "ZeroDivisionError in objective ratio: division by zero"),
    ({"constraints": [evolve.Constraint("budget", missing_key)]},
     "KeyError in constraint budget: no such cost"),
    ({"constraints": [evolve.Constraint("small", missing_key, genome_only=True)]},
     "KeyError in constraint small: no such cost (before training)"),
    # running out of memory is not blamed on the plug-in, nor on plug-ins in general
    ({"objectives": ["accuracy", evolve.Objective("big", "min", exhausts_memory,
                                                  reference=1.0)]},
     "MemoryError: cannot allocate 8 GiB"),
    ({"constraints": [evolve.Constraint("big", exhausts_memory, genome_only=True)]},
     "MemoryError: cannot allocate 8 GiB (before training)"),
])
def test_a_failing_objective_or_constraint_is_named_in_the_candidates_error(
        tmp_path, plugins, says):
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path), **plugins)
    assert failed.value.error == says
    assert set(failed_errors(failed.value.run_dir)) == {says}


def metric_raises(y, scores):
    raise RuntimeError("no labels")


@pytest.mark.parametrize(("fn", "says"), [
    (metric_raises, "RuntimeError in metric gap: no labels"),
    (lambda y, scores: float("nan"), "metric gap returned nan; expected a finite number"),
    (lambda y, scores: "good", "metric gap returned str 'good'; expected a number"),
])
def test_a_failing_metric_is_named_in_the_candidates_error(tmp_path, fn, says):
    gap = evolve.Objective.from_metric("gap", fn, "max", reference=0.0)
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path), objectives=[gap, "energy"])
    assert failed.value.error == says
    assert set(failed_errors(failed.value.run_dir)) == {says}


def test_an_objective_may_return_a_numpy_or_torch_scalar_or_a_bool(tmp_path):
    import numpy as np
    import torch

    objectives = ["accuracy",
                  evolve.Objective("np", "min", lambda m: np.float32(m.params), reference=1e6),
                  evolve.Objective("pt", "min", lambda m: torch.tensor(1.5), reference=2.0),
                  evolve.Objective("any_hidden", "max", lambda m: bool(m.genome.hidden_ids),
                                   reference=0.0)]
    run = evolve.search(tiny(tmp_path), objectives=objectives)
    assert set(run.evaluations().column("status").to_pylist()) == {"ok"}


@pytest.fixture
def own_registry(monkeypatch):
    """Rules registered by a test are gone after it."""
    from rules import registry

    monkeypatch.setattr(registry, "_RULES", dict(registry._RULES))


def readout_rule(name: str, change):
    """A rule of the user's (a delta rule on the output level, as docs/architecture.md
    defines it) whose ``updates`` passes its result through ``change``."""
    import torch

    import rules
    from rules.local import INIT_SCALE, LR, LocalRule, one_hot, outer_mean, trace

    class Readout(LocalRule):
        description = "delta rule on the output level"

        def hyperparameters(self):
            return rules.HyperSpace((LR, INIT_SCALE))

        def updates(self, net, params, state, x, y):
            t = trace(net, params, x)
            error = torch.softmax(t.output, -1) - one_hot(y, net.n_outputs)
            dw = [torch.zeros_like(w) for w in params.weights]
            db = [torch.zeros_like(b) for b in params.biases]
            dw[-1] = outer_mean(error, t.lower[-1])
            db[-1] = error.mean(dim=1)
            loss = -(torch.log_softmax(t.output, -1)
                     * one_hot(y, net.n_outputs)).sum(-1).mean(1)
            return change(dw, db, loss, x)

    Readout.name = name
    return rules.register(Readout)


@pytest.mark.parametrize(("change", "says"), [
    (lambda dw, db, loss, x: ([w[..., :1] for w in dw], db, loss),
     "updates returned weight update 0 of shape (1, 3, 1), expected its block's (1, 3, 4)"),
    (lambda dw, db, loss, x: (dw, db[:-1], loss),
     "updates returned 0 bias updates, expected one per bias block: 1"),
    (lambda dw, db, loss, x: (dw, db, loss.mean()),
     "train_step returned a loss of shape (), expected one per member, [members] = [1]"),
    (lambda dw, db, loss, x: (dw, db, loss[:, None].expand(-1, x.shape[1])),
     "train_step returned a loss of shape (1, 64), expected one per member"),
])
def test_a_rule_returning_updates_or_losses_of_the_wrong_shape_fails_naming_it(
        tmp_path, own_registry, change, says):
    # a smaller update or a scalar loss would broadcast and train (or record) wrongly
    # without an error; each is refused naming the rule and the shapes
    readout_rule("mis_shaped", change)
    config = tiny(tmp_path, rule={"name": "mis_shaped"})
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(config)
    assert failed.value.error.startswith(f"rule mis_shaped: {says}")


def test_a_rule_that_raises_while_training_fails_its_candidates_naming_it(
        tmp_path, own_registry):
    def lose_feedback(dw, db, loss, x):
        raise RuntimeError("the feedback\nwent missing")

    readout_rule("lossy", lose_feedback)
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path, rule={"name": "lossy"}))
    says = "RuntimeError in rule lossy: the feedback went missing"
    assert failed.value.error == says
    assert failed_errors(failed.value.run_dir) == [says] * 4


@pytest.mark.parametrize("exhausted", [MemoryError("cannot allocate 8 GiB"),
                                       type("OutOfMemoryError", (RuntimeError,), {})(
                                           "CUDA out of memory. Tried to allocate 8 GiB")])
def test_running_out_of_memory_while_a_rule_trains_is_not_blamed_on_the_rule(
        tmp_path, own_registry, exhausted):
    def exhaust(dw, db, loss, x):
        raise exhausted

    readout_rule("hungry", exhaust)
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path, rule={"name": "hungry"}))
    says = f"{type(exhausted).__name__}: {exhausted}"
    assert failed.value.error.endswith(says) and "rule hungry" not in failed.value.error
    assert failed_errors(failed.value.run_dir) == [failed.value.error] * 4


def test_a_rule_whose_constructor_refuses_an_option_is_named_before_the_run(
        tmp_path, own_registry):
    import rules
    from rules.bp import Backprop
    from rules.registry import RuleOptionError

    class Picky(Backprop):
        name = "picky"

        def __init__(self, scale: float = 1.0) -> None:
            if scale <= 0:
                raise ValueError(f"scale must be > 0, got {scale}")
            self.scale = scale

    rules.register(Picky)
    config = tiny(tmp_path, rule={"name": "picky", "options": {"scale": -1.0}})
    with pytest.raises(RuleOptionError) as refused:
        evolve.search(config)
    assert str(refused.value) == ("rule.options: rule picky: its constructor failed with "
                                  "scale=-1.0: "
                                  "ValueError: scale must be > 0, got -1.0")
    assert not list(tmp_path.iterdir())  # refused before any run was written


def test_the_readout_rule_of_the_docs_trains(tmp_path, own_registry):
    readout_rule("readout", lambda dw, db, loss, x: (dw, db, loss))
    run = evolve.search(tiny(tmp_path, rule={"name": "readout"}))
    assert "ok" in run.evaluations().column("status").to_pylist()


@pytest.mark.parametrize("thing", [42, type("NotARule", (), {"name": "x"})])
def test_registering_something_that_is_not_a_rule_is_refused_in_one_line(own_registry, thing):
    import rules

    with pytest.raises(TypeError, match="rules.register takes a LearningRule subclass"):
        rules.register(thing)


@pytest.mark.parametrize("declare, error, says", [
    (lambda: evolve.Objective("a", "max", 3, reference=0.0), TypeError,
     "objective a: fn must be callable, got int 3"),
    (lambda: evolve.Objective("a", "maximize", len, reference=0.0), ValueError,
     "objective a: direction must be 'max' or 'min', got 'maximize'"),
    (lambda: evolve.Objective("a", "max", len, reference=float("nan")), ValueError,
     "objective a: reference must be a finite number, got nan"),
    (lambda: evolve.Objective("a", "min", len, reference="1"), ValueError,
     "objective a: reference must be a finite number, got '1'"),
    (lambda: evolve.Objective("", "min", len, reference=1.0), ValueError,
     "Objective name must be a non-empty string, got ''"),
    (lambda: evolve.Objective.from_metric("bal", "notfn", "max", reference=0.0), TypeError,
     "metric bal: fn must be callable (y, scores) -> number, got str 'notfn'"),
    (lambda: evolve.Objective("o", "max", len, reference=0.0, metrics=("x",)), TypeError,
     "objective o: metrics must be a tuple of evolve.objectives.Metric (name, fn)"),
    (lambda: evolve.Constraint("c", len, metrics=(5,)), TypeError,
     "Constraint 'c': metrics must be a tuple of evolve.objectives.Metric (name, fn)"),
    (lambda: Metric("", len), ValueError, "Metric name must be a non-empty string, got ''"),
    (lambda: evolve.Constraint("c", len, genome_only="yes"), TypeError,
     "Constraint 'c': genome_only must be True or False, got 'yes'"),
    (lambda: evolve.Constraint("c", len, genome_only=True,
                               metrics=(Metric("m", lambda y, s: 0.0),)), ValueError,
     "Constraint 'c': a genome_only constraint is checked before training, where no metric"),
])
def test_an_objective_or_constraint_declared_wrongly_is_refused_where_it_is_made(
        declare, error, says):
    """Where it is declared, not after a generation has trained and failed on it."""
    with pytest.raises(error) as refused:
        declare()
    assert str(refused.value).startswith(says), str(refused.value)


def test_a_genome_only_constraint_reading_an_accuracy_is_told_why_it_is_nan(tmp_path):
    reads_accuracy = evolve.Constraint("acc", lambda m: 0.9 - m.valid_accuracy, genome_only=True)
    with pytest.raises(GenerationFailed) as failed:
        evolve.search(tiny(tmp_path), constraints=[reads_accuracy], reporters=())
    assert "constraint acc returned NaN (a genome_only constraint is checked before " \
           "training, where accuracies are NaN" in failed.value.error, failed.value.error


def test_registering_an_objective_under_a_built_in_name_is_refused():
    from evolve.objectives import resolve_objectives

    fake = evolve.Objective("energy", "max", lambda m: 42.0, reference=0.0)
    with pytest.raises(ValueError, match="an objective named 'energy' is built in"):
        evolve.register_objective(fake)
    assert resolve_objectives(["energy"])[0] is not fake  # the built-in is untouched
    with pytest.raises(TypeError, match="register_objective takes an evolve.Objective"):
        evolve.register_objective("energy")


def test_an_objective_of_the_users_may_be_registered_again(monkeypatch):
    from evolve import objectives

    monkeypatch.setattr(objectives, "_OBJECTIVES", dict(objectives._OBJECTIVES))
    first = evolve.register_objective(evolve.Objective("depth", "min", len, reference=9.0))
    again = evolve.register_objective(evolve.Objective("depth", "min", len, reference=10.0))
    assert objectives.resolve_objectives(["depth"]) == (again,) != (first,)


def test_loading_an_export_of_a_rule_not_registered_says_to_import_its_module(
        tmp_path, own_registry):
    from rules.registry import _RULES, UnknownRuleError

    readout_rule("readout", lambda dw, db, loss, x: (dw, db, loss))
    run = evolve.search(tiny(tmp_path, rule={"name": "readout"}))
    path = evolve.export_architecture(run.pareto_front()[0], tmp_path / "member.safetensors")
    del _RULES["readout"]  # a later process that did not import the user's module
    arch = evolve.load_architecture(path)
    with pytest.raises(UnknownRuleError, match="import the module that registers it before "
                                               "searching, resuming or loading"):
        arch.to_module()


def test_a_covering_objective_failing_on_the_costliest_network_stops_the_search_in_one_line(
        tmp_path):
    cover = evolve.Objective("ratio", "min", divide_by_zero, reference=1.0, covers_space=True)
    with pytest.raises(ValueError) as error:
        evolve.search(tiny(tmp_path), objectives=["accuracy", cover])
    assert str(error.value) == ("objective ratio failed on the search space's costliest "
                                "network (covers_space: its value there is the hypervolume "
                                "reference): ZeroDivisionError: division by zero")
    assert list(tmp_path.iterdir()) == []


def declaring(name: str, space):
    """A rule of the user's whose hyperparameters() is ``space()``."""
    import rules
    from rules.bp import Backprop

    return rules.register(type(name, (Backprop,), {"name": name,
                                                    "hyperparameters": lambda self: space()}))


def test_a_rule_declaring_its_genes_wrongly_is_refused_naming_rule_and_gene(own_registry):
    import rules
    from rules.base import Hyperparameter, HyperparameterError
    from rules.local import INIT_SCALE, LR

    cases = {
        "twice": (lambda: rules.HyperSpace((LR, LR)), "hyperparameter lr is declared twice"),
        "outside": (lambda: rules.HyperSpace((Hyperparameter("lr", 1e-4, 0.1, 1.0, log=True),)),
                    "hyperparameter lr: default 1.0 is outside [0.0001, 0.1]"),
        "inverted": (lambda: rules.HyperSpace((Hyperparameter("lr", 0.1, 1e-4, 1e-3),)),
                     "hyperparameter lr: low 0.1 > high 0.0001"),
        "log_zero": (lambda: rules.HyperSpace((Hyperparameter("lr", 0.0, 0.1, 1e-3, log=True),)),
                     "hyperparameter lr: a log-scale range needs low > 0, got 0.0"),
        "a_list": (lambda: [LR, INIT_SCALE],
                   "hyperparameters() returned list, expected a rules.HyperSpace"),
    }
    for name, (space, says) in cases.items():
        declaring(name, space)
        with pytest.raises(HyperparameterError) as refused:
            rules.get_rule(name)
        assert str(refused.value) == f"rule {name}: {says}"


def test_a_local_rule_without_a_learning_rate_is_refused_before_a_run(tmp_path, own_registry):
    """Found when the rule is built, like any other gene declared wrongly: no run directory
    is made, no generation fails."""
    import rules
    from rules.base import HyperparameterError
    from rules.local import INIT_SCALE

    rule = readout_rule("no_lr", lambda dw, db, loss, x: (dw, db, loss))
    rule.hyperparameters = lambda self: rules.HyperSpace((INIT_SCALE,))
    with pytest.raises(HyperparameterError) as refused:
        evolve.search(tiny(tmp_path, rule={"name": "no_lr"}))
    assert str(refused.value) == ("rule no_lr: a LocalRule steps with Adam at the gene 'lr' "
                                  "(rules.local.LR), which its hyperparameters() must declare")
    assert not list(tmp_path.rglob("config.toml"))


def test_two_metrics_of_one_name_with_different_functions_are_refused(tmp_path):
    from evolve.metrics import balanced_accuracy, expected_calibration_error
    from evolve.objectives import Metric

    # workers compute one value per metric name: the constraint would read balanced accuracy
    score = evolve.Objective.from_metric("score", balanced_accuracy, "max", reference=0.0)
    calibrated = evolve.Constraint("calibrated", lambda m: m.metrics["score"] - 0.1,
                                   metrics=(Metric("score", expected_calibration_error),))
    with pytest.raises(ValueError) as refused:
        evolve.search(tiny(tmp_path), objectives=[score, "energy"], constraints=[calibrated])
    assert str(refused.value) == ("metric 'score' is declared by objective score and by "
                                  "constraint calibrated with different functions; give each "
                                  "its own name")
    assert list(tmp_path.iterdir()) == []
    # one function declared twice is one metric
    same = evolve.Constraint("balanced", lambda m: 0.5 - m.metrics["score"],
                             metrics=(Metric("score", balanced_accuracy),))
    run = evolve.search(tiny(tmp_path), objectives=[score, "energy"], constraints=[same])
    assert "ok" in run.evaluations().column("status").to_pylist()


class OnlyGenerationEnd:
    """A duck-typed reporter: it defines one hook and inherits no others."""

    def generation_end(self, generation, summary):
        pass


@pytest.mark.parametrize("reporters, named", [
    ([OnlyGenerationEnd()], r"reporters\[0\] is a OnlyGenerationEnd without the hooks "
                            r"search_resumed, search_start, generation_start, evaluation_done, "
                            r"search_end; subclass evolve.Reporter"),
    (evolve.Reporter(), "reporters is one Reporter, expected a list"),
    ([evolve.Reporter], r"reporters\[0\] is the class Reporter, expected an instance of it: "
                        r"reporters=\[Reporter\(\)\]"),
])
def test_a_reporter_that_is_not_a_reporter_is_refused_before_anything_is_written(
        tmp_path, reporters, named):
    with pytest.raises(TypeError, match=named):
        evolve.search(tiny(tmp_path / "runs"), reporters=reporters)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_an_object_with_every_hook_is_a_reporter_without_subclassing(tmp_path):
    class Counting:  # written before evolve.Reporter was checked for: it still works
        def __init__(self) -> None:
            self.ends = 0

        def __getattr__(self, hook):
            if hook in HOOKS:
                return lambda *args: None
            raise AttributeError(hook)

        def generation_end(self, generation, summary):
            self.ends += 1

    counting = Counting()
    evolve.search(tiny(tmp_path, generations=2), reporters=[counting])
    assert counting.ends == 2


def test_a_reporter_subclass_defining_one_hook_sees_every_generation_and_the_resume(tmp_path):
    class Hypervolumes(evolve.Reporter):
        def __init__(self) -> None:
            self.seen: list[int] = []

        def generation_end(self, generation, summary):
            self.seen.append(generation)

    first = Hypervolumes()
    run = evolve.search(tiny(tmp_path, generations=2), reporters=[first])
    again = Hypervolumes()
    evolve.resume(run.path, generations=3, reporters=[again])
    assert first.seen == [0, 1] and again.seen == [2]
    with pytest.raises(TypeError, match=r"reporters\[1\] is a OnlyGenerationEnd"):
        evolve.resume(run.path, generations=4, reporters=[again, OnlyGenerationEnd()])
    assert evolve.load_run(run.path).completed_generations() == 3


def test_an_objective_whose_reference_no_candidate_beats_is_warned_about(tmp_path, capsys):
    """A 'min' objective whose reference is below every value it takes leaves the
    hypervolume at 0 for the whole search; generation 1 says so, naming it."""
    groups = evolve.Objective("groups", "min", lambda m: 1.0 + len(m.genome.hidden_ids),
                              reference=0.5)
    run = evolve.search(tiny(tmp_path), objectives=["accuracy", groups], reporters=())
    err = capsys.readouterr().err
    assert "objective groups: no candidate of the first generation is better than its " \
           "hypervolume reference 0.5 (best 1), so the hypervolume stays 0" in err, err
    assert "give it a reference above the values it takes" in err
    assert "objective accuracy" not in err and err.count("objective groups:") == 1
    assert run.hypervolume_curve()[-1][1] == 0.0


def test_references_no_candidate_beats_together_are_warned_about(tmp_path, capsys):
    """Each reference beaten by some candidate, none beaten by one candidate on both: the
    hypervolume stays 0, and generation 1 says so."""
    def groups(m):
        return float(len(m.genome.hidden_ids))

    few = evolve.Objective("few", "min", groups, reference=0.5)   # only 0 groups beat it
    many = evolve.Objective("many", "max", groups, reference=0.5)  # only >= 1 group beats it
    config = tiny(tmp_path, population=8, strategy={"mutation": {"add_node": 0.9}})
    run = evolve.search(config, objectives=[few, many], reporters=())
    counts = {groups(a) for a in run.pareto_front()}
    assert 0.0 in counts and max(counts) >= 1.0, counts  # each reference beaten, apart
    err = capsys.readouterr().err
    assert "no candidate of the first generation is better than the hypervolume reference point " \
           "on every objective at once" in err, err
    assert run.hypervolume_curve()[-1][1] == 0.0


def test_a_scalar_reference_of_numpy_or_torch_is_kept_as_a_float():
    import numpy as np
    import torch

    for given in (np.float32(0.5), torch.tensor(0.5), 1):
        reference = evolve.Objective("a", "max", len, reference=given).reference
        assert type(reference) is float and reference == float(given)


def test_the_reference_warning_waits_for_a_generations_worth_in_steady_mode(tmp_path, capsys):
    """Steady mode commits a step per arrival: the warning is judged once a population's
    worth has arrived, not on the first step's few (which may be none)."""
    import numpy as np

    hi = evolve.Objective("acc_hi", "max", lambda m: m.valid_accuracy, reference=1.0,
                          log_scale=np.True_)  # a numpy bool, recorded in run.json as JSON's
    config = tiny(tmp_path, generations=2, population=3, strategy={"name": "random",
                                                                   "mode": "steady"})
    evolve.search(config, objectives=["accuracy", hi], reporters=())
    err = capsys.readouterr().err
    assert err.count("objective acc_hi: no candidate of the first generation is better") == 1, err


def test_a_builtin_reference_met_exactly_is_not_the_users_to_move(tmp_path, capsys):
    """A space of one network, the costliest, meets the covering references exactly: the
    hypervolume is 0, but no warning tells the user to move references they cannot set."""
    config = tiny(tmp_path, space={"max_hidden_nodes": 0}, hardware={"profile": "truenorth"})
    run = evolve.search(config, reporters=())
    assert "hypervolume reference" not in capsys.readouterr().err
    assert run.hypervolume_curve()[-1][1] == 0.0


def test_a_log_scaled_value_of_zero_is_named_once_per_search(capsys):
    """log10 has no value at 0: a log-scaled objective's 0 counts as LOG_FLOOR, the best any
    minimised value can be, which would skew the hypervolume unseen. The archive (one per
    search) names the first such value of each objective; a reference of 0 (the user's own
    floor) is not named, and the advice to drop log_scale is for the user's objectives."""
    from evolve.archive import Archive, ArchiveEntry
    from evolve.objectives import LOG_FLOOR, resolve_objectives

    spikes = evolve.Objective("spikes_zero_test", "min", len, reference=0.0, log_scale=True)
    assert spikes.reference_minimized() == math.log10(LOG_FLOOR)
    assert spikes.to_minimize(0.0) == math.log10(LOG_FLOOR) and spikes.to_minimize(100) == 2
    (energy,) = resolve_objectives(["energy"])

    def entries(*values):
        return [ArchiveEntry(i, 0, {"spikes_zero_test": v, "energy": v})
                for i, v in enumerate(values)]
    for _ in range(2):  # a second search in the same process is told again
        archive = Archive((spikes, energy))
        archive.update(entries(5.0))
        assert capsys.readouterr().err == ""
        archive.update(entries(0.0, -3.0))
        err = capsys.readouterr().err
        assert err.count("objective spikes_zero_test is log-scaled but gave 0.0; the "
                         "hypervolume counts values <= 0 as 1e-12 (an objective that can be "
                         "0 should keep log_scale=False)") == 1, err
        assert "objective energy is log-scaled but gave 0.0; the hypervolume counts values "\
               "<= 0 as 1e-12\n" in err and "-3.0" not in err, err
