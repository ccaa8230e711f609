"""The ep / chl relaxation phases (free, clamped, ±β-nudged) each in one Triton kernel.

ep and chl spend most of a minibatch in ``T1 + 2·T2`` relaxation sweeps (rules/chl.py
:func:`~rules.chl.relax`), each sweep one small update per level: on a GPU, a
launch-bound loop of a few tiny kernels per level and sweep. Here one program owns one
member and one tile of the batch for a whole phase, with the state held on chip.

Layout (as in rules/kernels/pc_relax.py): one square coupling matrix ``K[P, R, R]`` per
member over the ``R`` neurons that are not inputs, ``K[i, j]`` = what neuron ``j``'s rate adds
to neuron ``i``'s drive — the masked forward weight for ``j`` below ``i``, the gain-scaled
feedback ``γ^gap W̃`` for ``j`` above ``i``, plus the symmetric recurrent coupling — and the
constant drive ``C[P, R, B]`` (bias, input drive). One level update is then

    z = C + K s,   s_l ← ρ_l(z_l)                      (hidden: ρ clipped to [-1, 1])
    output, nonlinear:  s_L ← f(z_L + β (y − s_L))
    output, linear:     s_L ← (z_L + β y) / (1 + β)  or  Q (z_L + β y),  Q = ((1+β)I − J_LL)⁻¹

with the levels visited in the sweep order of the torch path (alternating up and down).
A free phase is β = 0; a clamped phase holds the output at ``y`` and skips its level. Each
member has its own sweep count (sweeps past it leave the member's state alone) and its own
β, so members with different settings share a launch, and γ enters only through ``K``.

Cost: each level update multiplies the whole square block (the level's rows are selected
after), ``depth`` times more multiply-adds than the level-block path needs — the price of
keeping a member's state in one on-chip tile. The kernel is meant for nets of up to
:data:`MAX_ROWS` non-input neurons; the rules fall back to torch above that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from search_spaces import activations
from search_spaces.net import Net

if TYPE_CHECKING:
    from rules.chl import Couplings

# the coupling block of a member must fit on chip: 256 rows (a 256 x 256 float32 block) need
# 272 KB of shared memory, over the 227 KB an H100/H200 block can have (Triton's
# OutOfResources, measured on an H200 by benchmarks/kernels.py); 128 rows fit
MAX_ROWS = 128
#: warps per program by padded block height, where not Triton's default 4: on an H200 a
#: 128-row block relaxed in 1.9-3.2 ms on 8 warps against 7.7-16.1 ms on 4 (ep and chl),
#: while 64-row blocks took about the same on 2-16 (benchmarks/kernels.py --warps 2,8,16;
#: benchmarks/results/kernels_gpu_warps.json)
WARPS = {128: 8}
BATCH_TILE = 16
_IDENTITY = activations.CODES["identity"]


def _next_pow2(n: int, at_least: int = 16) -> int:
    size = at_least
    while size < n:
        size *= 2
    return size


def fits(net: Net) -> bool:
    """Whether the kernel takes this net (its non-input neurons fit one on-chip block)."""
    return net.n_neurons - net.n_inputs <= MAX_ROWS


def dense_couplings(net: Net, c: Couplings, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The population as the kernel reads it, shared by every phase of a minibatch: ``K``,
    ``C``, each row's level (``[R]``, int32), each row's activation code as the torch path
    applies it (``[P, R]``; -1 where it gives 0), and the couplings inside a linear output
    level (``out_self``, or None). ``x`` is ``[B, n_0]`` or ``[P, B, n_0]``."""
    P, depth, off = net.population, net.depth, c.offsets
    n0 = off[1]
    R = off[depth + 1] - n0
    if x.dim() == 2:
        x = x.unsqueeze(0).expand(P, -1, -1)
    x = x.to(c.up[0].dtype)
    K = x.new_zeros(P, R, R)
    C = x.new_zeros(P, R, x.shape[1])
    levels = torch.empty(R, dtype=torch.int32, device="cpu")
    codes = torch.empty(P, R, dtype=torch.int32, device="cpu")
    for lv in range(1, depth + 1):
        rows = slice(off[lv] - n0, off[lv + 1] - n0)
        up = c.up[lv - 1]  # [P, N_<l, n_l]
        drive = torch.baddbmm(c.bias[lv - 1], x, up[:, :n0])  # [P, B, n_l]
        K[:, rows, : off[lv] - n0] = up[:, n0:].transpose(1, 2)
        if c.down[lv - 1] is not None:
            K[:, rows, off[lv + 1] - n0:] += c.down[lv - 1].transpose(1, 2)
        if c.rec[lv - 1] is not None:
            K[:, rows, :] += c.rec[lv - 1][:, n0:].transpose(1, 2)
            drive = drive + torch.bmm(x, c.rec[lv - 1][:, :n0])
        C[:, rows] = drive.transpose(1, 2)
        levels[rows] = lv
        present = net.present_codes[lv - 1]
        own = net.activation_codes[lv - 1].to(torch.int32)
        if len(present) == 1:  # activations.apply gives every neuron the one activation
            codes[:, rows] = present[0]
        else:  # ... and 0 to a code it was not told is present
            known = torch.isin(own, torch.tensor(present, dtype=own.dtype, device=own.device))
            codes[:, rows] = torch.where(known, own, torch.full_like(own, -1)).cpu()
    return {"K": K.contiguous(), "C": C.contiguous(), "levels": levels.to(x.device),
            "codes": codes.to(x.device), "out_self": c.out_self, "rows": R, "n0": n0,
            "depth": depth,
            "linear": net.present_codes[-1] == (_IDENTITY,)}


def phase_settings(problem: dict, target: torch.Tensor | None, beta: torch.Tensor | None,
                   P: int, batch: int, dtype: torch.dtype, device: torch.device
                   ) -> tuple[torch.Tensor, torch.Tensor, bool, torch.Tensor | None]:
    """``(Y[P, R, B], β[P], clamped, Q)`` of one phase in the torch path's terms: no target
    = free (β = 0), a target without β = clamped, both = nudged with ``β`` (scalar, ``[P]``
    or ``[P, 1, 1]``, either sign). ``Q`` is the exact solve of a linear output level with
    couplings inside it (None without such couplings)."""
    R, n_out = problem["rows"], None
    Y = torch.zeros(P, R, batch, dtype=dtype, device=device)
    if target is not None:
        if target.dim() == 2:
            target = target.unsqueeze(0).expand(P, -1, -1)
        n_out = target.shape[2]
        Y[:, R - n_out:] = target.transpose(1, 2).to(dtype)
    clamped = target is not None and beta is None
    b = torch.zeros(P, dtype=dtype, device=device) if beta is None else \
        torch.as_tensor(beta, dtype=dtype, device=device).reshape(-1).expand(P).contiguous()
    Q = None
    out_self = problem["out_self"]
    if problem["linear"] and out_self is not None and not clamped:
        n = out_self.shape[1]
        eye = torch.eye(n, dtype=dtype, device=device)
        solve, _ = torch.linalg.inv_ex((1.0 + b.view(-1, 1, 1)) * eye - out_self)
        Q = torch.zeros(P, R, R, dtype=dtype, device=device)
        Q[:, R - n:, R - n:] = solve
    return Y, b, clamped, Q


def relax_dense_torch(problem: dict, S: torch.Tensor, Y: torch.Tensor, beta: torch.Tensor,
                      steps: torch.Tensor, clamped: bool, down_first: bool,
                      Q: torch.Tensor | None) -> torch.Tensor:
    """The kernel's computation in torch (same dense layout, same order): what the kernel
    must equal, and a readable statement of it. ``S[P, R, B]`` is the start state; returns
    the relaxed one (a new tensor)."""
    K, C, depth = problem["K"], problem["C"], problem["depth"]
    levels = problem["levels"].view(1, -1, 1)
    codes = problem["codes"].long().unsqueeze(2)
    present = tuple(int(v) for v in torch.unique(codes) if v >= 0)
    valid = codes >= 0
    output = levels == depth
    b = beta.view(-1, 1, 1)
    steps = steps.to(S.device).view(-1, 1, 1)
    S = S.clone()
    n_up = depth - 1 if clamped else depth
    for t in range(int(steps.max()) if steps.numel() else 0):
        upward = (t % 2 == 0) != down_first
        for i in range(n_up):
            lv = i + 1 if upward else n_up - i
            z = C + torch.bmm(K, S)
            if problem["linear"]:
                rhs = z + b * Y
                out = torch.bmm(Q, rhs) if Q is not None else rhs / (1.0 + b)
            else:
                out = z + b * (Y - S)
            pre = torch.where(output, out, z)
            f = activations.apply(pre, codes.clamp(min=0), present) * valid
            f = torch.where(output, out if problem["linear"] else f, f.clamp(-1.0, 1.0))
            S = torch.where((levels == lv) & (t < steps), f, S)
    return S


def relax_triton(problem: dict, S: torch.Tensor, Y: torch.Tensor, beta: torch.Tensor,
                 steps: torch.Tensor, clamped: bool, down_first: bool,
                 Q: torch.Tensor | None, num_warps: int | None = None) -> torch.Tensor:
    """Run one phase in the fused kernel; same arguments and result as
    :func:`relax_dense_torch`. ``num_warps``: as in rules/kernels/pc_relax.py, with this
    kernel's :data:`WARPS`."""
    import triton

    P, R, B = S.shape
    if R > MAX_ROWS:
        raise ValueError(f"ep/chl kernel: {R} non-input neurons exceed its {MAX_ROWS}")
    S = S.contiguous().clone()
    steps = steps.to(device=S.device, dtype=torch.int32).contiguous()
    beta = beta.to(device=S.device, dtype=S.dtype).contiguous()
    n_steps = int(steps.max()) if steps.numel() else 0
    depth = problem["depth"]
    grid = (P, triton.cdiv(B, BATCH_TILE))
    RP = _next_pow2(R)
    _kernel()[grid](problem["K"], problem["C"], S, Y.contiguous(),
                    problem["K"] if Q is None else Q.contiguous(),
                    problem["codes"], problem["levels"], steps, beta, n_steps,
                    depth - 1 if clamped else depth, depth, int(down_first), R, B,
                    LINEAR=bool(problem["linear"]), HAS_SOLVE=Q is not None,
                    RP=RP, BT=BATCH_TILE, num_warps=num_warps or WARPS.get(RP, 4))
    return S


def _kernel():
    """The jitted kernel, imported on first use so that importing this module never needs
    triton (and the interpreter setting is read when a test has set it)."""
    from rules.kernels._energy_relax_triton import energy_relax_kernel

    return energy_relax_kernel


def relax(net: Net, c: Couplings, s: torch.Tensor, steps: torch.Tensor | int,
          target: torch.Tensor | None = None, beta: torch.Tensor | None = None,
          down_first: bool = False, solver: str = "triton", run: Any = None) -> torch.Tensor:
    """rules/chl.py :func:`~rules.chl.relax` through the dense kernel: same arguments and
    meaning (``steps`` may also be ``[P]``, one sweep count per member), the relaxed state
    written into ``s[P, B, N]`` and returned. ``solver`` = ``"triton"`` or ``"dense-torch"``;
    ``run`` replaces the solver's function (benchmarks/kernels.py passes the dense path
    compiled, or the kernel with another ``num_warps``).
    The dense couplings are rebuilt for every phase — a few block copies, so that this
    call can stand in for the torch path's anywhere, without a cache between phases."""
    P, batch = s.shape[0], s.shape[1]
    n0 = c.offsets[1]
    problem = dense_couplings(net, c, s[:, :, :n0])
    S = s[:, :, n0:].transpose(1, 2).contiguous()
    Y, b, clamped, Q = phase_settings(problem, target, beta, P, batch, s.dtype, s.device)
    if clamped:
        S[:, problem["rows"] - target.shape[-1]:] = Y[:, problem["rows"] - target.shape[-1]:]
    steps = torch.as_tensor(steps, device=s.device).reshape(-1).expand(P)
    run = run or (relax_triton if solver == "triton" else relax_dense_torch)
    S = run(problem, S, Y, b, steps, clamped, down_first, Q)
    s[:, :, n0:] = S.transpose(1, 2)
    return s
