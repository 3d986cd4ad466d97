"""ncm and knn heads by name: scikit-learn's NearestCentroid / KNeighborsClassifier as oracles."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.preprocessing import StandardScaler

from headkit import HeadClassifier
from headkit.nn.memory_heads import NearestMeanHead

FROZEN = dict(hidden_sizes=(), dropout=0.0, validation_fraction=0.0, random_state=0)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:900], y[:900], x[900:1300], y[900:1300]


def test_ncm_equals_scikit_learn_nearest_centroid(digits):
    x, y, xt, _ = digits
    clf = HeadClassifier(head="ncm", epochs=3, **FROZEN).fit(x, y)
    scaler = StandardScaler().fit(x)
    ref = NearestCentroid().fit(scaler.transform(x), y)
    np.testing.assert_array_equal(clf.predict(xt), ref.predict(scaler.transform(xt)))
    head = clf.model_.head
    np.testing.assert_allclose(head.means.numpy(), ref.centroids_, atol=1e-5)
    assert head.counts.tolist() == np.bincount(y).tolist()  # one pass: later epochs restart
    assert clf.history_[-1]["train_loss"] > 0  # reported, although nothing had a gradient


def test_ncm_partial_fit_streams_to_the_batch_means(digits):
    x, y, _, _ = digits
    clf = HeadClassifier(head="ncm", standardize=False, **FROZEN)
    for start in range(0, len(y), 128):
        clf.partial_fit(x[start : start + 128], y[start : start + 128], classes=np.arange(10))
    means = np.stack([x[y == c].mean(0) for c in range(10)])
    np.testing.assert_allclose(clf.model_.head.means.numpy(), means, atol=1e-4)


def test_ncm_add_classes_keeps_the_old_centroids():
    head = NearestMeanHead(3, 2).train()
    head(torch.randn(20, 3), torch.randint(0, 2, (20,)))
    before = head.means.clone()
    head.add_classes(2)
    head(torch.randn(5, 3) + 10, torch.full((5,), 3))
    assert torch.equal(head.means[:2], before) and head.counts[2] == 0 and head.counts[3] == 5
    head.eval()
    scores = head(torch.full((1, 3), 10.0))
    assert scores.argmax().item() == 3 and torch.isinf(scores[0, 2])


@pytest.mark.parametrize("spec,kw", [("knn:k=5", {}), ("knn:k=7,metric=cosine,weighted=true",
                                     {"metric": "cosine", "weights": "distance"})])  # fmt: skip
def test_knn_head_equals_scikit_learn(digits, spec, kw, tmp_path):
    x, y, xt, _ = digits
    clf = HeadClassifier(head=spec, epochs=2, **FROZEN).fit(x, y)
    scaler = StandardScaler().fit(x)
    k = int(spec.split("k=")[1].split(",")[0])
    ref = KNeighborsClassifier(n_neighbors=k, algorithm="brute", **kw).fit(scaler.transform(x), y)
    np.testing.assert_allclose(
        clf.predict_proba(xt), ref.predict_proba(scaler.transform(xt)), atol=1e-5
    )
    assert len(clf.model_.head.labels) == len(y)  # the last epoch's pass, not two copies
    # saved and loaded with its memory
    clf.save(tmp_path / "m")
    again = HeadClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_proba(xt), clf.predict_proba(xt))


def test_knn_k1_on_the_training_rows_returns_their_labels(digits):
    x, y, _, _ = digits
    clf = HeadClassifier(head="knn:k=1", epochs=1, **FROZEN).fit(x, y)
    np.testing.assert_array_equal(clf.predict(x), y)
