import math

import numpy as np
import pytest
from tests.conformal_reference import naive_quantile, softmax

from headkit.evaluation.conformal import (
    ConformalCalibration,
    calibrate,
    calibration_scores,
    class_scores,
    conformal_quantile,
    mean_set_size,
    prediction_sets,
    set_coverage,
)
from headkit.exceptions import ConfigError, DataError


def _draw(rng, n, n_classes=10):
    """Exchangeable rows: a miscalibrated model's probabilities and labels from the truth."""
    logits = rng.normal(size=(n, n_classes)) * 2.0
    truth = softmax(logits)
    y = (truth.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    model = softmax(3.0 * logits + rng.normal(size=(n, n_classes)))  # overconfident and noisy
    return model, y


def _naive_aps(p, y, u):
    """APS score of class y for one row, from its definition (loop over classes)."""
    order = sorted(range(len(p)), key=lambda c: (-p[c], c))
    above = 0.0
    for c in order:
        if c == y:
            return above + u * p[c], order.index(c) + 1
        above += p[c]
    raise AssertionError


@pytest.mark.parametrize("n", [1, 2, 9, 10, 19, 50, 99, 100, 1000])
@pytest.mark.parametrize("alpha", [0.01, 0.05, 0.1, 0.2, 0.5, 0.9])
def test_quantile_matches_naive_definition(n, alpha):
    scores = np.random.default_rng(n).uniform(size=n).round(2)  # ties on purpose
    assert conformal_quantile(scores, alpha) == naive_quantile(list(scores), alpha)


def test_quantile_hand_cases():
    s = np.arange(1, 10, dtype=float)  # n = 9: ceil(10 * 0.9) = 9 → the largest
    assert conformal_quantile(s, 0.1) == 9.0
    assert conformal_quantile(s, 0.5) == 5.0  # ceil(10 * 0.5) = 5
    assert conformal_quantile(s[:8], 0.1) == math.inf  # ceil(9 * 0.9) = 9 > 8


def test_scores_match_definition_aps_and_raps():
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(20, 6)))
    p[0, :3] = p[0, 0]  # ties: broken by class index
    p[0] /= p[0].sum()
    aps = class_scores(p, "aps", randomized=False)
    raps = class_scores(p, "raps", randomized=False, lam=0.3, k_reg=2)
    for i in range(len(p)):
        for c in range(6):
            score, rank = _naive_aps(p[i], c, 1.0)
            assert aps[i, c] == pytest.approx(score)
            assert raps[i, c] == pytest.approx(score + 0.3 * max(0, rank - 2))
    y = rng.integers(0, 6, size=20)
    np.testing.assert_allclose(
        calibration_scores(p, y, "raps", randomized=False, lam=0.3, k_reg=2),
        raps[np.arange(20), y],
    )
    u = np.random.default_rng(7).uniform(size=20)
    rand = class_scores(p, "aps", randomized=True, rng=7)
    for i in range(len(p)):
        assert rand[i, 3] == pytest.approx(_naive_aps(p[i], 3, u[i])[0])
    u0 = np.random.default_rng(0).uniform(size=20)  # the default: randomised, seed 0
    np.testing.assert_allclose(
        class_scores(p)[:, 3], [_naive_aps(p[i], 3, u0[i])[0] for i in range(20)]
    )


@pytest.mark.parametrize(
    ("method", "randomized"), [("aps", False), ("aps", True), ("raps", False), ("raps", True)]
)
def test_coverage_near_target_over_many_draws(method, randomized):
    rng = np.random.default_rng(1)
    alpha, covered = 0.1, []
    for _ in range(200):
        p_cal, y_cal = _draw(rng, 300)
        p_test, y_test = _draw(rng, 300)
        cal = calibrate(p_cal, y_cal, alpha, method, randomized=randomized, rng=rng)
        sets = prediction_sets(p_test, cal, include_top=False, rng=rng)
        covered.append(set_coverage(sets, y_test))
    mean = float(np.mean(covered))
    assert mean >= 1 - alpha - 0.005  # the guarantee, less Monte-Carlo noise (SE ≈ 0.0013)
    assert mean <= 1 - alpha + (0.01 if randomized else 0.03)  # randomised: ≤ 1-α + 1/(n+1)


def test_uncalibrated_threshold_undercovers():
    # The same overconfident model with a naive "top mass 0.9" set misses the target: the
    # conformal threshold is what fixes it (shows the coverage test can fail).
    rng = np.random.default_rng(2)
    p, y = _draw(rng, 5000)
    naive = ConformalCalibration(0.9, 0.1, "aps", False, 0.0, 0, 0)
    assert set_coverage(prediction_sets(p, naive, include_top=False), y) < 0.85


def test_raps_penalty_reduces_mean_set_size():
    rng = np.random.default_rng(3)
    sizes = {0.0: [], 0.05: [], 0.5: []}
    for _ in range(20):
        p_cal, y_cal = _draw(rng, 500, n_classes=30)
        p_test, _ = _draw(rng, 500, n_classes=30)
        for lam in sizes:
            cal = calibrate(p_cal, y_cal, 0.1, "raps", randomized=False, lam=lam, k_reg=1)
            sizes[lam].append(mean_set_size(prediction_sets(p_test, cal)))
    m = {lam: float(np.mean(v)) for lam, v in sizes.items()}
    assert m[0.5] < m[0.05] < m[0.0]


def test_sets_shape_include_top_and_inf_threshold():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    tight = ConformalCalibration(0.0, 0.1, "aps", False, 0.01, 1, 5)
    sets = prediction_sets(p, tight)
    assert sets.dtype == bool and sets.shape == (2, 3)
    assert sets.tolist() == [[True, False, False], [False, False, True]]
    assert not prediction_sets(p, tight, include_top=False).any()
    everything = calibrate(p, [0, 2], alpha=0.1)  # n = 2: ceil(3 * 0.9) = 3 > 2
    assert math.isinf(everything.threshold) and prediction_sets(p, everything).all()
    assert ConformalCalibration.from_dict(everything.to_dict()) == everything
    assert everything.to_dict()["threshold"] is None


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, float("nan"), True, "0.1"])
def test_alpha_out_of_range_is_one_clear_error(alpha):
    with pytest.raises(ConfigError, match="alpha must be .* between 0 and 1"):
        calibrate(np.full((3, 2), 0.5), [0, 1, 0], alpha=alpha)
    with pytest.raises(ConfigError, match="alpha must be"):
        conformal_quantile([0.1, 0.2], alpha)


def test_bad_inputs():
    with pytest.raises(ConfigError, match="method must be one of"):
        class_scores(np.full((2, 2), 0.5), "lac")
    with pytest.raises(ConfigError, match="lam"):
        class_scores(np.full((2, 2), 0.5), "raps", lam=-1)
    with pytest.raises(DataError, match="rows"):
        calibrate(np.full((3, 2), 0.5), [0, 1])
    with pytest.raises(DataError, match="only 2 columns"):
        calibrate(np.full((2, 2), 0.5), [0, 2])
    with pytest.raises(DataError, match="at least one"):
        conformal_quantile([], 0.1)


def test_defaults_cover_one_minus_alpha_within_a_point_over_many_draws():
    # The defaults (randomised, seeded, no top class forced in) hold the label 1 − α of the time
    # on average; the non-randomised sets over-cover on the same draws (the test can fail).
    rng = np.random.default_rng(11)
    default, det, sizes = [], [], []
    for _ in range(200):
        p_cal, y_cal = _draw(rng, 300)
        p_test, y_test = _draw(rng, 300)
        sets = prediction_sets(p_test, calibrate(p_cal, y_cal))
        default.append(set_coverage(sets, y_test))
        sizes.append(mean_set_size(sets))
        fixed = prediction_sets(p_test, calibrate(p_cal, y_cal, randomized=False))
        det.append(set_coverage(fixed, y_test))
    assert abs(np.mean(default) - 0.9) < 0.01  # SE of the mean ≈ 0.002
    assert np.mean(det) > 0.92
    assert 1.0 < np.mean(sizes) < 10.0
    again = prediction_sets(p_test, calibrate(p_cal, y_cal))  # seeded: a call repeats
    np.testing.assert_array_equal(again, sets)
