import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from tests.interrupts import InterruptAt

PARAMS = {"hidden_sizes": (16,), "epochs": 6, "dropout": 0.3, "patience": 2, "random_state": None}


@pytest.mark.parametrize("stop_at", [1, 4])
def test_fit_resumes_from_checkpoint_dir_to_the_same_model(tmp_path, blobs_data, stop_at):
    X, y, X_test, _ = blobs_data
    params = {**PARAMS, "random_state": 3}
    reference = HeadClassifier(**params).fit(X, y)
    with pytest.raises(KeyboardInterrupt):
        HeadClassifier(**params, checkpoint_dir=tmp_path).fit(
            X, y, callbacks=[InterruptAt(stop_at)]
        )
    resumed = HeadClassifier(**params, checkpoint_dir=tmp_path).fit(X, y)
    for name, tensor in reference.model_.state_dict().items():
        assert tensor.equal(resumed.model_.state_dict()[name]), name
    np.testing.assert_array_equal(reference.predict_proba(X_test), resumed.predict_proba(X_test))
    losses = [[r["train_loss"] for r in m.history_] for m in (reference, resumed)]
    assert losses[0] == losses[1]


def test_an_unseeded_fit_resumes_and_a_complete_checkpoint_is_not_repeated(tmp_path, blobs_data):
    X, y, *_ = blobs_data
    with pytest.raises(KeyboardInterrupt):
        HeadClassifier(**PARAMS, checkpoint_dir=tmp_path).fit(X, y, callbacks=[InterruptAt(2)])
    first = HeadClassifier(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)
    again = HeadClassifier(**PARAMS, checkpoint_dir=tmp_path).fit(X, y)  # complete: not repeated
    for name, tensor in first.model_.state_dict().items():
        assert tensor.equal(again.model_.state_dict()[name]), name


def test_a_checkpoint_of_other_data_is_refused(tmp_path, blobs_data):
    X, y, *_ = blobs_data
    HeadClassifier(**{**PARAMS, "epochs": 1}, checkpoint_dir=tmp_path).fit(X, y)
    with pytest.raises(ConfigError, match="different fit"):
        HeadClassifier(**{**PARAMS, "epochs": 1}, checkpoint_dir=tmp_path).fit(X[:-5], y[:-5])
