"""T-similarity of an ensemble of heads (catalogue H4) and predictive multiplicity (I7)."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.evaluation.multiplicity import ensemble_t_similarity, predictive_multiplicity


def _naive_t(p):
    m = len(p)
    return sum(p[i] @ p[j] for i in range(m) for j in range(m) if i != j) / (m * (m - 1))


def test_t_similarity_matches_the_pairwise_formula_and_its_bounds():
    g = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(4, 30, 5, generator=g, dtype=torch.float64) * 3, -1)
    t = F.t_similarity(probs)
    for n in range(30):
        assert float(t[n]) == pytest.approx(float(_naive_t(probs[:, n])))
    assert (t >= 0).all() and (t <= 1).all()
    one_hot = torch.eye(5, dtype=torch.float64)[2].expand(4, 1, 5)
    assert float(F.t_similarity(one_hot)) == 1.0
    same = probs[:1].expand(4, -1, -1)
    torch.testing.assert_close(F.t_similarity(same), (probs[0] ** 2).sum(-1))
    mixed = one_hot.clone()
    mixed[1, 0] = torch.eye(5, dtype=torch.float64)[3]
    assert float(F.t_similarity(mixed)) < 1.0


def test_multiplicity_of_identical_models_is_zero_and_grows_with_spread():
    p = torch.softmax(torch.randn(20, 3), -1)
    same = p.expand(3, -1, -1)
    assert F.probability_range(same).max() == 0 and F.ambiguity(same) == 0.0 == F.discrepancy(same)
    flipped = same.clone()
    flipped[1, :5] = flipped[1, :5].flip(-1)
    assert F.ambiguity(flipped) == pytest.approx(F.discrepancy(flipped))
    assert F.probability_range(flipped)[:5].max() > 0


def test_estimator_level_multiplicity_and_ensemble_head(blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    fits = [HeadClassifier(hidden_sizes=(8,), epochs=3, random_state=s).fit(X, y) for s in range(3)]
    out = predictive_multiplicity(fits, X_test)
    assert out["range"].shape == (len(X_test), 3) and 0 <= out["ambiguity"] <= 1
    assert predictive_multiplicity([fits[0], fits[0]], X_test)["max_range"].max() == 0
    model = HeadClassifier(hidden_sizes=(16,), head="ensemble:m=4", epochs=10, random_state=0)
    model.fit(X, y)
    assert model.score(X_test, y_test) > 0.6
    t = ensemble_t_similarity(model, X_test)
    assert t.shape == (len(X_test),) and ((t >= 0) & (t <= 1)).all()
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(ensemble_t_similarity(loaded, X_test), t, atol=1e-6)
    with pytest.raises(ValueError, match="ensemble"):
        ensemble_t_similarity(fits[0], X_test)
