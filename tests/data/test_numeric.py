import numpy as np
import pandas as pd
import pytest

from headkit.data.numeric import (
    piecewise_linear,
    quantile_edges,
    robust_scale,
    smooth_clip,
    weighted_quantile,
)
from headkit.data.preprocessing import TablePreprocessor


@pytest.mark.parametrize("q", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_weighted_quantile_with_equal_or_integer_weights_matches_numpy(q):
    rng = np.random.default_rng(0)
    values = rng.normal(size=37)
    assert weighted_quantile(values, np.ones(37), q) == pytest.approx(np.quantile(values, q))
    counts = rng.integers(1, 4, size=37)
    repeated = np.repeat(values, counts)
    # Integer weights agree with repeating rows up to interpolation between repeated copies.
    got = weighted_quantile(values, counts.astype(float), q)
    assert np.min(np.abs(np.sort(repeated) - got)) < 0.5 or q in (0.0, 1.0)


def test_robust_scale_is_median_and_iqr_with_fallbacks():
    values = np.array([1.0, 2.0, 3.0, 4.0, 100.0, np.nan])
    centre, factor = robust_scale(values)
    seen = values[:-1]
    assert centre == pytest.approx(np.median(seen))
    assert factor == pytest.approx(1 / (np.quantile(seen, 0.75) - np.quantile(seen, 0.25)))
    spiky = np.array([0.0] * 9 + [4.0])  # IQR 0: half the range
    assert robust_scale(spiky)[1] == pytest.approx(1 / 2.0)
    assert robust_scale(np.full(5, 7.0)) == (7.0, 0.0)


def test_smooth_clip_is_near_identity_at_zero_and_bounded():
    x = np.array([-1e6, -3.0, 0.0, 1e-3, 3.0, 1e6])
    y = smooth_clip(x)
    np.testing.assert_allclose(y, x / np.sqrt(1 + (x / 3) ** 2))
    assert abs(y[3] - 1e-3) < 1e-9 and np.all(np.abs(y) < 3.0)
    assert np.all(np.diff(y) > 0)


def test_table_preprocessor_robust_clip_transforms_and_round_trips():
    frame = pd.DataFrame({"income": [10.0, 20.0, 30.0, np.nan, 1e6], "city": list("abcab")})
    pre = TablePreprocessor(numeric="robust_clip").fit(frame)
    out = pre.transform(frame)
    values = frame["income"].to_numpy()
    centre, factor = robust_scale(values)
    filled = np.where(np.isnan(values), centre, values)
    np.testing.assert_allclose(out[:, 0], smooth_clip((filled - centre) * factor), rtol=1e-6)
    assert out[:, 0].max() < 3.0
    again = TablePreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(frame), out)
    standard = TablePreprocessor().fit(frame).transform(frame)
    assert standard[:, 0].max() > 1.5 and not np.allclose(standard[:, 0], out[:, 0])


def test_quantile_edges_drop_repeats_and_skip_two_valued_columns():
    rng = np.random.default_rng(0)
    values = rng.normal(size=400)
    edges = quantile_edges(values, np.ones(400), bins=8)
    np.testing.assert_allclose(edges, np.quantile(values, np.linspace(0, 1, 9)), atol=0.05)
    assert set(edges) <= set(values)  # moved to values seen
    few = np.array([1.0, 2.0, 2.0, 3.0, 3.0, 3.0, np.nan])  # 3 distinct values: at most 2 bins
    assert quantile_edges(few, np.ones(7), bins=8) == [1.0, 2.0, 3.0]
    assert quantile_edges(np.array([0.0, 1.0, 1.0, 0.0]), np.ones(4)) == []


def test_piecewise_linear_is_zero_below_one_above_and_linear_inside_each_bin():
    edges = [0.0, 1.0, 3.0]
    x = np.array([-5.0, 0.0, 0.5, 1.0, 2.0, 3.0, 9.0])
    expected = np.array([[0, 0], [0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1], [1, 1]])
    np.testing.assert_allclose(piecewise_linear(x, edges), expected)


def test_table_preprocessor_ple_adds_bins_after_the_scaled_value_and_round_trips():
    rng = np.random.default_rng(1)
    income = rng.lognormal(size=200)
    income[3] = np.nan
    frame = pd.DataFrame({"income": income, "city": rng.choice(list("abc"), 200)})
    pre = TablePreprocessor(numeric="ple").fit(frame)
    names = pre.output_names
    bins = [n for n in names if n.startswith("income__bin")]
    assert len(bins) == 16 and names[0] == "income" and names[17] == "income__missing"
    out = pre.transform(frame)
    robust = TablePreprocessor(numeric="robust_clip").fit(frame).transform(frame)
    np.testing.assert_array_equal(out[:, 0], robust[:, 0])  # the scaled value is unchanged
    edges = pre.columns_[0]["edges"]
    filled = np.where(np.isnan(income), pre.columns_[0]["median"], income)
    np.testing.assert_allclose(out[:, 1:17], piecewise_linear(filled, edges), rtol=1e-6)
    assert out[3, 17] == 1.0 and out[:, 1:17].min() == 0.0 and out[:, 1:17].max() == 1.0
    again = TablePreprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(frame), out)
