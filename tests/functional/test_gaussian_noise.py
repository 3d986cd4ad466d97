"""Gaussian noise injection, additive h + σε and multiplicative h ⊙ (1 + σε) (catalogue B4).

The defining property: the mean is kept, and the empirical variance equals σ² (additive) or
σ²h² (multiplicative, σ² = p/(1−p)) within a confidence interval, at several values of h.
"""

import math

import pytest
import torch

from headkit import functional as F
from headkit.nn import DROPOUTS, GaussianNoise

H = torch.tensor([-3.0, -0.5, 0.0, 0.25, 1.0, 2.0, 5.0])
N = 200_000


def _moments(sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return sample.double().mean(0), sample.double().var(0)


def _within_ci(observed, expected, sd, z=5.0):
    """|observed − expected| <= z·sd elementwise (sd: the estimator's standard error)."""
    return bool(((observed - expected).abs() <= z * sd + 1e-12).all())


@pytest.mark.parametrize("sigma", [0.1, 0.7, 2.0])
def test_additive_noise_keeps_the_mean_and_has_variance_sigma_squared_at_every_h(sigma):
    torch.manual_seed(0)
    x = H.expand(N, -1).contiguous()
    mean, var = _moments(F.gaussian_noise(x, sigma))
    h = H.double()
    assert _within_ci(mean, h, torch.full_like(h, sigma / math.sqrt(N)))
    # Var of a normal sample variance: 2σ⁴/(N−1)
    expected = torch.full_like(h, sigma**2)
    assert _within_ci(var, expected, expected * math.sqrt(2 / (N - 1)))


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_multiplicative_noise_has_variance_sigma_squared_h_squared(p):
    torch.manual_seed(1)
    x = H.expand(N, -1).contiguous()
    mean, var = _moments(F.gaussian_dropout(x, p))
    h, s2 = H.double(), p / (1 - p)
    assert _within_ci(mean, h, (s2 * h**2 / N).sqrt())
    expected = s2 * h**2
    assert _within_ci(var, expected, expected * math.sqrt(2 / (N - 1)))
    assert var[H == 0].item() == 0.0  # multiplicative noise leaves zeros at zero


def test_the_two_forms_differ_where_the_catalogue_says():
    """At h = 0 only additive noise moves the value; at large h multiplicative noise dominates."""
    torch.manual_seed(2)
    x = H.expand(N, -1).contiguous()
    add = F.gaussian_noise(x, 1.0).var(0)
    mul = F.gaussian_dropout(x, 0.5).var(0)  # σ² = 1
    assert add[2] > 0.9 and mul[2] == 0
    assert mul[-1] > 20 * add[-1]


def test_explicit_noise_gradcheck_eval_identity_and_dtype():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(4, 3, dtype=torch.float64)
    torch.testing.assert_close(F.gaussian_noise(x, 0.3, noise=eps), x + 0.3 * eps)
    assert torch.autograd.gradcheck(lambda t: F.gaussian_noise(t, 0.3, noise=eps), (x,))
    assert F.gaussian_noise(x, 0.3, training=False) is x
    assert F.gaussian_noise(x, 0.0) is x
    assert F.gaussian_noise(x.detach().bfloat16(), 0.3).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="sigma"):
        F.gaussian_noise(x, -1.0)


def test_module_and_plan_by_name():
    module = GaussianNoise(0.5)
    x = torch.ones(1000, 8)
    assert (module.eval()(x) == x).all()
    assert module.train()(x).std() > 0.3
    plan = DROPOUTS.build("gaussian_noise:sigma=0.25")
    assert isinstance(plan.hidden(8), GaussianNoise) and plan.hidden(8).sigma == 0.25
    assert isinstance(plan.final(8), GaussianNoise)
    assert isinstance(DROPOUTS.build("gaussian_noise:sigma=0").hidden(8), torch.nn.Identity)
