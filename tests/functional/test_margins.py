import math

import pytest
import torch
from pytorch_metric_learning import losses as pml

import headkit.functional as F
from headkit.exceptions import ConfigError
from headkit.nn.heads import HEADS


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


N, D, C = 12, 16, 7


def pml_oracle(name):
    if name == "arcface":
        return pml.ArcFaceLoss(C, D, margin=math.degrees(0.5), scale=30.0)
    if name == "cosface":
        return pml.CosFaceLoss(C, D, margin=0.35, scale=30.0)
    return pml.SphereFaceLoss(C, D, margin=4, scale=1.0)


HEAD_SPECS = {
    "arcface": "arcface:s=30,m=0.5",
    "cosface": "cosface:s=30,m=0.35",
    # λ pinned at 0 (pml has no annealing)
    "sphereface": "sphereface:m=4,s=1,lambda_max=0,lambda_min=0",
}


@pytest.mark.parametrize("name", HEAD_SPECS)
def test_margin_heads_agree_with_pytorch_metric_learning(name):
    oracle = pml_oracle(name).double()
    head = HEADS.build(HEAD_SPECS[name], in_features=D, n_classes=C).double().train()
    with torch.no_grad():
        head.weight.copy_(oracle.W.t())
    x1 = torch.randn(N, D, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    y = torch.randint(0, C, (N,))
    ours = torch.nn.functional.cross_entropy(head(x1, y), y)
    ref = oracle(x2, y)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-5)
    g_ours = torch.autograd.grad(ours, [x1, head.weight])
    g_ref = torch.autograd.grad(ref, [x2, oracle.W])
    assert torch.allclose(g_ours[0], g_ref[0], atol=1e-5)
    assert torch.allclose(g_ours[1], g_ref[1].t(), atol=1e-5)


# Heads whose training forward updates class memories from the rows (tests/nn/test_memory_heads.py).
MEMORY_HEADS = {"knn", "ncm"}
# Heads whose training logits carry a margin on the target; every other head's logits take none.
MARGIN_HEADS = {"cosface", "arcface", "sphereface"}
HEAD_NAMES = [name for name in HEADS.names() if name not in MEMORY_HEADS]


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_margins_apply_only_in_training_with_a_target(name):
    head = HEADS.build(name, in_features=D, n_classes=C)
    x, y = torch.randn(N, D), torch.randint(0, C, (N,))
    head.eval()
    plain = head(x)
    assert torch.equal(head(x, y), plain)  # eval: target ignored
    head.train()
    assert torch.equal(head(x), plain)  # training without a target: no margin
    if name not in MARGIN_HEADS:
        assert torch.equal(head(x, y), plain)  # no margin in the logits themselves
        return
    with_margin = head(x, y)
    changed = with_margin != plain
    assert changed.any()
    assert torch.equal(changed.nonzero()[:, 1], y[changed.nonzero()[:, 0]])  # target logits only
    rows = torch.arange(N)
    assert (with_margin[rows, y] < plain[rows, y]).all()  # margins make the target harder


def naive_arcface(cosine, y, s, m, easy):
    out = s * cosine.clone()
    for i in range(cosine.shape[0]):
        c = cosine[i, y[i]].item()
        theta = math.acos(max(-1.0, min(1.0, c)))
        if easy:
            val = math.cos(theta + m) if c > 0 else c
        else:
            val = math.cos(theta + m) if theta + m < math.pi else c - m * math.sin(m)
        out[i, y[i]] = s * val
    return out


@pytest.mark.parametrize("easy", [False, True])
def test_arcface_threshold_and_easy_margin_against_loops(easy):
    cosine = torch.tensor(
        [[0.9, 0.1], [-0.95, 0.2], [0.3, -0.99], [-0.2, 0.5]], dtype=torch.float64
    )
    y = torch.tensor([0, 0, 1, 0])
    got = F.arcface_logits(cosine, y, s=2.0, m=0.5, easy_margin=easy)
    assert torch.allclose(got, naive_arcface(cosine, y, 2.0, 0.5, easy))
    # past θ = π - m the target logit keeps decreasing in θ (no wrap-around)
    c = torch.linspace(-1, 1, 401, dtype=torch.float64)[:, None]
    logit = F.arcface_logits(c, torch.zeros(401, dtype=torch.long), s=1.0, m=0.5)[:, 0]
    assert (logit.diff() >= 0).all()
    assert not torch.allclose(
        F.arcface_logits(cosine, y, 2.0, 0.5, True), F.arcface_logits(cosine, y, 2.0, 0.5, False)
    )


def test_cosface_and_sphereface_against_formula():
    cosine = torch.rand(5, 4, dtype=torch.float64) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 1])
    expected = 3.0 * cosine.clone()
    for i in range(5):
        expected[i, y[i]] -= 3.0 * 0.2
    assert torch.allclose(F.cosface_logits(cosine, y, 3.0, 0.2), expected)
    norm = torch.rand(5, 1, dtype=torch.float64) + 0.5
    got = F.sphereface_logits(cosine, y, norm, m=3, s=1.0, lam=0.0)
    for i in range(5):
        theta = math.acos(cosine[i, y[i]].item())
        k = math.floor(3 * theta / math.pi)
        psi = (-1) ** k * math.cos(3 * theta) - 2 * k
        assert got[i, y[i]].item() == pytest.approx(norm[i, 0].item() * psi)
    angles = torch.linspace(0, math.pi, 50, dtype=torch.float64)
    for m in range(1, 6):
        assert torch.allclose(
            F.margins.chebyshev_cos(angles.cos(), m), (m * angles).cos(), atol=1e-9
        )
    # λ → ∞ removes the margin
    big = F.sphereface_logits(cosine, y, norm, m=4, s=1.0, lam=1e12)
    assert torch.allclose(big, norm * cosine, atol=1e-9)


def naive_sphereface2(cosine, y, bias, r, m, lam, t):
    total = 0.0
    for i in range(cosine.shape[0]):
        for j in range(cosine.shape[1]):
            g = 2 * ((cosine[i, j].item() + 1) / 2) ** t - 1
            if j == y[i]:
                total += lam / r * math.log1p(math.exp(-(r * (g - m) + bias)))
            else:
                total += (1 - lam) / r * math.log1p(math.exp(r * (g + m) + bias))
    return total / cosine.shape[0]


def test_sphereface2_loss_against_loops_and_options():
    cosine = torch.rand(6, 4, dtype=torch.float64) * 2 - 1
    y = torch.randint(0, 4, (6,))
    got = F.sphereface2_loss(cosine, y, 0.3, r=5.0, m=0.2, lam=0.6, t=2.0)
    assert got.item() == pytest.approx(naive_sphereface2(cosine, y, 0.3, 5.0, 0.2, 0.6, 2.0))
    assert got != F.sphereface2_loss(cosine, y, 0.3, r=5.0, m=0.0, lam=0.6, t=2.0)


GRADCHECK = {
    "cosface": lambda c, y: F.cosface_logits(c, y, 4.0, 0.3),
    "arcface": lambda c, y: F.arcface_logits(c, y, 4.0, 0.5),
    "arcface_easy": lambda c, y: F.arcface_logits(c, y, 4.0, 0.5, easy_margin=True),
    "sphereface": lambda c, y: F.sphereface_logits(
        c, y, torch.ones(c.shape[0], 1).double(), 4, 1.0, 0.0
    ),
    "sphereface2": lambda c, y: F.sphereface2_loss(c, y, 0.1, 5.0, 0.4, 0.7, 3.0),
}


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck_margins(name):
    cosine = (torch.rand(6, 5, dtype=torch.float64) * 1.8 - 0.9).requires_grad_(True)
    y = torch.randint(0, 5, (6,))
    assert torch.autograd.gradcheck(lambda c: GRADCHECK[name](c, y), (cosine,))


@pytest.mark.parametrize("name", HEAD_NAMES)
def test_gradcheck_heads_float64(name):
    head = HEADS.build(name, in_features=8, n_classes=5).double().train()
    x = torch.randn(4, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (4,))
    assert torch.autograd.gradcheck(lambda v: head(v, y), (x,))


def test_simplex_etf_geometry():
    w = F.simplex_etf(6, 10, torch.Generator().manual_seed(0)).double()
    gram = w @ w.t()
    expected = torch.full((6, 6), -1 / 5, dtype=torch.float64).fill_diagonal_(1.0)
    assert torch.allclose(gram, expected, atol=1e-6)
    assert torch.allclose(w.sum(0), torch.zeros(10, dtype=torch.float64), atol=1e-6)
    with pytest.raises(ConfigError, match="feature width"):
        F.simplex_etf(6, 4)
    with pytest.raises(ConfigError, match="at least 2"):
        F.simplex_etf(1, 4)


def test_equiangular_basis_vectors_near_orthogonal():
    wide = F.equiangular_basis_vectors(5, 12, generator=torch.Generator().manual_seed(0)).double()
    assert torch.allclose(wide @ wide.t(), torch.eye(5, dtype=torch.float64), atol=1e-6)
    c, d = 20, 8
    narrow = F.equiangular_basis_vectors(
        c, d, steps=300, generator=torch.Generator().manual_seed(0)
    )
    cos = (narrow @ narrow.t()).fill_diagonal_(0).abs().max().item()
    welch = math.sqrt((c - d) / (d * (c - 1)))
    assert torch.allclose(narrow.norm(dim=-1), torch.ones(c), atol=1e-6)
    assert welch - 1e-6 <= cos < 1.3 * welch  # smooth max reaches ~1.24x Welch


@pytest.mark.parametrize("name", ["etf", "ebv"])
def test_fixed_heads_are_frozen_with_a_learnable_scale(name):
    head = HEADS.build(f"{name}:s=5", in_features=12, n_classes=4)
    params = dict(head.named_parameters())
    assert list(params) == ["log_scale"]
    assert "weight" in head.state_dict()  # saved as a buffer
    before = head.weight.clone()
    opt = torch.optim.SGD(head.parameters(), lr=0.5)
    x, y = torch.randn(16, 12), torch.randint(0, 4, (16,))
    torch.nn.functional.cross_entropy(head(x, y), y).backward()
    assert params["log_scale"].grad is not None and params["log_scale"].grad != 0
    opt.step()
    assert torch.equal(head.weight, before)
    assert params["log_scale"].item() != pytest.approx(math.log(5))
