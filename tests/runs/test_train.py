import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, log_loss

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.exceptions import ConfigError, DataError
from headkit.runs import TrainRequest, feature_frame, train_run

PARAMS = {"epochs": 3, "hidden_sizes": (16,), "random_state": 0}


def test_train_run_writes_a_run_whose_metrics_match_a_recomputation(tmp_path):
    out = tmp_path / "run"
    result = train_run(TrainRequest(dataset="digits", out=out, params=PARAMS))
    assert result.out == out
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["epochs_run"] == 3 and saved["data"] == "digits"
    # recompute the test metrics with scikit-learn from the saved model and the data set
    data = load_dataset("digits")
    model = HeadClassifier.load(out)
    proba = model.predict_proba(feature_frame(data.X_test, data.feature_names))
    test = saved["splits"]["test"]
    assert test["accuracy"] == pytest.approx(accuracy_score(data.y_test, proba.argmax(1)))
    assert test["log_loss"] == pytest.approx(log_loss(data.y_test, proba), rel=1e-4)
    assert len(pd.read_csv(out / "history.csv")) == 3


def test_train_run_holds_out_the_test_fraction_of_a_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(y=(X[:, 0] > 0).astype(int))
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    result = train_run(
        TrainRequest(data=path, target="y", test_fraction=0.3, out=tmp_path / "r", params=PARAMS)
    )
    splits = result.metrics["splits"]
    assert splits["test"]["n_samples"] == 15 and splits["train"]["n_samples"] == 35


def test_train_run_refuses_an_existing_directory_and_a_stray_target(tmp_path):
    with pytest.raises(ConfigError, match="already exists"):
        train_run(TrainRequest(dataset="digits", out=tmp_path, params=PARAMS))
    with pytest.raises(ConfigError, match="--target only applies"):
        train_run(TrainRequest(dataset="digits", target="y", out=tmp_path / "r", params=PARAMS))
    with pytest.raises(DataError, match="--target COLUMN"):
        train_run(TrainRequest(data=tmp_path / "x.csv", out=tmp_path / "r", params=PARAMS))


def test_an_unwritable_out_is_refused_before_the_first_epoch(tmp_path):
    from headkit.training import Callback

    class Epochs(Callback):
        seen = 0

        def on_epoch_end(self, trainer, record):
            Epochs.seen += 1

    (tmp_path / "file").write_text("")
    request = TrainRequest(dataset="digits", out=tmp_path / "file" / "run", params=PARAMS)
    with pytest.raises(ConfigError, match="Cannot create a run directory"):
        train_run(request, callbacks=(Epochs(),))
    assert Epochs.seen == 0
