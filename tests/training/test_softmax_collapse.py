import warnings

import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.training import SoftmaxCollapseWarning


def _separable(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + 6.0 * y[:, None]
    return X.astype(np.float32), y


def test_detector_fires_on_a_run_made_to_collapse():
    X, y = _separable()
    # no regularisation, a large constant learning rate, many epochs: logits grow without bound
    model = HeadClassifier(
        hidden_sizes=(64,),
        dropout=0.0,
        weight_decay=0.0,
        lr=0.1,
        schedule="constant",
        epochs=60,
        validation_fraction=0.0,
        random_state=0,
    )
    with pytest.warns(SoftmaxCollapseWarning, match="Softmax Collapse"):
        model.fit(X, y)
    assert model.history_[-1]["softmax_collapse"] >= 0.9


def test_detector_stays_silent_on_a_normal_run(blobs_data):
    X, y, *_ = blobs_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", SoftmaxCollapseWarning)
        model = HeadClassifier(epochs=30, random_state=0).fit(X, y)
    # On these easy blobs many rows reach p = 1 in float32 late in training (0.63 at most at 1
    # and 2 threads), but not the 0.9 share at which the detector warns (the filter above fails
    # the fit if it does); the share is still recorded after every epoch.
    shares = [row["softmax_collapse"] for row in model.history_]
    assert len(shares) == 30 and 0 < max(shares) < 0.9


def test_stablemax_output_is_not_watched_and_trains(blobs_data):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(output="stablemax", epochs=30, random_state=0).fit(X, y)
    assert "softmax_collapse" not in model.history_[0]
    assert model.score(X_test, y_test) > 0.8
