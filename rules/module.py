"""A trained member as a ``torch.nn.Module`` whose forward pass is its rule's prediction.

Whatever a run scored must be what a user gets back: a forward-forward net is read by
trying every label and comparing goodness, an ep/chl net by relaxing its symmetric (and
recurrent) couplings to the free fixed point, every other built-in rule by a feedforward
pass. So the module does not reimplement any of them: it holds the trained tensors as
parameters and buffers (``.to(device)``, ``state_dict()`` and fine-tuning work as for any
module) and calls the rule's own :meth:`~rules.base.LearningRule.predict_members` on them,
with the member's own genes (ep's and chl's relaxation reads them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from search_spaces.genome import Genome
from search_spaces.module import GenomeModule
from search_spaces.net import Params

if TYPE_CHECKING:
    from rules.base import LearningRule


class RuleModule(GenomeModule):
    """``forward(x[B, n_in]) -> scores[B, n_out]``: the rule's prediction for one member.

    Recurrent couplings (ep/chl genomes with recurrent edges) are a parameter too, masked
    by the genome's recurrent edges as in training."""

    def __init__(self, rule: LearningRule, genome: Genome, params: Params,
                 hyper: Mapping[str, Any] | None = None) -> None:
        super().__init__(genome, params)
        self.rule = rule
        # the member's genes, defaults filled in: what its prediction may read. Not held to
        # the search's current ranges: a member recorded under an older range still loads,
        # and a rule whose prediction reads a gene checks what it can run
        self.hyper = {**rule.hyperparameters().defaults(),
                      **{k: float(v) for k, v in (hyper or {}).items()}}
        self.recurrent: nn.Parameter | None = None
        if params.recurrent is not None:
            expected = (1, self.net.n_neurons, self.net.n_neurons)
            if tuple(params.recurrent.shape) != expected:
                raise ValueError(f"recurrent weights have shape {tuple(params.recurrent.shape)}, "
                                 f"the genome's recurrent block is {expected}")
            self.recurrent = nn.Parameter(params.recurrent.detach().clone())

    def extra_repr(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in self.rule.options().items())
        genes = ", ".join(f"{k}={v:g}" for k, v in self.hyper.items())
        return f"rule={self.rule.name}" + "".join(f", {part}" for part in (options, genes)
                                                  if part)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 or x.shape[1] != self.net.n_inputs:
            raise ValueError(f"expected inputs of shape [batch, {self.net.n_inputs}], "
                             f"got {tuple(x.shape)}")
        if x.dtype != self.weights[0].dtype:  # numpy's float64, or integer features
            raise TypeError(f"expected inputs of dtype {self.weights[0].dtype} (the weights'), "
                            f"got {x.dtype}: convert them with x.float()")
        params = Params(list(self.weights), list(self.biases), self.recurrent)
        return self.rule.predict_members(self.compiled(), params, x, [self.hyper])[0]
