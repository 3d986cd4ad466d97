"""dense_cross_entropy (the whole default network as one node) against the per-node path."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as TF

from headkit.functional.fused_dense import linear_relu_dropout
from headkit.functional.fused_network import dense_cross_entropy
from headkit.nn import HeadNet


def _net(dtype=torch.float64, widths=(6, 8, 5), classes=4, rows=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, widths[0], generator=g, dtype=dtype)
    weights = [torch.randn(b, a, generator=g, dtype=dtype) for a, b in itertools.pairwise(widths)]
    biases = [torch.randn(b, generator=g, dtype=dtype) for b in widths[1:]]
    head_w = torch.randn(classes, widths[-1], generator=g, dtype=dtype)
    head_b = torch.randn(classes, generator=g, dtype=dtype)
    target = torch.randint(0, classes, (rows,), generator=g)
    return x, target, weights, biases, head_w, head_b


def _reference(x, target, weights, biases, head_w, head_b, rates, ignore_index=-100):
    h = x
    for w, b, p in zip(weights, biases, rates, strict=True):
        h = linear_relu_dropout(h, w, b, p)
    return TF.cross_entropy(TF.linear(h, head_w, head_b), target, ignore_index=ignore_index)


@pytest.mark.parametrize("rates", [(0.0, 0.0), (0.3, 0.0), (0.25, 0.5)])
@pytest.mark.parametrize("input_grad", [False, True])
def test_loss_and_gradients_match_the_per_node_path(rates, input_grad):
    x, target, weights, biases, head_w, head_b = _net()
    x.requires_grad_(input_grad)
    params = [*weights, *biases, head_w, head_b]
    for t in params:
        t.requires_grad_(True)
    inputs = [x, *params] if input_grad else params
    torch.manual_seed(7)
    ref = _reference(x, target, weights, biases, head_w, head_b, rates)
    g_ref = torch.autograd.grad(ref, inputs)
    torch.manual_seed(7)  # the same generator state draws the same masks
    out = dense_cross_entropy(x, target, weights, biases, head_w, head_b, rates)
    g_out = torch.autograd.grad(out, inputs)
    torch.testing.assert_close(out, ref)
    for a, r in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, r)


def test_ignored_rows_contribute_nothing():
    x, target, weights, biases, head_w, head_b = _net()
    target[:3] = -1
    loss = dense_cross_entropy(x, target, weights, biases, head_w, head_b, (0.0, 0.0), -1)
    kept = dense_cross_entropy(x[3:], target[3:], weights, biases, head_w, head_b, (0.0, 0.0))
    torch.testing.assert_close(loss, kept)


def test_gradcheck_float64():
    x, target, weights, biases, head_w, head_b = _net(widths=(3, 4, 4), classes=3, rows=5)
    params = [t.requires_grad_(True) for t in (x, *weights, *biases, head_w, head_b)]

    def fn(x, w1, w2, b1, b2, hw, hb):
        torch.manual_seed(11)  # the same masks at every evaluation
        return dense_cross_entropy(x, target, [w1, w2], [b1, b2], hw, hb, (0.3, 0.2))

    assert torch.autograd.gradcheck(fn, tuple(params))


def test_bad_arguments_are_refused():
    x, target, weights, biases, head_w, head_b = _net()
    with pytest.raises(ValueError, match="one bias and one rate"):
        dense_cross_entropy(x, target, weights, biases[:1], head_w, head_b, (0.1, 0.1))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        dense_cross_entropy(x[None], target, weights, biases, head_w, head_b, (0.1, 0.1))
    with pytest.raises(ValueError, match="dropout rate"):
        dense_cross_entropy(x, target, weights, biases, head_w, head_b, (0.1, 1.0))


def _grads_of_a_step(net, x, y, fused: bool):
    from headkit.nn.losses import CrossEntropyLoss

    net.zero_grad()
    handle = None if fused else net.head.register_forward_hook(lambda *a: None)  # per-node path
    assert (net._fused_loss(net.trunk_input(x), y, CrossEntropyLoss()) is not None) == fused
    torch.manual_seed(3)
    loss = net.training_loss(x, y, CrossEntropyLoss())
    loss.backward()
    if handle is not None:
        handle.remove()
    return loss.detach(), [p.grad.clone() for p in net.parameters() if p.requires_grad]


def test_headnet_takes_the_fused_path_with_the_same_loss_and_gradients():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(16, 16), dropout=0.3).train()
    net.set_standardization(torch.full((6,), 0.5), torch.full((6,), 2.0))
    x, y = torch.randn(20, 6), torch.randint(0, 3, (20,))
    loss_f, grads_f = _grads_of_a_step(net, x, y, fused=True)
    loss_e, grads_e = _grads_of_a_step(net, x, y, fused=False)
    torch.testing.assert_close(loss_f, loss_e)
    for a, r in zip(grads_f, grads_e, strict=True):
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize(
    "options",
    [
        {"norm": "batch"},
        {"activation": "gelu"},
        {"head": "cosine"},
        {"dropout": "multisample:k=2,p=0.3"},
        {"residual": True, "hidden_sizes": (6, 6)},
    ],
)
def test_other_networks_keep_the_per_node_path(options):
    from headkit.nn.losses import CrossEntropyLoss

    net = HeadNet(n_features=6, n_classes=3, **{"hidden_sizes": (8,), **options}).train()
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    assert net._fused_loss(net.trunk_input(x), y, CrossEntropyLoss()) is None
    assert torch.isfinite(net.training_loss(x, y, CrossEntropyLoss()))


def test_weighted_or_smoothed_losses_keep_the_per_node_path():
    from headkit.nn.losses import CrossEntropyLoss

    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(8,)).train()
    x, y = torch.randn(10, 6), torch.randint(0, 3, (10,))
    for criterion in (
        CrossEntropyLoss(label_smoothing=0.1),
        CrossEntropyLoss(class_weights=(1, 2, 1)),
    ):
        assert net._fused_loss(x, y, criterion) is None
    assert net._fused_loss(x, y, CrossEntropyLoss()) is not None
    assert net.eval()._fused_loss(x, y, CrossEntropyLoss()) is None  # no dropout in eval mode


@pytest.mark.parametrize("rates", [(0.0, 0.0), (0.25, 0.5)])
def test_graph_free_gradients_are_those_of_backward(rates):
    from headkit.functional.fused_network import dense_cross_entropy_gradients

    x, target, weights, biases, head_w, head_b = _net()
    target[0] = -1  # an ignored row
    params = [weights[0], biases[0], weights[1], biases[1], head_w, head_b]
    for t in params:
        t.requires_grad_(True)
    torch.manual_seed(3)
    ref = dense_cross_entropy(x, target, weights, biases, head_w, head_b, rates, -1)
    g_ref = torch.autograd.grad(ref, params)
    torch.manual_seed(3)  # the same masks
    loss, grads = dense_cross_entropy_gradients(
        x, target, weights, biases, head_w, head_b, rates, -1
    )
    assert not loss.requires_grad and all(not g.requires_grad for g in grads)
    torch.testing.assert_close(loss, ref.detach())
    for a, r, p in zip(grads, g_ref, params, strict=True):
        assert a.shape == p.shape and a.dtype == p.dtype
        torch.testing.assert_close(a, r)


def test_graph_free_gradients_in_bfloat16_products_match_backward():
    from headkit.functional.fused_network import dense_cross_entropy_gradients

    x, target, weights, biases, head_w, head_b = _net(dtype=torch.float32)
    params = [weights[0], biases[0], weights[1], biases[1], head_w, head_b]
    for t in params:
        t.requires_grad_(True)
    args = (x, target, weights, biases, head_w, head_b, (0.2, 0.2), -100, torch.bfloat16)
    torch.manual_seed(5)
    g_ref = torch.autograd.grad(dense_cross_entropy(*args), params)
    torch.manual_seed(5)
    _, grads = dense_cross_entropy_gradients(*args)
    for a, r in zip(grads, g_ref, strict=True):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a, r)


@pytest.mark.parametrize("classes", [1, 2, 15, 16, 40])  # both layouts of the head's logits
def test_every_head_width_matches_the_per_node_path(classes):
    x, target, weights, biases, head_w, head_b = _net(classes=classes, rows=7)
    params = [*weights, *biases, head_w, head_b]
    for t in params:
        t.requires_grad_(True)
    torch.manual_seed(2)
    ref = _reference(x, target, weights, biases, head_w, head_b, (0.3, 0.3))
    g_ref = torch.autograd.grad(ref, params)
    torch.manual_seed(2)
    out = dense_cross_entropy(x, target, weights, biases, head_w, head_b, (0.3, 0.3))
    g_out = torch.autograd.grad(out, params)
    torch.testing.assert_close(out, ref)
    for a, r in zip(g_out, g_ref, strict=True):
        torch.testing.assert_close(a, r)
