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


def test_maxsup_reduces_to_label_smoothing_exactly_when_argmax_is_target():
    z, _ = data(n=40)
    y = z.argmax(-1)
    y_wrong = (y + 1) % 5
    alpha = 0.15
    ls = F.cross_entropy(z, y, label_smoothing=alpha, reduction="none")
    assert torch.allclose(F.maxsup_loss(z, y, alpha, reduction="none"), ls)
    ms_wrong = F.maxsup_loss(z, y_wrong, alpha, reduction="none")
    ls_wrong = F.cross_entropy(z, y_wrong, label_smoothing=alpha, reduction="none")
    assert (ms_wrong > ls_wrong).all()  # z_max > z_y on misclassified rows
    assert not torch.allclose(F.maxsup_loss(z, y, 0.3), F.maxsup_loss(z, y, 0.1))
    (grad,) = torch.autograd.grad(
        F.maxsup_loss(z, y, alpha, reduction="sum") - F.cross_entropy(z, y, reduction="sum"), z
    )
    expected = alpha * (torch.nn.functional.one_hot(z.argmax(-1), 5).double() - 1 / 5)
    assert torch.allclose(grad, expected)


def test_z_loss_gradient_pushes_log_z_to_zero():
    z = (torch.randn(8, 5, dtype=torch.float64) + 4).requires_grad_(True)  # log Z > 0
    y = torch.randint(0, 5, (8,))
    lam = 0.5
    extra = F.z_loss(z, y, lam) - F.cross_entropy(z, y)
    assert torch.allclose(extra, lam * (torch.logsumexp(z, -1) ** 2).mean())
    (grad,) = torch.autograd.grad(F.z_loss(z, y, lam), z)
    before = torch.logsumexp(z, -1).abs()
    after = torch.logsumexp(z - 0.1 * grad, -1).abs()
    assert (after < before).all()
    z_neg = (z.detach() - 8).requires_grad_(True)  # log Z < 0
    (grad,) = torch.autograd.grad(F.z_loss(z_neg, y, lam) - F.cross_entropy(z_neg, y), z_neg)
    assert (torch.logsumexp(z_neg - 0.1 * grad, -1).abs() < torch.logsumexp(z_neg, -1).abs()).all()
    assert torch.allclose(F.z_loss(z, y, 0.0), F.cross_entropy(z, y), rtol=1e-12)


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


def test_noisy_softmax_with_noise_off_is_cross_entropy_and_noise_raises_loss():
    z, y = data(n=30)
    assert torch.allclose(F.noisy_softmax_loss(z, y, 0.0), F.cross_entropy(z, y), rtol=1e-12)
    gen = torch.Generator().manual_seed(0)
    noisy = F.noisy_softmax_loss(z, y, 0.5, generator=gen, reduction="none")
    assert (noisy >= F.cross_entropy(z, y, reduction="none") - 1e-12).all()
    assert noisy.sum() > F.cross_entropy(z, y, reduction="sum")
    shifted = F.loss_variants.noisy_target_logits(z, y, 0.5, torch.Generator().manual_seed(0))
    changed = (shifted != z).nonzero()
    assert torch.equal(changed[:, 1], y[changed[:, 0]])  # only target logits move


def test_bias_loss_weights_and_reduction_to_ce():
    z, y = data(n=10)
    feats = torch.randn(10, 7, dtype=torch.float64) * torch.linspace(0.1, 3, 10)[:, None]
    feats.requires_grad_(True)
    assert torch.allclose(F.bias_loss(z, y, feats, alpha=0.0, beta=0.0), F.cross_entropy(z, y))
    w = F.loss_variants.bias_loss_weights(feats, 0.3, 0.3)
    v = feats.detach().var(-1, unbiased=False)
    assert torch.equal(torch.argsort(w), torch.argsort(v))
    assert w.min() == pytest.approx(1 - 0.3) and w.max() == pytest.approx(torch.e**0.3 - 0.3)
    loss = F.bias_loss(z, y, feats)
    assert torch.allclose(loss, (ce_reference(z, y) * w).mean())
    loss.backward()
    assert feats.grad is None or torch.all(feats.grad == 0)
    assert not torch.allclose(F.bias_loss(z, y, feats, alpha=1.0), loss)


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (F.sparsemax_loss, entmax.SparsemaxLoss()),
        (F.entmax15_loss, entmax.Entmax15Loss(k=None)),
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


def test_one_vs_all_matches_bce_reference():
    z, y = data()
    ref = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.nn.functional.one_hot(y, 5).double(), reduction="none"
    ).sum(-1)
    assert torch.allclose(F.one_vs_all_loss(z, y, reduction="none"), ref)
    (grad,) = torch.autograd.grad(F.one_vs_all_loss(z, y, reduction="sum"), z)
    assert torch.allclose(grad, torch.sigmoid(z) - torch.nn.functional.one_hot(y, 5))


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
    "maxsup": lambda z, y: F.maxsup_loss(z, y, 0.2),
    "z_loss": lambda z, y: F.z_loss(z, y, 0.1),
    "spherical_z": lambda z, y: F.spherical_z_loss(z, y),
    "bias": lambda z, y: F.bias_loss(z, y, torch.arange(30.0).reshape(6, 5).double()),
    "sparsemax": F.sparsemax_loss,
    "entmax15": F.entmax15_loss,
    "ova": F.one_vs_all_loss,
    "nll": lambda z, y: F.nll_loss(F.power_softmax(z).log(), y),
    "distill": lambda z, y: F.distillation_loss(z, torch.ones_like(z), 2.0, y),
}


@pytest.mark.parametrize("name", LOSSES_FOR_GRADCHECK)
def test_gradcheck_losses(name):
    z, y = data()
    assert torch.autograd.gradcheck(lambda zz: LOSSES_FOR_GRADCHECK[name](zz, y), (z,))


def test_noisy_softmax_gradient_treats_noise_as_constant():
    # the shift σ·|ξ|·|z_y| is detached, so the gradient is softmax(noisy z) - onehot(y)
    z, y = data()
    gen = torch.Generator().manual_seed(0)
    noisy = F.loss_variants.noisy_target_logits(z.detach(), y, 0.3, gen)
    (grad,) = torch.autograd.grad(
        F.noisy_softmax_loss(z, y, 0.3, torch.Generator().manual_seed(0), reduction="sum"), z
    )
    expected = torch.softmax(noisy, -1) - torch.nn.functional.one_hot(y, 5).double()
    assert torch.allclose(grad, expected)


EXTREME = {
    **LOSSES_FOR_GRADCHECK,
    "noisy": lambda z, y: F.noisy_softmax_loss(z, y, 0.3, torch.Generator().manual_seed(0)),
}


@pytest.mark.parametrize("name", EXTREME)
def test_losses_finite_at_extreme_logits(name):
    z = torch.tensor([[1e4, -1e4, 0.0, 1.0, 2.0]] * 6, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 4, 1])
    loss = EXTREME[name](z.double(), y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
