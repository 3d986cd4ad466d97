import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.evaluation import (
    MahalanobisDetector,
    energy_score,
    expected_calibration_error,
    msp_score,
)
from headkit.inference.forward import penultimate_features
from headkit.nn import OUTPUTS

FAST = dict(hidden_sizes=(16,), epochs=8, random_state=0, batch_size=64)


@pytest.fixture
def noisy_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] + 1.0 * rng.normal(size=600) > 0).astype(int) + 2 * (X[:, 2] > 0)
    return X[:500], y[:500], X[500:], y[500:]


def test_calibrate_stores_temperature_used_by_predict_proba(noisy_data):
    X, y, X_test, _ = noisy_data
    same = dict(validation_fraction=0.3, preset="none")  # same network with or without calibrate
    plain = HeadClassifier(**FAST, **same, calibrate=False).fit(X, y)
    cal = HeadClassifier(**FAST, **same, calibrate=True).fit(X, y)
    t = cal.temperature_
    assert t != 1.0 and float(cal.model_.temperature) == pytest.approx(t)
    assert plain.temperature_ == 1.0 and plain.calibration_ == {}
    # same weights (calibration happens after training), same argmax, rescaled probabilities
    np.testing.assert_allclose(cal.logits(X_test), plain.logits(X_test), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(cal.predict(X_test), plain.predict(X_test))
    z = cal.logits(X_test).astype(np.float64)
    ref = np.exp(z / t - (z / t).max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    np.testing.assert_allclose(cal.predict_proba(X_test), ref, atol=1e-5)
    info = cal.calibration_
    assert info["nll_after"] <= info["nll_before"] + 1e-9
    assert info["temperature"] == t


def test_calibrate_survives_save_and_load(tmp_path, noisy_data):
    X, y, X_test, _ = noisy_data
    cal = HeadClassifier(**FAST, validation_fraction=0.3, calibrate=True).fit(X, y)
    cal.save(tmp_path / "m")
    back = HeadClassifier.load(tmp_path / "m")
    assert back.temperature_ == pytest.approx(cal.temperature_)
    assert back.calibrate is True and back.calibration_["ece_after"] == pytest.approx(
        cal.calibration_["ece_after"]
    )
    np.testing.assert_allclose(back.predict_proba(X_test), cal.predict_proba(X_test), atol=1e-6)
    np.testing.assert_allclose(
        back.ood_score(X_test, "mahalanobis"), cal.ood_score(X_test, "mahalanobis"), rtol=1e-6
    )


def test_calibrate_without_validation_warns(noisy_data):
    X, y, _, _ = noisy_data
    with pytest.warns(UserWarning, match="validation split"):
        m = HeadClassifier(**FAST, validation_fraction=0.0, calibrate=True).fit(X, y)
    assert m.temperature_ == 1.0


def test_ood_score_methods_match_evaluation_functions(noisy_data):
    X, y, X_test, _ = noisy_data
    m = HeadClassifier(**FAST, validation_fraction=0.0).fit(X, y)
    z = m.logits(X_test)
    np.testing.assert_allclose(m.ood_score(X_test, "energy"), energy_score(z), rtol=1e-6)
    np.testing.assert_allclose(m.ood_score(X_test, "msp"), msp_score(z), rtol=1e-6)
    np.testing.assert_allclose(m.ood_score(X_test, "max_logit"), z.max(1), rtol=1e-6)
    # Mahalanobis statistics are the class means of the training rows' penultimate features
    det = m.ood_detector_
    assert isinstance(det, MahalanobisDetector) and det.means_.shape == (4, 16)
    train_feats = penultimate_features(m.model_, X)
    for c in range(4):
        np.testing.assert_allclose(det.means_[c], train_feats[y == c].mean(0), atol=1e-6)
    feats = penultimate_features(m.model_, X_test)
    np.testing.assert_allclose(m.ood_score(X_test, "mahalanobis"), det.score(feats))
    far = X_test * 50
    assert np.median(m.ood_score(far, "mahalanobis")) < np.median(
        m.ood_score(X_test, "mahalanobis")
    )


def test_track_collapse_adds_history_columns_without_changing_training(noisy_data):
    X, y, _, _ = noisy_data
    old = dict(preset="none", calibrate=False)  # every row trains the library-default network
    plain = HeadClassifier(**FAST, **old).fit(X, y)
    tracked = HeadClassifier(**FAST, **old, track_collapse=True).fit(X, y)
    assert [h["train_loss"] for h in tracked.history_] == [h["train_loss"] for h in plain.history_]
    rows = tracked.history_
    assert all({"nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4"} <= set(r) for r in rows)
    assert rows[-1]["nc1"] < rows[0]["nc1"]
    assert 0.0 <= rows[-1]["nc4"] <= 1.0
    assert "nc1" not in plain.history_[0]


def test_calibration_lowers_ece_on_overconfident_model():
    # A long, unregularised fit on noisy labels is overconfident; T > 1 repairs part of it.
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 5)).astype(np.float32)
    y = ((X[:, 0] + 1.2 * rng.normal(size=1500)) > 0).astype(int)
    common = dict(hidden_sizes=(64, 64), epochs=40, random_state=0, dropout=0.0,
                  weight_decay=0.0, patience=None, restore_best=False, validation_fraction=0.3)  # fmt: skip
    cal = HeadClassifier(**common, calibrate=True).fit(X[:1000], y[:1000])
    assert cal.temperature_ > 1.0
    z = cal.logits(X[1000:])
    raw = np.exp(z - z.max(1, keepdims=True))
    raw /= raw.sum(1, keepdims=True)
    assert expected_calibration_error(y[1000:], cal.predict_proba(X[1000:])) < (
        expected_calibration_error(y[1000:], raw)
    )


def test_calibration_composes_with_a_tempered_softmax():
    # A softmax map's temperature τ does not change training (its natural loss is softmax
    # cross-entropy on the logits), so a τ = 2 model has the τ = 1 model's weights, and the
    # calibration T must make up the rest: T·τ equals the T fitted for τ = 1, and both predict
    # the same calibrated probabilities. (The bug fitted T for τ = 1 and then applied τ too:
    # validation ECE 0.025 → 0.097.)
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    X_fit, y_fit, X_test = X[:1200], y[:1200], X[1200:]
    # plain cross-entropy: with the small preset's label smoothing T·τ would sit under T's floor
    fit = dict(calibrate=True, epochs=30, random_state=0, validation_fraction=0.1,
               loss="cross_entropy")  # fmt: skip
    tempered = HeadClassifier(output="softmax:temperature=2", **fit).fit(X_fit, y_fit)
    plain = HeadClassifier(output="softmax", **fit).fit(X_fit, y_fit)
    assert 2 * tempered.temperature_ == pytest.approx(plain.temperature_, rel=1e-3)
    np.testing.assert_allclose(
        tempered.predict_proba(X_test), plain.predict_proba(X_test), atol=1e-4
    )
    z = tempered.logits(X_test).astype(np.float64) / (2 * tempered.temperature_)
    ref = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(tempered.predict_proba(X_test), ref / ref.sum(1, keepdims=True),
                               atol=1e-5)  # fmt: skip
    info = tempered.calibration_
    assert info["nll_after"] < info["nll_before"]
    assert info["ece_after"] < 0.05  # 0.097 with the bug


@pytest.mark.parametrize("output", OUTPUTS.names())
def test_calibration_through_any_output_map_stays_finite(noisy_data, output):
    X, y, X_test, _ = noisy_data
    m = HeadClassifier(**FAST, output=output, validation_fraction=0.3, calibrate=True).fit(X, y)
    info = m.calibration_
    assert np.isfinite(info["temperature"]) and info["temperature"] > 0
    assert info["nll_after"] <= info["nll_before"] + 1e-9
    assert np.isfinite(m.predict_proba(X_test)).all()
