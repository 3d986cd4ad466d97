"""Norm loss: naive value, zero on the oblique manifold, radial gradient; by name in training."""

import numpy as np
import pytest
import torch

from headkit.functional.regularizers import norm_loss
from headkit.nn import HeadNet
from headkit.nn.losses import LOSSES


def test_value_matches_the_naive_sum():
    rng = np.random.default_rng(0)
    ws = [rng.normal(size=(5, 3)), rng.normal(size=(2, 5)) * 3]
    naive = 0.3 * sum(((np.linalg.norm(w, axis=1) - 1) ** 2).sum() for w in ws)
    got = norm_loss([torch.from_numpy(w) for w in ws], lam=0.3)
    assert got.item() == pytest.approx(naive, rel=1e-12)


def test_zero_when_every_row_has_unit_norm():
    w = torch.nn.functional.normalize(torch.randn(7, 4, dtype=torch.float64), dim=1)
    assert norm_loss(w, 2.0).item() == pytest.approx(0.0, abs=1e-28)


def test_gradient_is_radial():
    w = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(norm_loss(w, 0.5), w)
    cos = torch.nn.functional.cosine_similarity(grad, w.detach(), dim=1).abs()
    torch.testing.assert_close(cos, torch.ones(6, dtype=torch.float64))
    norms = w.detach().norm(dim=1, keepdim=True)
    torch.testing.assert_close(grad, 2 * 0.5 * (1 - 1 / norms) * w.detach())  # 2λ(1 − 1/‖w‖)·w


def test_by_name_adds_the_penalty_of_every_dense_row_in_training_only():
    net = HeadNet(n_features=4, n_classes=3, hidden_sizes=(6,), dropout=0.0).double()
    loss = LOSSES.build("norm_loss:lam=0.2", n_classes=3, output=net.output, network=net)
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,))
    logits = net(x)
    ce = torch.nn.functional.cross_entropy(logits, y)
    rows = [net.trunk.blocks[0].linear.weight, net.head.weight]
    penalty = 0.2 * sum(((r.norm(dim=1) - 1) ** 2).sum() for r in rows)
    torch.testing.assert_close(loss(logits, y), ce + penalty)
    with torch.no_grad():
        torch.testing.assert_close(loss(logits, y), ce)  # validation reports the data loss
