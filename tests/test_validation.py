import numpy as np
import pytest

from headkit._validation import (
    check_labels,
    check_split_sizes,
    check_two_classes,
    nonfinite_summary,
)
from headkit.exceptions import DataError


def test_nonfinite_cells_are_named_by_column_and_first_rows():
    X = np.zeros((8, 4))
    X[2, 1] = np.nan
    X[[0, 5, 6, 7], 3] = np.inf
    X[4, 3] = np.nan
    assert nonfinite_summary(X) is not None
    assert nonfinite_summary(X, ["a", "b", "c", "d"]) == (
        "'b' (NaN in row 3), 'd' (NaN and inf in rows 1, 5, 6 and 2 more)"
    )
    assert nonfinite_summary(np.ones((3, 2))) is None


@pytest.mark.parametrize(
    "y",
    [
        np.arange(30, dtype=float) % 30,  # class codes 0..29 stored as floats
        np.arange(1, 41, dtype=float),  # codes 1..40
        np.array([3.0, 7.0, 100.0] * 5),  # a few integral values
        np.array(["a", "b"] * 3, dtype=object),
        np.arange(50),  # integers are labels whatever their number
    ],
)
def test_labels_that_are_classes_pass(y):
    check_labels(y, "y", "hint")


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.linspace(0, 1, 10), "continuous"),  # non-integral floats
        (np.arange(21, dtype=float) * 7, "21 distinct float values: 0, 7, 14"),
        (np.array([1.0, np.nan, 2.0]), "1 missing labels (NaN, row 2)"),
        (np.array(["a", None, "b", None], dtype=object), "2 missing labels (NaN, rows 2, 4)"),
    ],
)
def test_regression_targets_and_missing_labels_are_refused(y, message):
    with pytest.raises(DataError, match="hint" if "distinct" in message else None) as info:
        check_labels(y, "y", "hint")
    assert message in str(info.value)


def test_one_class_is_refused():
    with pytest.raises(DataError, match="only one class"):
        check_two_classes(np.array([4, 4, 4]))


def test_split_sizes_name_the_rows_needed():
    # 7 rows: test ceil(1.4) = 2, validation round(0.1 * 5) = 0 -> too few; 8 rows: 2 and 1
    with pytest.raises(DataError, match=r"has 7 rows, too few .* \(needs 8\)"):
        check_split_sizes(7, 2, 0.2, 0.1, "d.csv")
    check_split_sizes(8, 2, 0.2, 0.1, "d.csv")
    check_split_sizes(3, 2, 0.0, 0.0, "d.csv")  # no splits asked: any count of rows
    with pytest.raises(DataError, match=r"needs 4\)"):
        check_split_sizes(3, 3, 0.2, 0.0, "d.csv")  # the test row leaves 2 rows for 3 classes
