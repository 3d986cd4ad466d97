import pytest
import torch

import headkit.functional as F
from headkit.nn.losses import LOSSES
from headkit.nn.outputs import OUTPUTS


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


ISSUE_NAMES = [
    "cross_entropy",
    "label_smoothing",
    "maxsup",
    "z_loss",
    "spherical_z",
    "noisy_softmax",
    "bias_loss",
    "fenchel_young",
]


def build(spec, output="softmax"):
    return LOSSES.build(spec, n_classes=5, output=OUTPUTS.build(output))


@pytest.mark.parametrize("name", ISSUE_NAMES)
@pytest.mark.parametrize("output", ["softmax", "entmax15", "ssmax", "sigmoid"])
def test_every_loss_with_every_output_family_trains(name, output):
    loss = build(name, output)
    z = torch.randn(2, 6, 5, requires_grad=True)  # multi-sample (k, N, C) logits
    y = torch.randint(0, 5, (6,))
    feats = torch.randn(2, 6, 9)
    value = loss(z, y, features=feats)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value) and torch.isfinite(z.grad).all()
    assert z.grad.abs().sum() > 0


def test_softmax_losses_equal_the_functional_references():
    z, y = torch.randn(10, 5), torch.randint(0, 5, (10,))
    assert torch.allclose(build("cross_entropy")(z, y), torch.nn.functional.cross_entropy(z, y))
    assert torch.allclose(
        build("label_smoothing:0.1")(z, y),
        torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1),
    )
    assert torch.allclose(build("maxsup:alpha=0.2")(z, y), F.maxsup_loss(z, y, 0.2))
    assert torch.allclose(build("z_loss:lam=0.01")(z, y), F.z_loss(z, y, 0.01))
    assert torch.allclose(build("spherical_z")(z, y), F.spherical_z_loss(z, y))
    assert torch.allclose(build("fenchel_young:alpha=2")(z, y), F.sparsemax_loss(z, y))
    assert torch.allclose(build("cross_entropy", "sparsemax")(z, y), F.sparsemax_loss(z, y))
    assert torch.allclose(build("cross_entropy", "entmax15")(z, y), F.entmax15_loss(z, y))
    feats = torch.randn(10, 8)
    w = F.loss_variants.bias_loss_weights(feats, 0.3, 0.3)
    ce = torch.nn.functional.cross_entropy(z, y, reduction="none")
    assert torch.allclose(build("bias_loss")(z, y, features=feats), (w * ce).mean())
    assert torch.allclose(build("bias_loss")(z, y), ce.mean())  # no features: unweighted


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
