"""The headline numbers of a run, against scikit-learn's own functions."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, top_k_accuracy_score

from headkit.evaluation.summary import summary_metrics


def _predictions(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(n_classes), size=200)
    return rng.integers(0, n_classes, 200), proba


def test_top3_accuracy_is_scikit_learns_for_more_than_three_classes():
    y, proba = _predictions(5)
    got = summary_metrics(y, proba, np.arange(5))
    assert got["top3_accuracy"] == pytest.approx(top_k_accuracy_score(y, proba, k=3))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, proba.argmax(1)))
    assert got["log_loss"] == pytest.approx(log_loss(y, proba))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_no_top3_accuracy_with_three_classes_or_fewer(n_classes):
    """With ≤ 3 classes the true label is always among the top 3: a 1.0 that says nothing."""
    y, proba = _predictions(n_classes)
    assert "top3_accuracy" not in summary_metrics(y, proba, np.arange(n_classes))
