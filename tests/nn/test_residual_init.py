import math

import pytest
import torch

from headkit.exceptions import ConfigError
from headkit.nn import HeadNet
from headkit.nn.dense import DenseStack


def test_learnable_residual_starts_as_identity():
    stack = DenseStack(8, (8, 8, 8), residual="learnable", dropout=0.0)
    x = torch.randn(5, 8)
    assert torch.equal(stack(x), x)
    assert all(isinstance(b.skip.alpha, torch.nn.Parameter) for b in stack.blocks)


def test_scaled_block_equals_naive_formula_with_one_over_sqrt_depth():
    torch.manual_seed(0)
    stack = DenseStack(6, (6, 6, 6, 6), residual="scaled", dropout=0.0, activation="tanh")
    x = torch.randn(4, 6)
    h = x
    for block in stack.blocks:
        h = h + (1 / math.sqrt(4)) * torch.tanh(block.linear(h))
    torch.testing.assert_close(stack(x), h)


def test_scaled_alpha_option_and_width_changing_block_has_no_skip():
    stack = DenseStack(4, (6, 6), residual="scaled:alpha=0.2", dropout=0.0)
    assert stack.blocks[0].skip is None
    assert stack.blocks[1].skip.alpha == pytest.approx(0.2)


def test_true_keeps_plain_residual_and_bad_spec_fails():
    stack = DenseStack(4, (4,), residual=True, dropout=0.0)
    x = torch.randn(3, 4)
    torch.testing.assert_close(stack(x), x + torch.relu(stack.blocks[0].linear(x)))
    with pytest.raises(ConfigError, match="residual"):
        DenseStack(4, (6,), residual="scaledd")


@pytest.mark.parametrize("spec, alpha", [("identity", 1.0), ("scaled", 0.25)])
def test_residual_stack_variance_grows_as_one_plus_alpha_squared_to_the_depth(spec, alpha):
    torch.manual_seed(0)
    x = torch.randn(512, 256)
    # linear branches W h with W ~ N(0, 1/n): zero-mean, independent, the input's variance
    stack = DenseStack(256, (256,) * 16, residual=spec, dropout=0.0, init="critical:c_w=1,c_b=0")
    for block in stack.blocks:
        block.activation = torch.nn.Identity()
    with torch.no_grad():
        ratio = float(stack(x).var() / x.var())
    assert ratio == pytest.approx((1 + alpha**2) ** 16, rel=0.25)
    if spec == "scaled":
        assert ratio <= math.e


def test_critical_init_by_name_and_saved_config_roundtrip(tmp_path):
    from headkit import io

    net = HeadNet(n_features=64, n_classes=3, hidden_sizes=(64, 64), init="critical")
    w = net.trunk.blocks[1].linear.weight
    assert float(w.detach().var()) == pytest.approx(2 / 64, rel=0.15)
    io.save(net, tmp_path / "m", {})
    loaded = io.load(tmp_path / "m")
    assert loaded.config.init == "critical"
    torch.testing.assert_close(loaded.trunk.blocks[1].linear.weight, w)


def test_drop_blocks_keeps_learned_branch_scales():
    net = HeadNet(
        n_features=6, n_classes=3, hidden_sizes=(6, 6, 6), residual="learnable", dropout=0.0
    )
    with torch.no_grad():
        for i, block in enumerate(net.trunk.blocks):
            block.skip.alpha.fill_(0.1 * (i + 1))
    small = net.drop_blocks([1])
    assert [float(b.skip.alpha.detach()) for b in small.trunk.blocks] == pytest.approx([0.1, 0.3])
