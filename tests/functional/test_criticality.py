import math

import pytest
import torch

from headkit import functional as F
from headkit.exceptions import ConfigError


def _mean_sq_preactivations(c_w, c_b, activation, depth=20, width=512, networks=32):
    """Naive forward through `depth` random layers; K_l = mean z_l² per layer.

    Averaged over independent networks: one network's K_l drifts by a random walk whose spread
    grows with depth/width (the finite-width effect the aspect ratio measures), while the
    expectation follows the infinite-width recursion K_{l+1} = C_b + C_W·E[σ(z)²].
    """
    g = torch.Generator().manual_seed(0)
    act = {"relu": torch.relu, "tanh": torch.tanh}[activation]
    totals = torch.zeros(depth, dtype=torch.float64)
    for _ in range(networks):
        h = torch.randn(32, width, generator=g, dtype=torch.float64)
        for layer in range(depth):
            w = torch.empty(width, width, dtype=torch.float64)
            b = torch.empty(width, dtype=torch.float64)
            F.critical_normal_(w, b, c_w, c_b, generator=g)
            z = h @ w.T + b
            totals[layer] += z.pow(2).mean()
            h = act(z)
    return (totals / networks).tolist()


def test_critical_relu_keeps_preactivation_scale_over_20_layers():
    c_b, c_w = F.critical_constants("relu")
    assert (c_b, c_w) == (0.0, 2.0)
    ks = _mean_sq_preactivations(c_w, c_b, "relu")
    assert all(abs(k / ks[0] - 1) < 0.2 for k in ks)


def test_off_critical_relu_decays_like_two_to_the_minus_depth():
    ks = _mean_sq_preactivations(1.0, 0.0, "relu")
    # K_{l+1} = C_W/2 · K_l: the recursion the theory gives, 2^-l relative to the first layer.
    for layer, k in enumerate(ks):
        assert k / ks[0] == pytest.approx(2.0**-layer, rel=0.3)


def test_critical_tanh_and_leaky_relu_constants():
    assert F.critical_constants("tanh") == (0.0, 1.0)
    assert F.critical_constants("leaky_relu", 0.5)[1] == pytest.approx(2 / 1.25)
    with pytest.raises(ConfigError, match="c_w"):
        F.critical_constants("gelu")


def test_critical_normal_variances_match_formula():
    g = torch.Generator().manual_seed(1)
    w = torch.empty(400, 300, dtype=torch.float64)
    b = torch.empty(400, dtype=torch.float64)
    F.critical_normal_(w, b, c_w=2.0, c_b=0.5, generator=g)
    assert float(w.var()) == pytest.approx(2.0 / 300, rel=0.02)
    assert float(b.var()) == pytest.approx(0.5, rel=0.2)


def test_aspect_ratio_is_depth_over_width_for_equal_widths():
    assert F.aspect_ratio([64] * 8) == pytest.approx(8 / 64)
    assert F.aspect_ratio([10, 20]) == pytest.approx(0.1 + 0.05)


@pytest.mark.parametrize("alpha", [1.0, 1 / math.sqrt(20), 0.0])
def test_residual_variance_growth_matches_one_plus_alpha_squared_to_the_depth(alpha):
    g = torch.Generator().manual_seed(2)
    depth, width = 20, 1024
    h0 = torch.randn(128, width, generator=g, dtype=torch.float64)
    h = h0
    for _ in range(depth):
        w = torch.randn(width, width, generator=g, dtype=torch.float64) / math.sqrt(width)
        h = F.residual_add(h, h @ w.T, alpha)  # an independent branch of the input's variance
    ratio = float(h.var() / h0.var())
    assert ratio == pytest.approx(F.residual_variance_gain(alpha, depth), rel=0.15)
    if alpha <= 1 / math.sqrt(depth) + 1e-12:
        assert ratio <= math.e * 1.05
