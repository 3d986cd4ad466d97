"""Per-block kernels of the row-block and class-chunk schedules of :mod:`linear_ce`.

A block holds one set of logits class-major, ``z.T = W·x_rows.T`` (C, R). Its log-sum-exp is
taken without the row-maximum shift while the column sums of ``exp(z)`` stay in a range where
that shift changes nothing (:func:`unshifted_ok`), which saves one pass over the block for
the subtraction and one for the maximum; the caller falls back to the shifted form otherwise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.functional._blocking import slab_bytes

_EXP_LOW, _EXP_HIGH = math.exp(-40.0), math.exp(40.0)  # unshifted exp sums trusted within these


def softcap_(z: Tensor, cap: float, tanh_out: Tensor | None) -> Tensor:
    """Replace ``z`` by ``cap·tanh(z/cap)`` in place; keep ``tanh(z/cap)`` in ``tanh_out``."""
    if tanh_out is None:
        return z.div_(cap).tanh_().mul_(cap)
    torch.tanh(z.div_(cap), out=tanh_out)
    return torch.mul(tanh_out, cap, out=z)


def exp_sum_(z: Tensor, m: Tensor | None) -> Tensor:
    """Set the class-major block ``z`` (K, R) to ``exp(z - m)`` in place; return its column sums.

    ``m=None`` skips the shift (``exp(z)``). The block is walked in slabs of whole class rows,
    each half this host's L2 (:func:`slab_bytes`) and contiguous in memory, so that the
    exponential and the sum read the slab from cache instead of memory.
    """
    rows = max(16, slab_bytes() // (z.element_size() * max(1, z.shape[1])))
    s = z.new_zeros(z.shape[1])
    for c0 in range(0, z.shape[0], rows):
        slab = z[c0 : c0 + rows]
        s += (slab if m is None else slab.sub_(m)).exp_().sum(0)
    return s


def unshifted_ok(s: Tensor) -> bool:
    """Whether column sums of an unshifted ``exp(z)`` stayed in ``[e^-40, e^40]`` (no NaN).

    Within it no term overflowed, the largest term (>= s / C) is a normal float, the terms that
    underflowed (below ``e^-87``) are under ``C·e^-47`` of it (``e^-26`` at C = 10^9), and ``1 / s``
    scales the gradient operands without overflow or denormals: the shift by the row maximum
    would change nothing but add two passes over the block (the maximum and the subtraction).
    """
    return bool(((s > _EXP_LOW) & (s < _EXP_HIGH)).all())


def block_grads(
    e: Tensor,
    scale: Tensor,
    x_rows: Tensor,
    weight_rows: Tensor,
    tanh: Tensor | None,
    smooth: Tensor | None,
    gx_out: Tensor | None,
    gw: Tensor | None,
    gb: Tensor | None,
    accumulate_x: bool,
) -> None:
    """Add one block's gradient to ``gx_out``, ``gw`` and ``gb``.

    ``e`` (R, K) holds ``exp(z - shift)`` and ``scale`` (R,) the factor turning it into the
    softmax part of dL/dz. Without soft-capping the factor is applied to the GEMM operands instead
    of the block (no extra pass); with it the block becomes the full dL/du explicitly.
    """
    if tanh is not None:
        e.mul_(scale[:, None])
        if smooth is not None:
            e.sub_(smooth[:, None])
        e.mul_(tanh.square_().neg_().add_(1.0))
        row_scale = None
    else:
        row_scale = scale
    if gx_out is not None:
        if accumulate_x:
            if row_scale is None:
                gx_out.addmm_(e, weight_rows)
            else:
                gx_out.add_(torch.mm(e, weight_rows).mul_(row_scale[:, None]))
        else:
            torch.mm(e, weight_rows, out=gx_out)
            if row_scale is not None:
                gx_out.mul_(row_scale[:, None])
    if gw is not None:
        xs = x_rows if row_scale is None else x_rows * row_scale[:, None]
        gw.addmm_(e.T, xs)
    if gb is not None:
        gb.addmv_(e.T, row_scale if row_scale is not None else e.new_ones(e.shape[0]))


def class_major(flat: Tensor | None, c: int, r: int) -> Tensor | None:
    """A contiguous (c, r) view at the start of the flat buffer ``flat`` (None stays None)."""
    return None if flat is None else flat[: c * r].view(c, r)


def block_logits(zt, tt, w, xb, bcol, cap):
    """Fill the class-major block ``zt`` (C, R) with ``W·x_rows.T (+ b)``, soft-capped if asked."""
    torch.mm(w, xb.T, out=zt) if bcol is None else torch.addmm(bcol, w, xb.T, out=zt)
    if cap is not None:
        softcap_(zt, cap, tt)
