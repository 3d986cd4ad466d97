import itertools
import math

import pytest
import torch

import headkit.functional as F
from headkit.exceptions import DataError


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


def naive_softmax(x, dim):
    e = torch.exp(x - x.max(dim=dim, keepdim=True).values)
    return e / e.sum(dim=dim, keepdim=True)


DENSE_MAPS = {
    "softmax": lambda x, dim: F.softmax(x, dim=dim),
    "softmax_T": lambda x, dim: F.softmax(x, dim=dim, temperature=0.5),
    "ssmax": lambda x, dim: F.scalable_softmax(x, s=0.7, dim=dim),
    "power": lambda x, dim: F.power_softmax(x, p=2.0, dim=dim),
    "gumbel": lambda x, dim: F.gumbel_softmax(
        x, tau=0.5, dim=dim, generator=torch.Generator().manual_seed(1)
    ),
}


@pytest.mark.parametrize("name", DENSE_MAPS)
@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_dense_maps_sum_to_one_along_any_dim(name, dim):
    x = torch.randn(3, 4, 5, dtype=torch.float64)
    p = DENSE_MAPS[name](x, dim)
    assert p.shape == x.shape
    assert torch.allclose(p.sum(dim), torch.ones((), dtype=p.dtype), atol=1e-12)
    assert (p >= 0).all()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_matches_naive_reference_and_temperature(dim):
    x = torch.randn(4, 6, dtype=torch.float64)
    assert torch.allclose(F.softmax(x, dim=dim), naive_softmax(x, dim))
    assert torch.allclose(F.softmax(x, dim=dim, temperature=2.0), naive_softmax(x / 2, dim))
    assert torch.allclose(F.log_softmax(x, dim=dim), naive_softmax(x, dim).log())
    assert not torch.allclose(F.softmax(x, dim=dim, temperature=2.0), F.softmax(x, dim=dim))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_softmax_is_finite_at_extreme_logits(dtype):
    x = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]).to(dtype)
    for p in (F.softmax(x), F.scalable_softmax(x), F.power_softmax(x), F.gumbel_softmax(x)):
        assert p.dtype == dtype
        assert torch.isfinite(p).all()
        assert torch.allclose(p.float().sum(-1), torch.ones(2), atol=1e-2)
    assert torch.isfinite(F.log_softmax(x)).all()
    assert F.softmax(x)[0, 0] == 1


@pytest.mark.parametrize(
    "fn",
    [
        F.softmax,
        F.log_softmax,
        F.scalable_softmax,
        F.power_softmax,
        F.gumbel_softmax,
        F.sigmoid,
        F.sparsemax,
        F.entmax15,
        F.entmax_bisect,
    ],
)
def test_empty_class_dimension_is_rejected(fn):
    with pytest.raises(DataError, match="empty"):
        fn(torch.zeros(3, 0))
    with pytest.raises(DataError, match="out of range"):
        fn(torch.zeros(3, 2), dim=2)


def test_gradcheck_dense_maps():
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: F.softmax(z, dim=0, temperature=0.7), (x,))
    assert torch.autograd.gradcheck(lambda z, s: F.scalable_softmax(z, s, dim=1), (x, s))
    assert torch.autograd.gradcheck(lambda z: F.power_softmax(z, p=3.0, dim=0), (x,))
    assert torch.autograd.gradcheck(lambda z: F.sigmoid(z), (x,))

    def gumbel(z):
        return F.gumbel_softmax(z, tau=0.7, generator=torch.Generator().manual_seed(3))

    assert torch.autograd.gradcheck(gumbel, (x,))


def test_gumbel_softmax_matches_formula_and_hard_is_straight_through():
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    soft = F.gumbel_softmax(x, tau=0.5, generator=torch.Generator().manual_seed(7))
    noise = -torch.empty_like(x).exponential_(generator=torch.Generator().manual_seed(7)).log()
    assert torch.allclose(soft, naive_softmax((x + noise) / 0.5, -1))
    hard = F.gumbel_softmax(x, tau=0.5, hard=True, generator=torch.Generator().manual_seed(7))
    assert torch.equal(hard, torch.nn.functional.one_hot(soft.argmax(-1), 6).double())
    w = torch.randn(4, 6, dtype=torch.float64)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), x)
    (g_soft,) = torch.autograd.grad((soft * w).sum(), x)
    assert torch.allclose(g_hard, g_soft)


def test_gumbel_max_frequencies_follow_softmax():
    logits = torch.tensor([1.0, 0.0, -1.0, 0.5])
    gen = torch.Generator().manual_seed(0)
    n = 20000
    samples = F.gumbel_softmax(logits.expand(n, 4), tau=0.1, hard=True, generator=gen)
    freq = samples.mean(0)
    p = torch.softmax(logits, -1)
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() < 4 * se).all()


def test_gumbel_low_tau_concentrates():
    x = torch.randn(200, 5)
    gen = torch.Generator().manual_seed(0)
    sharp = F.gumbel_softmax(x, tau=0.05, generator=gen).max(-1).values.mean()
    flat = F.gumbel_softmax(x, tau=5.0, generator=gen).max(-1).values.mean()
    assert sharp > 0.95 > 0.5 > flat


def test_ssmax_equals_scaled_softmax_and_max_probability_does_not_fade():
    x = torch.randn(3, 7, dtype=torch.float64)
    assert torch.allclose(F.scalable_softmax(x, s=0.5), naive_softmax(0.5 * math.log(7) * x, -1))
    assert torch.allclose(
        F.scalable_softmax(x, s=0.5, n=100), naive_softmax(0.5 * math.log(100) * x, -1)
    )
    assert torch.allclose(F.log_scalable_softmax(x, 0.5), F.scalable_softmax(x, 0.5).log())
    soft_max, ss_max = [], []
    for n in [10, 100, 1000, 10000, 100000]:
        z = torch.zeros(n, dtype=torch.float64)
        z[0] = 2.0  # s·gap = 2 > 1
        soft_max.append(F.softmax(z)[0].item())
        ss_max.append(F.scalable_softmax(z, s=1.0)[0].item())
        expected = 1 / (1 + (n - 1) * n ** (-2.0))
        assert ss_max[-1] == pytest.approx(expected)
    assert soft_max[-1] < 1e-3 < 0.5 < min(ss_max)
    assert all(a > b for a, b in itertools.pairwise(soft_max))
    assert all(b >= a for a, b in itertools.pairwise(ss_max))


def test_power_softmax_polynomial_form_and_scale_invariance():
    x = torch.randn(4, 5, dtype=torch.float64)
    p = F.power_softmax(x, p=2.0, eps=0.0)
    assert torch.allclose(p, x**2 / (x**2).sum(-1, keepdim=True))
    assert torch.allclose(F.power_softmax(-3.0 * x, p=2.0, eps=0.0), p)
    assert torch.allclose(F.power_softmax(x, p=4.0, eps=0.0), x**4 / (x**4).sum(-1, keepdim=True))
    assert not torch.allclose(F.power_softmax(x + 1.0, eps=0.0), p)  # not shift invariant
    assert not torch.allclose(F.power_softmax(x, eps=0.5), p)
    assert (F.power_softmax(torch.zeros(2, 3)) > 0).all()


def test_sigmoid_is_independent_per_class():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    p = F.sigmoid(x)
    assert torch.allclose(p, 1 / (1 + torch.exp(-x)))
    jac = torch.autograd.functional.jacobian(lambda z: F.sigmoid(z)[0], x)[:, 0, :]
    assert torch.allclose(jac, torch.diag(jac.diagonal()))


def test_power_softmax_gives_a_masked_class_probability_zero():
    x = torch.tensor([[3.0, -2.0, float("-inf"), 0.5]], dtype=torch.float64)
    p = F.power_softmax(x, p=2.0, eps=0.0)
    kept = torch.tensor([3.0, -2.0, 0.5], dtype=torch.float64) ** 2
    assert p[0, 2] == 0
    torch.testing.assert_close(p[0, [0, 1, 3]], kept / kept.sum())
