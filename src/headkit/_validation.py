"""Checks at the boundary: each problem said in one sentence that names the fix.

Shared by the estimator, the data loaders and the runs layer, so a bad input gets the same
answer from ``HeadClassifier.fit`` and from ``headkit train``. Rows are counted from 1 (the
first data row of a file, after its header).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from headkit.exceptions import DataError

MAX_CODES = (
    20  # a float target with more distinct integral values than this, not 0..K-1, is numeric
)
SHOWN = 3


def shown_names(items: Iterable[Any], limit: int = 8) -> str:
    """Every item up to ``limit`` (``a, b, c``); beyond it the first ``limit`` and a count.

    ``shown_names(["a", "b", "c"], 2)`` is ``"a, b and 1 more"``: a list in a message never
    stops short without saying how much it left out.
    """
    items = [str(item) for item in items]
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _rows(index: np.ndarray) -> str:
    shown = ", ".join(str(int(i) + 1) for i in index[:SHOWN])
    more = f" and {len(index) - SHOWN} more" if len(index) > SHOWN else ""
    return f"row{'s' if len(index) > 1 else ''} {shown}{more}"


def nonfinite_summary(X: np.ndarray, names: Sequence[str] | None = None) -> str | None:
    """Describe the NaN/inf cells of X by column and first rows; None when all are finite.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_features), float
    names : sequence of str, optional
        Column names (default ``column 0``, ``column 1``, ...).
    """
    bad = ~np.isfinite(X)
    if not bad.any():
        return None
    columns = np.flatnonzero(bad.any(axis=0))
    parts = []
    for j in columns[:SHOWN]:
        rows = np.flatnonzero(bad[:, j])
        has_nan = np.isnan(X[rows, j]).any()
        has_inf = np.isinf(X[rows, j]).any()
        kind = "NaN and inf" if has_nan and has_inf else "NaN" if has_nan else "inf"
        name = repr(str(names[j])) if names is not None and len(names) > j else f"column {j}"
        parts.append(f"{name} ({kind} in {_rows(rows)})")
    more = f", and {len(columns) - SHOWN} more columns" if len(columns) > SHOWN else ""
    return ", ".join(parts) + more


def check_finite_features(X: np.ndarray, names: Sequence[str] | None, where: str) -> None:
    """Raise :class:`DataError` naming the columns and first rows of any NaN/inf in X."""
    summary = nonfinite_summary(X, names)
    if summary is not None:
        raise DataError(
            f"{where} has missing or infinite values (NaN/infinity) in {summary}; fill or drop "
            "them before training or predicting."
        )


def check_no_infinity(frame: Any, where: str) -> None:
    """Raise :class:`DataError` naming the columns and first rows of ±inf in a DataFrame.

    Gaps (NaN) in a table are the table preprocessing's to fill; an infinity is not a gap.
    """
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    numeric = [
        c for c in frame.columns if is_numeric_dtype(frame[c]) and not is_bool_dtype(frame[c])
    ]
    if not numeric:
        return
    values = frame[numeric].to_numpy(dtype=np.float64, na_value=0.0)
    if np.isfinite(values).all():
        return
    summary = nonfinite_summary(values, [str(c) for c in numeric])
    raise DataError(
        f"{where} has infinite values (infinity) in {summary}; replace them (or leave the cell "
        "empty to have it filled) before training or predicting."
    )


def _missing(y: np.ndarray) -> np.ndarray:
    if y.dtype.kind == "f":
        return np.isnan(y)
    if y.dtype.kind == "O":
        return np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in y])
    return np.zeros(len(y), dtype=bool)


def _class_codes(values: np.ndarray) -> bool:
    """True when sorted distinct values are 0..K-1 or 1..K (class codes stored as floats)."""
    k = len(values)
    return bool(np.array_equal(values, np.arange(k)) or np.array_equal(values, np.arange(1, k + 1)))


def check_missing_labels(y: np.ndarray, where: str) -> None:
    """Raise :class:`DataError` naming the first rows whose label is missing (NaN or None)."""
    missing = _missing(np.asarray(y))
    if missing.any():
        rows = _rows(np.flatnonzero(missing))
        raise DataError(
            f"{where} has {int(missing.sum())} missing labels (NaN, {rows}); fill them or drop "
            "those rows."
        )


def check_labels(y: np.ndarray, where: str, hint: str) -> None:
    """Refuse labels with missing values, and float labels that look like a regression target.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
    where : str
        What holds the labels, for the message (``"y"``, ``"column 'price' of d.csv"``).
    hint : str
        How this caller forces classification (the CLI's flag or the estimator's way).

    Raises
    ------
    DataError
        Missing labels (rows named), or a continuous target: float values that are not all
        integers, or more than 20 distinct integers that are not the codes 0..K-1 or 1..K.
    """
    y = np.asarray(y)
    check_missing_labels(y, where)
    if y.dtype.kind != "f":
        return
    values = np.unique(y)
    integral = bool(np.all(np.mod(values, 1) == 0))
    if integral and (len(values) <= MAX_CODES or _class_codes(values)):
        return
    shown = ", ".join(f"{v:g}" for v in values[:SHOWN])
    raise DataError(
        f"{where} looks like a continuous (regression) target ({len(values)} distinct float "
        f"values: {shown}, ...) and headkit trains classifiers; if each value is a class, "
        f"{hint}."
    )


def check_two_classes(y: np.ndarray) -> None:
    """Raise :class:`DataError` when the labels hold fewer than two classes."""
    values = np.unique(y)
    if values.size < 2:
        raise DataError(
            f"The target has only one class ({values[0]!r}); a classifier needs at least two "
            "classes in the training labels."
        )


def split_sizes(n_rows: int, test_fraction: float, validation_fraction: float) -> tuple[int, int]:
    """Return (test rows, validation rows) for fractions of ``n_rows`` (validation of the rest)."""
    n_test = int(np.ceil(test_fraction * n_rows)) if test_fraction > 0 else 0
    n_val = round(validation_fraction * (n_rows - n_test)) if validation_fraction > 0 else 0
    return n_test, n_val


def check_split_sizes(
    n_rows: int, n_classes: int, test_fraction: float, validation_fraction: float, where: str
) -> None:
    """Raise :class:`DataError` when the rows cannot fill the asked test and validation splits.

    Each asked split needs at least one row, and training keeps at least one row per class.
    """

    def enough(n: int) -> bool:
        n_test, n_val = split_sizes(n, test_fraction, validation_fraction)
        ok_test = test_fraction == 0 or (n_test >= 1 and n - n_test >= n_classes)
        ok_val = validation_fraction == 0 or (n_val >= 1 and n - n_test - n_val >= n_classes)
        return ok_test and ok_val

    if enough(n_rows):
        return
    needed = next(n for n in range(n_rows + 1, 100 * n_rows + 100) if enough(n))
    raise DataError(
        f"{where} has {n_rows} rows, too few for a {test_fraction:.0%} test split and a "
        f"{validation_fraction:.0%} validation split with {n_classes} classes (needs "
        f"{needed}); add rows, or lower --test-fraction / --validation-fraction (0 turns a "
        "split off)."
    )


def validate_features(
    estimator: object,
    X: object,
    y: object = "no_validation",
    reset: bool = True,
    continuous: bool = True,
    **check_params: object,
):
    """scikit-learn's ``validate_data`` with headkit's errors: a :class:`DataError` for bad input.

    NaN/inf cells are reported by column name and first rows; 1-D labels are checked first by
    :func:`check_labels` (or, with ``continuous=False``, only for missing values: a batch of
    ``partial_fit`` need not show every class code). ``check_params`` go to ``validate_data``
    (``accept_sparse``, ``multi_output``). Without ``y`` returns X (float32), else (X, y).
    """
    from sklearn.utils.validation import validate_data

    from headkit.exceptions import HeadkitError

    with_y = not isinstance(y, str)
    if with_y and y is not None:
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels.ravel()
        if labels.ndim == 1 and continuous:
            check_labels(labels, "y", "pass them as int or str labels")
        elif labels.ndim == 1:
            check_missing_labels(labels, "y")
    if not with_y or y is None:
        check_params.pop("multi_output", None)  # X alone (y=None: scikit-learn's own error)
    kwargs = {"dtype": np.float32, "reset": reset, "ensure_all_finite": False, **check_params}
    try:
        out = validate_data(estimator, X, y, **kwargs)
    except ValueError as error:
        if isinstance(error, HeadkitError):
            raise
        raise DataError(str(error)) from error
    features = out[0] if with_y else out
    names = getattr(estimator, "feature_names_in_", None)
    if hasattr(features, "tocsr"):  # sparse rows: only the stored values can be bad
        if not np.isfinite(features.data).all():
            raise DataError(
                "X has NaN or infinity among its stored values; fill or drop them before "
                "training or predicting."
            )
    else:
        check_finite_features(features, names, "X")
    return out


def generated_names(n_columns: int) -> list[str]:
    """The placeholder names headkit gives the columns of an unnamed array: ``x0, x1, …``."""
    return [f"x{i}" for i in range(n_columns)]


def are_generated(names: list[str]) -> bool:
    """Whether ``names`` are exactly the placeholders ``x0, x1, …`` (then columns match by position)."""
    return list(names) == generated_names(len(names))
