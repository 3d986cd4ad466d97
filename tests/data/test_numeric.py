import numpy as np
import pandas as pd
import pytest

from headkit.data.numeric import robust_scale, smooth_clip, weighted_quantile
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
