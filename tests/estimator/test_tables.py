import numpy as np
import pandas as pd
import pytest
import torch

from headkit import HeadClassifier
from headkit.exceptions import DataError
from tests.penguins import penguins

PARAMS = dict(hidden_sizes=(32,), epochs=40, random_state=0)


@pytest.fixture(scope="module")
def fitted():
    frame = penguins()
    X, y = frame.drop(columns="species"), frame["species"].to_numpy()
    return HeadClassifier(**PARAMS).fit(X.iloc[:240], y[:240]), X, y


def test_dataframe_with_text_and_gaps_trains_and_predicts(fitted):
    model, X, y = fitted
    assert model.preprocessor_ is not None
    assert model.n_features_in_ == 5
    assert list(model.feature_names_in_) == list(X.columns)
    assert model.score(X.iloc[240:], y[240:]) > 0.9
    roles = model.preprocessor_.column_roles()
    assert roles["island"].startswith("one-hot (3 + unknown)")  # then why: "— text (3 values)"
    assert roles["bill_length_mm"].startswith("numeric + missing flag")


def test_rows_with_gaps_and_unseen_categories_get_predictions(fitted):
    model = fitted[0]
    odd = pd.DataFrame(
        {
            "island": ["Atlantis", None],
            "bill_length_mm": [np.nan, 47.0],
            "bill_depth_mm": [np.nan, np.nan],
            "sex": [None, "unknown"],
            "year": [2030, 2008],
        }
    )
    proba = model.predict_proba(odd)
    assert proba.shape == (2, 3) and np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # The network sees exactly the preprocessor's matrix.
    direct = model.model_.predict_proba(torch.as_tensor(model.preprocessor_.transform(odd)))
    np.testing.assert_allclose(proba, direct.detach().numpy(), rtol=1e-6)
    with pytest.raises(DataError, match="missing here"):
        model.predict(odd.drop(columns="sex"))


def test_save_load_keeps_the_preprocessing(fitted, tmp_path):
    model, X, _ = fitted
    path = model.save(tmp_path / "run")
    assert (path / "preprocessing.json").is_file()
    loaded = HeadClassifier.load(path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert loaded.n_features_in_ == 5


def test_numeric_arrays_and_clean_frames_keep_the_plain_path(blobs_data):
    X, y, X_test, _ = blobs_data
    params = dict(hidden_sizes=(8,), epochs=3, members=1, random_state=0)  # a frame gets 3
    from_array = HeadClassifier(**params).fit(X, y)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    from_frame = HeadClassifier(**params).fit(frame, y)
    assert from_array.preprocessor_ is None and from_frame.preprocessor_ is None
    np.testing.assert_array_equal(
        from_array.predict_proba(X_test), from_frame.predict_proba(X_test)
    )
    with pytest.raises(ValueError, match="NaN"):
        HeadClassifier(epochs=1).fit(np.where(X > 2, np.nan, X), y)


def test_partial_fit_refuses_to_continue_a_table_model(fitted):
    from headkit.exceptions import ConfigError

    model, X, y = fitted
    with pytest.raises(ConfigError, match="partial_fit cannot continue"):
        model.partial_fit(X.iloc[:10], y[:10])


def _threshold_table(n_rows, seed=0):
    """A table whose class flips where a skewed numeric column crosses its median."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(size=n_rows)
    frame = pd.DataFrame({"income": income, "city": rng.choice(["a", "b", "c"], n_rows)})
    return frame, (income > np.median(income)).astype(int)


def test_numeric_auto_bins_tables_with_enough_rows_per_class_and_they_save(tmp_path):
    from headkit.data.numeric import PLE_ROWS_PER_CLASS
    from headkit.inference.saved_model import SavedModel

    params = dict(hidden_sizes=(16,), epochs=3, calibrate=False, random_state=0)
    frame, y = _threshold_table(2 * PLE_ROWS_PER_CLASS)
    model = HeadClassifier(**params).fit(frame, y)
    assert model.preprocessor_.numeric == "ple"
    assert "income__bin0" in model.preprocessor_.output_names
    assert model.model_.config.n_features == len(model.preprocessor_.output_names)
    path = model.save(tmp_path / "run")
    expected = model.predict_proba(frame)
    np.testing.assert_array_equal(HeadClassifier.load(path).predict_proba(frame), expected)
    numpy_engine = SavedModel.load(path, engine="numpy").predict_proba(frame)
    np.testing.assert_allclose(numpy_engine, expected, atol=1e-5)
    fewer = HeadClassifier(**params).fit(frame.iloc[:700], y[:700])
    assert fewer.preprocessor_.numeric == "robust_clip"
    assert "income__bin0" not in fewer.preprocessor_.output_names
    kept = HeadClassifier(numeric="robust_clip", **params).fit(frame, y)
    assert kept.preprocessor_.numeric == "robust_clip"
