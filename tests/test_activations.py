"""Per-neuron activations: values, closed-form derivatives against autograd, and the
row-grouped evaluation the pc relaxation uses against the masked one."""

from __future__ import annotations

import pytest
import torch

from search_spaces import activations
from search_spaces.activations import CODES, NAMES, RowActivations


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_derivative_matches_autograd(name):
    z = torch.linspace(-4, 4, 801, dtype=torch.float64)
    z = z[(z.abs() > 1e-6) & ((z - 1).abs() > 1e-6)]  # off the kinks of relu/hardsigmoid
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(activations.ACTIVATIONS[name](z).sum(), z)
    code = torch.full(z.shape, CODES[name])
    value, slope = activations.value_and_derivative(z.detach(), code, (CODES[name],))
    torch.testing.assert_close(slope, grad, atol=1e-12, rtol=1e-9)
    torch.testing.assert_close(value, activations.ACTIVATIONS[name](z.detach()))
    torch.testing.assert_close(activations.derivative(z.detach(), code, (CODES[name],)), grad,
                               atol=1e-12, rtol=1e-9)


def test_row_grouped_activation_equals_the_masked_one():
    """A padded population level: members mix four functions, and padding rows carry a
    code outside ``present`` (they must come out 0, as :func:`activations.apply` gives)."""
    gen = torch.Generator().manual_seed(0)
    P, n, B = 3, 7, 5
    present = tuple(CODES[a] for a in ("relu", "tanh", "sigmoid", "elu"))
    codes = torch.tensor(present)[torch.randint(0, 4, (P, n), generator=gen)]
    codes[2, 5:] = CODES["identity"]  # padding of the smallest member
    z = torch.randn(P, n, B, generator=gen, dtype=torch.float64) * 3
    value, slope = RowActivations(codes, present).value_and_derivative(z)
    masked = codes.unsqueeze(2)
    torch.testing.assert_close(value, activations.apply(z, masked, present))
    torch.testing.assert_close(slope, activations.derivative(z, masked, present))
    assert torch.all(value[2, 5:] == 0) and torch.all(slope[2, 5:] == 0)
    # one function everywhere: no gathering, every row computed (padding included)
    tanh = torch.full((P, n), CODES["tanh"])
    value, slope = RowActivations(tanh, (CODES["tanh"],)).value_and_derivative(z)
    torch.testing.assert_close(value, torch.tanh(z))
    torch.testing.assert_close(slope, 1 - torch.tanh(z) ** 2)
