"""One Dense block (linear → ReLU → inverted dropout) as one autograd node with in-place passes.

The eager composition ``dropout(relu(linear(x)), p)`` allocates three activations and walks memory
seven times per block in a training step: the ReLU output, a float keep-mask and its scaling, the
masked product in the forward pass; the mask product and the ReLU gradient in the backward pass.
Here the dropout scale ``s = 1 / keep`` is folded into the matrix product (ReLU is positively
homogeneous, so ``relu(z)·s = relu(s·z)``), the ReLU is applied in place and dropped elements are
zeroed in place by a {0, 1} mask compared straight into the activations' dtype (boolean masks and
``masked_fill_`` are several times slower on the CPU): three passes forward (compare, clamp,
multiply) and one backward (``threshold_backward`` on the saved output, since the output is positive
exactly where the element was kept and the pre-activation was positive), with ``s`` folded into
the backward products as well. The random draw is that of :func:`headkit.functional.dropout`
(the fast lane sampler of :mod:`headkit.functional._masks`), so a seed drops the same elements;
only the rounding of the scaling differs (``s·(xWᵀ + b)`` instead of ``(xWᵀ + b)·s``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.functional._masks import unit_keep_mask
from headkit.functional.dropout import check_rate


class _LinearReluDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, keep, scale):  # type: ignore[override]
        if bias is not None:
            out = torch.addmm(bias, x, weight.t(), beta=scale, alpha=scale)
        else:
            out = torch.mm(x, weight.t())
            if scale != 1.0:
                out.mul_(scale)
        out.clamp_min_(0.0)
        if keep is not None:
            out.mul_(keep)
        ctx.scale = scale
        ctx.has_bias = bias is not None
        ctx.save_for_backward(x, weight, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        x, weight, out = ctx.saved_tensors
        s = ctx.scale
        gz = torch.ops.aten.threshold_backward(grad, out, 0.0)  # grad where out > 0, else 0
        gx = gw = gb = None
        # beta=0 ignores the first argument (NaNs included): x and weight stand in for an output
        # buffer, so no empty tensor is dispatched per product.
        if ctx.needs_input_grad[0]:
            gx = torch.addmm(x, gz, weight, beta=0.0, alpha=s)
        if ctx.needs_input_grad[1]:
            gw = torch.addmm(weight, gz.t(), x, beta=0.0, alpha=s)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gz.sum(0)
            if s != 1.0:
                gb.mul_(s)
        return gx, gw, gb, None, None


def linear_relu_dropout(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.0,
    training: bool = True,
    *,
    mask: Tensor | None = None,
) -> Tensor:
    """ReLU of an affine map followed by inverted dropout, as one fused autograd node.

    Equivalent to ``dropout(relu(F.linear(x, weight, bias)), p, training, mask=mask)`` (up to
    the rounding of the ``1 / keep`` scaling), drawing the same random mask for the same global
    RNG state.

    Parameters
    ----------
    x : Tensor, shape (..., D)
        Inputs.
    weight : Tensor, shape (H, D)
        Linear weights.
    bias : Tensor, shape (H,), optional
        Linear bias.
    p : float
        Drop probability in [0, 1); 0 (or ``training=False``) gives ``relu(linear(x))``.
    training : bool
        Apply dropout.
    mask : Tensor, shape (..., H), optional
        Keep-mask in {0, 1} to use instead of a random one (scaled by ``1 / (1 - p)``).

    Returns
    -------
    Tensor, shape (..., H)
    """
    check_rate(p)
    flat = x.dim() != 2  # (..., D) inputs run as (N, D) rows; 2-D ones as they are
    x2 = x.reshape(-1, x.shape[-1]) if flat else x
    shape = (x2.shape[0], weight.shape[0])
    keep, scale = None, 1.0
    if training and p > 0.0:
        if mask is not None:
            lead = x.shape[:-1]
            keep, prob = (mask.expand(*lead, shape[1]).reshape(shape) != 0).to(x.dtype), 1.0 - p
        else:
            keep, prob = unit_keep_mask(shape, p, x.device, x.dtype)
        scale = 1.0 / prob
    out = _LinearReluDropout.apply(x2, weight, bias, keep, scale)
    return out.view(*x.shape[:-1], shape[1]) if flat else out
