"""Decoupled softmax and the soft top-k loss against naive formulas and autograd checks."""

import math

import numpy as np
import pytest
import torch

from headkit.functional.multilabel import decoupled_softmax_loss, soft_top_k, soft_top_k_loss


def _naive_decoupled(z: np.ndarray, positives: np.ndarray) -> float:
    """Mean over rows with positives of mean_p −log(e^{s_p}/(e^{s_p} + Σ_neg e^{s_n}))."""
    rows = []
    for s, pos in zip(z, positives, strict=True):
        if not pos.any():
            continue
        neg = np.exp(s[~pos]).sum()
        rows.append(
            np.mean(
                [-math.log(math.exp(s[p]) / (math.exp(s[p]) + neg)) for p in np.flatnonzero(pos)]
            )
        )
    return float(np.mean(rows))


def test_one_positive_is_standard_cross_entropy():
    z = torch.randn(16, 7, dtype=torch.float64)
    y = torch.randint(0, 7, (16,))
    expected = torch.nn.functional.cross_entropy(z, y)
    torch.testing.assert_close(decoupled_softmax_loss(z, y), expected)
    one_hot = torch.nn.functional.one_hot(y, 7).double()
    torch.testing.assert_close(decoupled_softmax_loss(z, one_hot), expected)


def test_decoupled_softmax_matches_the_naive_formula():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(12, 9)) * 2
    pos = rng.random((12, 9)) < 0.3
    pos[0] = False  # a row without positives contributes nothing
    got = decoupled_softmax_loss(torch.from_numpy(z), torch.from_numpy(pos.astype(float)))
    assert got.item() == pytest.approx(_naive_decoupled(z, pos), rel=1e-12)


def test_each_positive_term_ignores_the_other_positives_scores():
    z = torch.randn(1, 6, dtype=torch.float64)
    target = torch.tensor([[1.0, 1.0, 0, 0, 0, 0]])

    def term(logits, p):  # CE of positive p against the negatives 2..5 only (naive)
        cols = [p, 2, 3, 4, 5]
        return torch.nn.functional.cross_entropy(logits[:, cols], torch.tensor([0]))

    base = decoupled_softmax_loss(z, target)
    torch.testing.assert_close(base, (term(z, 0) + term(z, 1)) / 2)
    # moving positive 1 changes only its own term
    z2 = z.clone()
    z2[0, 1] += 5.0
    torch.testing.assert_close(
        decoupled_softmax_loss(z2, target) - base, (term(z2, 1) - term(z, 1)) / 2
    )
    # so the loss's gradient w.r.t. s_1 is that of term 1 alone (term 0 does not see s_1)
    z.requires_grad_(True)
    (grad,) = torch.autograd.grad(decoupled_softmax_loss(z, target), z)
    (grad_1,) = torch.autograd.grad(term(z, 1) / 2, z)
    torch.testing.assert_close(grad[0, 1], grad_1[0, 1])


def test_decoupled_softmax_gradcheck():
    z = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    target = torch.tensor([[1.0, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 1, 1, 1, 0], [0, 0, 0, 0, 1]])
    assert torch.autograd.gradcheck(lambda t: decoupled_softmax_loss(t, target), (z,))


@pytest.mark.parametrize("k", [1, 2.5, 4])
def test_soft_top_k_rows_sum_to_k_and_lie_in_unit_interval(k):
    s = torch.randn(8, 6, dtype=torch.float64) * 3
    m = soft_top_k(s, k, tau=0.7)
    torch.testing.assert_close(m.sum(-1), torch.full((8,), float(k), dtype=torch.float64))
    assert ((m > 0) & (m < 1)).all()


def test_soft_top_k_tends_to_the_hard_top_k_indicator():
    s = torch.randn(10, 8, dtype=torch.float64)
    hard = torch.zeros_like(s).scatter_(1, s.topk(3, dim=1).indices, 1.0)
    gap = (s.topk(4, dim=1).values[:, 2] - s.topk(4, dim=1).values[:, 3]).min().item()
    m = soft_top_k(s, 3, tau=gap / 50)
    assert (m - hard).abs().max().item() < 1e-3


def test_soft_top_k_gradient_is_the_implicit_one():
    s = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: soft_top_k(t, 2.0, 0.8, n_iter=200), (s,), atol=1e-6)


def test_soft_top_k_loss_naive_and_limits():
    s = torch.randn(5, 7, dtype=torch.float64)
    target = (torch.rand(5, 7) < 0.3).double()
    target[:, 0] = 1.0
    m = soft_top_k(s, 3, 0.5)
    naive = np.mean([-np.log(m[i][target[i] > 0].numpy()).mean() for i in range(5)])
    assert soft_top_k_loss(s, target, k=3, tau=0.5).item() == pytest.approx(naive, rel=1e-9)
    # positives far above the rest, fewer than k of them: the loss goes to 0
    far = torch.zeros(1, 7, dtype=torch.float64)
    far[0, :2] = 100.0
    assert soft_top_k_loss(far, torch.tensor([0]), k=3, tau=1.0).item() < 1e-12
    # a positive far below: large loss; gradient pushes it up
    low = torch.zeros(1, 7, dtype=torch.float64, requires_grad=True)
    loss = soft_top_k_loss(
        low - 20 * torch.nn.functional.one_hot(torch.tensor([6]), 7), torch.tensor([6]), k=2
    )
    (grad,) = torch.autograd.grad(loss, low)
    assert loss.item() > 10 and grad[0, 6] < 0
