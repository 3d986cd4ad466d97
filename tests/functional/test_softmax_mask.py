"""Softmax with temperature and masks (catalogue C1): naive reference, invariances, limits."""

import math

import pytest
import torch

from headkit import functional as F
from headkit.exceptions import DataError
from headkit.nn import OUTPUTS


def naive_masked_softmax(x, mask, temperature=1.0):
    """Row by row: exponentiate the kept entries only (Python floats), zeros elsewhere."""
    out = torch.zeros_like(x, dtype=torch.float64)
    for i in range(x.shape[0]):
        kept = [j for j in range(x.shape[1]) if mask[i, j]]
        if not kept:
            continue
        top = max(x[i, j].item() / temperature for j in kept)
        e = {j: math.exp(x[i, j].item() / temperature - top) for j in kept}
        total = sum(e.values())
        for j in kept:
            out[i, j] = e[j] / total
    return out


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_masked_softmax_matches_naive_reference(temperature):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 7, generator=g, dtype=torch.float64) * 4
    mask = torch.rand(6, 7, generator=g) > 0.4
    mask[0] = False  # a fully masked row gives zeros, not NaN
    mask[1] = True
    p = F.softmax(x, temperature=temperature, mask=mask)
    torch.testing.assert_close(p, naive_masked_softmax(x, mask, temperature))
    assert torch.equal(p[~mask], torch.zeros_like(p[~mask]))
    logp = F.log_softmax(x, temperature=temperature, mask=mask)
    assert torch.isneginf(logp[~mask]).all()
    torch.testing.assert_close(logp[mask].exp(), p[mask])


def test_mask_broadcasts_honours_dim_and_has_finite_gradients():
    x = torch.randn(4, 5, 3, dtype=torch.float64, requires_grad=True)
    keep = torch.tensor([True, False, True, True, False]).view(5, 1)  # classes on dim 1
    p = F.softmax(x, dim=1, mask=keep)
    ref = naive_masked_softmax(
        x.detach().transpose(1, 2).reshape(-1, 5), keep.view(1, 5).expand(12, 5)
    )
    torch.testing.assert_close(p.transpose(1, 2).reshape(-1, 5), ref)
    none = torch.zeros(5, 1, dtype=torch.bool)
    (F.softmax(x, dim=1, mask=none).sum() + p[:, 0].sum()).backward()
    assert torch.isfinite(x.grad).all() and (x.grad[:, 1] == 0).all()
    assert torch.autograd.gradcheck(
        lambda z: F.softmax(z, dim=1, mask=keep), (x.detach().requires_grad_(),)
    )


def test_bad_masks_fail_with_a_sentence():
    x = torch.randn(2, 3)
    with pytest.raises(DataError, match="boolean"):
        F.softmax(x, mask=torch.ones(2, 3))
    with pytest.raises(DataError, match="does not broadcast"):
        F.softmax(x, mask=torch.ones(2, 4, dtype=torch.bool))


@pytest.mark.parametrize("shift", [-1e3, 7.5, 1e4])
def test_shift_invariance(shift):
    x = torch.randn(5, 9, dtype=torch.float64)
    mask = torch.rand(5, 9) > 0.3
    torch.testing.assert_close(F.softmax(x + shift, mask=mask), F.softmax(x, mask=mask))
    torch.testing.assert_close(F.log_softmax(x + shift), F.log_softmax(x))


def test_temperature_limits():
    x = torch.randn(8, 6, dtype=torch.float64)
    mask = torch.ones(8, 6, dtype=torch.bool)
    mask[:, 2] = False
    cold = F.softmax(x, temperature=1e-4, mask=mask)
    best = x.masked_fill(~mask, -math.inf).argmax(1)
    torch.testing.assert_close(cold, torch.nn.functional.one_hot(best, 6).double())
    hot = F.softmax(x, temperature=1e6, mask=mask)
    torch.testing.assert_close(hot, mask.double() / 5, atol=1e-6, rtol=0)


def test_softmax_output_module_takes_a_mask():
    out = OUTPUTS.build("softmax:temperature=2")
    x = torch.randn(3, 4)
    mask = torch.tensor([True, True, False, True])
    torch.testing.assert_close(out(x, mask), F.softmax(x, temperature=2.0, mask=mask))
    torch.testing.assert_close(out.log_prob(x, mask).exp(), out(x, mask))
