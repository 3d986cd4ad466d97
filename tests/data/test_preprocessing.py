import json
import zlib

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import MissingIndicator, SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from headkit.data.preprocessing import (
    DataWarning,
    TablePreprocessor,
    needs_preprocessing,
    weighted_median,
)
from headkit.exceptions import DataError


@pytest.fixture
def table(rng):
    n = 60
    frame = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n).astype(object),
            "bill": rng.normal(44, 5, n),
            "flipper": rng.normal(200, 10, n),
            "sex": pd.Categorical(rng.choice(["male", "female"], n)),
            "alive": rng.random(n) > 0.3,
        }
    )
    frame.loc[[3, 7, 11], "bill"] = np.nan
    frame.loc[[5, 9], "island"] = None
    return frame


def test_matches_scikit_learn_imputer_scaler_and_one_hot(table):
    pre = TablePreprocessor().fit(table)
    out = pre.transform(table)
    assert out.dtype == np.float32
    names = pre.output_names
    numeric = ["bill", "flipper"]
    expected_numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    expected_numeric = expected_numeric.fit_transform(table[numeric])
    np.testing.assert_allclose(
        out[:, [names.index(c) for c in numeric]], expected_numeric, rtol=1e-5, atol=1e-6
    )
    indicator = MissingIndicator().fit_transform(table[numeric])  # only bill had gaps
    np.testing.assert_array_equal(out[:, names.index("bill__missing")], indicator[:, 0])
    assert "flipper__missing" not in names
    alive = table["alive"].to_numpy(dtype=float)  # a bool column: numeric 0/1, scaled
    np.testing.assert_allclose(
        out[:, names.index("alive")], (alive - alive.mean()) / alive.std(), rtol=1e-5
    )
    for column in ("island", "sex"):
        keys = table[column].astype(object).where(table[column].notna(), None)
        keys = keys.map(lambda v: None if v is None else str(v)).to_frame()
        seen = keys[column].notna().to_numpy()
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        expected = encoder.fit(keys[seen]).transform(keys.fillna("never-seen"))
        ours = out[:, [i for i, n in enumerate(names) if n.startswith(f"{column}=")]]
        np.testing.assert_array_equal(ours[:, :-1], expected)
        np.testing.assert_array_equal(ours[:, -1], ~seen)  # missing → the unknown slot


def test_unseen_categories_and_gaps_at_predict_time(table):
    pre = TablePreprocessor().fit(table)
    row = pd.DataFrame(
        {
            "island": ["Atlantis"],
            "bill": [None],
            "flipper": [np.nan],
            "sex": [None],
            "alive": [None],
        }
    )
    with pytest.warns(DataWarning, match="1 row"):
        out = pre.transform(row)[0]
    names = pre.output_names
    alive = pre.columns_[4]
    assert out[names.index("alive")] == pytest.approx(
        (alive["median"] - alive["mean"]) / alive["scale"]
    )
    for column in ("island", "sex"):
        slots = [i for i, n in enumerate(names) if n.startswith(f"{column}=")]
        assert out[slots].tolist() == [0.0] * (len(slots) - 1) + [1.0]
    bill = pre.columns_[1]
    assert out[names.index("bill")] == pytest.approx(
        (bill["median"] - bill["mean"]) / bill["scale"]
    )
    assert out[names.index("bill__missing")] == 1.0
    flipper = table["flipper"]
    assert out[names.index("flipper")] == pytest.approx(
        (flipper.median() - flipper.mean()) / flipper.std(ddof=0), rel=1e-5
    )


def test_json_round_trip_gives_the_same_matrix(table):
    pre = TablePreprocessor(max_onehot=2, hash_buckets=8).fit(table)
    again = TablePreprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    np.testing.assert_array_equal(again.transform(table), pre.transform(table))
    assert again.column_roles() == pre.column_roles()


def test_high_cardinality_columns_are_hashed_with_crc32(rng):
    words = [f"user{i}" for i in range(40)]
    frame = pd.DataFrame({"user": rng.choice(words, 100).astype(object)})
    frame.loc[0, "user"] = None
    pre = TablePreprocessor(max_onehot=16, hash_buckets=8).fit(frame)
    n_seen = frame["user"].nunique()
    assert n_seen > 16
    assert pre.column_roles()["user"].startswith(f"hashed ({n_seen} values → 8) — text")
    out = pre.transform(pd.concat([frame, pd.DataFrame({"user": ["brand-new"]})]))
    for i, value in enumerate([*frame["user"], "brand-new"]):
        expected = np.zeros(9)
        expected[8 if pd.isna(value) else zlib.crc32(value.encode()) % 8] = 1
        np.testing.assert_array_equal(out[i], expected)


def test_weighted_statistics_equal_repeated_rows(table, rng):
    weights = rng.integers(1, 4, len(table))
    repeated = table.loc[table.index.repeat(weights)].reset_index(drop=True)
    a = TablePreprocessor().fit(table, sample_weight=weights)
    b = TablePreprocessor().fit(repeated)
    for left, right in zip(a.columns_, b.columns_, strict=True):
        assert left.keys() == right.keys()
        for key in set(left) - {"n_missing"}:  # a row count, not weighted
            if isinstance(left[key], float):
                assert left[key] == pytest.approx(right[key], rel=1e-12)
            else:
                assert left[key] == right[key]


@pytest.mark.parametrize("n", [1, 2, 5, 6])
def test_weighted_median_is_the_median_of_repeats(rng, n):
    values = rng.normal(size=n)
    weights = rng.integers(1, 5, n)
    assert weighted_median(values, weights) == pytest.approx(np.median(np.repeat(values, weights)))


def test_boundary_errors_name_the_column(table):
    pre = TablePreprocessor().fit(table)
    with pytest.raises(DataError, match="Columns bill were used in training"):
        pre.transform(table.drop(columns="bill"))
    with pytest.warns(DataWarning, match=r"'flipper': 60 cell\(s\) are not numbers \('tall'\)"):
        pre.transform(table.assign(flipper="tall"))
    with pytest.raises(DataError, match="cannot encode"):
        TablePreprocessor().fit(pd.DataFrame({"gap": pd.to_timedelta([1, 2, 3], unit="s")}))


def test_needs_preprocessing_only_for_text_booleans_gaps_or_constants():
    assert not needs_preprocessing(pd.DataFrame({"a": [1.0, 2.0], "b": [1, 2]}))
    assert needs_preprocessing(pd.DataFrame({"a": [1.0, 2.0], "b": [3, 3]}))
    assert needs_preprocessing(pd.DataFrame({"a": [1.0, None]}))
    assert needs_preprocessing(pd.DataFrame({"a": ["u", "v"]}))
    assert needs_preprocessing(pd.DataFrame({"a": [True, False]}))


def test_missing_columns_are_all_named_or_counted():
    """Seven missing columns were shown as five, without saying so (issue 25)."""
    from headkit.exceptions import DataError

    names = [f"col{i}" for i in range(12)]
    frame = pd.DataFrame({n: np.arange(4.0) for n in names})
    pre = TablePreprocessor().fit(frame)
    with pytest.raises(DataError, match=r"Columns col5, col6, col7, col8, col9, col10, col11 were"):
        pre.transform(frame[names[:5]])  # seven missing: all shown
    with pytest.raises(DataError, match=r"Columns col0, col1, .*, col7 and 3 more were used"):
        pre.transform(frame[names[11:]])  # eleven missing: eight and a count
