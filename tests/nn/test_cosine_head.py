"""Cosine / normalised-softmax head (catalogue D2): bounds, scale invariance, the formula."""

import numpy as np
import pytest
import torch
from sklearn.metrics.pairwise import cosine_similarity

from headkit import HeadClassifier
from headkit import functional as F
from headkit.nn import HEADS


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(40, 6, generator=g, dtype=torch.float64), torch.randn(
        9, 6, generator=g, dtype=torch.float64
    )


@pytest.mark.parametrize("s", [1.0, 16.0, 64.0])
def test_logits_equal_s_times_cosine_similarity_and_stay_in_bounds(s):
    h, w = _data()
    h[0] *= 1e6  # extreme norms change nothing
    w[1] *= 1e-6
    z = F.cosine_logits(h, w, s)
    np.testing.assert_allclose(z.numpy(), s * cosine_similarity(h.numpy(), w.numpy()), rtol=1e-12)
    assert z.abs().max().item() <= s * (1 + 1e-12)
    # the bounds are reached: a feature equal to (minus) a class vector gives ±s
    edge = F.cosine_logits(torch.stack([w[2], -3 * w[2]]), w, s)
    torch.testing.assert_close(edge[:, 2], torch.tensor([s, -s], dtype=torch.float64))


def test_invariant_to_rescaling_features_or_any_class_weight():
    h, w = _data(1)
    g = torch.Generator().manual_seed(2)
    row_scale = torch.rand(40, 1, generator=g, dtype=torch.float64) * 100 + 1e-3
    class_scale = torch.rand(9, 1, generator=g, dtype=torch.float64) * 100 + 1e-3
    ref = F.cosine_logits(h, w, 8.0)
    torch.testing.assert_close(F.cosine_logits(h * row_scale, w, 8.0), ref)
    torch.testing.assert_close(F.cosine_logits(h, w * class_scale, 8.0), ref)


def test_head_by_name_is_the_function_and_learns_its_scale():
    head = HEADS.build("cosine:s=5,learn_scale=true", in_features=6, n_classes=9).double()
    h, _ = _data(3)
    torch.testing.assert_close(head(h), F.cosine_logits(h, head.weight, 5.0))
    torch.testing.assert_close(head(h * 7.0), head(h))
    head(h).sum().backward()
    assert head.log_scale.grad is not None


def test_estimator_round_trip_keeps_the_learned_scale(blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    clf = HeadClassifier(
        hidden_sizes=(16,), head="cosine:s=4,learn_scale=true", epochs=5, random_state=0
    ).fit(X, y)
    s = clf.model_.head.s.item()
    assert s != pytest.approx(4.0)  # trained
    logits = clf.logits(X_test)
    assert np.abs(logits).max() <= s * (1 + 1e-6)
    clf.save(tmp_path / "m")
    back = HeadClassifier.load(tmp_path / "m")
    assert back.model_.head.s.item() == pytest.approx(s)
    np.testing.assert_allclose(back.logits(X_test), logits, rtol=1e-6)
