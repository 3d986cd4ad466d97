"""Online softmax normaliser (catalogue C2): logsumexp, merge associativity, fused top-k."""

import itertools
import random

import numpy as np
import pytest
import torch
from scipy.special import logsumexp, softmax

from headkit import functional as F
from headkit.exceptions import DataError
from headkit.nn import OUTPUTS


@pytest.mark.parametrize("chunk_size", [1, 3, 64, None])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_m_plus_log_d_is_logsumexp(chunk_size, dim):
    x = torch.randn(5, 37, 4, dtype=torch.float64) * 30
    m, d = F.online_normalizer(x, dim=dim, chunk_size=chunk_size)
    ref = logsumexp(x.numpy(), axis=dim)  # scipy, an independent implementation
    np.testing.assert_allclose((m + torch.log(d)).numpy(), ref, rtol=1e-6)
    np.testing.assert_allclose(m.numpy(), x.numpy().max(axis=dim))
    np.testing.assert_allclose(
        F.online_softmax(x, dim=dim, chunk_size=chunk_size).numpy(),
        softmax(x.numpy(), axis=dim),
        rtol=1e-6,
        atol=1e-12,
    )


def test_elementwise_recurrence_matches_the_paper():
    """chunk_size=1 is the sequential recurrence; check it against a Python loop."""
    x = [random.Random(0).uniform(-50, 50) for _ in range(40)]
    m, d = float("-inf"), 0.0
    for v in x:
        new = max(m, v)
        d = d * np.exp(m - new) + np.exp(v - new)
        m = new
    got_m, got_d = F.online_normalizer(torch.tensor(x, dtype=torch.float64), chunk_size=1)
    assert got_m.item() == m and got_d.item() == pytest.approx(d, rel=1e-12)


def test_merge_is_associative_and_order_free():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 60, generator=g, dtype=torch.float64) * 10
    x[:, 7:19] = float("-inf")  # some chunks hold no finite logit
    parts = [F.online_normalizer(c, chunk_size=None) for c in x.split(6, dim=-1)]
    ref = logsumexp(x.numpy(), axis=-1)
    rng = random.Random(0)
    for _ in range(20):
        order = parts[:]
        rng.shuffle(order)
        # random binary trees: merge random neighbours until one is left
        while len(order) > 1:
            i = rng.randrange(len(order) - 1)
            order[i : i + 2] = [F.merge_normalizers(order[i], order[i + 1])]
        m, d = order[0]
        np.testing.assert_allclose((m + d.log()).numpy(), ref, rtol=1e-12)
    a, b, c = parts[:3]
    left = F.merge_normalizers(F.merge_normalizers(a, b), c)
    right = F.merge_normalizers(a, F.merge_normalizers(b, c))
    for u, v in zip(left, right, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-14, atol=0)
    identity = (torch.tensor(float("-inf")), torch.tensor(0.0, dtype=torch.float64))
    for u, v in zip(F.merge_normalizers(a, identity), a, strict=True):
        torch.testing.assert_close(u, v)


@pytest.mark.parametrize("chunk_size", [1, 4, None])
def test_all_but_one_minus_infinity(chunk_size):
    x = torch.full((2, 10), float("-inf"), dtype=torch.float64)
    x[0, 3], x[1, 9] = -1e4, 2.5
    m, d = F.online_normalizer(x, chunk_size=chunk_size)
    torch.testing.assert_close(m, torch.tensor([-1e4, 2.5], dtype=torch.float64))
    torch.testing.assert_close(d, torch.ones(2, dtype=torch.float64))
    p = F.online_softmax(x, chunk_size=chunk_size)
    torch.testing.assert_close(p, torch.nn.functional.one_hot(torch.tensor([3, 9]), 10).double())
    values, index = F.softmax_topk(x, 1, chunk_size=chunk_size)
    assert values.flatten().tolist() == [1.0, 1.0] and index.flatten().tolist() == [3, 9]


@pytest.mark.parametrize(
    ("k", "chunk_size", "dim"), list(itertools.product([1, 5, 23], [1, 4, 100], [0, -1]))
)
def test_fused_topk_equals_topk_of_the_full_softmax(k, chunk_size, dim):
    x = torch.randn(23, 23, dtype=torch.float64, generator=torch.Generator().manual_seed(k)) * 5
    values, index = F.softmax_topk(x, k, dim=dim, chunk_size=chunk_size)
    p = softmax(x.numpy(), axis=dim)
    order = np.argsort(-p, axis=dim, kind="stable").take(range(k), axis=dim)
    np.testing.assert_array_equal(index.numpy(), order)
    np.testing.assert_allclose(values.numpy(), np.take_along_axis(p, order, axis=dim), rtol=1e-12)


def test_topk_rejects_a_bad_k():
    with pytest.raises(DataError, match="k must be an int in"):
        F.softmax_topk(torch.randn(2, 4), 5)
    with pytest.raises(DataError, match="chunk_size"):
        F.online_normalizer(torch.randn(2, 4), chunk_size=0)


def test_online_softmax_output_by_name():
    out = OUTPUTS.build("online_softmax:chunk_size=3")
    z = torch.randn(4, 10)
    torch.testing.assert_close(out(z), torch.softmax(z, -1))
    torch.testing.assert_close(out.log_prob(z), torch.log_softmax(z, -1))
    values, index = out.topk(z, 2)
    ref_v, ref_i = torch.softmax(z, -1).topk(2)
    torch.testing.assert_close(values, ref_v)
    assert torch.equal(index, ref_i)
    assert out.natural_loss == "softmax_cross_entropy"
