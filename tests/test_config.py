"""The settings' derived rules in headkit.config."""

import math

import pytest

from headkit.config import batch_rows
from headkit.estimator.inputs import validation_share


def test_automatic_batch_size_keeps_eight_steps_per_epoch_within_bounds():
    for n in (1, 4, 31, 32, 133, 270, 1347, 4000, 10**6):
        rows = batch_rows(None, n)
        assert rows == min(n, max(32, min(512, -(-n // 8))))  # ⌈n/8⌉ clipped to [32, 512], ≤ n
        if 256 <= n <= 4096:
            assert math.ceil(n / rows) == 8
    assert batch_rows(None, 4000) == 500 and batch_rows(None, 10**6) == 512
    assert batch_rows(128, 50) == 50 and batch_rows(128, 5000) == 128


@pytest.mark.parametrize(
    ("fraction", "patience", "calibrate", "share"),
    [(None, None, False, 0.0), (None, 5, False, 0.1), (None, None, True, 0.1), (0.0, 5, True, 0.0),
     (0.25, None, False, 0.25)],
)  # fmt: skip
def test_validation_share_holds_out_only_what_is_used(fraction, patience, calibrate, share):
    assert validation_share(fraction, patience, calibrate) == share


@pytest.mark.parametrize(("n_rows", "rows"), [(249, 50), (1000, 200), (4000, 200), (10_000, 500)])
def test_automatic_validation_share_holds_out_about_200_rows_on_small_data(n_rows, rows):
    assert round(validation_share(None, None, True, n_rows) * n_rows) == rows
    assert validation_share(None, None, False, n_rows) == 0.0
    assert validation_share(0.3, None, True, n_rows) == 0.3
