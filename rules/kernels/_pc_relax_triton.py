"""The Triton source of the fused pc relaxation (see rules/kernels/pc_relax.py for what it
computes and why). Imported only when the kernel runs, so triton stays optional."""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def activate(z, code):
    # (f(z), f'(z)) per row code; -1 (padding) gives (0, 0)
    sig = 1.0 / (1.0 + tl.exp(-z))
    th = 2.0 / (1.0 + tl.exp(-2.0 * z)) - 1.0
    ex = tl.exp(tl.minimum(z, 0.0)) - 1.0
    f = tl.where(code == 0, z, 0.0)
    d = tl.where(code == 0, 1.0, 0.0)
    f = tl.where(code == 1, tl.maximum(z, 0.0), f)
    d = tl.where(code == 1, tl.where(z > 0.0, 1.0, 0.0), d)
    f = tl.where(code == 2, th, f)
    d = tl.where(code == 2, 1.0 - th * th, d)
    f = tl.where(code == 3, sig, f)
    d = tl.where(code == 3, sig * (1.0 - sig), d)
    f = tl.where(code == 4, tl.where(z > 0.0, z, ex), f)
    d = tl.where(code == 4, tl.where(z > 0.0, 1.0, ex + 1.0), d)
    f = tl.where(code == 5, tl.minimum(tl.maximum(z, 0.0), 1.0), f)
    d = tl.where(code == 5, tl.where((z > 0.0) & (z < 1.0), 1.0, 0.0), d)
    return f, d

@triton.jit
def pc_relax_kernel(a_ptr, c_ptr, s_ptr, codes_ptr, move_ptr, steps_ptr, gamma_ptr,
                    n_steps, R, B, RP: tl.constexpr, BT: tl.constexpr):
    p = tl.program_id(0)
    tile = tl.program_id(1)
    rows = tl.arange(0, RP)
    cols = tile * BT + tl.arange(0, BT)
    in_rows = rows < R
    state_mask = in_rows[:, None] & (cols < B)[None, :]
    a = tl.load(a_ptr + p * R * R + rows[:, None] * R + rows[None, :],
                mask=in_rows[:, None] & in_rows[None, :], other=0.0)
    offs = p * R * B + rows[:, None] * B + cols[None, :]
    c = tl.load(c_ptr + offs, mask=state_mask, other=0.0)
    s = tl.load(s_ptr + offs, mask=state_mask, other=0.0)
    code = tl.load(codes_ptr + p * R + rows, mask=in_rows, other=-1)[:, None]
    move = tl.load(move_ptr + p * R + rows, mask=in_rows, other=0.0)[:, None]
    valid = tl.where(code >= 0, 1.0, 0.0)
    my_steps = tl.load(steps_ptr + p)
    gamma = tl.load(gamma_ptr + p)
    for t in range(0, n_steps):
        z = c + tl.dot(a, s, input_precision="ieee")
        f, d = activate(z, code)
        eps = (s - f) * valid
        back = tl.dot(tl.trans(a), eps * d * valid, input_precision="ieee")
        step = tl.where(t < my_steps, gamma, 0.0)
        s = s - step * (eps - back) * move
    tl.store(s_ptr + offs, s, mask=state_mask)
