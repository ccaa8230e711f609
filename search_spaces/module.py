"""A trained genome as an ordinary ``torch.nn.Module``, for use outside neurevo."""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from search_spaces.compile import compile_genome
from search_spaces.genome import Genome
from search_spaces.net import Net, Params, forward


class GenomeModule(nn.Module):
    """``forward(x[B, n_in]) -> scores[B, n_out]`` with the genome's masked level weights.

    The weights are ``nn.Parameter`` s (one block and one bias per level), and the masks are
    buffers, so the module can be fine-tuned with any torch optimiser without growing edges
    the genome does not have.
    """

    def __init__(self, genome: Genome, params: Params) -> None:
        super().__init__()
        self.genome = genome
        self.net = compile_genome(genome)
        if len(params.weights) != self.net.depth:
            raise ValueError(f"params have {len(params.weights)} levels, the genome "
                             f"compiles to {self.net.depth}")
        for i, (w, m) in enumerate(zip(params.weights, self.net.masks, strict=True)):
            if w.shape != m.shape:
                raise ValueError(f"level {i + 1}: weight shape {tuple(w.shape)} does not match "
                                 f"the genome's {tuple(m.shape)}")
        self.weights = nn.ParameterList(nn.Parameter(w.detach().clone()) for w in params.weights)
        self.biases = nn.ParameterList(nn.Parameter(b.detach().clone()) for b in params.biases)
        for i, (m, c) in enumerate(zip(self.net.masks, self.net.activation_codes, strict=True)):
            self.register_buffer(f"mask_{i}", m)
            self.register_buffer(f"codes_{i}", c)
        # read by some rules' predict (ff's); derived from the genome, so not in state_dict
        for i, m in enumerate(self.net.neuron_masks):
            self.register_buffer(f"neurons_{i}", m, persistent=False)
        if self.net.recurrent_mask is not None:
            self.register_buffer("recurrent_mask", self.net.recurrent_mask)

    def compiled(self) -> Net:
        """The compiled net over this module's buffers, so it follows ``.to(device)``: every
        tensor of the net, so a rule's ``predict`` never meets a host tensor beside a module
        moved to a GPU (ff's read ``neuron_masks`` from the host once: only a CUDA run
        showed it)."""
        levels = range(self.net.depth)
        return dataclasses.replace(
            self.net,
            masks=tuple(getattr(self, f"mask_{i}") for i in levels),
            neuron_masks=tuple(getattr(self, f"neurons_{i}") for i in levels),
            activation_codes=tuple(getattr(self, f"codes_{i}") for i in levels),
            recurrent_mask=getattr(self, "recurrent_mask", None),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = Params(list(self.weights), list(self.biases))
        return forward(self.compiled(), params, x)[0][0]
