import numpy as np
import pytest
import torch

from headkit.evaluation import (
    accuracy,
    expected_calibration_error,
    fit_temperature,
    max_calibration_error,
    negative_log_likelihood,
    reliability_curve,
    temperature_scale,
)
from headkit.exceptions import DataError


def _two_class(conf):
    conf = np.asarray(conf, float)
    return np.stack([conf, 1 - conf], axis=1)


def test_ece_hand_case_uniform_bins():
    # 4 samples, 2 bins (0, .5], (.5, 1]; confidences .9 .9 .6 .6 all in bin 2.
    # Predictions are class 0; labels 0, 0, 0, 1 → acc 0.75, mean conf 0.75 → ECE 0.
    p = _two_class([0.9, 0.9, 0.6, 0.6])
    assert expected_calibration_error([0, 0, 0, 1], p, n_bins=2) == pytest.approx(0.0)
    # labels 0, 1, 1, 1 → acc .25, conf .75 → ECE .5
    assert expected_calibration_error([0, 1, 1, 1], p, n_bins=2) == pytest.approx(0.5)
    # With 10 bins: bin (.8,.9] conf .9 acc .5 (gap .4, weight .5); bin (.5,.6] conf .6 acc 0
    # (gap .6, weight .5) → ECE .5, MCE .6
    assert expected_calibration_error([0, 1, 1, 1], p, n_bins=10) == pytest.approx(0.5)
    assert max_calibration_error([0, 1, 1, 1], p, n_bins=10) == pytest.approx(0.6)


def test_ece_naive_loop_reference():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(500, 4)) * 2
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, 4, 500)
    conf, pred = p.max(1), p.argmax(1)
    ece = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        m = (conf > lo) & (conf <= hi)
        if m.any():
            ece += m.mean() * abs((pred[m] == y[m]).mean() - conf[m].mean())
    assert expected_calibration_error(y, p) == pytest.approx(ece)
    assert expected_calibration_error(torch.as_tensor(y), torch.as_tensor(p)) == pytest.approx(ece)


def test_quantile_bins_equal_mass_and_differ_from_uniform():
    rng = np.random.default_rng(2)
    conf = rng.beta(8, 1, size=300).clip(0.5, 1)
    p = _two_class(conf)
    y = (rng.random(300) > conf).astype(int)
    curve = reliability_curve(y, p, n_bins=10, strategy="quantile")
    assert curve.count.tolist() == [30] * 10
    assert np.all(np.diff(curve.confidence) >= 0)
    assert expected_calibration_error(y, p, 10, "quantile") != pytest.approx(
        expected_calibration_error(y, p, 10, "uniform")
    )
    with pytest.raises(DataError, match="strategy"):
        reliability_curve(y, p, strategy="foo")


def test_ece_near_zero_when_labels_drawn_from_proba():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(20000, 3)) * 1.5
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    assert expected_calibration_error(y, p) < 0.02
    assert expected_calibration_error(y, temperature_scale(logits, 0.3)) > 0.1


@pytest.mark.parametrize("planted", [0.5, 2.0, 3.0])
def test_temperature_scaling_recovers_planted_temperature(planted):
    rng = np.random.default_rng(4)
    true_logits = rng.normal(size=(20000, 6)) * 2.0
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    y = (p.cumsum(1) > rng.random((20000, 1))).argmax(1)
    # The model reports logits that are the true ones scaled by the planted T.
    t = fit_temperature(true_logits * planted, y)
    assert t == pytest.approx(planted, rel=0.05)


def test_temperature_scaling_keeps_accuracy_and_lowers_nll():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2000, 4)) * 6
    y = rng.integers(0, 4, 2000)
    y[:1000] = logits[:1000].argmax(1)
    t = fit_temperature(torch.as_tensor(logits, dtype=torch.float32), y)
    before, after = temperature_scale(logits, 1.0), temperature_scale(logits, t)
    assert accuracy(y, before) == accuracy(y, after)
    assert negative_log_likelihood(y, after) < negative_log_likelihood(y, before)
    assert expected_calibration_error(y, after) < expected_calibration_error(y, before)


def test_all_correct_validation_keeps_temperature_one():
    logits = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.5]])
    with pytest.warns(UserWarning, match="no finite minimiser"):
        assert fit_temperature(logits, [0, 1, 0]) == 1.0
    assert fit_temperature(logits, [0, 1, 1]) != 1.0
