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


def test_a_hurting_softmax_collapse_becomes_one_notice_naming_the_flags(tmp_path):
    """No raw SoftmaxCollapseWarning with a source line: one line for the CLI (issue 25)."""
    import warnings

    from headkit.training import SoftmaxCollapseWarning

    rng = np.random.default_rng(0)  # one informative column of 40, a tenth of the labels flipped
    y = rng.integers(0, 2, 250)
    X = rng.normal(size=(250, 40))
    X[:, 0] += 3.0 * y
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(40)])
    frame["y"] = np.where(rng.random(250) < 0.1, 1 - y, y)
    frame.to_csv(tmp_path / "d.csv", index=False)
    # plain cross-entropy: the small preset's label smoothing bounds the logits (no collapse)
    params = dict(hidden_sizes=(256,), epochs=15, validation_fraction=0.2, dropout=0.0,
                  weight_decay=0.0, lr=0.1, schedule="constant", loss="cross_entropy",
                  random_state=0)  # fmt: skip
    request = TrainRequest(data=tmp_path / "d.csv", target="y", out=tmp_path / "r", params=params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SoftmaxCollapseWarning)
        result = train_run(request)
    (line,) = result.notices
    assert line.startswith("Softmax Collapse from epoch ") and "\n" not in line
    assert "validation loss rose" in line and "--weight-decay 0 --lr 0.1" in line


def test_a_built_in_array_data_set_gets_an_arrays_auto_settings_and_a_file_a_tables(tmp_path):
    # MNIST-1D (4,000 rows of a signal) is fitted as a frame to keep its column names, but its
    # "auto" settings are an array's: the plain path, not the table recipe that cost 15 points.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(2400, 3)), columns=["a", "b", "c"])
    frame["label"] = (frame["a"] > 0).astype(int)
    frame.to_csv(tmp_path / "t.csv", index=False)
    params = {"epochs": 2, "hidden_sizes": (8,), "random_state": 0}
    built_in = train_run(TrainRequest(dataset="mnist1d", out=tmp_path / "a", params=params))
    from_file = train_run(
        TrainRequest(data=tmp_path / "t.csv", target="label", out=tmp_path / "b", params=params)
    )
    array_run, table_run = (HeadClassifier.load(r.out) for r in (built_in, from_file))
    assert (array_run.calibrate_, array_run.monitor_, array_run.patience_) == (
        False,
        "val_accuracy",
        None,
    )
    assert array_run.preset_ is None
    assert table_run.calibrate_ is True and table_run.monitor_ == "val_calibrated_loss"
