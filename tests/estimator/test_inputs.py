import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.multioutput import MultiOutputClassifier

from headkit import HeadClassifier
from headkit.estimator.inputs import check_targets, wants_table_preprocessing
from headkit.exceptions import ConfigError, DataError


@pytest.fixture
def multilabel(rng):
    X = rng.normal(size=(400, 6)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0.5, X[:, 3] < -0.3], axis=1).astype(int)
    return X, Y


def test_multilabel_indicator_targets_with_sigmoid_outputs(multilabel):
    X, Y = multilabel
    model = HeadClassifier(
        hidden_sizes=(), dropout=0.0, output="sigmoid", epochs=60, batch_size=64, random_state=0,
        preset="none", calibrate=False,  # every row trains, as the reference's do
    ).fit(X, Y)  # fmt: skip
    predicted = model.predict(X)
    assert predicted.shape == Y.shape and set(np.unique(predicted)) <= {0, 1}
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])
    proba = model.predict_proba(X)
    assert proba.dtype == np.float64
    np.testing.assert_array_equal(predicted, (proba > 0.5).astype(int))
    # A linear sigmoid head is one logistic regression per label: compare with scikit-learn's.
    reference = MultiOutputClassifier(LogisticRegression()).fit(X, Y).predict(X)
    assert (predicted == reference).mean() > 0.95
    assert model.score(X, Y) == pytest.approx(accuracy_score(Y, predicted))
    assert model.score(X, Y) > 0.85


def test_multilabel_needs_sigmoid_and_single_label_extras(multilabel):
    X, Y = multilabel
    with pytest.raises(ConfigError, match="output='sigmoid'"):
        HeadClassifier(epochs=1).fit(X, Y)
    with pytest.raises(ConfigError, match="class_weight applies to single-label"):
        HeadClassifier(epochs=1, output="sigmoid", class_weight="balanced").fit(X, Y)
    with pytest.raises(DataError, match="multi-label indicator"):
        check_targets(np.array([[0, 2], [1, 3]]), "sigmoid")


def test_column_vector_targets_are_flattened_with_a_warning():
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):
        y, multilabel = check_targets(np.array([[0], [1], [1]]), "softmax")
    assert y.shape == (3,) and not multilabel


def test_table_preprocessing_runs_only_where_needed():
    numeric = pd.DataFrame({"a": [1.0, 2.0]})
    assert not wants_table_preprocessing("auto", numeric)
    assert wants_table_preprocessing(True, numeric)
    assert wants_table_preprocessing("auto", numeric.assign(b=["u", "v"]))
    assert not wants_table_preprocessing(False, numeric.assign(b=["u", "v"]))
    assert not wants_table_preprocessing(True, numeric.to_numpy())
