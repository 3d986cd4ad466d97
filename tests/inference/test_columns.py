"""The one column matcher (headkit.inference.columns) against a naive reference."""

import numpy as np
import pytest

from headkit._validation import are_generated, generated_names
from headkit.exceptions import DataError
from headkit.inference.columns import align_rows, column_order, listed


def test_names_match_in_any_order():
    names, trained = ["c", "a", "b"], ["a", "b", "c"]
    order = column_order(names, trained)
    assert [names[i] for i in order] == trained
    X = np.array([[3.0, 1.0, 2.0]])
    np.testing.assert_array_equal(align_rows(X, names, trained, 3), [[1.0, 2.0, 3.0]])


def test_generated_names_match_by_position_and_only_exact_ones_count():
    assert generated_names(3) == ["x0", "x1", "x2"]
    assert are_generated(["x0", "x1"])
    assert not are_generated(["x1", "x0"])  # out of order: real names
    assert not are_generated(["x0", "xylem"])  # a name that merely starts with x
    X = np.array([[1.0, 2.0]])
    np.testing.assert_array_equal(align_rows(X, ["x0", "x1"], ["b", "a"], 2), X)


def test_every_missing_and_unexpected_column_is_named_or_counted():
    trained = [f"c{i}" for i in range(14)]
    with pytest.raises(DataError) as error:
        column_order(["z"], trained)
    message = str(error.value)
    assert "missing columns c0, c1" in message and "and 4 more" in message
    assert "unexpected columns z" in message
    assert listed(["a", "b"]) == "a, b"
    assert listed(list("abcdefghijkl"), limit=10).endswith("j and 2 more")
