"""Forward-Forward, FF (Hinton 2022, arXiv:2212.13345).

No backward pass at all: every level is trained by its own objective, to have high
*goodness* on positive data (an input with its true label embedded) and low goodness on
negative data (the same input with a wrong label). A prediction tries every label and picks
the one the net finds best.

Equations in the level-block notation of :mod:`search_spaces.net` (one example; ``n_l`` =
the member's real neurons on level ``l``)::

    embed(x, c)   = x + s · onehot(c) on features 0..C-1, s = 8            (C classes)
    u_0 = embed(x, c);   z_l = W_l cat(u_0, u_1, ..., u_{l-1}) + b_l;   h_l = f_l(z_l)
    G_l           = Σ_j h_{l,j}² / n_l                         goodness (mean square)
    u_l           = stopgrad(h_l / √(G_l + ε))                  direction only, passed up
    ℒ_l           = softplus(-κ(G_l(pos) - θ)) + softplus(κ(G_l(neg) - θ))    per level
    ∇W_l, ∇b_l    = ∂ℒ_l / ∂(W_l, b_l)   with u_0..u_{l-1} held fixed
    score(x, c)   = Σ_{hidden l} G_l(embed(x, c))         predict argmax_c (C passes)

Design choices and why:

- **Goodness per level, normalised by width.** A level is the unit that reads a single
  normalised input vector, so it is the natural "layer" of Hinton's paper on a DAG.
  Goodness is the sum of squares divided by the member's real neuron count, so one
  threshold ``θ`` means the same for levels of any width (evolution resizes levels; padded
  neurons are exactly zero and are not counted, so members alone and batched agree).
  Hinton's ``Σh²`` goodness with threshold ``θ·n_l`` is the special case ``κ = n_l`` of the
  sharpness ``κ``; on digits (64-128-10, relu, seeds 0-2) a fixed ``κ = 16`` was about one
  point better than both ``κ = n_l`` and ``κ = 1`` (the plain mean square): 96.7% test vs
  96.1% and 95.8% (``python benchmarks/rules.py --tasks digits --rules ff --no-baselines
  [--set ff.sharpness=128 or 1]``; 128 is ``n_l`` there), so ``κ`` is a hyperparameter
  with default 16. ``θ = 0.5`` is reachable by bounded activations (tanh,
  sigmoid: mean square < 1), where ``θ = 1`` is not, and is no worse than 1 for relu
  (95.7% at ``--set ff.theta=1``).
- **Layer normalisation, detached.** Each level passes up ``h_l / rms(h_l)``: its length
  (which carries its own goodness) is removed so the next level must find new evidence, and
  the tensor is detached, so no autograd graph spans two levels. A level's local gradient is
  computed with autograd on its own block only (:func:`level_losses` builds each level's
  loss from detached inputs); this is the paper's "no cross-layer gradients". The raw input
  is not normalised: it carries the label.
- **Label embedding.** The Net's input is the task's features, so the label is a one-hot
  of height ``s = 8`` *added* onto the first ``C`` features. Hinton's MNIST recipe overwrites
  the first 10 pixels, which are blank border there; generic feature vectors have no blank
  features, and overwriting destroys real ones (xor has 2 features and 2 classes: nothing
  would be left; iris keeps 1 of 4; on both, overwriting trained worse than adding). On
  digits adding with ``s = 8`` matched overwriting; a small ``s`` (``s = 1``) is clearly
  worse because the label then hides in the features' own variation (standardised, std 1).
  No benchmark script repeats these comparisons (overwriting is not implemented, and
  benchmarks/rules.py sets genes, not rule options). ``s`` is a rule option
  (``label_value``), not a gene:
  ``predict`` must read a net the same way whatever hyperparameters trained it. Tasks with
  fewer features than classes cannot be embedded this way and raise a ``ValueError``.
- **Negative data.** The wrong label is uniform over the other ``C-1`` classes, drawn per
  example from a generator seeded by the member's seed, so batching does not change it.
- **All levels learn, hidden levels predict.** Every non-input level, the output level
  included, is trained with its own FF loss; the prediction sums goodness over hidden levels
  only, as the paper does. The output level's goodness is not read (it is a 10-unit linear
  level, a weak detector: adding it to the score cost accuracy on digits), except by
  a member with no hidden level at all, whose prediction uses the output level instead.
- The returned loss is the sum of the per-level FF losses of the current weights, so a
  diverging member is reported as failed by the shared loop.
- Levels train simultaneously (not greedily), one Adam step per minibatch, like bp.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from rules.base import Hyperparameter, HyperSpace, Limit
from rules.local import INIT_SCALE, LR, LocalRule, LocalState
from rules.registry import register
from search_spaces.net import Net, Params, level_forward

THETA = Hyperparameter("theta", 0.05, 5.0, 0.5, log=True,
                       doc="goodness threshold θ (mean square activity per neuron)")
SHARPNESS = Hyperparameter("sharpness", 1.0, 256.0, 16.0, log=True,
                           doc="κ in p(positive) = σ(κ (G - θ)); κ = width is Σh² goodness")
LABEL_VALUE = 8.0  # s: the default of the rule option ``label_value`` (not a gene: see below)
_EPS = 1e-6
_SEED_OFFSET = 0x4646  # "FF": the negative-label stream is independent of the init


def embed(x: torch.Tensor, labels: torch.Tensor, n_classes: int,
          value: float = LABEL_VALUE) -> torch.Tensor:
    """``x[P, B, n_in]`` with ``s·onehot(labels)`` added onto its first ``n_classes`` features."""
    if x.shape[-1] < n_classes:
        raise ValueError(f"ff embeds the label in the first {n_classes} input features, "
                         f"but the net has only {x.shape[-1]} inputs")
    code = F.one_hot(labels, n_classes).to(x.dtype) * value
    return torch.cat((x[..., :n_classes] + code, x[..., n_classes:]), dim=-1)


def level_goodness(net: Net, params: Params, x: torch.Tensor) -> list[torch.Tensor]:
    """Goodness ``G_l`` ``[P, B]`` of every level (index 0 unused) for embedded input ``x``.
    The activations passed up are normalised and detached; each level's goodness has an
    autograd graph only to its own block if its parameters require grad."""
    counts = [m.sum(dim=1).clamp(min=1.0).unsqueeze(1) for m in net.neuron_masks]
    goodness: list[torch.Tensor] = [torch.zeros((), device=x.device)]
    lower = x
    for level in range(1, net.depth + 1):
        _, h = level_forward(net, params, level, lower.detach())
        g = (h**2).sum(dim=2) / counts[level - 1]
        goodness.append(g)
        if level < net.depth:
            unit = h / torch.sqrt(g + _EPS).unsqueeze(2)
            lower = torch.cat((lower, unit.detach()), dim=2)
    return goodness


def level_losses(net: Net, params: Params, x_pos: torch.Tensor, x_neg: torch.Tensor,
                 theta: torch.Tensor, kappa: torch.Tensor) -> list[torch.Tensor]:
    """FF loss ``[P]`` of every level (index 0 unused), zero on levels a member lacks."""
    theta, kappa = theta.view(-1, 1), kappa.view(-1, 1)
    pos, neg = level_goodness(net, params, x_pos), level_goodness(net, params, x_neg)
    losses = [torch.zeros(net.population, device=x_pos.device)]
    for level in range(1, net.depth + 1):
        present = (net.neuron_masks[level - 1].sum(dim=1) > 0).to(x_pos.dtype)
        loss = F.softplus(kappa * (theta - pos[level])) + F.softplus(kappa * (neg[level] - theta))
        losses.append(loss.mean(dim=1) * present)
    return losses


def readout_levels(net: Net) -> torch.Tensor:
    """``[P, depth]`` 0/1: the levels whose goodness a member's prediction sums."""
    present = torch.stack([(m.sum(dim=1) > 0) for m in net.neuron_masks], dim=1).float()
    use = present.clone()
    has_hidden = present[:, :-1].sum(dim=1) > 0
    use[:, -1] = (~has_hidden).float()
    return use


@dataclasses.dataclass(frozen=True)
class FFState:
    """ff's per-member goodness threshold θ and sharpness κ, and each member's stream of
    negative labels."""

    theta: torch.Tensor
    kappa: torch.Tensor
    negatives: list[torch.Generator]


@register
class ForwardForward(LocalRule[FFState]):
    name = "ff"
    trains_recurrent = False  # a feedforward pass: recurrent edges stay inert
    description = "forward-forward: per-level goodness of true- vs wrong-label inputs, no backward"
    limits = {
        "WT": Limit(True, "no error is sent anywhere, so there is no feedback path to need W"),
        "FL": Limit(True, "level l's loss reads only the detached activities of the levels below "
                          "it, never the output, so it needs no forward pass beyond its own step"),
        "BL": Limit(True, "nothing comes down from above: each level's loss is its own goodness "
                          "on positive vs negative data"),
        "FBD": Limit(False, "each level's local gradient is autograd through h_l = f_l(z_l) of "
                            "its own block, so it multiplies by f_l′(z_l)"),
    }

    def __init__(self, label_value: float = LABEL_VALUE) -> None:
        self.label_value = label_value  # s: height of the label embedded in the input

    def hyperparameters(self) -> HyperSpace:
        return HyperSpace((dataclasses.replace(LR, default=1e-2), INIT_SCALE, THETA, SHARPNESS))

    def init_extra(self, net: Net, params: Params, hyper: Sequence[Mapping[str, float]],
                   seeds: Sequence[int]) -> FFState:
        if net.n_inputs < net.n_outputs:
            raise ValueError(f"ff embeds the label in the first {net.n_outputs} input features, "
                             f"but the net has only {net.n_inputs} inputs")
        return FFState(
            theta=torch.tensor([h["theta"] for h in hyper], dtype=torch.float32),
            kappa=torch.tensor([h["sharpness"] for h in hyper], dtype=torch.float32),
            negatives=[torch.Generator().manual_seed(int(s) * 1_000_003 + _SEED_OFFSET)
                       for s in seeds],
        )

    @staticmethod
    def negative_labels(state: LocalState[FFState], y: torch.Tensor, n_classes: int
                        ) -> torch.Tensor:
        """A wrong label per example, uniform over the other classes, per member stream."""
        shift = torch.stack([torch.randint(1, n_classes, (y.shape[1],), generator=g,
                                           device=g.device)  # drawn on the host
                             for g in state.extra.negatives]).to(y.device)
        return (y + shift) % n_classes

    def updates(self, net: Net, params: Params, state: LocalState[FFState], x: torch.Tensor,
                y: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        x_pos = embed(x, y, net.n_outputs, self.label_value)
        x_neg = embed(x, self.negative_labels(state, y, net.n_outputs), net.n_outputs,
                      self.label_value)
        with torch.enable_grad():
            leaves = Params([w.detach().requires_grad_(True) for w in params.weights],
                            [b.detach().requires_grad_(True) for b in params.biases])
            losses = level_losses(net, leaves, x_pos, x_neg, state.extra.theta,
                                  state.extra.kappa)
            total = torch.stack(losses[1:]).sum(dim=0)
            grads = torch.autograd.grad(total.sum(), [*leaves.weights, *leaves.biases])
        depth = net.depth
        return list(grads[:depth]), list(grads[depth:]), total.detach()

    @torch.no_grad()
    def predict(self, net: Net, params: Params, x: torch.Tensor) -> torch.Tensor:
        """Scores ``[P, B, C]``: summed hidden-level goodness with each label embedded."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(net.population, -1, -1)
        use = readout_levels(net)
        scores = []
        for c in range(net.n_outputs):
            labels = torch.full(x.shape[:2], c, dtype=torch.long, device=x.device)
            g = level_goodness(net, params, embed(x, labels, net.n_outputs, self.label_value))
            scores.append(sum(g[lv] * use[:, lv - 1:lv] for lv in range(1, net.depth + 1)))
        return torch.stack(scores, dim=2)
