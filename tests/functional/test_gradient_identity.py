"""The last-layer gradient identity as a test oracle for every registered loss (autograd vs closed form)."""

import pytest
import torch

from headkit.exceptions import DataError
from headkit.functional.gradient_identity import (
    recover_head_input,
    recover_softmax_target,
    softmax_ce_head_gradients,
)
from headkit.functional.losses import smooth_targets
from headkit.nn import HeadNet
from headkit.nn.losses import LOSSES
from headkit.nn.outputs import OUTPUTS

C, D = 5, 4


def _head(seed=0):
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Linear(D, C).double()
    with torch.no_grad():
        head.weight.copy_(torch.randn(C, D, generator=g, dtype=torch.float64))
        head.bias.copy_(torch.randn(C, generator=g, dtype=torch.float64))
    h = torch.randn(1, D, generator=g, dtype=torch.float64)
    return head, h


@pytest.mark.parametrize("name", LOSSES.names())
def test_single_input_head_gradient_is_an_outer_product_for_every_loss(name):
    """∂L/∂W = (∂L/∂b) hᵀ for any loss of z = W h + b, so h = (∂L/∂W)_k / (∂L/∂b)_k.

    Built with a two-block network as context (losses that read hidden layers need one); a loss's
    weight penalty (``penalty()``, a function of W itself, not of z) is taken out first.
    """
    torch.manual_seed(0)
    net = HeadNet(n_features=3, n_classes=C, hidden_sizes=(D, D), dropout=0.0).double()
    loss = LOSSES.build(name, n_classes=C, output=net.output, network=net).double()
    weight, bias = net.head.weight, net.head.bias
    h = net.features(torch.randn(1, 3, dtype=torch.float64))
    value = loss(net.head(h), torch.tensor([2]), features=h)
    grad_w, grad_b = torch.autograd.grad(value, [weight, bias], retain_graph=True)
    penalty = getattr(loss, "penalty", None)
    if penalty is not None:
        grad_w = grad_w - torch.autograd.grad(penalty(), weight)[0]
    h = h.detach()[0]
    torch.testing.assert_close(grad_w, torch.outer(grad_b, h), rtol=1e-6, atol=1e-10)
    if grad_b.abs().max() == 0:  # e.g. "masked" with one row: only its own class competes
        with pytest.raises(DataError):
            recover_head_input(grad_w, grad_b)
    else:
        torch.testing.assert_close(recover_head_input(grad_w, grad_b), h, rtol=1e-6, atol=1e-9)


def _p(z):
    return torch.softmax(z, -1)


def _ls(y):
    return smooth_targets(torch.tensor([y]), C, 0.1)[0].double()


def _entmax15(z):
    from headkit.functional.sparse import entmax15

    return entmax15(z)


# ∂L/∂z in closed form (from each loss's definition), one input z (C,), target class y
CLOSED_FORM = {
    "cross_entropy": lambda z, y: _p(z) - torch.eye(C, dtype=z.dtype)[y],
    "softmax_cross_entropy": lambda z, y: _p(z) - torch.eye(C, dtype=z.dtype)[y],
    "decoupled_softmax": lambda z, y: _p(z) - torch.eye(C, dtype=z.dtype)[y],
    "label_smoothing": lambda z, y: _p(z) - _ls(y),
    "one_vs_all": lambda z, y: torch.sigmoid(z) - torch.eye(C, dtype=z.dtype)[y],
    "fenchel_young": lambda z, y: _entmax15(z) - torch.eye(C, dtype=z.dtype)[y],
    "maxsup": lambda z, y: (
        _p(z)
        - torch.eye(C, dtype=z.dtype)[y]
        + 0.1 * (torch.eye(C, dtype=z.dtype)[z.argmax()] - 1.0 / C)
    ),
    "z_loss": lambda z, y: (
        _p(z) - torch.eye(C, dtype=z.dtype)[y] + 2e-4 * torch.logsumexp(z, 0) * _p(z)
    ),
}


@pytest.mark.parametrize("name", sorted(CLOSED_FORM))
def test_head_gradients_equal_the_closed_form_error_times_features(name):
    head, h = _head(seed=1)
    loss = LOSSES.build(name, n_classes=C, output=OUTPUTS.build("softmax", n_classes=C)).double()
    logits = head(h)
    grad_w, grad_b = torch.autograd.grad(loss(logits, torch.tensor([3])), [head.weight, head.bias])
    g = CLOSED_FORM[name](logits[0].detach(), 3)
    torch.testing.assert_close(grad_b, g, rtol=1e-6, atol=1e-10)
    torch.testing.assert_close(grad_w, torch.outer(g, h[0]), rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("kind", ["hard", "smoothed", "mixup"])
def test_softmax_ce_identity_and_target_recovery(kind):
    head, h = _head(seed=2)
    if kind == "hard":
        target = torch.tensor([1])
        row = torch.eye(C, dtype=torch.float64)[1]
    elif kind == "smoothed":
        row = _ls(1)
        target = row[None]
    else:  # mixup/CutMix: λ·e_1 + (1 − λ)·e_4
        row = (
            0.7 * torch.eye(C, dtype=torch.float64)[1] + 0.3 * torch.eye(C, dtype=torch.float64)[4]
        )
        target = row[None]
    logits = head(h)
    autograd = torch.autograd.grad(
        torch.nn.functional.cross_entropy(logits, target), [head.weight, head.bias]
    )
    closed = softmax_ce_head_gradients(h, logits.detach(), target)
    for a, b in zip(autograd, closed, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-12)
    recovered = recover_softmax_target(autograd[1], _p(logits[0].detach()))
    torch.testing.assert_close(recovered, row, atol=1e-6, rtol=0)
    torch.testing.assert_close(recover_head_input(*autograd), h[0], rtol=1e-6, atol=1e-9)


def test_batch_identity_is_the_mean_of_outer_products():
    head, _ = _head(seed=3)
    h = torch.randn(7, D, dtype=torch.float64)
    y = torch.randint(0, C, (7,))
    logits = head(h)
    grads = torch.autograd.grad(
        torch.nn.functional.cross_entropy(logits, y), [head.weight, head.bias]
    )
    p = _p(logits.detach())
    error = p - torch.eye(C, dtype=torch.float64)[y]
    naive_w = sum(torch.outer(error[i], h[i]) for i in range(7)) / 7
    torch.testing.assert_close(grads[0], naive_w)
    torch.testing.assert_close(grads[1], error.mean(0))
    closed = softmax_ce_head_gradients(h, logits.detach(), y)
    torch.testing.assert_close(closed[0], naive_w)
