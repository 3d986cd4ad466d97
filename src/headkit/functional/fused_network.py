"""The default network's training loss as one autograd node: Dense-ReLU-Dropout blocks → linear → CE.

:func:`headkit.functional.fused_dense.linear_relu_dropout` makes each Dense block one node; the
head's linear layer, the log-softmax and the NLL are three more, and the autograd engine walks
all of them every step. Here the whole network — every block, the linear head and the softmax
cross-entropy — is one :class:`torch.autograd.Function` whose backward runs the products and the
elementwise passes in sequence with no engine, no gradient accumulation nodes and no Python
frame per layer; the ReLU-and-dropout gradient is applied in place in the gradient buffer the
function itself wrote. Each operation is the one the per-node path runs, with the same
arguments in the same order (the same masks from the same generator state, the products with
the same ``alpha``/``beta``), so on a given machine the loss and gradients are those of the
per-node path. The elementwise passes run on one intra-op thread
(:mod:`headkit.functional._serial`); the products keep the caller's thread count.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from headkit.functional._masks import unit_keep_mask
from headkit.functional._serial import one_thread
from headkit.functional.dropout import check_rate

_MEAN = 1  # torch's Reduction::Mean, as nll_loss_forward / nll_loss_backward take it


class _DenseCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, ignore_index, rates, low, *params):  # type: ignore[override]
        *blocks, head_w, head_b = params
        acts, ins, lows, scales = [x], [], [], []
        h = x
        for (w, b), p in zip(zip(blocks[::2], blocks[1::2], strict=True), rates, strict=True):
            keep, scale = None, 1.0
            if p > 0.0:
                keep, prob = unit_keep_mask((h.shape[0], w.shape[0]), p, h.device, h.dtype)
                scale = 1.0 / prob
            with one_thread(h.numel()):  # the product's copies (the same tensors without low)
                a, w, b = (h, w, b) if low is None else (h.to(low), w.to(low), b.to(low))
            h = torch.addmm(b, a, w.t(), beta=scale, alpha=scale)
            with one_thread(h.numel()):
                h = h.to(x.dtype)  # the elementwise passes in x's dtype
                h.clamp_min_(0.0)
                if keep is not None:
                    h.mul_(keep)
            acts.append(h)
            ins.append(a)
            lows.append(w)
            scales.append(scale)
        logits = torch.addmm(head_b, h, head_w.t())
        log_probs = torch._log_softmax(logits, 1, False)
        loss, total = torch.ops.aten.nll_loss_forward(log_probs, target, None, _MEAN, ignore_index)
        ctx.save_for_backward(target, log_probs, total, *acts, *ins, *lows, *params)
        ctx.scales, ctx.ignore_index, ctx.n_blocks = scales, ignore_index, len(scales)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss):  # type: ignore[override]
        target, log_probs, total, *rest = ctx.saved_tensors
        n = ctx.n_blocks
        acts, ins, lows, params = (
            rest[: n + 1],
            rest[n + 1 : 2 * n + 1],
            rest[2 * n + 1 : 3 * n + 1],
            rest[3 * n + 1 :],
        )
        head_w = params[-2]
        g_logits = torch.ops.aten.nll_loss_backward(
            grad_loss, log_probs, target, None, _MEAN, ctx.ignore_index, total
        )
        g_logits = torch._log_softmax_backward_data(g_logits, log_probs, 1, log_probs.dtype)
        grads: list[Tensor | None] = [None] * len(params)
        grads[-2] = g_logits.t().mm(acts[-1])
        grads[-1] = g_logits.sum(0)
        g = g_logits.mm(head_w)  # this function's own buffer: the passes below run in place
        needs_x = ctx.needs_input_grad[0]
        for layer in range(n - 1, -1, -1):
            w, s, below, master = lows[layer], ctx.scales[layer], ins[layer], params[2 * layer]
            with one_thread(g.numel()):
                # grad where the block's output is positive (kept and past the ReLU), else 0
                torch.ops.aten.threshold_backward.grad_input(g, acts[layer + 1], 0.0, grad_input=g)
                gb = g.sum(0)
                gl = g.to(w.dtype)  # the product's copy (g itself without low)
            grads[2 * layer] = torch.addmm(w, gl.t(), below, beta=0.0, alpha=s).to(master.dtype)
            grads[2 * layer + 1] = gb.mul_(s) if s != 1.0 else gb
            if layer > 0 or needs_x:
                # beta=0 ignores the first argument: ``below`` only fixes the output's shape
                g = torch.addmm(below, gl, w, beta=0.0, alpha=s)
                with one_thread(g.numel()):
                    g = g.to(g_logits.dtype)
        gx = g if needs_x else None
        return (gx, None, None, None, None, *grads)


def dense_cross_entropy(
    x: Tensor,
    target: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Tensor],
    head_weight: Tensor,
    head_bias: Tensor,
    rates: Sequence[float],
    ignore_index: int = -100,
    matmul_dtype: torch.dtype | None = None,
) -> Tensor:
    """Mean softmax cross-entropy of a ReLU network with inverted dropout, as one autograd node.

    Equivalent to ``F.cross_entropy(F.linear(h_L, head_weight, head_bias), target,
    ignore_index=ignore_index)`` with ``h_l = linear_relu_dropout(h_{l-1}, weights[l],
    biases[l], rates[l])`` and ``h_0 = x``, drawing the same dropout masks from the same
    generator state (see :mod:`headkit.functional.fused_dense`).

    Parameters
    ----------
    x : Tensor, shape (N, D)
        Inputs (floating point).
    target : Tensor, shape (N,) int64
        Class indices; rows equal to ``ignore_index`` contribute nothing.
    weights : sequence of Tensor, shapes (H_1, D), (H_2, H_1), ...
        The hidden layers' weights (at least one).
    biases : sequence of Tensor, shapes (H_1,), (H_2,), ...
        Their biases.
    head_weight : Tensor, shape (C, H_L)
        The linear head's weight.
    head_bias : Tensor, shape (C,)
        The linear head's bias.
    rates : sequence of float
        Drop probability of each hidden layer's output, in [0, 1).
    ignore_index : int
        Target value to skip.
    matmul_dtype : torch.dtype, optional
        Dtype of the hidden blocks' products (``torch.bfloat16``: mixed precision, as
        ``torch.autocast`` runs a linear layer). The blocks take copies of ``x``, their weights
        and biases in it and keep their outputs and the gradients flowing down the blocks in
        it (ReLU and the {0, 1} dropout masks are exact there); the products accumulate in
        float32, the head's product, the softmax and the loss run in ``x``'s dtype, and every
        gradient is returned in its parameter's dtype. ``None`` (or ``x``'s dtype): every
        product in ``x``'s dtype.

    Returns
    -------
    Tensor, shape ()
        The mean loss over the rows not ignored.
    """
    if not (len(weights) == len(biases) == len(rates)) or not weights:
        raise ValueError(
            "dense_cross_entropy needs one bias and one rate per weight, and at least one layer; "
            f"got {len(weights)} weights, {len(biases)} biases and {len(rates)} rates."
        )
    if x.dim() != 2 or target.dim() != 1:
        raise ValueError(
            f"dense_cross_entropy takes x of shape (N, D) and target of shape (N,); "
            f"got {tuple(x.shape)} and {tuple(target.shape)}."
        )
    for p in rates:
        check_rate(p)
    if matmul_dtype is not None and not matmul_dtype.is_floating_point:
        raise ValueError(f"matmul_dtype must be a floating-point dtype; got {matmul_dtype}.")
    low = None if matmul_dtype in (None, x.dtype) else matmul_dtype
    params = [t for pair in zip(weights, biases, strict=True) for t in pair]
    return _DenseCrossEntropy.apply(
        x, target, ignore_index, tuple(rates), low, *params, head_weight, head_bias
    )
