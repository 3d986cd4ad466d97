"""MoELinear and the ``moe`` block (A14): routing, the balance term through the trainer."""

import pytest
import torch

from headkit import protocols
from headkit.functional.mixture import load_balancing_loss
from headkit.nn import HeadNet
from headkit.nn.mixture import MoELinear


def test_each_row_goes_to_exactly_k_experts():
    torch.manual_seed(0)
    layer = MoELinear(8, 5, experts=6, k=2)
    x = torch.randn(32, 8)
    gates, _ = layer.gates(x)
    assert ((gates > 0).sum(1) == 2).all()
    expected = sum(
        gates[:, e, None] * (x @ layer.experts_weight[e].T + layer.experts_bias[e])
        for e in range(6)
    )
    torch.testing.assert_close(layer(x), expected)


def test_balance_term_is_the_auxiliary_loss_of_training_forwards():
    torch.manual_seed(0)
    layer = MoELinear(8, 5, experts=4, k=1, balance=0.1).train()
    x = torch.randn(16, 8)
    layer(x)
    gates, probs = layer.gates(x)
    torch.testing.assert_close(layer.auxiliary_loss(), 0.1 * load_balancing_loss(gates, probs))
    assert layer.auxiliary_loss() is None  # consumed
    layer.eval()(x)
    assert layer.auxiliary_loss() is None


def test_gumbel_gating_is_random_in_training_and_fixed_at_prediction():
    torch.manual_seed(0)
    layer = MoELinear(8, 5, experts=4, k=1, gumbel=True)
    x = torch.randn(64, 8)
    layer.train()
    assert not torch.equal(layer.gates(x)[0], layer.gates(x)[0])
    layer.eval()
    assert torch.equal(layer.gates(x)[0], layer.gates(x)[0])


def test_moe_block_by_name_builds_expert_layers_the_trainer_finds():
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(8, 8), block="moe:experts=3,k=2")
    linears = [b.linear for b in net.trunk.blocks]
    assert all(isinstance(m, MoELinear) and m.experts == 3 and m.k == 2 for m in linears)
    assert protocols.modules_with([net], protocols.AuxiliaryLoss) == linears
    net.train()(torch.randn(10, 6))
    total = protocols.auxiliary_loss(linears)
    assert total.requires_grad and total.item() >= 0.01 * 2 * 0.5


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"block": "moe:experts=2,k=3"}, "k must be"),
        ({"block": "moe", "dropout": "dropconnect"}, "DropConnect"),
        ({"block": "moe", "init": "critical"}, "init='default'"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):  # ConfigError is a ValueError
        HeadNet(n_features=6, n_classes=3, hidden_sizes=(8,), **options)
