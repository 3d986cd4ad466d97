import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from headkit import HeadClassifier
from headkit.exceptions import DataError, NotFittedError

FAST = dict(epochs=8, hidden_sizes=(32,), random_state=0)
DEFAULT_MEAN_BOUND = 0.745  # seeds 0-2 at 1 thread gave 0.768, 0.763, 0.749 (mean 0.760)


# Stochastic mini-batch training with a random validation split cannot match a fit on repeated
# rows to rtol=1e-7 (scikit-learn's own SGD and MLP estimators list this check as failing too);
# tests/training/test_weights.py checks the equivalence in a deterministic full-batch setting.
SAMPLE_WEIGHT_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": "stochastic training; see tests/training/test_weights.py",
    "check_sample_weight_equivalence_on_sparse_data": "stochastic training; see tests/training/test_weights.py",
}


# The whole scikit-learn suite, on the default network with a shorter budget (the checks test the
# API contract, not accuracy at scale) and on the linear model with the default 150 epochs (40
# one-step epochs do not move it far enough for check_class_weight_classifiers).
# The deep network's check runs without the fitted temperature: a temperature below 1 scales the
# float32 rounding differences between batch sizes (~1e-7 in the logits) past
# check_methods_subset_invariance's atol=1e-7, a BLAS matter rather than the API contract; the
# linear model keeps every default but the small-data preset (its weight decay 0.1 and lr 3e-3
# leave class_weight too little effect in 40 one-step epochs), calibration included.
@parametrize_with_checks(
    [
        HeadClassifier(epochs=40, calibrate=False),
        HeadClassifier(hidden_sizes=(), dropout=0.0, preset="none"),
    ],
    expected_failed_checks=lambda estimator: SAMPLE_WEIGHT_XFAIL,
)
def test_sklearn_check_estimator(estimator, check):
    check(estimator)


def _default_scores(mnist1d, seeds, threads):
    return [
        HeadClassifier(random_state=seed, threads=threads)
        .fit(mnist1d.X_train, mnist1d.y_train)
        .score(mnist1d.X_test, mnist1d.y_test)
        for seed in seeds
    ]


def test_defaults_mean_over_three_seeds_on_mnist1d(mnist1d):
    # A mean over seeds, with a margin: the five-seed figures are in the slow test below and
    # benchmarks/results/train_speed.md; one seed's spread (±1 point) cannot cross this bound.
    scores = _default_scores(mnist1d, range(3), threads=1)
    assert np.mean(scores) >= DEFAULT_MEAN_BOUND, scores


# `.venv/bin/python -m pytest -m slow tests/estimator/test_classifier.py` (about a minute on a quiet machine).
@pytest.mark.slow
@pytest.mark.parametrize("threads", [1, 2])
def test_defaults_reach_75_percent_mean_over_five_seeds_on_mnist1d(mnist1d, threads):
    scores = _default_scores(mnist1d, range(5), threads)
    assert np.mean(scores) >= 0.75, scores
    assert min(scores) >= 0.73, scores


def test_same_seed_gives_bit_identical_weights(blobs_data):
    X, y, _, _ = blobs_data
    a = HeadClassifier(**FAST).fit(X, y).model_.state_dict()
    b = HeadClassifier(**FAST).fit(X, y).model_.state_dict()
    c = HeadClassifier(**{**FAST, "random_state": 1}).fit(X, y).model_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_fit_does_not_disturb_global_torch_rng(blobs_data):
    X, y, _, _ = blobs_data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    HeadClassifier(**FAST).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


def test_probabilities_history_and_attributes(blobs_data):
    X, y, X_test, y_test = blobs_data
    labels = np.array(["cat", "dog", "eel"])[y]
    model = HeadClassifier(**{**FAST, "epochs": 30}).fit(X, labels)
    proba = model.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # log_softmax vs log(softmax): near p = 1 the float32 rounding of p dominates, so absolute.
    np.testing.assert_allclose(model.predict_log_proba(X_test), np.log(proba), rtol=1e-5, atol=1e-6)
    assert set(model.predict(X_test)) <= {"cat", "dog", "eel"}
    assert model.score(X_test, np.array(["cat", "dog", "eel"])[y_test]) > 0.9
    assert list(model.classes_) == ["cat", "dog", "eel"]
    assert model.n_features_in_ == 5
    assert len(model.history_) == model.n_iter_
    assert {"train_loss", "val_loss", "val_accuracy", "lr"} <= set(model.history_[0])


def test_feature_names_are_kept_and_checked(blobs_data):
    X, y, _, _ = blobs_data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    model = HeadClassifier(**FAST).fit(frame, y)
    assert list(model.feature_names_in_) == [f"f{i}" for i in range(5)]
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(frame.rename(columns={"f0": "zz"}))


def test_partial_fit_continues_training(blobs_data):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(hidden_sizes=(32,), random_state=0)
    with pytest.raises(DataError, match="classes"):
        model.partial_fit(X, y)
    model = HeadClassifier(hidden_sizes=(32,), random_state=0)
    model.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    first = model.history_[-1]["train_loss"]
    for _ in range(10):
        model.partial_fit(X, y)
    assert model.n_iter_ == 11
    assert model.history_[-1]["train_loss"] < first
    assert model.score(X_test, y_test) > 0.9
    with pytest.raises(DataError, match="not among the classes"):
        model.partial_fit(X[:5], np.full(5, 7))


def test_pipeline_and_grid_search(blobs_data):
    X, y, X_test, y_test = blobs_data
    pipe = make_pipeline(StandardScaler(), HeadClassifier(**FAST))
    search = GridSearchCV(
        pipe,
        {"headclassifier__lr": [1e-3, 1e-2], "headclassifier__dropout": [0.0, "standard:p=0.1"]},
        cv=2,
    )
    search.fit(X, y)
    assert search.best_params_["headclassifier__lr"] in (1e-3, 1e-2)
    assert search.score(X_test, y_test) > 0.8


@pytest.mark.parametrize(
    ("X", "y", "error", "message"),
    [
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]]), [0, 1, 0], ValueError, "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 2.0], [0.0, 1.0]]), [0, 1, 0], ValueError, "infinity"),
        (np.zeros((3, 2, 2)), [0, 1, 0], ValueError, "dim"),
        (np.zeros((0, 2)), [], ValueError, "0 sample"),
        (np.zeros((4, 2)), [1, 1, 1, 1], DataError, "only one class"),
        (np.array([["a", "b"], ["c", "d"]], dtype=object), [0, 1], ValueError, "string|float"),
        (np.zeros((4, 2)), [0.1, 0.2, 0.3, 0.4], ValueError, "continuous \\(regression\\) target"),
    ],
)
def test_bad_training_input_gets_a_clear_error(X, y, error, message):
    with pytest.raises(error, match=message):
        HeadClassifier(**FAST).fit(X, y)


def test_feature_count_mismatch_at_predict(blobs_data):
    X, y, _, _ = blobs_data
    model = HeadClassifier(**FAST).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but HeadClassifier is expecting 5"):
        model.predict(X[:, :3])


def test_unfitted_use_raises_not_fitted():
    with pytest.raises(NotFittedError.__mro__[2]):  # scikit-learn's NotFittedError
        HeadClassifier().predict(np.zeros((2, 2)))


def test_bad_specs_fail_at_fit_with_a_suggestion(blobs_data):
    X, y, _, _ = blobs_data
    with pytest.raises(ValueError, match="Did you mean 'standard'"):
        HeadClassifier(dropout="standrd").fit(X, y)
    with pytest.raises(ValueError, match="'epochs' parameter of HeadClassifier must be an int"):
        HeadClassifier(epochs=0).fit(X, y)


def test_save_load_round_trip_restores_predictions(blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    labels = np.array(["a", "b", "c"])[y]
    model = HeadClassifier(**FAST).fit(X, labels)
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test), rtol=1e-6)
    assert loaded.get_params()["hidden_sizes"] == (32,)


def test_standardize_makes_raw_scaled_features_work(blobs_data):
    X, y, X_test, y_test = blobs_data
    scaled = HeadClassifier(**{**FAST, "epochs": 20}).fit(X * 1000 + 500, y)
    assert scaled.score(X_test * 1000 + 500, y_test) > 0.9


def test_validation_split_is_held_out_only_when_something_uses_it(blobs_data):
    X, y, _, _ = blobs_data
    plain = HeadClassifier(**FAST, calibrate=False).fit(X, y)
    assert all(row["val_loss"] is None for row in plain.history_)  # every row trains
    stopping = HeadClassifier(**FAST, calibrate=False, patience=50).fit(X, y)
    assert all(row["val_loss"] is not None for row in stopping.history_)
    calibrated = HeadClassifier(**FAST, calibrate=True).fit(X, y)
    share = min(0.2, max(0.05, 200 / len(y)))  # about 200 rows, within 5–20 %
    assert calibrated.calibration_["n_samples"] == round(share * len(y))
    explicit = HeadClassifier(**FAST, validation_fraction=0.2).fit(X, y)
    assert all(row["val_loss"] is not None for row in explicit.history_)


def test_patience_without_rows_for_a_validation_split_warns():
    X = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    y = np.array([0, 1] * 4)
    with pytest.warns(UserWarning, match="patience=3 needs a validation split"):
        HeadClassifier(hidden_sizes=(4,), epochs=2, patience=3, validation_fraction=0.05).fit(X, y)
