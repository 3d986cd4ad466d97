import numpy as np
import pandas as pd
import pytest
from safetensors.numpy import load_file

from headkit import HeadClassifier
from headkit.exceptions import DataError, ModelFileError
from headkit.inference.saved_model import SavedModel


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A small fitted model saved with named columns and string labels."""
    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, scale=2.0, size=(200, 4)).astype(np.float32)
    y = np.array(["cat", "dog", "eel"])[(X[:, 0] > 3).astype(int) + (X[:, 1] > 4).astype(int)]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    model = HeadClassifier(hidden_sizes=(8,), epochs=3, random_state=0).fit(frame, y)
    path = tmp_path_factory.mktemp("run") / "model"
    model.save(path)
    return path, frame


def naive_proba(path, X):
    """NumPy forward pass from the saved weights: standardise → Linear → ReLU → Linear → softmax."""
    w = load_file(str(path / "model.safetensors"))
    h = (X - w["feature_mean"]) / w["feature_scale"]
    h = np.maximum(h @ w["trunk.blocks.0.linear.weight"].T + w["trunk.blocks.0.linear.bias"], 0)
    z = (h @ w["head.weight"].T + w["head.bias"]) / w["temperature"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_saved_model_matches_a_numpy_forward_pass(saved_run):
    path, frame = saved_run
    saved = SavedModel.load(path)
    proba = saved.predict_proba(frame)
    np.testing.assert_allclose(proba, naive_proba(path, frame.to_numpy()), atol=1e-6)
    assert saved.classes.tolist() == ["cat", "dog", "eel"]
    assert saved.feature_names == ["a", "b", "c", "d"]


def test_saved_model_agrees_with_the_estimator(saved_run):
    path, frame = saved_run
    expected = HeadClassifier.load(path).predict_proba(frame)
    got = SavedModel.load(path).predict_proba(frame)
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_columns_are_matched_by_name_in_any_order(saved_run):
    path, frame = saved_run
    saved = SavedModel.load(path)
    shuffled = frame[["c", "a", "d", "b"]]
    np.testing.assert_array_equal(saved.predict_proba(shuffled), saved.predict_proba(frame))


@pytest.mark.parametrize(
    ("columns", "message"),
    [(["a", "b", "c"], "missing columns d"), (["a", "b", "c", "d", "e"], "unexpected columns e")],
)
def test_wrong_columns_are_named(saved_run, columns, message):
    path, _ = saved_run
    frame = pd.DataFrame(np.zeros((2, len(columns))), columns=columns)
    with pytest.raises(DataError, match=message):
        SavedModel.load(path).predict_proba(frame)


def test_non_finite_values_name_the_first_row_and_column(saved_run):
    path, frame = saved_run
    bad = frame.head(5).copy()
    bad.loc[3, "c"] = np.nan
    with pytest.raises(DataError, match=r"1 rows hold NaN.*row 3, column c"):
        SavedModel.load(path).predict_proba(bad)


def test_wrong_width_of_an_unnamed_array(saved_run):
    path, _ = saved_run
    with pytest.raises(DataError, match="has 3 feature columns but the model takes 4"):
        SavedModel.load(path).predict_proba(np.zeros((2, 3)))


def test_a_bare_network_is_refused(tmp_path):
    from headkit import io
    from headkit.nn import HeadNet

    io.save(HeadNet(n_features=3, n_classes=2), tmp_path / "bare")
    with pytest.raises(ModelFileError, match="without label names"):
        SavedModel.load(tmp_path / "bare")
