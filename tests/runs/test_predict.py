import io
import os
import threading

import numpy as np
import pandas as pd
import pytest

from headkit import HeadClassifier
from headkit.exceptions import ConfigError, DataError
from headkit.runs.predict import align_columns, write_predictions

FRAME = pd.DataFrame({"label": ["a", "b"], "proba_a": [0.75, 0.25], "proba_b": [0.25, 0.75]})
CSV = FRAME.to_csv(index=False)


def test_an_existing_file_is_replaced_only_with_overwrite(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("keep me")
    with pytest.raises(ConfigError, match="already exists; pass --overwrite"):
        write_predictions(FRAME, path)
    assert path.read_text() == "keep me"
    write_predictions(FRAME, path, overwrite=True)
    assert path.read_text() == CSV
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]


def test_a_symlink_is_written_through(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_predictions(FRAME, link, overwrite=True)
    assert link.is_symlink() and real.read_text() == CSV


def test_a_named_pipe_is_written_through(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()))
    reader.start()
    write_predictions(FRAME, fifo)  # no --overwrite needed: nothing is replaced
    reader.join(timeout=30)
    assert received == [CSV] and fifo.is_fifo()


@pytest.mark.parametrize("destination", ["-", None])
def test_dash_or_nothing_streams_csv_to_stdout(tmp_path, monkeypatch, destination):
    monkeypatch.chdir(tmp_path)
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stdout", buffer)
    assert write_predictions(FRAME, destination) == "stdout"
    assert buffer.getvalue() == CSV and not (tmp_path / "-").exists()


def test_a_missing_directory_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"directory .*missing_dir does not exist"):
        write_predictions(FRAME, tmp_path / "missing_dir" / "p.csv")


@pytest.fixture(scope="module")
def named_model():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    return HeadClassifier(hidden_sizes=(), epochs=2, random_state=0).fit(X, X["a"] > 0)


def test_columns_are_matched_by_name_in_any_order(named_model):
    X = np.array([[3.0, 1.0, 2.0]])  # columns c, a, b
    aligned, names = align_columns(X, ["c", "a", "b"], named_model, "f.csv")
    assert names == ["a", "b", "c"] and aligned.tolist() == [[1.0, 2.0, 3.0]]


def test_column_mismatch_lists_missing_and_unexpected(named_model):
    with pytest.raises(DataError, match=r"missing 'b'; unexpected 'B', 'd'"):
        align_columns(np.zeros((1, 4)), ["a", "B", "c", "d"], named_model, "f.csv")


def test_a_multi_label_table_has_one_indicator_column_per_class():
    from headkit.runs.predict import predictions_table

    proba = np.array([[0.9, 0.2, 0.6], [0.1, 0.4, 0.51]])
    table = predictions_table(np.array(["x", "y", "z"]), proba, multilabel=True)
    assert "label" not in table
    assert list(table.columns[:3]) == ["label_x", "label_y", "label_z"]
    np.testing.assert_array_equal(table[["label_x", "label_y", "label_z"]], [[1, 0, 1], [0, 0, 1]])


@pytest.mark.parametrize("extra", [[], ["--mc-samples", "3"]], ids=["lean", "estimator"])
def test_predict_writes_the_multi_label_indicator_of_the_estimator(tmp_path, extra):
    from typer.testing import CliRunner

    from headkit.cli.app import app

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 1], axis=1).astype(int)
    model = HeadClassifier(hidden_sizes=(16,), output="sigmoid", epochs=20, random_state=0)
    model.fit(X, Y).save(tmp_path / "run")
    pd.DataFrame(X, columns=["x0", "x1", "x2", "x3"]).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "p.csv"
    args = ["predict", str(tmp_path / "run"), str(tmp_path / "rows.csv"), "-o", str(out), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert "label" not in written
    indicator = written[[f"label_{c}" for c in model.classes_]].to_numpy()
    proba = written[[f"proba_{c}" for c in model.classes_]].to_numpy()
    np.testing.assert_array_equal(indicator, (proba > 0.5).astype(int))
    if not extra:  # MC dropout averages stochastic passes: its indicator may differ
        np.testing.assert_array_equal(indicator, model.predict(X))
    assert 0 < indicator.sum() < indicator.size
