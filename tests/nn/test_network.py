import pytest
import torch

from headkit.config import NetworkConfig
from headkit.nn import DenseStack, HeadNet


@pytest.mark.parametrize("hidden", [(), (8,), (8, 8, 4)])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_shapes_and_eval_determinism(hidden, norm):
    torch.manual_seed(0)
    net = HeadNet(n_features=5, n_classes=3, hidden_sizes=hidden, norm=norm, residual=True)
    x = torch.randn(7, 5)
    assert net(x).shape == (7, 3)
    net.eval()
    torch.testing.assert_close(net(x), net(x), rtol=0, atol=0)
    torch.testing.assert_close(net.predict_proba(x).sum(-1), torch.ones(7))


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    stack = DenseStack(5, (64,), dropout=0.5)
    x = torch.randn(3, 5)
    assert not torch.equal(stack(x), stack(x))
    stack.eval()
    assert torch.equal(stack(x), stack(x))


def test_standardization_and_temperature_apply():
    torch.manual_seed(0)
    net = HeadNet(n_features=2, n_classes=2, hidden_sizes=(4,)).eval()
    x = torch.randn(3, 2)
    before = net(x)
    net.set_standardization(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(
        net(x * torch.tensor([2.0, 4.0]) + torch.tensor([1.0, -1.0])), before
    )
    net.temperature.fill_(2.0)
    torch.testing.assert_close(net.predict_proba(x), torch.softmax(net(x) / 2, -1))


def test_fused_head_loss_is_used_when_present():
    net = HeadNet(n_features=2, n_classes=2, hidden_sizes=(4,))
    net.head.training_loss = lambda features, target: features.sum() * 0 + 42.0
    loss = net.training_loss(torch.randn(3, 2), torch.tensor([0, 1, 0]), criterion=None)
    assert loss.item() == 42.0


def test_config_round_trip():
    cfg = NetworkConfig(n_features=3, n_classes=4, hidden_sizes=(5, 6), dropout="standard:p=0.1")
    assert NetworkConfig.from_dict(cfg.to_dict()) == cfg
    assert HeadNet(cfg).config is cfg
