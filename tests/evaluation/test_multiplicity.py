"""Predictive multiplicity (catalogue I7) against a naive reference on a hand-built Rashomon set."""

import numpy as np
import pytest

from headkit.evaluation import predictive_multiplicity


class Fixed:
    """A 'fitted classifier' that returns fixed probabilities."""

    classes_ = np.array(["a", "b", "c"])

    def __init__(self, proba):
        self.proba = np.asarray(proba, dtype=np.float64)

    def predict_proba(self, X):
        return self.proba[: len(X)]


# 4 rows, predicted classes per fit: h0 = a a b c, h1 = a b b c, h2 = b b b a
H0 = [[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]
H1 = [[0.8, 0.1, 0.1], [0.4, 0.5, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7]]
H2 = [[0.3, 0.6, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]]
Y = np.array(["a", "a", "b", "c"])
X = np.zeros((4, 1))


def naive(probas):
    """Marx et al. (2020) by loops: h0 is the first fit."""
    preds = [np.argmax(p, 1) for p in probas]
    n = len(preds[0])
    ambiguity = sum(any(p[i] != preds[0][i] for p in preds) for i in range(n)) / n
    discrepancy = max(sum(p[i] != preds[0][i] for i in range(n)) / n for p in preds)
    spread = [
        [max(p[i][k] for p in probas) - min(p[i][k] for p in probas) for k in range(3)]
        for i in range(n)
    ]
    return ambiguity, discrepancy, np.array(spread)


def test_ambiguity_discrepancy_and_range_match_the_definitions():
    out = predictive_multiplicity([Fixed(H0), Fixed(H1), Fixed(H2)], X)
    ambiguity, discrepancy, spread = naive([H0, H1, H2])
    assert out["ambiguity"] == ambiguity == 0.75  # rows 0, 1, 3 change class in some fit
    assert out["discrepancy"] == discrepancy == 0.75  # h2 differs from h0 on 3 of 4 rows
    np.testing.assert_allclose(out["range"], spread)
    np.testing.assert_allclose(out["max_range"], [0.5, 0.4, 0.1, 0.4])
    same = predictive_multiplicity([Fixed(H0), Fixed(H0)], X)
    assert same["ambiguity"] == same["discrepancy"] == 0 and same["max_range"].max() == 0


def test_the_rashomon_set_grows_with_epsilon_and_so_does_the_range():
    fits = [Fixed(H0), Fixed(H1), Fixed(H2)]
    losses = [-np.mean(np.log([p[i][k] for i, k in enumerate([0, 0, 1, 2])])) for p in (H0, H1, H2)]
    out = predictive_multiplicity(fits, X, Y, epsilon=0.0)
    np.testing.assert_allclose(out["losses"], losses)
    assert out["members"] == [int(np.argmin(losses))] and out["max_range"].max() == 0
    previous = out["range"]
    for eps in (0.05, 0.2, 0.5, 5.0):
        out = predictive_multiplicity(fits, X, Y, epsilon=eps)
        assert out["members"] == [i for i, v in enumerate(losses) if v <= min(losses) + eps]
        assert (out["range"] >= previous - 1e-12).all()  # non-decreasing in ε
        previous = out["range"]
    assert out["members"] == [0, 1, 2]
    with pytest.raises(ValueError, match="epsilon needs labels"):
        predictive_multiplicity(fits, X, epsilon=0.1)
