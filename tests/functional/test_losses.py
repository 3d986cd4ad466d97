import entmax
import pytest
import torch

import headkit.functional as F
from headkit.exceptions import DataError


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


def ce_reference(z, y):
    """Cross-entropy row by row with explicit loops."""
    rows = []
    for zi, yi in zip(z, y, strict=True):
        rows.append(torch.log(torch.exp(zi - zi.max()).sum()) + zi.max() - zi[yi])
    return torch.stack(rows)


def data(n=6, c=5, dtype=torch.float64):
    z = torch.randn(n, c, dtype=dtype, requires_grad=True)
    y = torch.randint(0, c, (n,))
    return z, y


def test_cross_entropy_options_match_torch_and_reference():
    z, y = data()
    assert torch.allclose(F.cross_entropy(z, y), ce_reference(z, y).mean())
    w = torch.rand(5, dtype=torch.float64) + 0.5
    ignored = y.clone()
    ignored[0] = -100
    ref_rows = ce_reference(z[1:], y[1:]) * w[y[1:]]
    assert torch.allclose(F.cross_entropy(z, ignored, weight=w), ref_rows.sum() / w[y[1:]].sum())
    soft = torch.softmax(torch.randn(6, 5, dtype=torch.float64), -1)
    assert torch.allclose(F.cross_entropy(z, soft), -(soft * z.log_softmax(-1)).sum(-1).mean())
    assert torch.allclose(
        F.nll_loss(z.log_softmax(-1), ignored, weight=w), F.cross_entropy(z, ignored, weight=w)
    )
    with pytest.raises(DataError, match="empty"):
        F.cross_entropy(torch.zeros(3, 0), torch.zeros(3, dtype=torch.long))


def test_label_smoothing_targets_and_decomposition():
    z, y = data()
    eps = 0.2
    soft = F.smooth_targets(y, 5, eps).double()
    assert torch.allclose(soft.sum(-1), torch.ones(6, dtype=torch.float64))
    assert torch.allclose(F.cross_entropy(z, soft), F.cross_entropy(z, y, label_smoothing=eps))
    identity = ce_reference(z, y) + eps * (z.gather(1, y[:, None])[:, 0] - z.mean(-1))
    assert torch.allclose(F.cross_entropy(z, soft, reduction="none"), identity)
    ignored = torch.tensor([0, -100])
    assert torch.equal(F.smooth_targets(ignored, 3, 0.3)[1], torch.zeros(3))


def test_spherical_z_loss_is_shift_and_scale_invariant():
    z, y = data()
    base = F.spherical_z_loss(z, y, a=2.0, b=1.0, reduction="none")
    assert torch.allclose(
        F.spherical_z_loss(3.0 * z + 7.0, y, a=2.0, b=1.0, reduction="none"), base
    )
    centred = z - z.mean(-1, keepdim=True)
    zeta = centred / centred.pow(2).mean(-1, keepdim=True).sqrt()
    ref = torch.nn.functional.softplus(2.0 * (1.0 - zeta.gather(1, y[:, None])[:, 0])) / 2.0
    assert torch.allclose(base, ref, atol=1e-5)
    # permuting non-target logits keeps o_c, Σo, Σo²: the loss is unchanged
    z2 = z.detach().clone()
    row, others = z2[0], [k for k in range(5) if k != y[0]]
    row[others] = row[others].flip(0)
    assert torch.allclose(F.spherical_z_loss(z2, y, a=2.0, b=1.0, reduction="none")[0], base[0])
    assert not torch.allclose(F.spherical_z_loss(z, y, a=2.0, b=2.0), base.mean())
    assert not torch.allclose(F.spherical_z_loss(z, y, a=0.5, b=1.0), base.mean())
    flat = torch.zeros(2, 4)
    assert torch.isfinite(F.spherical_z_loss(flat, torch.tensor([0, 1])))


def test_noisy_target_logits_move_only_target_logits_down():
    z, y = data(n=30)
    assert F.noisy_target_logits(z, y, 0.0) is z
    shifted = F.noisy_target_logits(z, y, 0.5, torch.Generator().manual_seed(0))
    changed = (shifted != z).nonzero()
    assert torch.equal(changed[:, 1], y[changed[:, 0]])  # only target logits move
    assert (shifted <= z).all() and len(changed) > 0
    ignored = y.clone()
    ignored[:5] = -100
    kept = F.noisy_target_logits(z, ignored, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(kept[:5], z[:5])


def test_penalties_match_their_formulas():
    z, _ = data(n=7)
    naive_max_sup = torch.stack([row.max() - row.sum() / len(row) for row in z])
    assert torch.allclose(F.maxsup_penalty(z), naive_max_sup)
    naive_log_z = torch.stack([torch.log(torch.exp(row).sum()) ** 2 for row in z])
    assert torch.allclose(F.log_z_penalty(z), naive_log_z)


def test_bias_loss_weights_follow_feature_variance():
    feats = torch.randn(10, 7, dtype=torch.float64) * torch.linspace(0.1, 3, 10)[:, None]
    w = F.bias_loss_weights(feats, 0.3, 0.3)
    v = feats.var(-1, unbiased=False)
    assert torch.equal(torch.argsort(w), torch.argsort(v))
    assert w.min() == pytest.approx(1 - 0.3) and w.max() == pytest.approx(torch.e**0.3 - 0.3)
    assert torch.allclose(F.bias_loss_weights(feats, 0.0, 0.0), torch.ones(10, dtype=torch.float64))


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (lambda z, y: F.fenchel_young_loss(z, y, 2.0), entmax.SparsemaxLoss()),
        (lambda z, y: F.fenchel_young_loss(z, y, 1.5), entmax.Entmax15Loss(k=None)),
        (lambda z, y: F.fenchel_young_loss(z, y, 1.3), entmax.EntmaxBisectLoss(1.3)),
    ],
)
def test_fenchel_young_losses_agree_with_entmax_package(ours, ref):
    z, y = data(n=12, c=7)
    z2 = z.detach().clone().requires_grad_(True)
    a, b = ours(z, y), ref(z2, y)
    assert torch.allclose(a, b, atol=1e-5)
    (ga,) = torch.autograd.grad(a, z)
    (gb,) = torch.autograd.grad(b, z2)
    assert torch.allclose(ga, gb, atol=1e-5)


def test_fenchel_young_properties():
    z, y = data(n=8, c=6)
    p = F.entmax15(z.detach())
    (grad,) = torch.autograd.grad(F.fenchel_young_loss(z, y, 1.5, reduction="sum"), z)
    assert torch.allclose(grad, p - torch.nn.functional.one_hot(y, 6))
    # margins large enough that entmax_α is one-hot for every α ≥ 1.3: (α-1)·gap ≥ 1
    perfect = torch.tensor([[5.0, 0.0, 0.0], [0.0, 0.0, 4.0]], dtype=torch.float64)
    target = torch.tensor([0, 2])
    for alpha in (1.5, 2.0, 1.3):
        assert F.fenchel_young_loss(perfect, target, alpha).item() == pytest.approx(0, abs=1e-10)
    assert F.fenchel_young_loss(z, y, 2.0) >= 0
    assert torch.allclose(F.fenchel_young_loss(z, y, 1.0), F.cross_entropy(z, y))
    soft = F.sparsemax(torch.randn(8, 6, dtype=torch.float64))
    assert torch.allclose(
        F.fenchel_young_loss(soft, soft, 2.0), torch.zeros((), dtype=torch.float64), atol=1e-10
    )
    alpha = torch.tensor(1.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda zz, a: F.fenchel_young_loss(zz, y, a), (z, alpha))
    ignored = y.clone()
    ignored[:3] = -100
    assert torch.allclose(
        F.fenchel_young_loss(z, ignored, 2.0), F.fenchel_young_loss(z[3:], y[3:], 2.0)
    )
    # a masked class (logit -inf) is as if it were not there
    masked, keep = z.detach().clone(), y != 5
    masked[:, 5] = float("-inf")
    for alpha in (1.5, 2.0):
        without = F.fenchel_young_loss(z.detach()[keep, :5], y[keep], alpha)
        assert torch.allclose(F.fenchel_young_loss(masked[keep], y[keep], alpha), without)


def test_one_vs_all_matches_bce_reference():
    z, y = data()
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.nn.functional.one_hot(y, 5).double(), reduction="none"
    ).sum(-1)
    assert torch.allclose(F.one_vs_all_loss(z, y, reduction="none"), ref)
    (grad,) = torch.autograd.grad(F.one_vs_all_loss(z, y, reduction="sum"), z)
    assert torch.allclose(grad, torch.sigmoid(z) - torch.nn.functional.one_hot(y, 5))
    # a masked-out class (logit -inf, target 0) contributes exactly 0 to the loss
    masked = z.detach().clone()
    masked[:, 4] = float("-inf")
    keep = y != 4
    expected = ref[keep] - torch.nn.functional.softplus(z[keep, 4])
    assert torch.allclose(F.one_vs_all_loss(masked[keep], y[keep], reduction="none"), expected)


def test_distillation_loss_properties():
    s, y = data()
    t = torch.randn(6, 5, dtype=torch.float64)
    assert F.distillation_loss(t.clone().requires_grad_(), t, 3.0).item() == pytest.approx(
        0, abs=1e-12
    )
    assert torch.allclose(F.distillation_loss(s, t, 3.0, y, beta=0.0), F.cross_entropy(s, y))
    temp = 3.0
    (grad,) = torch.autograd.grad(F.distillation_loss(s, t, temp), s)
    expected = temp * (torch.softmax(s / temp, -1) - torch.softmax(t / temp, -1)) / 6
    assert torch.allclose(grad, expected)
    kl = (
        (torch.softmax(t / 2, -1) * (torch.log_softmax(t / 2, -1) - torch.log_softmax(s / 2, -1)))
        .sum(-1)
        .mean()
    )
    assert torch.allclose(F.distillation_loss(s, t, 2.0), 4 * kl)
    assert not torch.allclose(
        F.distillation_loss(s, t, 2.0, y, beta=0.3), F.distillation_loss(s, t, 2.0, y, beta=0.7)
    )


LOSSES_FOR_GRADCHECK = {
    "ce_soft": lambda z, y: F.cross_entropy(z, torch.softmax(torch.ones_like(z), -1)),
    "spherical_z": lambda z, y: F.spherical_z_loss(z, y),
    "sparsemax": lambda z, y: F.fenchel_young_loss(z, y, 2.0),
    "entmax15": lambda z, y: F.fenchel_young_loss(z, y, 1.5),
    "ova": F.one_vs_all_loss,
    "nll": lambda z, y: F.nll_loss(F.power_softmax(z).log(), y),
    "distill": lambda z, y: F.distillation_loss(z, torch.ones_like(z), 2.0, y),
}


@pytest.mark.parametrize("name", LOSSES_FOR_GRADCHECK)
def test_gradcheck_losses(name):
    z, y = data()
    assert torch.autograd.gradcheck(lambda zz: LOSSES_FOR_GRADCHECK[name](zz, y), (z,))


@pytest.mark.parametrize("name", LOSSES_FOR_GRADCHECK)
def test_losses_finite_at_extreme_logits(name):
    z = torch.tensor([[1e4, -1e4, 0.0, 1.0, 2.0]] * 6, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 4, 1])
    loss = LOSSES_FOR_GRADCHECK[name](z.double(), y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
