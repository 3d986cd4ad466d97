import entmax
import pytest
import torch

import headkit.functional as F
from headkit.nn.losses import LOSSES
from headkit.nn.outputs import OUTPUTS


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


# Losses that cannot be built from (n_classes, output) alone; each has its own test file.
NEEDS_A_NETWORK = {
    "deep_supervision": "reads the network's hidden blocks: tests/nn/test_deep_supervision.py",
    "norm_loss": "penalises the network's weights: tests/nn/test_weight_penalties.py",
}
NAMES = [name for name in LOSSES.names() if name not in NEEDS_A_NETWORK]


def build(spec, output="softmax"):
    return LOSSES.build(spec, n_classes=5, output=OUTPUTS.build(output))


def ce_rows(z, y):
    """Softmax cross-entropy per row, ``log Σ exp z - z_y``, with a loop over rows."""
    return torch.stack([torch.logsumexp(zi, 0) - zi[yi] for zi, yi in zip(z, y, strict=True)])


# Maps with exact zeros: the log-likelihood of a zero is -inf, so their natural loss is FY.
SPARSE_OUTPUTS = {"sparsemax", "entmax15", "entmax_bisect"}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("output", OUTPUTS.names())
def test_every_loss_with_every_output_map_trains(name, output):
    if name == "nll" and output in SPARSE_OUTPUTS:
        pytest.skip("a sparse map's log-likelihood is -inf at its zeros: its loss is FY")
    loss = build(name, output)
    z = torch.randn(2, 6, 5, requires_grad=True)  # multi-sample (k, N, C) logits
    y = torch.randint(0, 5, (6,))
    feats = torch.randn(2, 6, 9)
    value = loss(z, y, features=feats)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value) and torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_passes_gradcheck_in_float64(name):
    loss = LOSSES.build(name, n_classes=5, output=None).eval()  # eval: Noisy Softmax is CE
    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 4, 1])
    feats = torch.randn(6, 7, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda zz: loss(zz, y, features=feats), (z,))


def test_softmax_losses_equal_the_papers_formulas():
    z, y = torch.randn(10, 5), torch.randint(0, 5, (10,))
    ce = ce_rows(z, y)
    assert torch.allclose(build("cross_entropy")(z, y), ce.mean())
    assert torch.allclose(
        build("label_smoothing:0.1")(z, y),
        torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1),
    )
    max_sup = torch.stack([row.max() - row.sum() / 5 for row in z])
    assert torch.allclose(build("maxsup:alpha=0.2")(z, y), (ce + 0.2 * max_sup).mean())
    log_z = torch.stack([torch.log(torch.exp(row).sum()) for row in z])
    assert torch.allclose(build("z_loss:lam=0.01")(z, y), (ce + 0.01 * log_z**2).mean())
    feats = torch.randn(10, 8)
    v = feats.var(-1, unbiased=False)
    w = torch.exp(0.3 * (v - v.min()) / (v.max() - v.min())) - 0.3
    assert torch.allclose(build("bias_loss")(z, y, features=feats), (w * ce).mean())
    assert torch.allclose(build("bias_loss")(z, y), ce.mean())  # no features: unweighted
    assert torch.allclose(build("bias_loss:alpha=0,beta=0")(z, y, features=feats), ce.mean())


def test_fenchel_young_losses_equal_the_entmax_package():
    z, y = torch.randn(10, 5), torch.randint(0, 5, (10,))
    sparsemax_loss = entmax.SparsemaxLoss()(z, y).mean()
    assert torch.allclose(build("fenchel_young:alpha=2")(z, y), sparsemax_loss, atol=1e-6)
    assert torch.allclose(build("cross_entropy", "sparsemax")(z, y), sparsemax_loss, atol=1e-6)
    entmax15_loss = entmax.Entmax15Loss(k=None)(z, y).mean()
    assert torch.allclose(build("cross_entropy", "entmax15")(z, y), entmax15_loss, atol=1e-6)


def test_maxsup_reduces_to_label_smoothing_exactly_when_argmax_is_target():
    z = torch.randn(40, 5, dtype=torch.float64, requires_grad=True)
    y = z.argmax(-1)
    alpha = 0.15
    maxsup = LOSSES.build(f"maxsup:alpha={alpha}", n_classes=5, output=None)
    ls = torch.nn.functional.cross_entropy(z, y, label_smoothing=alpha, reduction="none")
    assert torch.allclose(maxsup.rows(z, y), ls)
    y_wrong = (y + 1) % 5
    ls_wrong = torch.nn.functional.cross_entropy(
        z, y_wrong, label_smoothing=alpha, reduction="none"
    )
    assert (maxsup.rows(z, y_wrong) > ls_wrong).all()  # z_max > z_y on misclassified rows
    extra = maxsup.rows(z, y).sum() - torch.nn.functional.cross_entropy(z, y, reduction="sum")
    (grad,) = torch.autograd.grad(extra, z)
    expected = alpha * (torch.nn.functional.one_hot(z.argmax(-1), 5).double() - 1 / 5)
    assert torch.allclose(grad, expected)


def test_z_loss_gradient_pushes_log_z_to_zero():
    z_loss = LOSSES.build("z_loss:lam=0.5", n_classes=5, output=None)
    y = torch.randint(0, 5, (8,))
    for shift in (4.0, -8.0):  # log Z > 0, then log Z < 0
        z = (torch.randn(8, 5, dtype=torch.float64) + shift).requires_grad_(True)
        extra = z_loss(z, y) - torch.nn.functional.cross_entropy(z, y)
        (grad,) = torch.autograd.grad(extra, z)
        assert (torch.logsumexp(z - 0.1 * grad, -1).abs() < torch.logsumexp(z, -1).abs()).all()


def test_noisy_softmax_raises_the_loss_and_treats_the_noise_as_constant():
    noisy = LOSSES.build("noisy_softmax:alpha=0.3", n_classes=5, output=None).train()
    z = torch.randn(30, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 5, (30,))
    torch.manual_seed(1)
    rows = noisy.rows(z, y)
    assert (rows >= ce_rows(z, y) - 1e-12).all() and rows.sum() > ce_rows(z, y).sum()
    # the shift σ·|ξ|·|z_y| is detached: the gradient is softmax(noisy z) - onehot(y)
    torch.manual_seed(1)
    shifted = F.noisy_target_logits(z.detach(), y, 0.3)
    torch.manual_seed(1)
    (grad,) = torch.autograd.grad(noisy.rows(z, y).sum(), z)
    expected = torch.softmax(shifted, -1) - torch.nn.functional.one_hot(y, 5).double()
    assert torch.allclose(grad, expected)


def test_cross_entropy_ignore_index_and_class_weights():
    z, y = torch.randn(10, 5), torch.randint(0, 5, (10,))
    y[:3] = -100
    w = (1.0, 2.0, 0.5, 1.0, 3.0)
    loss = LOSSES.build("cross_entropy", n_classes=5, output=None, class_weights=w)
    ref = torch.nn.functional.cross_entropy(z, y, weight=torch.tensor(w), ignore_index=-100)
    assert torch.allclose(loss(z, y), ref)


def test_noisy_softmax_anneals_and_is_noise_free_in_eval():
    loss = build("noisy_softmax:alpha=0.5")
    z, y = torch.randn(64, 5) + 2, torch.randint(0, 5, (64,))
    clean = torch.nn.functional.cross_entropy(z, y)
    with torch.enable_grad():
        assert loss.train()(z, y) > clean
        loss.set_progress(1.0)
        assert loss.noise_scale == 0 and torch.allclose(loss(z, y), clean)
    loss.set_progress(0.0)
    with torch.no_grad():
        assert torch.allclose(loss(z, y), clean)
    assert torch.allclose(loss.eval()(z, y), clean)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("label_smoothing:0.1", "label_smoothing:0.3"),
        ("maxsup:alpha=0.1", "maxsup:alpha=0.5"),
        ("z_loss:lam=0.001", "z_loss:lam=0.1"),
        ("spherical_z:a=1", "spherical_z:a=3"),
        ("fenchel_young:alpha=1.5", "fenchel_young:alpha=2"),
        ("bias_loss:alpha=0.3", "bias_loss:alpha=1.0"),
    ],
)
def test_each_option_changes_the_loss(a, b):
    z, y, f = torch.randn(10, 5) * 3, torch.randint(0, 5, (10,)), torch.randn(10, 8)
    assert not torch.allclose(build(a)(z, y, features=f), build(b)(z, y, features=f))
