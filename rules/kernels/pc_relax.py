"""Predictive coding's whole inference loop in one Triton kernel.

pc spends most of its time in ``T`` small relaxation steps per minibatch (rules/pc.py
:func:`~rules.pc.relax`): two batched matmuls and a few elementwise operations each, which
on a GPU means launch-bound loops of tiny kernels. Here one program owns one member and
one tile of the batch for all ``T`` steps, with the state held on chip.

The level blocks are laid out as one square coupling matrix per member over the neurons
that are not inputs (hidden levels, then the output), ``A[r, c]`` = the masked weight from
hidden neuron ``c`` to neuron ``r`` (zero for level-1 rows, which see only the input, and
for output columns, which feed nothing). With the state ``s`` (hidden rows relax, output rows
hold the clamped target) and the constant drive ``C`` (input drive and bias), one step is

    z = C + A s,   (μ, f') = f(z),   ε = s − μ,   s ← s − γ_t (ε − Aᵀ(ε ⊙ f'))  on hidden rows

— the same energy descent as the level-block torch path, with ``γ_t = γ`` while ``t`` is
below the member's own ``T`` and 0 after, so members with different ``T`` share a launch.
A dense square block pays for the zeros above the diagonal that the level-block form skips;
for the state to live on chip the kernel is meant for nets of up to :data:`MAX_ROWS`
non-input neurons (the search space's default keeps them far below), and the rule falls
back to torch above that.
"""

from __future__ import annotations

import torch

from search_spaces import activations
from search_spaces.net import Net, Params

# the coupling block of a member must fit on chip: 256 rows (a 256 x 256 float32 block) need
# 272 KB of shared memory, over the 227 KB an H100/H200 block can have (Triton's
# OutOfResources, measured on an H200 by benchmarks/kernels.py); 128 rows fit
MAX_ROWS = 128
#: warps per program by padded block height, where not Triton's default 4: on an H200 a
#: 128-row block relaxed in 2.0-5.4 ms on 16 warps against 5.9-10.9 ms on 4, while 64-row
#: blocks took the same time on 2-16 (benchmarks/kernels.py --warps 2,8,16;
#: benchmarks/results/kernels_gpu_warps.json)
WARPS = {128: 16}
BATCH_TILE = 16

_CODE = activations.CODES


def _next_pow2(n: int, at_least: int = 16) -> int:
    size = at_least
    while size < n:
        size *= 2
    return size


def dense_problem(net: Net, params: Params, x: torch.Tensor, start: list[torch.Tensor]
                  ) -> dict[str, torch.Tensor]:
    """The padded population as the kernel reads it: ``A[P, R, R]``, ``C[P, R, B]``, the
    start state ``S[P, R, B]`` (``start`` = the states ``x_0..x_L``, ``[P, B, n_l]``, with the
    hidden levels at the feedforward pass and the output at the target), per-row activation
    codes (-1 for padding), and which rows move."""
    P, depth = net.population, net.depth
    offsets = net.offsets()
    n0 = offsets[1]
    R = offsets[depth + 1] - n0
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(P, -1, -1)
    batch = x.shape[1]
    A = x.new_zeros(P, R, R)
    C = x.new_zeros(P, R, batch)
    for m in range(1, depth + 1):
        w = params.weights[m - 1] * net.masks[m - 1]  # [P, n_m, N_<m]
        rows = slice(offsets[m] - n0, offsets[m + 1] - n0)
        C[:, rows] = torch.baddbmm(params.biases[m - 1].unsqueeze(2), w[:, :, :n0],
                                   x.transpose(1, 2))
        if m >= 2:
            A[:, rows, : offsets[m] - n0] = w[:, :, n0:]
    S = torch.cat([s.transpose(1, 2) for s in start[1:]], dim=1).contiguous()
    codes = torch.cat(list(net.activation_codes), dim=1).clone()  # [P, R]
    real = torch.cat(list(net.neuron_masks), dim=1)
    codes[real == 0] = -1
    move = torch.zeros(P, R, dtype=x.dtype, device=x.device)
    move[:, : offsets[depth] - n0] = real[:, : offsets[depth] - n0]
    return {"A": A.contiguous(), "C": C.contiguous(), "S": S, "codes": codes.to(torch.int32),
            "move": move.contiguous(), "rows": R}


def relax_dense_torch(problem: dict[str, torch.Tensor], steps: torch.Tensor,
                      gamma: torch.Tensor) -> torch.Tensor:
    """The kernel's computation in torch (same dense layout): what the kernel must equal,
    and a readable statement of it."""
    A, C, S = problem["A"], problem["C"], problem["S"].clone()
    codes, move = problem["codes"].unsqueeze(2).long(), problem["move"].unsqueeze(2)
    present = tuple(int(c) for c in torch.unique(codes) if c >= 0)
    valid = (codes >= 0).to(S.dtype)
    for t in range(int(steps.max()) if steps.numel() else 0):
        z = C + torch.bmm(A, S)
        f, d = activations.value_and_derivative(z, codes.clamp(min=0), present)
        eps = (S - f) * valid
        grad = eps - torch.bmm(A.transpose(1, 2), eps * d * valid)
        step = torch.where(t < steps, gamma, torch.zeros_like(gamma)).view(-1, 1, 1)
        S = S - step * grad * move
    return S


def relax_triton(problem: dict[str, torch.Tensor], steps: torch.Tensor,
                 gamma: torch.Tensor, num_warps: int | None = None) -> torch.Tensor:
    """Run the fused relaxation; returns the relaxed state ``[P, R, B]``. ``num_warps`` is
    the threads per program that share a member's block; None takes :data:`WARPS` for the
    padded block height (benchmarks/kernels.py ``--warps`` times the other choices)."""
    import triton

    A, C = problem["A"], problem["C"]
    S = problem["S"].clone()
    P, R, B = S.shape
    if R > MAX_ROWS:
        raise ValueError(f"pc kernel: {R} non-input neurons exceed its {MAX_ROWS}")
    steps = steps.to(device=S.device, dtype=torch.int32).contiguous()
    gamma = gamma.to(device=S.device, dtype=S.dtype).contiguous()
    n_steps = int(steps.max()) if steps.numel() else 0
    grid = (P, triton.cdiv(B, BATCH_TILE))
    RP = _next_pow2(R)
    _kernel()[grid](A, C, S, problem["codes"], problem["move"], steps, gamma, n_steps, R, B,
                    RP=RP, BT=BATCH_TILE, num_warps=num_warps or WARPS.get(RP, 4))
    return S


def _kernel():
    """The jitted kernel, imported on first use so that importing this module never needs
    triton (and the interpreter setting is read when a test has set it)."""
    from rules.kernels._pc_relax_triton import pc_relax_kernel

    return pc_relax_kernel


def states_from_dense(net: Net, S: torch.Tensor, x: torch.Tensor, target: torch.Tensor
                      ) -> list[torch.Tensor]:
    """The level states ``x_0..x_L`` (``[P, B, n_l]``) of a relaxed dense state."""
    offsets = net.offsets()
    n0 = offsets[1]
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(net.population, -1, -1)
    hidden = [S[:, offsets[m] - n0: offsets[m + 1] - n0].transpose(1, 2)
              for m in range(1, net.depth)]
    return [x, *hidden, target]
