"""Active-learning uncertainty scores and top-q % outlier clipping (catalogue I5)."""

import math

import numpy as np
import pytest
import torch

from headkit import functional as F
from headkit.functional.acquisition import entropy, uncertainty


def test_scores_against_naive_formulas():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(50, 6, generator=g, dtype=torch.float64) * 2, -1)
    rows = p.numpy()
    np.testing.assert_allclose(F.least_confidence(p).numpy(), [1 - max(r) for r in rows])
    np.testing.assert_allclose(
        F.margin(p).numpy(), [sorted(r)[-1] - sorted(r)[-2] for r in rows], rtol=1e-12
    )
    np.testing.assert_allclose(entropy(p).numpy(), [-(r * np.log(r)).sum() for r in rows])
    np.testing.assert_allclose(F.margin(p.T, dim=0).numpy(), F.margin(p).numpy())


def test_uniform_and_one_hot_extremes():
    k = 7
    uniform, one_hot = torch.full((1, k), 1 / k, dtype=torch.float64), torch.eye(k)[:1].double()
    assert float(entropy(uniform)) == pytest.approx(math.log(k))
    assert float(entropy(one_hot)) == 0.0
    assert float(F.least_confidence(uniform)) == pytest.approx(1 - 1 / k)
    assert float(F.margin(uniform)) == pytest.approx(0.0) and float(F.margin(one_hot)) == 1.0
    for score in ("least_confidence", "margin", "entropy"):
        assert uncertainty(uniform, score) > uncertainty(one_hot, score)
    with pytest.raises(ValueError, match="score"):
        uncertainty(uniform, "bald")


@pytest.mark.parametrize("n", [1, 7, 10, 99, 100])
@pytest.mark.parametrize("q", [0.0, 0.01, 0.1, 0.333, 0.5])
def test_clipping_removes_exactly_ceil_qn_most_uncertain(n, q):
    scores = torch.rand(n, generator=torch.Generator().manual_seed(n))
    scores[: n // 2] = 0.5  # ties
    kept = F.clip_outliers(scores, q)
    dropped = sorted(set(range(n)) - set(kept.tolist()))
    assert len(dropped) == math.ceil(q * n - 1e-9)
    if dropped and len(kept):
        assert scores[dropped].min() >= scores[kept].max()


def test_select_queries_skips_the_outliers_then_takes_the_most_uncertain():
    p = torch.tensor(
        [[0.34, 0.33, 0.33], [0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.6, 0.3, 0.1], [1.0, 0, 0]]
    )
    assert F.select_queries(p, 2, "margin").tolist() == [0, 2]
    assert F.select_queries(p, 2, "margin", clip=0.2).tolist() == [2, 3]  # row 0 is the outlier
    assert F.select_queries(p, 10, "least_confidence", clip=0.2).tolist() == [2, 3, 1, 4]
