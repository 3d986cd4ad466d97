"""Effective rank, matrix entropy, anisotropy, rank bound, output entropy and probes vs references."""

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from headkit.evaluation.representation import (
    anisotropy,
    effective_rank,
    matrix_entropy,
    mean_cosine,
    output_entropy,
    probe_accuracy,
    singular_values,
    softmax_bottleneck,
)


def test_effective_rank_of_isotropic_gaussian_is_about_d_and_rank_one_is_one():
    rng = np.random.default_rng(0)
    assert effective_rank(rng.normal(size=(20000, 8))) == pytest.approx(8, rel=0.01)
    rank_one = np.outer(rng.normal(size=300), rng.normal(size=6))
    assert effective_rank(rank_one, center=False) == pytest.approx(1.0, abs=1e-6)


def test_effective_rank_matches_scipy_entropy_of_the_normalised_spectrum():
    x = np.random.default_rng(1).normal(size=(50, 7)) @ np.diag([5, 3, 2, 1, 1, 0.5, 0.1])
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    assert effective_rank(x) == pytest.approx(np.exp(scipy.stats.entropy(s / s.sum())), rel=1e-12)
    np.testing.assert_allclose(singular_values(x), s)


def test_matrix_entropy_limits_and_gram_reference():
    rng = np.random.default_rng(2)
    assert matrix_entropy(np.outer(rng.normal(size=10), rng.normal(size=4))) == pytest.approx(
        0, abs=1e-9
    )
    q, _ = np.linalg.qr(rng.normal(size=(12, 6)))  # 6 orthonormal rows of length 12
    assert matrix_entropy(q.T) == pytest.approx(np.log(6), rel=1e-12)
    z = rng.normal(size=(9, 5))
    lam = scipy.linalg.eigvalsh(z @ z.T)
    lam = np.clip(lam, 0, None) / np.trace(z @ z.T)
    lam = lam[lam > 1e-15]
    assert matrix_entropy(z) == pytest.approx(-(lam * np.log(lam)).sum(), rel=1e-10)


@pytest.mark.parametrize("bias", [False, True])
def test_log_softmax_matrix_rank_is_at_most_d_plus_one_or_two(bias):
    rng = np.random.default_rng(3)
    n, d, k = 200, 4, 30
    h, w = rng.normal(size=(n, d)), rng.normal(size=(k, d))
    z = h @ w.T + (rng.normal(size=k) if bias else 0.0)
    log_p = z - scipy.special.logsumexp(z, axis=1, keepdims=True)
    assert np.linalg.matrix_rank(log_p, tol=1e-8) <= d + (2 if bias else 1)
    assert softmax_bottleneck(d, k) and not softmax_bottleneck(k, k)


def test_anisotropy_matches_the_pairwise_loop():
    x = np.random.default_rng(4).normal(size=(15, 3)) + np.array([2.0, 0, 0])
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    pairs = [u[i] @ u[j] for i in range(15) for j in range(15) if i != j]
    assert anisotropy(x) == pytest.approx(np.mean(pairs), rel=1e-12)
    assert anisotropy(np.ones((5, 3))) == pytest.approx(1.0)


def test_output_entropy_matches_scipy_and_vanishes_when_saturated():
    z = np.random.default_rng(5).normal(size=(20, 6))
    p = scipy.special.softmax(z, axis=1)
    assert output_entropy(z) == pytest.approx(np.mean(scipy.stats.entropy(p, axis=1)), rel=1e-12)
    assert output_entropy(np.eye(6)[[0, 3]] * 1000.0) < 1e-12
    assert output_entropy(np.zeros((3, 6))) == pytest.approx(np.log(6))


def test_probe_accuracy_identity_layer_equals_input_and_label_layer_is_perfect():
    x, y = load_digits(return_X_y=True)
    x, y = x[:600], y[:600]
    assert probe_accuracy(x.copy(), y) == probe_accuracy(x, y)
    assert (
        probe_accuracy(np.eye(10)[y] + 0.01 * np.random.default_rng(0).normal(size=(600, 10)), y)
        == 1.0
    )
    noise = np.random.default_rng(1).normal(size=(600, 5))
    assert probe_accuracy(noise, y) < 0.25
    # the same split and model by hand with scikit-learn
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    a, b, ya, yb = train_test_split(x, y, test_size=0.5, random_state=0, stratify=y)
    scaler = StandardScaler().fit(a)
    ref = (
        LogisticRegression(max_iter=500).fit(scaler.transform(a), ya).score(scaler.transform(b), yb)
    )
    assert probe_accuracy(x, y) == pytest.approx(ref)


def test_mean_cosine_matches_a_loop_and_handles_zero_rows():
    rng = np.random.default_rng(6)
    a, b = rng.normal(size=(8, 3)), rng.normal(size=(8, 3))
    loop = np.mean([a[i] @ b[i] / (np.linalg.norm(a[i]) * np.linalg.norm(b[i])) for i in range(8)])
    assert mean_cosine(a, b) == pytest.approx(loop, rel=1e-12)
    assert mean_cosine(np.zeros((2, 3)), np.zeros((2, 3))) == 1.0
    assert mean_cosine(np.zeros((1, 3)), np.ones((1, 3))) == 0.0
