"""What ``HeadClassifier.fit`` accepts besides a dense numeric matrix.

Tables with text columns or gaps (routed to :class:`headkit.data.preprocessing.TablePreprocessor`),
multi-label indicator targets, and per-row weights (``sample_weight`` and ``class_weight``, as
scikit-learn defines them). The estimator calls these small functions; they hold no state.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from headkit._validation import check_labels, shown_names
from headkit.exceptions import ConfigError, DataError

AUTO_VALIDATION_FRACTION = 0.1  # held out by validation_fraction=None when a hold-out is needed
AUTO_VALIDATION_ROWS = 200  # ... or, knowing the rows, about this many, between these shares:
AUTO_VALIDATION_MIN, AUTO_VALIDATION_MAX = 0.05, 0.2


def validation_share(
    validation_fraction: float | None, patience: Any, calibrate: bool, n_rows: int | None = None
) -> float:
    """Return the share of training rows to hold out for validation.

    ``validation_fraction`` when given; for ``None``, when ``patience`` or ``calibrate`` needs a
    split: with ``n_rows`` known, :data:`AUTO_VALIDATION_ROWS` rows (they choose the epoch and
    the temperature) within 5–20 % of the rows: 50 of 249, 200 of 1,000 or 4,000, 500 of
    10,000; without, :data:`AUTO_VALIDATION_FRACTION` (10 %). Else 0 (every row trains the
    network).
    """
    if validation_fraction is not None:
        return float(validation_fraction)
    if patience is None and not calibrate:
        return 0.0
    if not n_rows:
        return AUTO_VALIDATION_FRACTION
    share = min(AUTO_VALIDATION_MAX, AUTO_VALIDATION_ROWS / n_rows)
    return max(AUTO_VALIDATION_MIN, share)


def is_frame(X: Any) -> bool:
    """True for a pandas DataFrame."""
    return hasattr(X, "columns") and hasattr(X, "iloc")


def wants_table_preprocessing(tabular: bool | str, X: Any) -> bool:
    """Decide whether ``fit`` runs the table preprocessing on ``X``.

    ``tabular="auto"``: only for a DataFrame with a text, category or boolean column or a gap
    (numeric arrays and clean numeric frames keep the plain path, unchanged). ``True``: for
    every DataFrame (and arrays with names given later). ``False``: never.
    """
    if tabular is False or not is_frame(X):
        return False
    if tabular is True:
        return True
    from headkit.data.preprocessing import needs_preprocessing

    return needs_preprocessing(X)


def as_frame(X: Any, columns: Any) -> Any:
    """Return ``X`` as a DataFrame; a 2-D array gets the training column names."""
    import pandas as pd

    if is_frame(X):
        return X
    array = np.asarray(X, dtype=object)
    if array.ndim != 2 or array.shape[1] != len(columns):
        raise DataError(
            f"Expected a table with the {len(columns)} training columns "
            f"({shown_names(columns)}); pass a DataFrame with those columns."
        )
    return pd.DataFrame(array, columns=list(columns)).infer_objects()


def check_targets(y: Any, output: str) -> tuple[np.ndarray, bool]:
    """Validate class labels; return (y, multilabel).

    ``y`` is 1-D labels, or a 2-D 0/1 indicator matrix (N, C) for multi-label data, which needs
    ``output="sigmoid"``. A column vector (N, 1) is flattened with scikit-learn's
    ``DataConversionWarning``.
    """
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import column_or_1d

    y = np.asarray(y) if not hasattr(y, "to_numpy") else y.to_numpy()
    if y.ndim == 2 and y.shape[1] == 1:
        y = column_or_1d(y, warn=True)
    if y.ndim == 2:
        if type_of_target(y) != "multilabel-indicator":
            raise DataError(
                "A 2-D y must be a multi-label indicator matrix of 0/1 (one column per label); "
                "give 1-D labels for single-label data."
            )
        if output.split(":")[0] != "sigmoid":
            raise ConfigError(
                "Multi-label targets need independent per-label probabilities; set "
                f"output='sigmoid' (got output={output!r})."
            )
        return y.astype(np.float32), True
    check_labels(y, "y", "pass them as int or str labels")
    check_classification_targets(y)
    if np.unique(y).size < 2:
        raise DataError(
            f"The target has only one class ({np.unique(y)[0]!r}); a classifier needs at "
            "least two classes in the training labels."
        )
    return y, False


def row_weights(
    sample_weight: np.ndarray | None,
    class_weight: str | Mapping[Any, float] | None,
    classes: np.ndarray,
    y_index: np.ndarray | None,
) -> np.ndarray | None:
    """Combine ``sample_weight`` (N,) with ``class_weight`` into one weight per row.

    Returns ``None`` when every row weighs the same (the unweighted path, bit for bit).
    ``class_weight`` needs class indices ``y_index`` (single-label targets).
    """
    from headkit.training.weights import class_weight_vector

    weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if class_weight is not None:
        if y_index is None:
            raise ConfigError(
                "class_weight applies to single-label targets; for multi-label y use sample_weight."
            )
        per_class = class_weight_vector(class_weight, classes, y_index)[y_index]
        weights = per_class if weights is None else weights * per_class
    if weights is None:
        return None
    if not np.all(np.isfinite(weights)) or weights.sum() <= 0:
        raise DataError(
            "sample_weight must be finite with a positive sum; give non-negative weights, "
            "not all zero."
        )
    if np.all(weights == weights[0]):
        return None
    return weights


def drop_zero_weight(X: Any, y: np.ndarray, weights: np.ndarray | None) -> tuple[Any, ...]:
    """Remove rows of weight 0 (they would change nothing but the batch composition).

    Returns (X, y, weights) of the kept rows; weights become ``None`` when the rest are equal.
    """
    if weights is None or np.all(weights > 0):
        return X, y, weights
    keep = np.flatnonzero(weights > 0)
    if len(keep) < len(weights) and len(np.unique(y[keep], axis=0)) < 2:
        warnings.warn(
            "After dropping rows of weight 0 fewer than two classes remain.", stacklevel=3
        )
    rows = X.iloc[keep] if is_frame(X) else X[keep]
    kept = weights[keep]
    return rows, y[keep], None if np.all(kept == kept[0]) else kept


def validation_rows(est: Any, n_rows: int) -> int:
    """Rows to hold out for validation (see :func:`validation_share`), or 0 when too few.

    With too few rows for a validation split (under one row, or too few left to train on every
    class) nothing is held out; a warning says so when ``patience`` needed the split.
    """
    needs_split = est.calibrate_ or getattr(est, "nested_budget", None) is not None
    share = validation_share(est.validation_fraction, est.patience_, needs_split, n_rows)
    n_val = round(share * n_rows)
    if n_val >= 1 and n_rows - n_val >= len(est.classes_):
        return n_val
    if est.patience_ is not None and est.patience != "auto" and share > 0:
        warnings.warn(
            f"patience={est.patience} needs a validation split, but {n_rows} rows with "
            f"a validation share of {share} leave none; early stopping is off "
            "(give more rows or a larger validation_fraction).",
            stacklevel=4,
        )
    return 0


def split_rows(
    X: Any, y: np.ndarray, weights: np.ndarray | None, n_val: int, seed: int
) -> tuple[Any, ...]:
    """Hold out ``n_val`` rows: X, y (train), X, y (validation), then the two weight arrays."""
    from headkit.data.split import holdout_split

    if weights is None and y.ndim == 1:
        return (*holdout_split(X, y, n_val, seed), None, None)
    # Split row numbers exactly as the unweighted split would, then cut every array alike.
    labels = y if y.ndim == 1 else np.zeros(len(y))
    train, _, val, _ = holdout_split(np.arange(len(y)), labels, n_val, seed)
    w_train, w_val = (None, None) if weights is None else (weights[train], weights[val])
    return X[train], y[train], X[val], y[val], w_train, w_val
