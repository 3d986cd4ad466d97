import entmax
import pytest
import torch

import headkit.functional as F


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


def projection_reference(z):
    """Sparsemax by the textbook loop: the projection onto the simplex (Held et al. 1974)."""
    out = torch.empty_like(z)
    for i, row in enumerate(z):
        srt = sorted(row.tolist(), reverse=True)
        cumulative, tau = 0.0, 0.0
        for j, v in enumerate(srt, start=1):
            cumulative += v
            if v - (cumulative - 1) / j > 0:
                tau = (cumulative - 1) / j
        out[i] = torch.clamp(row - tau, min=0)
    return out


def entmax15_reference(z, iters=200):
    """1.5-entmax as p = [z/2 - τ]_+² with τ found by plain bisection (written differently)."""
    out = torch.empty_like(z)
    for i, row in enumerate(z / 2):
        lo, hi = row.max().item() - 1.0, row.max().item()
        for _ in range(iters):
            mid = (lo + hi) / 2
            total = (torch.clamp(row - mid, min=0) ** 2).sum().item()
            lo, hi = (mid, hi) if total > 1 else (lo, mid)
        p = torch.clamp(row - lo, min=0) ** 2
        out[i] = p / p.sum()
    return out


SPARSE = {
    "sparsemax": (F.sparsemax, entmax.sparsemax),
    "entmax15": (F.entmax15, entmax.entmax15),
    "bisect13": (
        lambda x, dim: F.entmax_bisect(x, 1.3, dim=dim),
        lambda x, dim: entmax.entmax_bisect(x, 1.3, dim=dim),
    ),
    "bisect17": (
        lambda x, dim: F.entmax_bisect(x, 1.7, dim=dim),
        lambda x, dim: entmax.entmax_bisect(x, 1.7, dim=dim),
    ),
}


@pytest.mark.parametrize("name", SPARSE)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sparse_maps_agree_with_entmax_package_values_and_gradients(name, dim, dtype):
    ours, ref = SPARSE[name]
    x = (2 * torch.randn(3, 5, 7)).to(dtype)
    xa = x.clone().requires_grad_(True)
    xb = x.clone().requires_grad_(True)
    pa, pb = ours(xa, dim=dim), ref(xb, dim=dim)
    assert torch.allclose(pa, pb, atol=1e-5, rtol=0)
    w = torch.randn_like(x)
    (ga,) = torch.autograd.grad((pa * w).sum(), xa)
    (gb,) = torch.autograd.grad((pb * w).sum(), xb)
    assert torch.allclose(ga, gb, atol=1e-5, rtol=0)
    assert torch.allclose(pa.sum(dim), torch.ones((), dtype=dtype), atol=1e-5)
    assert (pa == 0).any()  # exact zeros


def test_learnable_alpha_gradient_agrees_with_entmax_package():
    x = torch.randn(6, 8, dtype=torch.float64)
    a1 = torch.full((6, 1), 1.4, dtype=torch.float64, requires_grad=True)
    a2 = a1.detach().clone().requires_grad_(True)
    w = torch.randn(6, 8, dtype=torch.float64)
    (ga,) = torch.autograd.grad((F.entmax_bisect(x, a1) * w).sum(), a1)
    (gb,) = torch.autograd.grad((entmax.entmax_bisect(x, a2) * w).sum(), a2)
    assert torch.allclose(ga, gb, atol=1e-8)
    scalar = torch.tensor(1.6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z, a: F.entmax_bisect(z, a, dim=0), (x, scalar))


def test_sparsemax_is_the_simplex_projection_and_entmax15_matches_bisection():
    x = 3 * torch.randn(8, 6, dtype=torch.float64)
    assert torch.allclose(F.sparsemax(x), projection_reference(x), atol=1e-12)
    assert torch.allclose(F.entmax15(x), entmax15_reference(x), atol=1e-10)
    assert torch.allclose(F.entmax_bisect(x, 1.5), F.entmax15(x), atol=1e-10)


def test_alpha_limits_recover_softmax_and_sparsemax():
    x = torch.randn(4, 6, dtype=torch.float64)
    assert torch.equal(F.entmax_bisect(x, 1.0), torch.softmax(x, -1))
    assert torch.allclose(F.entmax_bisect(x, 1.0001), torch.softmax(x, -1), atol=1e-3)
    assert torch.allclose(F.entmax_bisect(x, 2.0), F.sparsemax(x), atol=1e-10)
    alpha = torch.tensor([[1.0], [2.0], [1.5], [1.0]], dtype=torch.float64)
    mixed = F.entmax_bisect(x, alpha)
    assert torch.allclose(mixed[0], torch.softmax(x[0], -1))
    assert torch.allclose(mixed[1], F.sparsemax(x[1:2])[0], atol=1e-10)
    assert torch.allclose(mixed[2], F.entmax15(x[2:3])[0], atol=1e-10)


def test_sparsity_grows_with_alpha_and_shift_invariance():
    x = torch.randn(50, 10, dtype=torch.float64)
    zeros = [(F.entmax_bisect(x, a) == 0).double().mean().item() for a in (1.2, 1.5, 2.0)]
    assert zeros[0] < zeros[1] < zeros[2]
    for fn in (F.sparsemax, F.entmax15):
        assert torch.allclose(fn(x + 3.7), fn(x), atol=1e-12)


@pytest.mark.parametrize("fn", [F.sparsemax, F.entmax15, lambda z: F.entmax_bisect(z, 1.25)])
def test_gradcheck_sparse_maps(fn):
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fn, (x,))


@pytest.mark.parametrize("fn", [F.sparsemax, F.entmax15, lambda z: F.entmax_bisect(z, 1.25)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_sparse_maps_extreme_logits(fn, dtype):
    x = torch.tensor([[1e4, -1e4, 0.0, 3.0], [-1e4, -1e4, -1e4, -1e4], [0.0, 0.0, 0.0, 0.0]])
    x = x.to(dtype).requires_grad_(True)
    p = fn(x)
    assert p.dtype == dtype and torch.isfinite(p).all()
    assert torch.allclose(p.float().sum(-1), torch.ones(3), atol=1e-2)
    assert p[0, 0] == 1 and torch.allclose(p[2].float(), torch.full((4,), 0.25), atol=1e-2)
    p.float().pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_bisect_validates_alpha_and_iterations():
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="alpha"):
        F.entmax_bisect(x, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        F.entmax_bisect(x, torch.tensor(0.9))
    with pytest.raises(ValueError, match="n_iter"):
        F.entmax_bisect(x, 1.5, n_iter=0)
    with pytest.raises(ValueError, match="broadcast"):
        F.entmax_bisect(x, torch.ones(3, 1) * 1.5)
    coarse = F.entmax_bisect(x.double(), 1.5, n_iter=3)
    assert not torch.allclose(coarse, F.entmax_bisect(x.double(), 1.5), atol=1e-6)
