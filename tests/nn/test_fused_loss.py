"""HeadNet.fused_gradients: backward's gradients with no graph, only where they are the same."""

from __future__ import annotations

import pytest
import torch

from headkit.nn import HeadNet
from headkit.nn.losses import CrossEntropyLoss


def _batch(rows=12, features=5, classes=3, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(rows, features, generator=g, dtype=dtype)
    return x, torch.randint(0, classes, (rows,), generator=g)


def _net(**options):
    torch.manual_seed(0)
    net = HeadNet(n_features=5, n_classes=3, hidden_sizes=(8, 6), dropout=0.3, **options)
    net.set_standardization(torch.full((5,), 0.5), torch.full((5,), 2.0))
    return net.double().train()


def test_gradients_equal_those_of_the_training_loss_backward():
    x, y = _batch()
    net, twin = _net(), _net()
    torch.manual_seed(9)
    twin.training_loss(x, y, CrossEntropyLoss()).backward()
    for p in net.parameters():  # an earlier gradient is added to, as backward adds to it
        p.grad = torch.ones_like(p)
    for p in twin.parameters():
        p.grad = p.grad + 1 if p.grad is not None else None
    torch.manual_seed(9)
    loss = net.fused_gradients(x, y, CrossEntropyLoss())
    assert loss is not None and not loss.requires_grad
    torch.manual_seed(9)
    ref = twin.training_loss(x, y, CrossEntropyLoss())
    torch.testing.assert_close(loss, ref.detach())
    for (name, p), q in zip(net.named_parameters(), twin.parameters(), strict=True):
        if q.grad is None:  # not part of the loss (none in this network)
            assert p.grad is None or torch.equal(p.grad, torch.ones_like(p)), name
        else:
            torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_a_frozen_parameter_gets_no_gradient():
    x, y = _batch()
    net = _net()
    net.head.weight.requires_grad_(False)
    assert net.fused_gradients(x, y, CrossEntropyLoss()) is not None
    assert net.head.weight.grad is None and net.head.bias.grad is not None


@pytest.mark.parametrize(
    ("options", "criterion"),
    [
        ({"norm": "batch"}, CrossEntropyLoss()),
        ({"activation": "gelu"}, CrossEntropyLoss()),
        ({}, CrossEntropyLoss(label_smoothing=0.1)),
        ({}, CrossEntropyLoss(class_weights=(1.0, 2.0, 1.0))),
    ],
)
def test_other_kinds_return_none_and_touch_nothing(options, criterion):
    x, y = _batch()
    net = _net(**options)
    assert net.fused_gradients(x, y, criterion) is None
    assert all(p.grad is None for p in net.parameters())


def test_eval_mode_inputs_with_grad_and_no_grad_mode_return_none():
    x, y = _batch()
    net = _net()
    assert net.eval().fused_gradients(x, y, CrossEntropyLoss()) is None
    net.train()
    assert net.fused_gradients(x.clone().requires_grad_(True), y, CrossEntropyLoss()) is None
    with torch.no_grad():
        assert net.fused_gradients(x, y, CrossEntropyLoss()) is None
    assert all(p.grad is None for p in net.parameters())


def test_other_kinds_leave_the_batch_to_the_caller_s_own_path():
    """None before standardising: the fallback runs trunk_input (and random input gates) once."""
    x, y = _batch()
    for net in (_net(norm="batch"), _net(input_gates="stg")):
        calls = []
        original = net.trunk_input
        net.trunk_input = lambda t, original=original, calls=calls: calls.append(1) or original(t)
        assert net.fused_gradients(x, y, CrossEntropyLoss()) is None
        assert calls == []
