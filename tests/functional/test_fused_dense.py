"""linear_relu_dropout against the eager composition dropout(relu(linear(x)))."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as TF

from headkit.functional import dropout
from headkit.functional.fused_dense import linear_relu_dropout
from headkit.nn.dense import DenseStack


def _inputs(dtype=torch.float64, shape=(7, 5, 6), out=4):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(out, shape[-1], generator=g, dtype=dtype, requires_grad=True)
    b = torch.randn(out, generator=g, dtype=dtype, requires_grad=True)
    mask = (torch.rand(*shape[:-1], out, generator=g) > 0.3).to(dtype)
    return x, w, b, mask


@pytest.mark.parametrize("p", [0.0, 0.3])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_eager_composition_and_gradients(p, bias):
    x, w, b, mask = _inputs()
    b = b if bias else None
    ref = dropout(TF.relu(TF.linear(x, w, b)), p, mask=mask)
    out = linear_relu_dropout(x, w, b, p, mask=mask)
    torch.testing.assert_close(out, ref)
    inputs = [t for t in (x, w, b) if t is not None]
    g_ref = torch.autograd.grad(ref.square().sum(), inputs)
    g_out = torch.autograd.grad(out.square().sum(), inputs)
    for a, r in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, r)


def test_gradcheck_float64():
    x, w, b, mask = _inputs(shape=(4, 3), out=5)
    fn = lambda x, w, b: linear_relu_dropout(x, w, b, 0.4, mask=mask[:, :5])  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_random_mask_drops_the_same_elements_as_dropout():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(64, 8, generator=g), torch.randn(32, 8, generator=g), torch.randn(32)
    torch.manual_seed(3)
    ref = dropout(TF.relu(TF.linear(x, w, b)), 0.25)
    torch.manual_seed(3)
    out = linear_relu_dropout(x, w, b, 0.25)
    assert torch.equal(out == 0, ref == 0)
    torch.testing.assert_close(out, ref)


def test_eval_mode_and_zero_rate_are_plain_relu():
    x, w, b, _ = _inputs(torch.float32, (10, 6), 4)
    ref = TF.relu(TF.linear(x, w, b))
    torch.testing.assert_close(linear_relu_dropout(x, w, b, 0.5, training=False), ref)
    torch.testing.assert_close(linear_relu_dropout(x, w, b, 0.0), ref)


def test_dense_stack_fused_path_equals_unfused_path():
    torch.manual_seed(0)
    stack = DenseStack(6, (16, 16), dropout=0.3).train()
    x = torch.randn(20, 6)
    torch.manual_seed(5)
    fused = stack(x)
    fused.sum().backward()
    g_fused = [p.grad.clone() for p in stack.parameters()]
    stack.zero_grad()
    handle = stack.blocks[0].linear.register_forward_hook(lambda *a: None)  # disables fusion
    for block in stack.blocks[1:]:
        block.linear.register_forward_hook(lambda *a: None)
    assert not any(block._fusable() for block in stack.blocks)
    torch.manual_seed(5)
    eager = stack(x)
    eager.sum().backward()
    handle.remove()
    torch.testing.assert_close(fused, eager)
    for a, r in zip(g_fused, [p.grad for p in stack.parameters()], strict=True):
        torch.testing.assert_close(a, r)
