import numpy as np
import pytest

from headkit.data import holdout_split


def test_holdout_is_a_stratified_partition_of_the_rows():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    X = np.arange(100, dtype=np.float32)[:, None]
    X_keep, y_keep, X_out, y_out = holdout_split(X, y, 20, seed=0)
    assert len(y_out) == 20 and len(y_keep) == 80
    rows = np.concatenate([X_keep[:, 0], X_out[:, 0]])
    assert sorted(rows.tolist()) == list(range(100))  # every row once
    np.testing.assert_array_equal(y[X_out[:, 0].astype(int)], y_out)  # labels travel with rows
    # stratified: each class holds out its share 50/30/20 × 0.2 = 10/6/4 rows
    assert np.bincount(y_out).tolist() == [10, 6, 4]


def test_zero_rows_held_out_returns_everything():
    X, y = np.zeros((5, 2)), np.array([0, 1, 0, 1, 0])
    X_keep, y_keep, X_out, y_out = holdout_split(X, y, 0, seed=0)
    assert X_keep.shape == (5, 2) and len(y_keep) == 5 and X_out.shape == (0, 2) and len(y_out) == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_a_singleton_class_falls_back_to_a_plain_shuffle(seed):
    y = np.array([0] * 9 + [1])
    X = np.arange(10, dtype=np.float32)[:, None]
    X_keep, _, X_out, _ = holdout_split(X, y, 3, seed=seed)
    assert len(X_out) == 3 and len(set(X_keep[:, 0]) | set(X_out[:, 0])) == 10
