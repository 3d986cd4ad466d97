"""Read features and labels from table files (:mod:`headkit.data.readers`), ``.npy`` and ``.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from headkit._validation import check_finite_features, check_missing_labels
from headkit.exceptions import DataError

ARRAY_SUFFIXES = (".npy", ".npz")


@dataclass(frozen=True)
class Table:
    """Features and (optional) labels read from a file.

    Attributes
    ----------
    X : ndarray or DataFrame, shape (n_samples, n_features)
        Numeric features as float32 (float64 when the array file holds float64); a table with
        text, category or boolean columns or empty cells stays a DataFrame, for
        :class:`headkit.data.preprocessing.TablePreprocessor`.
    y : ndarray, shape (n_samples,), or None
        Labels as stored (ints or strings), ``None`` when the file has none.
    feature_names : list of str
    """

    X: Any
    y: np.ndarray | None
    feature_names: list[str]


def _labels(column: Any) -> np.ndarray:
    """A label column as an array; a categorical's rows share its category objects (no copies)."""
    import pandas as pd

    if not isinstance(column.dtype, pd.CategoricalDtype):
        return column.to_numpy()
    categories = np.asarray(column.cat.categories.astype(object), dtype=object)
    with_gap = np.concatenate([categories, np.array([np.nan], dtype=object)])
    return with_gap[column.cat.codes.to_numpy()]


def _from_frame(frame, path: Path, target: str | None, require_target: bool) -> Table:
    if frame.shape[0] == 0:
        raise DataError(f"{path} has no rows; give a file with at least one sample.")
    y = None
    if target is not None and (require_target or target in frame.columns):
        if target not in frame.columns:
            shown = ", ".join(map(str, list(frame.columns)[:10]))
            raise DataError(
                f"Column {target!r} is not in {path}; its columns are {shown}. Pass --target with one of them."
            )
        y = _labels(frame[target])
        if require_target:
            check_missing_labels(y, f"Column {target!r} of {path}")
        frame = frame.drop(columns=[target])
    elif require_target:
        raise DataError(
            f"{path} is a table: say which column holds the labels with --target COLUMN."
        )
    from headkit.data.preprocessing import needs_preprocessing

    frame.columns = [str(c) for c in frame.columns]
    if needs_preprocessing(frame):  # categories or gaps: the estimator's table preprocessing
        return Table(frame, y, list(frame.columns))
    X = frame.to_numpy(dtype=np.float32)
    names = [str(c) for c in frame.columns]
    check_finite_features(X, names, str(path))
    return Table(X, y, names)


def _column_index(target: str, n_columns: int, path: Path) -> int:
    """The label column of a .npy array: an index in [-n_columns, n_columns)."""
    try:
        col = int(target)
    except ValueError:
        raise DataError(
            f"For a .npy file --target must be a column index; got {target!r}."
        ) from None
    if not -n_columns <= col < n_columns:
        raise DataError(
            f"--target {col} is out of range for {path}, which has {n_columns} columns; give an "
            f"index from 0 to {n_columns - 1} (or -1 for the last)."
        )
    return col % n_columns


def _from_arrays(path: Path, target: str | None, require_target: bool) -> Table:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as error:
        raise DataError(
            f"Cannot read {path}: {error}. Check that it is a NumPy .npy/.npz file."
        ) from None
    if isinstance(loaded, np.ndarray):  # .npy: one 2-D array, labels in column `target` (an index)
        if loaded.ndim != 2:
            raise DataError(
                f"{path} holds a {loaded.ndim}-D array; save a 2-D (samples × features) array."
            )
        if target is None:
            if require_target:
                raise DataError(
                    f"{path} is a single array: pass --target with the label column's index, "
                    "or save an .npz with arrays 'X' and 'y'."
                )
            return Table(loaded.astype(np.float32), None, [f"x{i}" for i in range(loaded.shape[1])])
        col = _column_index(target, loaded.shape[1], path)
        X = np.delete(loaded, col, axis=1).astype(np.float32)
        names = [f"x{i}" for i in range(X.shape[1])]
        check_finite_features(X, names, str(path))
        if require_target:
            check_missing_labels(loaded[:, col], f"Column {col} of {path}")
        return Table(X, loaded[:, col], names)
    with loaded:
        keys = set(loaded.files)
        x_key = next((k for k in ("X", "x", "features") if k in keys), None)
        y_key = (
            target
            if target in keys
            else next((k for k in ("y", "labels", "target") if k in keys), None)
        )
        if x_key is None:
            raise DataError(f"{path} has arrays {sorted(keys)}; name the feature array 'X'.")
        X = loaded[x_key]
        y = loaded[y_key] if y_key is not None else None
    if y is None and require_target:
        raise DataError(f"{path} has no label array; add one named 'y' (or pass --target NAME).")
    if X.ndim != 2:
        raise DataError(
            f"Array {x_key!r} in {path} is {X.ndim}-D; save a 2-D (samples × features) array."
        )
    if X.dtype.kind not in "biuf":
        raise DataError(f"Array {x_key!r} in {path} is not numeric ({X.dtype}); save numbers.")
    X = X.astype(np.float32)
    names = [f"x{i}" for i in range(X.shape[1])]
    check_finite_features(X, names, str(path))
    if y is not None and require_target:
        check_missing_labels(y, f"Array {y_key!r} of {path}")
    return Table(X, y, names)


def load_table(
    path: str | Path,
    target: str | None = None,
    require_target: bool = True,
    na_values: Any = (),
    decimal: str | None = None,
) -> Table:
    """Read a data file.

    Parameters
    ----------
    path : str or Path
        A table (labels in column ``target``): ``.csv``/``.tsv``/``.txt`` (delimiter, decimal
        mark and encoding sniffed), ``.parquet``, ``.feather``/``.arrow``, ``.jsonl``, ``.xlsx``,
        optionally ``.gz``/``.bz2``/``.xz``/``.zst``-compressed or alone in a ``.zip``; or
        ``.npy`` (a 2-D array, labels in the column whose index is ``target``) or ``.npz``
        (arrays ``X`` and ``y``).
    target : str, optional
        Label column (or array name/column index for NumPy files).
    require_target : bool
        Fail when no labels can be found (training); prediction files may have none, and a
        ``target`` column they lack is then not an error.
    na_values : sequence of str, optional
        Text read as a missing value besides the defaults (``?``, ``NA``, ``N/A``, ``NaN``,
        ``null``, ``None``, ``-``, empty, ...); kept in the frame's ``attrs["na_values"]`` so
        the table preprocessing saves and reapplies them.
    decimal : {".", ","}, optional
        Decimal mark of a text file; sniffed when not given.

    Raises
    ------
    DataError
        Missing/unreadable file, missing label column, empty table.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"No file at {path}; check the path.")
    if path.is_dir():
        raise DataError(f"{path} is a directory; give a data file (.csv, .parquet, .npy, .npz).")
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return _from_arrays(path, target, require_target)
    from headkit.data.readers import read_frame

    return _from_frame(read_frame(path, na_values, decimal), path, target, require_target)
