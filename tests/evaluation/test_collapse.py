import numpy as np
import pytest

from headkit.evaluation import nc1, nc2, nc3, nc4, neural_collapse


def _etf(c, d, rng):
    m = np.eye(c) - 1.0 / c
    q, _ = np.linalg.qr(rng.normal(size=(d, c)))
    return (m @ q.T) * 5.0  # (C, D) simplex ETF, rotated


def test_perfect_collapse_gives_zero_and_one():
    rng = np.random.default_rng(0)
    c, d = 4, 10
    means = _etf(c, d, rng) + 7.0  # a shared offset must not matter
    y = np.repeat(np.arange(c), 25)
    feats = means[y]
    w = means - means.mean(0)
    # the bias cancels the shared offset, so the classifier is the NCC rule
    res = neural_collapse(feats, y, weight=w * 3, bias=-(w * 3) @ means.mean(0))
    assert res["nc1"] == pytest.approx(0.0, abs=1e-12)
    assert res["nc2_equinorm"] == pytest.approx(0.0, abs=1e-9)
    assert res["nc2_equiangular"] == pytest.approx(0.0, abs=1e-9)
    assert res["nc3"] == pytest.approx(0.0, abs=1e-12)
    assert res["nc4"] == 1.0


def test_nc1_matches_naive_and_decreases_with_noise():
    rng = np.random.default_rng(1)
    c, d = 3, 5
    means = _etf(c, d, rng)
    y = np.repeat(np.arange(c), 40)
    noise = rng.normal(size=(len(y), d))
    values = []
    for s in (2.0, 1.0, 0.1):
        f = means[y] + s * noise
        mu = np.array([f[y == k].mean(0) for k in range(c)])
        g = mu.mean(0)
        sw = sum(np.outer(f[i] - mu[y[i]], f[i] - mu[y[i]]) for i in range(len(y))) / len(y)
        sb = sum(np.outer(mu[k] - g, mu[k] - g) for k in range(c)) / c
        ref = np.trace(sw @ np.linalg.pinv(sb)) / c
        values.append(nc1(f, y))
        assert values[-1] == pytest.approx(ref, rel=1e-8)
    assert values[0] > values[1] > values[2]


def test_nc2_nc3_nc4_respond_to_departures():
    rng = np.random.default_rng(2)
    c, d = 4, 6
    means = _etf(c, d, rng)
    means[0] *= 2.0  # unequal norms
    y = np.repeat(np.arange(c), 10)
    r = nc2(means[y], y)
    assert r["equinorm"] > 0.1 and r["equiangular"] > 0.01
    m = means - means.mean(0)
    assert nc3(means[y], y, m) == pytest.approx(0.0, abs=1e-12)
    assert nc3(means[y], y, rng.normal(size=(c, d))) > 0.1
    logits = np.zeros((len(y), c))
    logits[:, 0] = 1.0  # always predicts class 0
    assert nc4(means[y], y, logits) == pytest.approx(0.25)


def test_without_weights_nc3_nc4_are_nan():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(30, 4))
    y = np.repeat([0, 1, 2], 10)
    res = neural_collapse(f, y)
    assert np.isnan(res["nc3"]) and np.isnan(res["nc4"]) and res["nc1"] > 0
