"""The population Adam (rules/optim.py): its square-root floor changes no bit of a step."""

from __future__ import annotations

import math

import pytest
import torch

from rules import optim
from rules.optim import Adam


def reference_steps(w: torch.Tensor, grads: list[torch.Tensor], lr: torch.Tensor,
                    eps: float) -> torch.Tensor:
    """Adam written out without the floor: w -= η m̂ / (√v / √c2 + ε)."""
    w, m, v = w.clone(), torch.zeros_like(w), torch.zeros_like(w)
    for step, g in enumerate(grads, start=1):
        c1, c2 = 1 - 0.9 ** step, 1 - 0.999 ** step
        m.lerp_(g, 0.1)
        v.mul_(0.999).addcmul_(g, g, value=0.001)
        denom = v.sqrt().div_(math.sqrt(c2)).add_(eps).div_(lr.view(-1, 1, 1))
        w.addcdiv_(m, denom, value=-1 / c1)
    return w


def gradients(seed: int, steps: int) -> list[torch.Tensor]:
    """Gradients whose squares span zero, subnormals and normal numbers: exactly zero where
    a mask would cut them, tiny elsewhere, ordinary in one row."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(steps):
        g = torch.randn(3, 4, 5, generator=gen)
        scale = torch.tensor([1e-22, 1e-18, 1e-1]).view(3, 1, 1)  # g² below/near/above floor
        g = g * scale * (torch.rand(3, 4, 5, generator=gen) > 0.3)
        out.append(g)
    return out


@pytest.mark.parametrize("eps", [1e-8, 1e-6])
def test_the_floor_changes_no_bit_of_the_step(eps):
    w0 = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(1))
    w0[:2] = 0.0  # the tiny-gradient members' steps stay visible in the last bits
    lr = torch.tensor([1e-3, 3e-3, 1e-2])
    grads = gradients(0, 30)
    adam = Adam.for_params([w0], lr.tolist())
    adam.eps = eps
    w = w0.clone()
    for g in grads:
        adam.apply([w], [g])
    assert torch.equal(w, reference_steps(w0, grads, lr, eps))
    # the test can fail: a floor 1e10 times larger moves the tiny-gradient members
    floor = optim._sqrt_floor
    try:
        optim._sqrt_floor = lambda e, c2: floor(e, c2) * 1e10
        adam = Adam.for_params([w0], lr.tolist())
        adam.eps = eps
        w = w0.clone()
        for g in grads:
            adam.apply([w], [g])
    finally:
        optim._sqrt_floor = floor
    assert not torch.equal(w, reference_steps(w0, grads, lr, eps))


def test_no_floor_for_an_eps_too_small_to_bound():
    assert optim._sqrt_floor(1e-30, 0.001) == 0.0
    assert optim._sqrt_floor(0.0, 1.0) == 0.0
    assert optim._sqrt_floor(1e-8, 0.001) > 0


def test_cosine_factor_anneals_the_given_share_of_the_step_size():
    factor = optim.cosine_factor([0.0, 1.0, 0.5], 0.0)
    torch.testing.assert_close(factor, torch.ones(3))
    torch.testing.assert_close(optim.cosine_factor([0.0, 1.0, 0.5], 0.5),
                               torch.tensor([1.0, 0.5, 0.75]))
    torch.testing.assert_close(optim.cosine_factor([0.0, 1.0, 0.5], 1.0),
                               torch.tensor([1.0, 0.0, 0.5]))
    with pytest.raises(ValueError, match="progress must be in"):
        optim.cosine_factor([1.0], 1.5)


def test_a_scaled_step_is_the_step_with_the_scaled_learning_rate_and_select_keeps_it():
    """s on η per member, set between steps: the steps after it are Adam's with η s (the
    moments carry on); select cuts s with the members."""
    grads = [g * 1e20 for g in gradients(3, 4)]  # ordinary sizes: Adam's steps are ~η
    lr = torch.tensor([1e-2, 2e-2, 3e-2])
    scale = torch.tensor([1.0, 0.5, 0.25])
    w = torch.randn(3, 4, 5)
    adam = Adam.for_params([w], lr.tolist())
    scaled = w.clone()
    adam.apply([scaled], [grads[0]])
    adam.set_scale(scale)
    for g in grads[1:]:
        adam.apply([scaled], [g])
    # the reference: the first step at η, then (same moments) the rest at η s
    first = reference_steps(w, grads[:1], lr, adam.eps)
    rest = reference_steps(w, grads, lr * scale, adam.eps) - reference_steps(
        w, grads[:1], lr * scale, adam.eps)
    torch.testing.assert_close(scaled, first + rest)
    torch.testing.assert_close(adam.step_lr, lr * scale)
    kept = adam.select(torch.tensor([2, 0]))
    torch.testing.assert_close(kept.step_lr, torch.tensor([3e-2 * 0.25, 1e-2]))
