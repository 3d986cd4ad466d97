"""Nearest class mean and kNN votes against brute force, NumPy and scikit-learn."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from headkit.functional.neighbors import knn_votes, nearest_mean_logits, update_class_means


def _data(n=120, d=5, c=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, c, size=n)


@pytest.mark.parametrize("batch", [1, 7, 50])
def test_streaming_mean_equals_batch_mean_in_any_order(batch):
    x, y = _data()
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(y))
        means, counts = torch.zeros(4, 5, dtype=torch.float64), torch.zeros(4, dtype=torch.int64)
        for start in range(0, len(y), batch):
            rows = order[start : start + batch]
            means, counts = update_class_means(
                means, counts, torch.from_numpy(x[rows]), torch.from_numpy(y[rows])
            )
        for c in range(4):
            np.testing.assert_allclose(means[c].numpy(), x[y == c].mean(axis=0), atol=1e-12)
            assert counts[c] == (y == c).sum()


@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_nearest_mean_prediction_is_brute_force_nearest_centroid(metric):
    x, y = _data(seed=1)
    mu = np.stack([x[y == c].mean(axis=0) for c in range(4)])
    queries = np.random.default_rng(2).normal(size=(60, 5))
    scores = nearest_mean_logits(torch.from_numpy(queries), torch.from_numpy(mu), metric=metric)
    expected = []
    for q in queries:
        if metric == "l2":
            expected.append(min(range(4), key=lambda c: np.sum((q - mu[c]) ** 2)))
        else:
            cos = [q @ mu[c] / (np.linalg.norm(q) * np.linalg.norm(mu[c])) for c in range(4)]
            expected.append(int(np.argmax(cos)))
    np.testing.assert_array_equal(scores.argmax(1).numpy(), expected)
    if metric == "l2":  # the score is −½ squared distance
        d2 = ((queries[:, None, :] - mu[None]) ** 2).sum(-1)
        np.testing.assert_allclose(scores.numpy(), -0.5 * d2, atol=1e-10)


def test_adding_a_class_never_changes_existing_centroids():
    x, y = _data(seed=3)
    means, counts = update_class_means(
        torch.zeros(4, 5, dtype=torch.float64), torch.zeros(4), torch.from_numpy(x),
        torch.from_numpy(y),
    )  # fmt: skip
    before = means.clone()
    grown = torch.cat([means, torch.zeros(1, 5, dtype=torch.float64)])
    grown_counts = torch.cat([counts, torch.zeros(1)])
    new_rows = torch.randn(9, 5, dtype=torch.float64)
    grown, grown_counts = update_class_means(
        grown, grown_counts, new_rows, torch.full((9,), 4, dtype=torch.int64)
    )
    assert torch.equal(grown[:4], before)
    torch.testing.assert_close(grown[4], new_rows.mean(0))


def test_unseen_classes_score_minus_infinity_and_empty_memory_is_uniform():
    means = torch.randn(3, 2)
    scores = nearest_mean_logits(torch.randn(4, 2), means, torch.tensor([2, 0, 1]))
    assert torch.isinf(scores[:, 1]).all() and torch.isfinite(scores[:, [0, 2]]).all()
    assert torch.equal(
        nearest_mean_logits(torch.randn(4, 2), means, torch.zeros(3)), torch.zeros(4, 3)
    )


@pytest.mark.parametrize("metric", ["l2", "cosine"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [1, 5, 8])
def test_knn_votes_equal_scikit_learn(metric, weighted, k):
    x, y = _data(n=200, d=6, c=5, seed=4)
    queries = np.random.default_rng(5).normal(size=(70, 6))
    sk = KNeighborsClassifier(
        n_neighbors=k, weights="distance" if weighted else "uniform",
        metric="euclidean" if metric == "l2" else "cosine", algorithm="brute",
    ).fit(x, y)  # fmt: skip
    votes = knn_votes(torch.from_numpy(queries), torch.from_numpy(x), torch.from_numpy(y), 5, k,
                      metric, weighted)  # fmt: skip
    np.testing.assert_allclose(votes.numpy(), sk.predict_proba(queries), atol=1e-9)
    np.testing.assert_array_equal(votes.argmax(1).numpy(), sk.predict(queries))


def test_knn_with_k1_on_the_training_set_returns_the_training_labels():
    x, y = _data(n=150, seed=6)
    votes = knn_votes(torch.from_numpy(x), torch.from_numpy(x), torch.from_numpy(y), 4, k=1)
    np.testing.assert_array_equal(votes.argmax(1).numpy(), y)


def test_knn_is_invariant_to_the_order_of_the_stored_set_even_with_ties():
    # integer grid points: many exactly equal distances, duplicates with different labels
    rng = np.random.default_rng(7)
    keys = torch.from_numpy(rng.integers(0, 3, size=(80, 2)).astype(float))
    labels = torch.from_numpy(rng.integers(0, 4, size=80))
    queries = torch.from_numpy(rng.integers(0, 3, size=(30, 2)).astype(float))
    reference = knn_votes(queries, keys, labels, 4, k=5)
    for seed in range(5):
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(80))
        assert torch.equal(knn_votes(queries, keys[perm], labels[perm], 4, k=5), reference)


def test_knn_tie_break_is_the_smaller_label():
    keys = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])  # both at distance 1 from the origin
    for labels in (torch.tensor([3, 1]), torch.tensor([1, 3])):
        votes = knn_votes(torch.zeros(1, 2), keys, labels, 4, k=1)
        assert votes.argmax().item() == 1  # the nearer-by-label neighbour is class 1
        votes2 = knn_votes(torch.zeros(1, 2), keys, labels, 4, k=2)
        assert votes2[0, 1] == votes2[0, 3] == 0.5 and votes2.argmax().item() == 1
