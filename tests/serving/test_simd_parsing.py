"""The simdjson fast path of ``parse_rows``: the same rows, or the same refusal, as orjson's path."""

import json

import numpy as np
import pytest

from headkit.serving import parsing
from headkit.serving.parsing import RequestError, Schema, parse_rows

simdjson = pytest.importorskip("simdjson")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMED = Schema(["a", "b", "c"], 3, target="y")

# JSON number text: up to 25 significant digits and exponents past float64's range, so the two
# parsers' rounding, overflow (1e999: 400) and underflow are compared, not only repr()'s output
number_text = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}{frac}{exp}",
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,19}", fullmatch=True)),
    st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,25}", fullmatch=True)),
    st.one_of(st.just(""), st.integers(-400, 400).map(lambda e: f"e{e}")),
)
cell = st.one_of(
    number_text,
    number_text,
    number_text,
    st.sampled_from(["null", "true", "false", '"1"', "[]", "[1]", "[1, 2]", "{}", "1.", ".5"]),
)
row = st.lists(cell, min_size=1, max_size=4).map(lambda cells: "[" + ", ".join(cells) + "]")
rows_text = st.lists(st.one_of(row, row, row, cell), min_size=0, max_size=5).map(
    lambda rows: "[" + ",".join(rows) + "]"
)
body_text = st.one_of(
    rows_text,
    rows_text.map(lambda rows: '{"rows": ' + rows + "}"),
    rows_text.map(lambda rows: '{"rows": [[1, 2, 3]], "rows": ' + rows + "}"),
    rows_text.map(lambda rows: '{"rows": ' + rows + ', "extra": 1}'),
    rows_text.map(lambda rows: "\ufeff" + rows),
    rows_text.map(lambda rows: rows + " x"),
)


def _outcome(body: bytes, schema: Schema, monkeypatch, fast: bool):
    monkeypatch.setattr(parsing, "simdjson", simdjson if fast else None)
    try:
        return parse_rows(body, "application/json", schema)
    except RequestError as refused:
        return refused.status, refused.message


@settings(max_examples=400, deadline=None)
@given(body=st.one_of(body_text.map(str.encode), st.binary(max_size=40)))
def test_simdjson_and_orjson_paths_give_the_same_rows_or_the_same_refusal(body):
    with pytest.MonkeyPatch.context() as monkeypatch:
        for schema in (NAMED, Schema([], 1), Schema([], 2)):
            fast = _outcome(body, schema, monkeypatch, fast=True)
            checked = _outcome(body, schema, monkeypatch, fast=False)
            if isinstance(checked, tuple):
                assert fast == checked
            else:
                assert fast.dtype == checked.dtype == np.float32
                np.testing.assert_array_equal(fast, checked)  # both round correctly: exact


def test_a_plain_numeric_body_is_read_by_simdjson_and_others_are_declined():
    width = NAMED.n_features
    numbers = np.random.default_rng(1).normal(size=(256, width)) * 10.0 ** np.arange(-3, 0)
    for text in (json.dumps({"rows": numbers.tolist()}), json.dumps(numbers.tolist())):
        got = parsing._simd_numbers(text.encode(), width)
        assert got is not None and got.flags.writeable
        np.testing.assert_array_equal(got, numbers.astype(np.float32))
    declined = [
        b"[]",
        b'{"rows": []}',
        b'{"rows": [[1, 2, 3]], "x": 1}',  # another key
        b'{"rows": [[1, 2, 3]], "rows": [[4, 5, 6]]}',  # orjson keeps the last
        b"[[1, 2, 3], [4, 5]]",
        b"[[1, 2, [3]], [4, 5, 6]]",
        b"[[[], 2, [3, 4]], [4, 5, 6]]",  # the flattened values would count 2 x 3
        b"[[1, 2, 3], 4]",
        b"[[1, 2, null]]",
        b"[[1, 2, true]]",
        b'[[1, 2, "3"]]',
        b"[[1, 2, 1e999]]",
        b"\xef\xbb\xbf[[1, 2, 3]]",
        b"[[1, 2, 3]] x",
    ]
    for body in declined:
        assert parsing._simd_numbers(body, width) is None, body
