"""Column roles: every rule of headkit.data.column_roles, checked on small frames."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from headkit.data.column_roles import DataWarning, date_parts, infer_role, na_set
from headkit.data.preprocessing import TablePreprocessor


def _role(values, extra=()):
    return infer_role("c", pd.Series(values, dtype=object), na_set(extra))


@pytest.mark.parametrize("token", ["?", "NA", "N/A", "NaN", "null", "None", "-", "", "  "])
def test_missing_value_tokens_in_a_numeric_column_are_gaps(token, rng):
    heights = rng.normal(170, 10, 200).round(1)
    cells = [str(v) for v in heights]
    for i in range(0, 200, 20):
        cells[i] = token
    frame = pd.DataFrame({"height": cells})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # tokens are gaps, not stray words
        pre = TablePreprocessor().fit(frame)
    entry = pre.columns_[0]
    assert entry["role"] == "numeric" and entry["n_missing"] == 10
    seen = np.delete(heights, np.arange(0, 200, 20))
    assert entry["median"] == pytest.approx(np.median(seen))
    assert pre.output_names == ["height", "height__missing"]


def test_a_stray_word_becomes_a_gap_with_a_warning_naming_it(rng):
    cells = [str(v) for v in rng.normal(size=200)]
    cells[7], cells[9] = "hello", "n.a."
    with pytest.warns(DataWarning, match=r"'x': 2 cell\(s\) are not numbers \('hello', 'n.a.'\)"):
        pre = TablePreprocessor().fit(pd.DataFrame({"x": cells}))
    assert pre.columns_[0]["role"] == "numeric"
    assert "hashed" not in pre.column_roles()["x"]


def test_user_tokens_extend_the_missing_values():
    cells = ["1.5", "unknown", "unknown", "4", "5"] * 10  # 60 % numbers: text on its own
    assert _role(cells)["role"] == "category"
    assert _role(cells, ["Unknown"])["role"] == "numeric"
    pre = TablePreprocessor(na_values=["unknown"]).fit(pd.DataFrame({"x": cells}))
    again = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    out = again.transform(pd.DataFrame({"x": ["unknown", "4"]}))
    assert out[0, 1] == 1.0 and out[1, 1] == 0.0  # the saved token is applied at predict time


def test_decimal_comma_text_is_numeric():
    entry = _role(["1,5", "2,25", "3", "-0,5"] * 10)
    assert entry["role"] == "numeric" and entry["decimal"] == ","
    pre = TablePreprocessor().fit(pd.DataFrame({"x": ["1,5", "2,25", "3", "-0,5"] * 10}))
    raw = pre.transform(pd.DataFrame({"x": ["1,5"]}))[0, 0] * pre.columns_[0]["scale"]
    assert raw + pre.columns_[0]["mean"] == pytest.approx(1.5)


@pytest.mark.parametrize(
    "words", [["yes", "no"], ["True", "False"], ["Y", "N"], ["t", "f"], ["ON", "off"]]
)
def test_boolean_like_text_is_boolean(words):
    cells = [words[0], words[1], words[0], "?"] * 10
    pre = TablePreprocessor().fit(pd.DataFrame({"b": cells}))
    assert pre.columns_[0]["role"] == "boolean"
    out = pre.transform(pd.DataFrame({"b": [words[0], words[1]]}))
    scale, mean = pre.columns_[0]["scale"], pre.columns_[0]["mean"]
    np.testing.assert_allclose(out[:, 0] * scale + mean, [1.0, 0.0], atol=1e-6)


def test_dates_become_ordered_and_cyclic_numbers_not_hashes():
    days = pd.date_range("2021-01-01", periods=300, freq="D")
    cells = [d.strftime("%Y-%m-%d") for d in days]
    cells[5] = "?"
    pre = TablePreprocessor().fit(pd.DataFrame({"when": cells}))
    entry = pre.columns_[0]
    assert entry["role"] == "datetime" and entry["format"] == "%Y-%m-%d"
    assert not entry["with_hour"]
    names = pre.output_names
    assert "when__year" in names and "when__weekday_sin" in names and "when__hour" not in names
    out = pre.transform(pd.DataFrame({"when": ["2021-03-05", "2021-03-06"]}))
    parts = {p["part"]: p for p in entry["parts"]}

    def raw(row, part):
        p = parts[part]
        return out[row, names.index(f"when__{part}")] * p["scale"] + p["mean"]

    assert raw(0, "year") == pytest.approx(2021, abs=1e-3)
    assert raw(0, "month") == pytest.approx(3, abs=1e-4)
    assert raw(0, "weekday") == pytest.approx(4, abs=1e-4)  # a Friday (Monday = 0)
    expected_days = (pd.Timestamp("2021-03-05") - pd.Timestamp("1970-01-01")).days
    assert raw(0, "days") == pytest.approx(expected_days, abs=1e-2)
    assert raw(1, "days") - raw(0, "days") == pytest.approx(1.0, abs=1e-2)


def test_day_first_dates_and_times_keep_the_hour():
    cells = [f"{d:02d}/03/2021 {h:02d}:30" for d in range(1, 29) for h in (1, 13)]
    entry = _role(cells)
    assert entry["role"] == "datetime" and entry["format"].startswith("%d/%m/%Y")
    pre = TablePreprocessor().fit(pd.DataFrame({"t": cells}))
    assert pre.columns_[0]["with_hour"] and "t__hour_cos" in pre.output_names


def test_date_parts_match_the_calendar():
    values = np.array(["2024-12-31T23:00", "2025-01-01T00:00", "NaT"], dtype="datetime64[ns]")
    names, parts = date_parts(values, with_hour=True)
    row = dict(zip(names, parts[0], strict=True))
    assert (row["year"], row["month"], row["day"], row["hour"]) == (2024, 12, 31, 23)
    assert row["weekday"] == 1  # 2024-12-31 was a Tuesday
    month = np.arctan2(parts[:2, names.index("month_sin")], parts[:2, names.index("month_cos")])
    assert abs(np.angle(np.exp(1j * (month[1] - month[0])))) == pytest.approx(2 * np.pi / 12)
    assert np.isnan(parts[2]).all()


def test_near_unique_text_is_an_identifier_not_learned_from(rng):
    frame = pd.DataFrame(
        {"order_id": [f"A{i:05d}" for i in rng.permutation(400)], "x": rng.normal(size=400)}
    )
    pre = TablePreprocessor().fit(frame)
    assert pre.columns_[0]["role"] == "identifier"
    assert pre.output_names == ["x"]
    assert "identifier" in pre.column_roles()["order_id"]
    pre.transform(frame[["x"]])  # the identifier may be absent at predict time


def test_text_with_repeats_is_a_category_not_an_identifier(rng):
    frame = pd.DataFrame({"city": rng.choice([f"c{i}" for i in range(30)], 400).astype(object)})
    assert TablePreprocessor().fit(frame).columns_[0]["role"] == "hash"
    small = pd.DataFrame({"name": ["a", "b", "c", "d"]})  # too few rows to call it an ID
    assert TablePreprocessor().fit(small).columns_[0]["role"] == "onehot"


def test_constant_columns_are_dropped_with_a_note():
    frame = pd.DataFrame({"k": ["same"] * 30, "z": [1.0] * 30, "x": np.arange(30.0)})
    pre = TablePreprocessor().fit(frame)
    assert [e["role"] for e in pre.columns_] == ["constant", "constant", "numeric"]
    assert pre.output_names == ["x"]
    assert pre.column_roles()["k"] == "constant, dropped — always 'same'"
    one_value_and_gaps = pd.DataFrame({"k": ["same", None] * 15})
    assert TablePreprocessor().fit(one_value_and_gaps).columns_[0]["role"] != "constant"


def test_rows_with_nothing_known_are_flagged(rng):
    frame = pd.DataFrame(
        {"x": rng.normal(size=40), "city": rng.choice(["a", "b"], 40).astype(object)}
    )
    pre = TablePreprocessor().fit(frame)
    rows = pd.DataFrame({"x": [np.nan, np.nan, 1.0], "city": ["?", "never-seen", None]})
    np.testing.assert_array_equal(pre.empty_rows(rows), [True, True, False])
    with pytest.warns(DataWarning, match=r"2 row\(s\) have every cell empty or unknown"):
        pre.transform(rows)
