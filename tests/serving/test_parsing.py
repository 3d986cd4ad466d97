import json

import numpy as np
import pytest

from headkit.serving.parsing import RequestError, Schema, parse_rows

NAMED = Schema(["a", "b", "c"], 3, target="y")
UNNAMED = Schema([], 2)


def test_list_rows_object_rows_and_csv_give_the_same_matrix():
    expected = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    lists = parse_rows(json.dumps({"rows": expected.tolist()}).encode(), "application/json", NAMED)
    objects = parse_rows(
        json.dumps([{"c": 3, "a": 1, "b": 2}, {"c": 6, "a": 4, "b": 5}]).encode(), "", NAMED
    )
    csv = parse_rows(b"b,y,a,c\n2,no,1,3\n5,yes,4,6\n", "text/csv; charset=utf-8", NAMED)
    for got in (lists, objects, csv):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_unnamed_models_take_columns_in_order():
    got = parse_rows(b"p,q\n1,2\n", "text/csv", UNNAMED)
    np.testing.assert_array_equal(got, [[1, 2]])
    assert UNNAMED.columns() == ["x0", "x1"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"\xff\xfe", 400, "not valid JSON"),
        (b'[{"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 2}]', 422, "Row 1 has other keys"),
        (b"[[1, 2, 3], {}]", 422, "all lists"),
        (b"[[1, 2, 3], [1, 2, [3]]]", 422, "[3] is not a number"),
        (b"[[1, 2, Infinity]]", 400, "not valid JSON"),
        (b"[[1, 2, 1e999]]", 400, "not valid JSON"),
        (b"[[1, 2, null]]", 422, "NaN"),
    ],
)
def test_refusals(body, status, message):
    with pytest.raises(RequestError) as caught:
        parse_rows(body, "application/json", NAMED)
    assert caught.value.status == status
    assert message in caught.value.message


def test_csv_with_text_in_a_feature_column():
    with pytest.raises(RequestError, match="not numbers") as caught:
        parse_rows(b"a,b,c\n1,two,3\n", "text/csv", NAMED)
    assert caught.value.status == 422


def test_unreadable_csv():
    with pytest.raises(RequestError) as caught:
        parse_rows(b'a,b,c\n1,"2,3\n', "text/csv", NAMED)
    assert caught.value.status == 400


def test_numeric_list_rows_take_the_fast_path_and_equal_the_checked_one():
    rows = np.random.default_rng(0).normal(size=(300, 3)).round(6)
    body = json.dumps({"rows": rows.tolist()}).encode()
    got = parse_rows(body, "application/json", NAMED)
    assert got.dtype == np.float32 and got.shape == (300, 3)
    np.testing.assert_array_equal(got, rows.astype(np.float32))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"rows": [[1, 2, 3], [4, true, 6]]}', "Row 1, column b: true is not a number"),
        (b'{"rows": [[1, 2, 3], [4, 5]]}', "Row 1 has 2 values"),
        (b'{"rows": [[1, 2, 3], [4, 5, "six"]]}', "'six' is not a number"),
        (b'{"rows": [[1, 2, 3], {"a": 1, "b": 2, "c": 3}]}', "all lists"),
    ],
)
def test_bodies_the_fast_path_declines_get_the_checked_paths_message(body, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(")) as caught:
        parse_rows(body, "application/json", NAMED)
    assert caught.value.status == 422


def test_a_boolean_in_an_object_row_with_t_and_f_in_its_names_is_found():
    schema = Schema(["total", "flag", "c"], 3)
    body = b'[{"total": 1, "flag": false, "c": 3}]'
    with pytest.raises(RequestError, match="column flag: false is not a number"):
        parse_rows(body, "application/json", schema)
