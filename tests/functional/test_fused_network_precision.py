"""dense_cross_entropy with bfloat16 products against float64 and a per-node bfloat16 reference."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as TF

from headkit.functional._masks import unit_keep_mask
from headkit.functional.fused_network import dense_cross_entropy

RATES = (0.25, 0.0)


def _net(seed, rows=64, widths=(12, 32, 32), classes=5):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, widths[0], generator=g, dtype=torch.float64)
    weights = [
        torch.randn(b, a, generator=g, dtype=torch.float64) / a**0.5
        for a, b in itertools.pairwise(widths)
    ]
    biases = [0.1 * torch.randn(b, generator=g, dtype=torch.float64) for b in widths[1:]]
    head_w = torch.randn(classes, widths[-1], generator=g, dtype=torch.float64) / widths[-1] ** 0.5
    head_b = 0.1 * torch.randn(classes, generator=g, dtype=torch.float64)
    target = torch.randint(0, classes, (rows,), generator=g)
    return x, target, [*weights, *biases, head_w, head_b]


def _fused(x, target, params, dtype, matmul_dtype):
    leaves = [t.to(dtype).requires_grad_(True) for t in (x, *params)]
    x, w1, w2, b1, b2, head_w, head_b = leaves
    torch.manual_seed(5)  # the same masks in every variant
    loss = dense_cross_entropy(
        x, target, [w1, w2], [b1, b2], head_w, head_b, RATES, matmul_dtype=matmul_dtype
    )
    return loss, torch.autograd.grad(loss, leaves)


def _per_node_bf16(x, target, params):
    """The same network with autograd, each hidden ``F.linear`` on bfloat16 copies (autocast's way)."""
    leaves = [t.float().requires_grad_(True) for t in (x, *params)]
    x, w1, w2, b1, b2, head_w, head_b = leaves
    torch.manual_seed(5)
    h = x
    for w, b, p in zip((w1, w2), (b1, b2), RATES, strict=True):
        keep, prob = unit_keep_mask((h.shape[0], w.shape[0]), p, h.device, h.dtype)
        h = TF.relu(TF.linear(h.bfloat16(), w.bfloat16(), b.bfloat16()).float()) * keep / prob
    loss = TF.cross_entropy(TF.linear(h, head_w, head_b), target)
    return loss, torch.autograd.grad(loss, leaves)


def _relative(a, reference):
    return float((a.double() - reference).norm() / reference.norm())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bfloat16_loss_and_gradients_within_bfloat16_error_of_float64(seed):
    x, target, params = _net(seed)
    loss64, grads64 = _fused(x, target, params, torch.float64, None)
    loss, grads = _fused(x, target, params, torch.float32, torch.bfloat16)
    naive_loss, naive = _per_node_bf16(x, target, params)
    assert abs(loss.item() - loss64.item()) <= 1e-2 * abs(loss64.item())
    assert abs(naive_loss.item() - loss64.item()) <= 1e-2 * abs(loss64.item())
    for g, n, ref in zip(grads, naive, grads64, strict=True):
        assert g.dtype == torch.float32  # master gradients in the parameters' dtype
        # as close to float64 as the per-node bfloat16 network is (sums over rows cancel, so
        # a gradient's relative error can exceed bfloat16's 2^-8 for both)
        assert _relative(g, ref) <= 1.5 * _relative(n, ref) + 5e-3
    for g, ref in zip(grads[-2:], grads64[-2:], strict=True):  # the head's products are float32
        assert _relative(g, ref) <= 1e-2


def test_bfloat16_products_change_the_result_and_float32_is_the_plain_path():
    x, target, params = _net(0)
    plain, plain_grads = _fused(x, target, params, torch.float32, None)
    same, same_grads = _fused(x, target, params, torch.float32, torch.float32)
    low, _ = _fused(x, target, params, torch.float32, torch.bfloat16)
    assert torch.equal(plain, same)  # matmul_dtype = x's dtype is the float32 path, op for op
    for a, b in zip(plain_grads, same_grads, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(plain, low)  # the bfloat16 products did run


def test_a_non_floating_matmul_dtype_is_refused():
    x, target, params = _net(0)
    w1, w2, b1, b2, head_w, head_b = (t.float() for t in params)
    with pytest.raises(ValueError, match="matmul_dtype must be a floating-point dtype"):
        dense_cross_entropy(
            x.float(), target, [w1, w2], [b1, b2], head_w, head_b, RATES, matmul_dtype=torch.int8
        )
