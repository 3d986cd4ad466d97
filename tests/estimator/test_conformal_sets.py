"""Prediction sets from a fitted estimator and a saved run (split conformal on the held-out split)."""

import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from headkit import HeadClassifier
from headkit.evaluation.conformal import set_coverage
from headkit.exceptions import NotFittedError
from headkit.inference.saved_model import SavedModel


@pytest.fixture(scope="module")
def fitted():
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    clf = HeadClassifier(hidden_sizes=(32,), epochs=15, validation_fraction=0.2, random_state=0)
    return clf.fit(X_train, y_train), X_test, y_test


def test_sets_cover_about_one_minus_alpha_and_shrink_as_alpha_grows(fitted):
    clf, X_test, y_test = fitted
    assert clf.conformal_ is not None and clf.conformal_.n_calibration > 100
    index = np.searchsorted(clf.classes_, y_test)
    wide, narrow = clf.predict_set(X_test, alpha=0.05), clf.predict_set(X_test, alpha=0.3)
    assert wide.shape == (len(y_test), 10) and wide.dtype == bool
    assert set_coverage(wide, index) >= 0.9  # 1 − 0.05, minus the split's sampling noise
    assert set_coverage(narrow, index) >= 0.6
    assert wide.sum() >= narrow.sum()  # a smaller α never gives smaller sets
    assert (narrow <= wide).all()


def test_saved_run_gives_the_same_sets_in_python_and_from_the_shell(fitted, tmp_path):
    clf, X_test, _ = fitted
    clf.save(tmp_path / "run")
    expected = clf.predict_set(X_test[:20], alpha=0.1, method="raps")
    back = HeadClassifier.load(tmp_path / "run")
    np.testing.assert_array_equal(back.predict_set(X_test[:20], 0.1, "raps"), expected)
    for engine in ("torch", "numpy"):  # u hashes the input rows: the same on both engines
        saved = SavedModel.load(tmp_path / "run", engine=engine)
        got = saved.predict_set(X_test[:20], 0.1, "raps")
        assert (got != expected).sum() <= 1  # a score within float32 rounding of the threshold
    names = [f"x{i}" for i in range(X_test.shape[1])]
    pd.DataFrame(X_test[:20], columns=names).to_csv(tmp_path / "rows.csv", index=False)
    command = [sys.executable, "-m", "headkit", "predict", str(tmp_path / "run"),
               str(tmp_path / "rows.csv"), "--conformal", "0.1"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    table = pd.read_csv(io.StringIO(out), dtype={"set": str}, keep_default_na=False)
    aps = clf.predict_set(X_test[:20], alpha=0.1)
    assert np.abs(table["set_size"].to_numpy() - aps.sum(axis=1)).sum() <= 1
    assert table["set"].iloc[0] == "|".join(str(c) for c in clf.classes_[aps[0]])
    out = subprocess.run([*command, "--conformal-method", "aps-det"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    sizes = pd.read_csv(io.StringIO(out), dtype={"set": str}, keep_default_na=False)["set_size"]
    det = clf.predict_set(X_test[:20], 0.1, "aps-det")
    assert (sizes >= 1).all() and np.abs(sizes.to_numpy() - det.sum(axis=1)).sum() <= 1


def test_without_a_held_out_split_there_are_no_sets():
    X, y = load_digits(return_X_y=True)
    clf = HeadClassifier(hidden_sizes=(8,), epochs=2, validation_fraction=0.0).fit(X[:300], y[:300])
    with pytest.raises(NotFittedError, match="held-out split"):
        clf.predict_set(X[:5])


def test_default_sets_of_fitted_models_cover_one_minus_alpha_over_seeds():
    # Marginal coverage of predict_set's default over 20 fits (120 held-out rows each, which
    # also chose the epoch and the temperature): within 2 points of 1 − α on average (SE ≈
    # 0.006); the non-randomised "aps-det" over-covers on the same fits.
    coverage, sizes, fixed = [], [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(1600, 8)).astype(np.float32)
        logits = X @ rng.normal(size=(8, 4))
        y = (np.exp(logits).cumsum(1) / np.exp(logits).sum(1, keepdims=True)
             > rng.uniform(size=(1600, 1))).argmax(1)  # fmt: skip
        clf = HeadClassifier(epochs=10, random_state=seed).fit(X[:600], y[:600])
        sets = clf.predict_set(X[600:])
        coverage.append(set_coverage(sets, y[600:]))
        sizes.append(sets.sum(axis=1).mean())
        fixed.append(set_coverage(clf.predict_set(X[600:], 0.1, "aps-det"), y[600:]))
    assert abs(np.mean(coverage) - 0.9) < 0.02
    assert np.mean(fixed) > np.mean(coverage) + 0.01
    assert 1.0 < np.mean(sizes) < 4.0
