"""The Dense block (catalogue A1): BatchNorm statistics, eval mode, parameter count."""

import itertools

import pytest
import torch

from headkit.nn import DenseStack


def _pre_activation(stack, x):
    """Capture each block's BatchNorm (input, output) with forward hooks."""
    seen = []
    hooks = [
        b.norm.register_forward_hook(lambda m, i, o: seen.append((i[0], o))) for b in stack.blocks
    ]
    stack(x)
    for h in hooks:
        h.remove()
    return seen


def test_batchnorm_train_mode_normalises_each_feature():
    torch.manual_seed(0)
    stack = DenseStack(6, (16, 8), norm="batch", dropout=0.0).train()
    x = 5.0 + 3.0 * torch.randn(512, 6, dtype=torch.float64)
    stack.double()
    for (z, out), block in zip(_pre_activation(stack, x), stack.blocks, strict=True):
        # γ = 1, β = 0 at init, so the BN output is the pre-affine normalised value.
        assert torch.equal(block.norm.weight, torch.ones_like(block.norm.weight))
        torch.testing.assert_close(out.mean(0), torch.zeros(out.shape[1], dtype=out.dtype))
        # BN divides by sqrt(biased variance + eps): the output variance is v / (v + eps) ≈ 1.
        v = z.var(0, unbiased=False)
        var = out.var(0, unbiased=False)
        torch.testing.assert_close(var, v / (v + block.norm.eps))
        torch.testing.assert_close(var, torch.ones_like(var), atol=2e-3, rtol=0)


def test_batchnorm_eval_uses_running_statistics():
    torch.manual_seed(0)
    stack = DenseStack(4, (5,), norm="batch", dropout=0.0).double()
    block = stack.blocks[0]
    batches = [2.0 + torch.randn(64, 4, dtype=torch.float64) for _ in range(3)]
    mean = torch.zeros(5, dtype=torch.float64)
    var = torch.ones(5, dtype=torch.float64)
    stack.train()
    for xb in batches:
        with torch.no_grad():
            z = block.linear(xb)
        mean = 0.9 * mean + 0.1 * z.mean(0)  # momentum 0.1, unbiased running variance
        var = 0.9 * var + 0.1 * z.var(0, unbiased=True)
        stack(xb)
    torch.testing.assert_close(block.norm.running_mean, mean)
    torch.testing.assert_close(block.norm.running_var, var)
    stack.eval()
    x = torch.randn(7, 4, dtype=torch.float64)
    with torch.no_grad():
        expected = torch.relu((block.linear(x) - mean) / torch.sqrt(var + block.norm.eps))
        torch.testing.assert_close(stack(x), expected)
        # eval is deterministic and row-independent: one row alone gives the same output
        torch.testing.assert_close(stack(x), stack(x), rtol=0, atol=0)
        torch.testing.assert_close(stack(x[:1]), stack(x)[:1])


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_parameter_count_matches_hand_count(norm):
    widths = [13, 32, 16, 5]
    stack = DenseStack(widths[0], tuple(widths[1:]), norm=norm)
    affine = 0 if norm is None else 2  # γ and β per output unit
    hand = sum(d_in * d_out + d_out + affine * d_out for d_in, d_out in itertools.pairwise(widths))
    assert sum(p.numel() for p in stack.parameters()) == hand
    if norm == "batch":  # running mean/var are buffers, not parameters
        assert sum(b.numel() for b in stack.buffers()) == 2 * sum(widths[1:]) + len(widths) - 1
