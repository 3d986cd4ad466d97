import numpy as np
import pandas as pd
import pytest

from headkit.data import load_dataset, load_table
from headkit.exceptions import ConfigError, DataError


@pytest.fixture
def frame():
    return pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0, 1, 0], "label": ["x", "y", "x"]})


def test_csv_and_parquet_read_the_same(frame, tmp_path):
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_parquet(tmp_path / "d.parquet")
    for name in ("d.csv", "d.parquet"):
        table = load_table(tmp_path / name, "label")
        np.testing.assert_array_equal(table.X, [[1, 0], [2, 1], [3, 0]])
        assert list(table.y) == ["x", "y", "x"]
        assert table.feature_names == ["a", "b"]


def test_npy_and_npz(tmp_path):
    arr = np.array([[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]])
    np.save(tmp_path / "d.npy", arr)
    table = load_table(tmp_path / "d.npy", "-1")
    np.testing.assert_array_equal(table.X, arr[:, :2])
    np.testing.assert_array_equal(table.y, [0, 1])
    np.savez(tmp_path / "d.npz", X=arr[:, :2], y=np.array([5, 6]))
    table = load_table(tmp_path / "d.npz")
    np.testing.assert_array_equal(table.y, [5, 6])


@pytest.mark.parametrize(
    ("setup", "target", "message"),
    [
        (lambda p: None, "label", "No file at"),
        (
            lambda p: pd.DataFrame({"a": [1]}).to_csv(p, index=False),
            "label",
            "Column 'label' is not in",
        ),
        (lambda p: pd.DataFrame({"a": [], "label": []}).to_csv(p, index=False), "label", "no rows"),
        (lambda p: pd.DataFrame({"a": [1]}).to_csv(p, index=False), None, "--target"),
        (
            lambda p: p.write_bytes(b"\x00\x01garbage"),
            "label",
            "Cannot read|no rows|is not in",
        ),
    ],
)
def test_bad_files_give_one_clear_sentence(tmp_path, setup, target, message):
    path = tmp_path / "d.csv"
    setup(path)
    with pytest.raises(DataError, match=message):
        load_table(path, target)


def test_text_columns_and_gaps_stay_a_frame_for_the_preprocessing(tmp_path):
    pd.DataFrame({"a": ["u", "v"], "b": [1.0, None], "label": [0, 1]}).to_csv(
        tmp_path / "d.csv", index=False
    )
    table = load_table(tmp_path / "d.csv", "label")
    assert isinstance(table.X, pd.DataFrame)
    assert table.X["a"].tolist() == ["u", "v"] and np.isnan(table.X["b"][1])
    assert table.feature_names == ["a", "b"]


def test_unsupported_suffix(tmp_path):
    (tmp_path / "d.docx").write_text("1")
    with pytest.raises(DataError, match="Unsupported file type"):
        load_table(tmp_path / "d.docx", "y")


def test_builtin_datasets_shapes():
    mnist = load_dataset("mnist1d")
    assert mnist.X_train.shape == (4000, 40) and mnist.X_test.shape == (1000, 40)
    digits = load_dataset("digits")
    assert digits.X_train.shape[1] == 64 and len(digits.X_train) + len(digits.X_test) == 1797
    blobs = load_dataset("blobs:n_classes=50,n_samples=1000")
    assert len(np.unique(np.concatenate([blobs.y_train, blobs.y_test]))) == 50
    with pytest.raises(ConfigError, match="Unknown data set"):
        load_dataset("imagenet")


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.parquet"])
def test_an_empty_file_is_named_in_the_error(tmp_path, name):
    """pandas says only "No columns to parse from file" (issue 25)."""
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(DataError, match=f"{path}"):
        load_table(path, "label")
