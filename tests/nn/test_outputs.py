import pytest
import torch

import headkit.functional as F
from headkit.exceptions import ConfigError
from headkit.nn.losses import LOSSES
from headkit.nn.outputs import OUTPUTS


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same RNG state, whatever runs before it."""
    torch.manual_seed(0)


# The catalogue's names; the contract tests run over OUTPUTS.names().
NAMES = ["softmax", "sparsemax", "entmax15", "entmax_bisect", "gumbel", "ssmax", "power", "sigmoid"]
# The loss that trains each map consistently (a new map must say which: the test asks for it).
NATURAL = {
    "softmax": "softmax_cross_entropy",
    "online_softmax": "softmax_cross_entropy",
    "stablemax": "nll",
    "sparsemax": "fenchel_young",
    "entmax15": "fenchel_young",
    "entmax_bisect": "fenchel_young",
    "gumbel": "nll",
    "ssmax": "nll",
    "power": "nll",
    "sigmoid": "one_vs_all",
    "softmax1": "nll",
    "adaptive_temperature": "nll",
}


def test_every_catalogue_name_is_registered():
    assert set(NAMES) <= set(OUTPUTS.names())


@pytest.mark.parametrize("name", OUTPUTS.names())
def test_output_contract(name):
    out = OUTPUTS.build(name).eval()
    z = torch.randn(3, 4, 6) * 3
    p = out(z)
    assert p.shape == z.shape and (p >= 0).all() and (p <= 1).all()
    if name == "softmax1":  # the rest of the mass is "none of these"
        assert (p.sum(-1) < 1).all()
    elif name != "sigmoid":
        assert torch.allclose(p.sum(-1), torch.ones(3, 4), atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(out.log_prob(z).exp(), p, atol=1e-6)
    assert out.natural_loss == NATURAL[name] and out.natural_loss in LOSSES.names()
    assert isinstance(
        LOSSES.build("cross_entropy", n_classes=6, output=out),
        type(LOSSES.build(NATURAL[name], n_classes=6, output=out)),
    )
    extreme = torch.tensor([[1e4, -1e4, 0.0, 3.0]])
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        assert torch.isfinite(out(extreme.to(dtype))).all()
    assert repr(out)


@pytest.mark.parametrize("name", OUTPUTS.names())
def test_empty_class_set_is_rejected(name):
    with pytest.raises((ConfigError, ValueError), match="class"):
        OUTPUTS.build(name).eval()(torch.empty(3, 0))


def test_modules_match_functions():
    z = torch.randn(5, 7)
    assert torch.allclose(OUTPUTS.build("softmax:temperature=2")(z), torch.softmax(z / 2, -1))
    assert torch.equal(OUTPUTS.build("sparsemax")(z), F.sparsemax(z))
    assert torch.equal(OUTPUTS.build("entmax15")(z), F.entmax15(z))
    assert torch.allclose(
        OUTPUTS.build("entmax_bisect:alpha=1.3")(z), F.entmax_bisect(z, 1.3), atol=1e-6
    )
    assert torch.allclose(
        OUTPUTS.build("ssmax:s=0.5")(z), torch.softmax(0.5 * torch.log(torch.tensor(7.0)) * z, -1)
    )
    assert torch.allclose(
        OUTPUTS.build("power:p=4,eps=0")(z), z**4 / (z**4).sum(-1, keepdim=True), atol=1e-6
    )
    assert torch.equal(OUTPUTS.build("sigmoid")(z), torch.sigmoid(z))


def test_learnable_parameters_receive_gradients():
    z = torch.randn(8, 5)
    y = torch.randint(0, 5, (8,))
    for spec, param in [("entmax_bisect", "alpha_logit"), ("ssmax", "s")]:
        out = OUTPUTS.build(spec)
        loss = LOSSES.build("cross_entropy", n_classes=5, output=out)(z, y)
        loss.backward()
        grad = dict(out.named_parameters())[param].grad
        assert grad is not None and grad.abs() > 0
    frozen = OUTPUTS.build("ssmax:learnable=false")
    assert not any(p.requires_grad for p in frozen.parameters())


def test_gumbel_output_is_random_in_training_and_softmax_in_eval():
    out = OUTPUTS.build("gumbel:tau=0.5,hard=true")
    z = torch.randn(4, 6, requires_grad=True)
    sample = out.train()(z)
    assert torch.equal(sample.sum(-1), torch.ones(4)) and set(sample.unique().tolist()) <= {
        0.0,
        1.0,
    }
    (sample * torch.arange(6.0)).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0  # straight-through
    assert torch.equal(out.eval()(z), torch.softmax(z, -1))
