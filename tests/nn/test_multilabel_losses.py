"""decoupled_softmax and soft_top_k by name on multi-label targets through the estimator."""

import numpy as np
import pytest

from headkit import HeadClassifier


@pytest.mark.parametrize("loss", ["decoupled_softmax", "soft_top_k:k=2,tau=0.5"])
def test_multilabel_training_ranks_a_positive_first(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    Y = (X[:, :4] > 0.3).astype(int)  # each label positive for 38 % of rows
    clf = HeadClassifier(hidden_sizes=(16,), epochs=20, output="sigmoid", loss=loss, random_state=0)
    proba = clf.fit(X, Y).predict_proba(X)
    has_positive = Y.any(axis=1)
    top1 = Y[np.arange(len(Y)), proba.argmax(1)][has_positive]
    assert top1.mean() > 0.7  # precision@1; a random label is positive 38 % of the time
