"""Members that stop early leave the padded stack (so they stop costing compute), and the
members left train exactly as they would alone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from netkit import mlp

import rules
from evolve.tasks import load_task
from search_spaces.compile import compile_genome, member_params, stack


@pytest.fixture(scope="module")
def small_digits():
    task = load_task("digits", seed=0)
    return SimpleNamespace(train=SimpleNamespace(x=task.train.x[:256], y=task.train.y[:256]),
                           valid=SimpleNamespace(x=task.valid.x[:128], y=task.valid.y[:128]))


# ep: each member's own γ and sweep counts are cut down with it
RELAXATION = [{"free_steps": 3}, {"gamma": 0.3}, {"nudge_steps": 2}, {"free_steps": 12}]
# weights agree to within: ep's relaxation iterates the float32 sums that padding reorders,
# and over ten epochs at lr 3e-2 Adam carries that rounding to ~1e-3 (so with every gene at
# its default too); the curves and stopping epochs are still compared exactly
WEIGHT_ATOL = {"bp": 1e-4, "pc": 1e-4, "ep": 5e-3}


@pytest.mark.parametrize("name", ["bp", "pc", "ep"])
def test_stopped_members_leave_the_stack_and_the_others_train_as_alone(name, small_digits):
    base = type(rules.get_rule(name))
    seen: list[int] = []

    class Recording(base):
        def train_step(self, net, params, state, x, y):
            seen.append(net.population)
            return super().train_step(net, params, state, x, y)

    genomes = [mlp([64, 16, 10]), mlp([64, 32, 10]), mlp([64, 10]), mlp([64, 24, 16, 10])]
    hyper = [{"lr": 3e-2}, {}, {"lr": 1e-2}, {"lr": 3e-3}]
    if name == "ep":
        hyper = [{**h, **r} for h, r in zip(hyper, RELAXATION, strict=True)]
    seeds = [0, 1, 2, 3]
    budget = rules.Budget(epochs=10, batch_size=32, patience=1)
    batch = stack([compile_genome(g) for g in genomes])
    together = Recording().fit(batch, small_digits, hyper, budget, seeds)
    # the stack shrank while training went on: stopped members cost no more steps
    assert seen == sorted(seen, reverse=True)
    assert seen[0] == 4 and seen[-1] < 4
    assert len(set(together.epochs)) > 1
    for p, genome in enumerate(genomes):
        alone = base().fit(compile_genome(genome), small_digits, hyper[p], budget, [seeds[p]])
        assert together.status[p] == alone.status[0] == "ok"
        assert together.epochs[p] == alone.epochs[0]
        assert together.valid_accuracy[p] == pytest.approx(alone.valid_accuracy[0], abs=1e-6)
        mine = member_params(batch, together.params, p)
        for a, b in zip(alone.params.tensors(), mine.tensors(), strict=True):
            torch.testing.assert_close(a, b, atol=WEIGHT_ATOL[name], rtol=0)
        assert [c["valid_accuracy"] for c in together.curves[p]] == pytest.approx(
            [c["valid_accuracy"] for c in alone.curves[0]], abs=1e-6)


def test_select_rows_cuts_a_state_with_a_field_its_post_init_derives():
    """A field declared ``init=False`` cannot be passed to ``dataclasses.replace``: the
    state is rebuilt from its init fields, cut, and ``__post_init__`` derives the rest from
    them, as ``rules.device.to_device`` rebuilds a state (it raised ValueError, which failed
    the whole batch at the first member to stop instead of cutting it)."""
    import dataclasses

    from rules.local import select_rows

    @dataclasses.dataclass(frozen=True)
    class Gains:
        gain: torch.Tensor
        double: torch.Tensor = dataclasses.field(init=False)

        def __post_init__(self) -> None:
            object.__setattr__(self, "double", self.gain * 2)

    keep = torch.tensor([0, 2])
    cut = select_rows(Gains(torch.tensor([1.0, 2.0, 3.0])), keep)
    assert cut.gain.tolist() == [1.0, 3.0] and cut.double.tolist() == [2.0, 6.0]
    assert select_rows({"gain": torch.tensor([1.0, 2.0, 3.0])}, keep)["gain"].tolist() == [
        1.0, 3.0]
