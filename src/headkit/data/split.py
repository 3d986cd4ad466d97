"""The one holdout split: a stratified, seeded cut of rows into two parts."""

from __future__ import annotations

import numpy as np


def holdout_split(
    X: np.ndarray, y: np.ndarray, n_holdout: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut ``n_holdout`` rows off (X, y), stratified by class when every class allows it.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    n_holdout : int
        Rows in the second part; 0 returns empty second parts.
    seed : int
        Seed of the shuffle (scikit-learn's ``train_test_split``).

    Returns
    -------
    X_keep, y_keep, X_out, y_out : ndarray
        ``n_samples - n_holdout`` and ``n_holdout`` rows.

    Notes
    -----
    Stratification needs at least two rows per class and at least one row per class on each
    side; otherwise the cut is a plain shuffle.
    """
    from sklearn.model_selection import train_test_split

    if n_holdout <= 0:
        return X, y, X[:0], y[:0]
    counts = np.unique(y, return_counts=True)[1]
    n_classes = len(counts)
    stratified = counts.min() >= 2 and n_holdout >= n_classes and len(y) - n_holdout >= n_classes
    X_keep, X_out, y_keep, y_out = train_test_split(
        X, y, test_size=n_holdout, random_state=seed, stratify=y if stratified else None
    )
    return X_keep, y_keep, X_out, y_out
