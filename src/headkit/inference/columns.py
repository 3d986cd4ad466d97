"""The one column matcher: rows with named columns → the network's input in training order.

``headkit predict``, ``headkit evaluate``, ``headkit serve`` and :class:`SavedModel` all match
incoming columns to the training columns here, by one rule: columns are matched by name in any
order, unless the names are headkit's generated placeholders ``x0, x1, …`` (an array's columns,
:func:`headkit._validation.generated_names`), which are matched by position.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headkit._validation import are_generated, generated_names
from headkit.exceptions import DataError

__all__ = ["align_rows", "column_order", "listed"]


def align_rows(
    X: Any, names: list[str] | None, feature_names: list[str], n_features: int
) -> np.ndarray:
    """Return feature rows as float32 (N, n_features) in training column order, checked.

    Parameters
    ----------
    X : array-like, shape (N, k)
        Feature rows (a pandas DataFrame's columns give ``names``).
    names : list of str or None
        Column names of ``X``; matched to ``feature_names`` (any order) when both exist and
        ``names`` are not headkit's placeholders ``x0, x1, ...``.
    feature_names : list of str
        The training columns (empty for a model trained on an unnamed array).
    n_features : int
        The network's input width.

    Raises
    ------
    DataError
        Missing or unexpected columns, wrong width, non-numeric or non-finite values.
    """
    if hasattr(X, "columns") and names is None:
        names = [str(c) for c in X.columns]
    X = X.to_numpy() if hasattr(X, "to_numpy") else np.asarray(X)
    if X.ndim != 2:
        raise DataError(f"Expected rows × features (2-D) input; got {X.ndim}-D.")
    if names and feature_names and not are_generated(names):
        X = X[:, column_order(names, feature_names)]
    if X.shape[1] != n_features:
        raise DataError(
            f"The input has {X.shape[1]} feature columns but the model takes {n_features}; "
            "give the columns it was trained on."
        )
    try:
        X = np.asarray(X, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError("Some feature values are not numbers; give numeric columns only.") from None
    bad = ~np.isfinite(X)
    if bad.any():
        rows, cols = np.nonzero(bad)
        column = (feature_names or generated_names(cols[0] + 1))[cols[0]]
        raise DataError(
            f"{len(set(rows.tolist()))} rows hold NaN or infinite values (first: row {rows[0]}, "
            f"column {column}); fill or drop them before predicting."
        )
    return X


def column_order(names: list[str], feature_names: list[str]) -> list[int]:
    """Positions in ``names`` of each training column, in training order.

    Raises
    ------
    DataError
        Naming every missing and every unexpected column (the first ten of each, then how many
        more).
    """
    position = {name: i for i, name in enumerate(names)}
    known = set(feature_names)
    missing = [n for n in feature_names if n not in position]
    extra = [n for n in names if n not in known]
    if missing or extra or len(names) != len(feature_names):
        parts = [f"missing columns {listed(missing)}"] if missing else []
        parts += [f"unexpected columns {listed(extra)}"] if extra else []
        parts = parts or ["a column is repeated"]
        raise DataError(
            f"The input does not have the model's feature columns ({'; '.join(parts)}); "
            "give exactly the columns it was trained on, in any order."
        )
    return [position[n] for n in feature_names]


def listed(names: list[str], limit: int = 10) -> str:
    """``a, b, c`` for a few names; ``a, …, j and 5 more`` past ``limit``."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"
