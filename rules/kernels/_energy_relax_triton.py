"""The Triton source of the fused ep/chl relaxation phase (see rules/kernels/energy_relax.py
for what it computes and why). Imported only when the kernel runs, so triton stays optional."""

from __future__ import annotations

import triton
import triton.language as tl

from rules.kernels._pc_relax_triton import activate


@triton.jit
def energy_relax_kernel(k_ptr, c_ptr, s_ptr, y_ptr, q_ptr, codes_ptr, levels_ptr, steps_ptr,
                        beta_ptr, n_steps, n_up, depth, down_first, R, B,
                        LINEAR: tl.constexpr, HAS_SOLVE: tl.constexpr, RP: tl.constexpr,
                        BT: tl.constexpr):
    p = tl.program_id(0)
    tile = tl.program_id(1)
    rows = tl.arange(0, RP)
    cols = tile * BT + tl.arange(0, BT)
    in_rows = rows < R
    square = in_rows[:, None] & in_rows[None, :]
    state_mask = in_rows[:, None] & (cols < B)[None, :]
    k = tl.load(k_ptr + p * R * R + rows[:, None] * R + rows[None, :], mask=square, other=0.0)
    offs = p * R * B + rows[:, None] * B + cols[None, :]
    c = tl.load(c_ptr + offs, mask=state_mask, other=0.0)
    s = tl.load(s_ptr + offs, mask=state_mask, other=0.0)
    y = tl.load(y_ptr + offs, mask=state_mask, other=0.0)
    code = tl.load(codes_ptr + p * R + rows, mask=in_rows, other=-1)[:, None]
    level = tl.load(levels_ptr + rows, mask=in_rows, other=-1)[:, None]
    output = level == depth
    my_steps = tl.load(steps_ptr + p)
    beta = tl.load(beta_ptr + p)
    if HAS_SOLVE:
        q = tl.load(q_ptr + p * R * R + rows[:, None] * R + rows[None, :], mask=square,
                    other=0.0)
    for t in range(0, n_steps):
        upward = (t % 2 == 0) != (down_first != 0)
        for i in range(0, n_up):
            lv = tl.where(upward, i + 1, n_up - i)
            z = c + tl.dot(k, s, input_precision="ieee")
            if LINEAR:
                rhs = z + beta * y
                if HAS_SOLVE:  # noqa: SIM108 - a constexpr branch: q exists only then
                    out = tl.dot(q, rhs, input_precision="ieee")
                else:
                    out = rhs / (1.0 + beta)
                f, _ = activate(z, code)
                f = tl.where(output, out, tl.minimum(tl.maximum(f, -1.0), 1.0))
            else:
                f, _ = activate(tl.where(output, z + beta * (y - s), z), code)
                f = tl.where(output, f, tl.minimum(tl.maximum(f, -1.0), 1.0))
            s = tl.where((level == lv) & (t < my_steps), f, s)
    tl.store(s_ptr + offs, s, mask=state_mask)
