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
per-node path, up to the rounding of the head's product for heads of under 16 classes, whose
logits are computed as (C, N) (see ``_NARROW``). The elementwise passes run on one intra-op thread
(:mod:`headkit.functional._serial`); the products keep the caller's thread count.
:func:`dense_cross_entropy_gradients` runs the same forward and backward with no graph at all,
for a training loop that only wants the parameters' gradients.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from headkit.functional._masks import unit_keep_mask
from headkit.functional._serial import one_thread
from headkit.functional.dropout import check_rate

_MEAN = 1  # torch's Reduction::Mean, as nll_loss_forward / nll_loss_backward take it
# Heads with fewer classes than this compute their logits as (C, N) and the log-softmax down the
# columns: torch's row-wise CPU log-softmax over 10 classes costs 75 µs for 500 rows (one thread,
# AMD EPYC Zen 4), the column-wise one a fraction of that; the whole head (product, softmax, loss
# and their gradients) 180 µs against 308. From 16 classes the row-wise kernel is the faster.
_NARROW = 16


def _forward(
    x: Tensor,
    target: Tensor,
    ignore_index: int,
    rates: Sequence[float],
    low: torch.dtype | None,
    params: Sequence[Tensor],
) -> tuple[Tensor, Tensor, Tensor, list[Tensor], list[Tensor], list[Tensor], list[float]]:
    """The loss and what its gradients need: (loss, total, log_probs, acts, ins, lows, scales)."""
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
    if head_w.shape[0] < _NARROW:  # (C, N): the softmax runs down columns, across rows at once
        log_probs = torch._log_softmax(torch.addmm(head_b[:, None], head_w, h.t()), 0, False).t()
    else:
        log_probs = torch._log_softmax(torch.addmm(head_b, h, head_w.t()), 1, False)
    loss, total = torch.ops.aten.nll_loss_forward(log_probs, target, None, _MEAN, ignore_index)
    return loss, total, log_probs, acts, ins, lows, scales


def _backward(
    grad_loss: Tensor,
    target: Tensor,
    log_probs: Tensor,
    total: Tensor,
    acts: Sequence[Tensor],
    ins: Sequence[Tensor],
    lows: Sequence[Tensor],
    params: Sequence[Tensor],
    scales: Sequence[float],
    ignore_index: int,
    needs_x: bool,
) -> list[Tensor | None]:
    """Gradients of the loss: ``[x or None, *params]`` (``params`` as :func:`_forward` took them)."""
    n, head_w = len(scales), params[-2]
    g_logits = torch.ops.aten.nll_loss_backward(
        grad_loss, log_probs, target, None, _MEAN, ignore_index, total
    )
    if head_w.shape[0] < _NARROW:  # the (C, N) layout of a narrow head (see _forward)
        g_t = torch._log_softmax_backward_data(g_logits.t(), log_probs.t(), 0, log_probs.dtype)
        g_logits = g_t.t()
    else:
        g_logits = torch._log_softmax_backward_data(g_logits, log_probs, 1, log_probs.dtype)
    grads: list[Tensor | None] = [None] * len(params)
    grads[-2] = g_logits.t().mm(acts[-1])
    grads[-1] = g_logits.sum(0)
    g = g_logits.mm(head_w)  # this function's own buffer: the passes below run in place
    for layer in range(n - 1, -1, -1):
        w, s, below, master = lows[layer], scales[layer], ins[layer], params[2 * layer]
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
    return [g if needs_x else None, *grads]


class _DenseCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, target, ignore_index, rates, low, *params):  # type: ignore[override]
        loss, total, log_probs, acts, ins, lows, scales = _forward(
            x, target, ignore_index, rates, low, params
        )
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
        gx, *grads = _backward(
            grad_loss, target, log_probs, total, acts, ins, lows, params, ctx.scales,
            ctx.ignore_index, ctx.needs_input_grad[0],
        )  # fmt: skip
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
    low, params = _checked(x, target, weights, biases, rates, matmul_dtype)
    return _DenseCrossEntropy.apply(
        x, target, ignore_index, tuple(rates), low, *params, head_weight, head_bias
    )


def dense_cross_entropy_gradients(
    x: Tensor,
    target: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Tensor],
    head_weight: Tensor,
    head_bias: Tensor,
    rates: Sequence[float],
    ignore_index: int = -100,
    matmul_dtype: torch.dtype | None = None,
) -> tuple[Tensor, list[Tensor]]:
    """:func:`dense_cross_entropy` and its parameter gradients, without the autograd engine.

    The same operations in the same order as ``dense_cross_entropy(...).backward()`` (the same
    masks from the same generator state), run back to back with no graph: a training loop that
    only wants the parameters' gradients saves the engine's work (a node, its saved tensors, a
    seed gradient and one accumulation node per parameter: about 0.1 ms a step, 4–5 % of the
    default MNIST-1D step on two cores of an AMD EPYC Zen 4).

    Parameters
    ----------
    x, target, weights, biases, head_weight, head_bias, rates, ignore_index, matmul_dtype
        As for :func:`dense_cross_entropy`. ``x`` gets no gradient.

    Returns
    -------
    loss : Tensor, shape ()
        The mean loss over the rows not ignored (no graph).
    gradients : list of Tensor
        d loss / d parameter, in the order ``weights[0], biases[0], weights[1], biases[1], ...,
        head_weight, head_bias``, each of its parameter's shape and dtype.
    """
    low, params = _checked(x, target, weights, biases, rates, matmul_dtype)
    params += [head_weight, head_bias]
    with torch.no_grad():
        loss, total, log_probs, acts, ins, lows, scales = _forward(
            x, target, ignore_index, tuple(rates), low, params
        )
        one = torch.ones((), dtype=loss.dtype, device=loss.device)
        _, *grads = _backward(
            one, target, log_probs, total, acts, ins, lows, params, scales, ignore_index, False
        )
    return loss, grads  # type: ignore[return-value]  # every parameter gets one


def _checked(
    x: Tensor,
    target: Tensor,
    weights: Sequence[Tensor],
    biases: Sequence[Tensor],
    rates: Sequence[float],
    matmul_dtype: torch.dtype | None,
) -> tuple[torch.dtype | None, list[Tensor]]:
    """Validate the arguments; return the products' dtype (None: x's) and [w_0, b_0, w_1, ...]."""
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
    return low, [t for pair in zip(weights, biases, strict=True) for t in pair]
