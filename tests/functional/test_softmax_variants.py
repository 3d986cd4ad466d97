"""Softmax₁ (catalogue C6) and entropy-adaptive temperature (catalogue C10)."""

import math

import numpy as np
import pytest
import torch

from headkit import functional as F
from headkit.nn import OUTPUTS


def test_softmax1_is_the_first_k_entries_of_softmax_with_a_zero_slot():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(5, 7, generator=g, dtype=torch.float64) * 4
    full = torch.softmax(torch.cat([z, torch.zeros(5, 1, dtype=z.dtype)], -1), -1)
    torch.testing.assert_close(F.softmax1(z), full[:, :7])
    torch.testing.assert_close(F.none_mass(z), full[:, 7])
    assert (F.softmax1(z).sum(-1) < 1).all()
    # another dim, and large logits stay finite (shift by max(max z, 0))
    torch.testing.assert_close(F.softmax1(z.T, dim=0), full[:, :7].T)
    big = torch.tensor([[1000.0, 999.0]])
    assert torch.isfinite(F.log_softmax1(big)).all()
    torch.testing.assert_close(F.softmax1(big), torch.softmax(big, -1), atol=1e-6, rtol=0)


def test_softmax1_mass_vanishes_as_logits_fall_and_is_not_shift_invariant():
    z = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    sums = [float(F.softmax1(z - c).sum()) for c in (0, 5, 20, 200)]
    assert sums == sorted(sums, reverse=True) and sums[-1] < 1e-80
    assert not torch.allclose(F.softmax1(z), F.softmax1(z + 1.0))  # documented: not invariant
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(F.log_softmax1, (x,))


def _entropy(p):
    return -(p * p.clamp_min(1e-300).log()).sum(-1)


def test_adaptive_temperature_leaves_confident_rows_and_never_raises_entropy():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(400, 10, generator=g, dtype=torch.float64) * torch.rand(400, 1, generator=g) * 6
    p, q = torch.softmax(z, -1), F.adaptive_temperature_softmax(z)
    h = _entropy(p)
    low = h <= 0.5
    assert low.any() and (~low).any()
    torch.testing.assert_close(q[low], p[low])  # unchanged
    assert (_entropy(q) <= h + 1e-12).all()
    assert (q.argmax(-1) == p.argmax(-1)).all()
    beta = F.adaptive_beta(z).squeeze(-1)
    assert (beta >= 1).all()
    poly = np.polyval([-0.037, 0.481, -2.3, 4.917, -1.791], h.numpy())
    np.testing.assert_allclose(beta.numpy(), np.where(h.numpy() > 0.5, np.maximum(poly, 1), 1))


def test_dispersion_with_a_fixed_gap_and_adaptive_sharpening():
    """With a fixed logit gap the top softmax probability → 0 as the number of items grows; the
    adaptive β raises it while the entropy is within the fit's range (H ≲ 6 nats), and leaves
    near-uniform rows over 10,000 items as they are (the polynomial is below 1 there)."""
    tops, sharp = [], []
    for n in (10, 100, 1000, 10000):
        z = torch.zeros(1, n, dtype=torch.float64)
        z[0, 0] = 2.0
        tops.append(float(torch.softmax(z, -1).max()))
        sharp.append(float(F.adaptive_temperature_softmax(z).max()))
    assert tops == sorted(tops, reverse=True) and tops[-1] < 1e-3
    assert sharp[0] > tops[0] + 0.1 and sharp[1] > 2 * tops[1] and sharp[-1] == tops[-1]
    assert tops[-1] == pytest.approx(math.e**2 / (math.e**2 + 9999))


def test_output_maps_by_name():
    z = torch.randn(6, 4)
    one = OUTPUTS.build("softmax1")
    torch.testing.assert_close(one(z), F.softmax1(z))
    torch.testing.assert_close(one.none_mass(z), 1 - one(z).sum(-1))
    adaptive = OUTPUTS.build("adaptive_temperature")
    torch.testing.assert_close(adaptive.train()(z), torch.softmax(z, -1))
    torch.testing.assert_close(adaptive.eval()(z), F.adaptive_temperature_softmax(z))
    torch.testing.assert_close(adaptive.log_prob(z).exp(), adaptive(z))
