"""Turn a table with categories, gaps, dates and IDs into the float32 matrix the network reads.

:class:`TablePreprocessor` is fitted on a :class:`pandas.DataFrame` and maps every later frame
with the same columns to a float32 array (N, F). Each column first gets a role
(:func:`headkit.data.column_roles.infer_role`: numeric, boolean, datetime, identifier, constant
or category), then its encoding (:mod:`headkit.data.column_encoding`; categories become
``onehot`` or ``hash``). Its fitted state is plain JSON (:meth:`TablePreprocessor.to_dict` /
:meth:`TablePreprocessor.from_dict`), saved as ``preprocessing.json`` in a run directory, so an
exporter or a server can rebuild the exact transform without pickle.

Numeric columns follow scikit-learn's ``SimpleImputer(strategy="median")`` then
``StandardScaler`` (with a ``<name>__missing`` indicator where training had gaps); categories
with at most ``max_onehot`` values are one-hot encoded as ``OneHotEncoder`` (sorted, plus an
unknown slot), wider ones hashed (CRC-32 of the UTF-8 text modulo ``hash_buckets``). Values of
categorical columns are compared as text (``str(value)``, blanks stripped).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from headkit._validation import shown_names
from headkit.data.column_encoding import (
    LEARNED,
    UNKNOWN,
    describe,
    encode_column,
    fit_column,
    output_names,
    weighted_median,
)
from headkit.data.column_roles import DataWarning, infer_role, na_set
from headkit.exceptions import DataError

FORMAT_VERSION = 2
__all__ = ["UNKNOWN", "DataWarning", "TablePreprocessor", "needs_preprocessing", "weighted_median"]


class TablePreprocessor:
    """Fitted column-wise encoder from a DataFrame to a float32 matrix.

    Parameters
    ----------
    max_onehot : int, default=16
        Categorical columns with at most this many distinct training values are one-hot encoded;
        wider ones are hashed.
    hash_buckets : int, default=32
        Number of hash columns of a high-cardinality column.
    na_values : sequence of str, optional
        Text read as a missing value besides :data:`headkit.data.column_roles.NA_TOKENS`
        (``?``, ``NA``, ``N/A``, ``NaN``, ``null``, ``None``, ``-``, empty, ...). When ``None``,
        the frame's ``attrs["na_values"]`` (set by :func:`headkit.data.load_table`) is used.
    numeric : {"standard", "robust_clip", "ple"}, default="standard"
        Scaling of numeric columns: mean and standard deviation, or median and inter-quartile
        range followed by smooth clipping to ±3 (:mod:`headkit.data.numeric`); ``"ple"`` adds
        after that value a piecewise-linear encoding on up to 16 quantile bins (``<name>__bin0``,
        ...); gaps take the median either way.

    Attributes
    ----------
    columns_ : list of dict
        One JSON-ready entry per input column, in input order (its role, why, and fitted
        statistics).
    na_values_ : list of str
        Every missing-value token applied (lower-case).
    """

    def __init__(
        self,
        max_onehot: int = 16,
        hash_buckets: int = 32,
        na_values: Any = None,
        numeric: str = "standard",
    ) -> None:
        self.max_onehot = max_onehot
        self.hash_buckets = hash_buckets
        self.na_values = na_values
        self.numeric = numeric

    def fit(self, frame: Any, sample_weight: np.ndarray | None = None) -> TablePreprocessor:
        """Infer each column's role and learn its statistics.

        Parameters
        ----------
        frame : DataFrame, shape (N, n_columns)
        sample_weight : ndarray, shape (N,), optional
            Row weights for the medians, means and scales (a row of weight 2 counts twice).

        Warns
        -----
        DataWarning
            Cells of a numeric, boolean or date column that do not parse (read as gaps).
        """
        if len(frame) == 0:
            raise DataError("Cannot fit the table preprocessing on zero rows; give some data.")
        extra = self.na_values if self.na_values is not None else frame.attrs.get("na_values")
        na = na_set(extra)
        self.na_values_ = sorted(na)
        weights = np.ones(len(frame)) if sample_weight is None else np.asarray(sample_weight, float)
        self.columns_: list[dict[str, Any]] = []
        for name in frame.columns:
            series = frame[name]
            entry = infer_role(str(name), series, na)
            entry = fit_column(
                entry, series, weights, na, self.max_onehot, self.hash_buckets, self.numeric
            )
            self.columns_.append(entry)
        if not any(e["role"] in LEARNED for e in self.columns_):
            raise DataError(
                "Every column of the table is an identifier or constant, so nothing is left to "
                "learn from; give columns that vary between rows."
            )
        return self

    @property
    def feature_names(self) -> list[str]:
        """Input column names, in the order :meth:`fit` saw them."""
        return [entry["name"] for entry in self.columns_]

    @property
    def output_names(self) -> list[str]:
        """Names of the output columns, one per column of :meth:`transform`'s result."""
        return [name for entry in self.columns_ for name in output_names(entry)]

    def column_roles(self) -> dict[str, str]:
        """Each input column's role and why, one line each (for ``headkit info``)."""
        return {entry["name"]: describe(entry) for entry in self.columns_}

    def _na(self) -> frozenset[str]:
        return frozenset(getattr(self, "na_values_", ()))

    def _used(self, frame: Any) -> list[dict[str, Any]]:
        """The learned-from entries; fail when one of their columns is absent from ``frame``."""
        used = [e for e in self.columns_ if e["role"] in LEARNED]
        absent = [e["name"] for e in used if e["name"] not in frame.columns]
        if absent:
            known = {e["name"] for e in self.columns_}
            extra = [str(c) for c in frame.columns if c not in known]
            unexpected = f"; unexpected columns {shown_names(extra)}" if extra else ""
            raise DataError(
                f"Columns {shown_names(absent)} were used in training but are missing "
                f"here{unexpected}; give data with the same columns as the training table."
            )
        return used

    def transform_with_flags(self, frame: Any) -> tuple[np.ndarray, np.ndarray]:
        """Encode a DataFrame and say which rows had nothing known.

        Parameters
        ----------
        frame : DataFrame, shape (N, ...)
            Must hold every learned-from column seen by :meth:`fit` (identifier and constant
            columns may be absent; extra columns are ignored).

        Returns
        -------
        X : ndarray, shape (N, len(output_names)), float32
            Written column block by column block into one array (no float64 copy of the table).
        empty : ndarray, shape (N,), bool
            Rows where every learned-from cell is missing or a category never seen in training.
        """
        self._used(frame)
        na = self._na()
        out = np.empty((len(frame), len(self.output_names)), dtype=np.float32)
        known = np.zeros(len(frame), dtype=bool)
        start = 0
        for entry in self.columns_:
            width = len(output_names(entry))
            if width:
                known |= encode_column(
                    entry, frame[entry["name"]], na, out[:, start : start + width]
                )
            start += width
        return out, ~known

    def transform(self, frame: Any) -> np.ndarray:
        """Encode a DataFrame with the fitted columns (see :meth:`transform_with_flags`).

        Warns
        -----
        DataWarning
            Rows with every cell empty or unknown (their predictions are guesses), and cells of
            a numeric, boolean or date column that do not parse.
        """
        out, empty = self.transform_with_flags(frame)
        warn_empty_rows(empty)
        return out

    def empty_rows(self, frame: Any) -> np.ndarray:
        """Rows (N,) bool of ``frame`` where every learned-from cell is missing or unknown."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            return self.transform_with_flags(frame)[1]

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as a JSON-ready dict."""
        return {
            "format_version": FORMAT_VERSION,
            "max_onehot": self.max_onehot,
            "hash_buckets": self.hash_buckets,
            "na_values": self.na_values_,
            "numeric": self.numeric,
            "columns": self.columns_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TablePreprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict` output."""
        if data.get("format_version", 0) > FORMAT_VERSION:
            raise DataError(
                "The saved table preprocessing is from a newer headkit; upgrade headkit to use it."
            )
        new = cls(
            int(data["max_onehot"]),
            int(data["hash_buckets"]),
            numeric=data.get("numeric", "standard"),
        )
        new.columns_ = [dict(entry) for entry in data["columns"]]
        new.na_values_ = list(data.get("na_values", []))  # format 1 had no missing-value tokens
        return new


def warn_empty_rows(empty: np.ndarray) -> None:
    """Warn (:class:`DataWarning`) when some rows had every cell empty or unknown."""
    if empty.any():
        from headkit._validation import _rows

        warnings.warn(
            f"{int(empty.sum())} row(s) have every cell empty or unknown "
            f"({_rows(np.flatnonzero(empty))}, counting from 1); "
            "their predictions are guesses, not based on any value.",
            DataWarning,
            stacklevel=3,
        )


def needs_preprocessing(frame: Any) -> bool:
    """True when a DataFrame has a non-numeric (or boolean) column, a gap or a constant column."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if any(is_bool_dtype(frame[c]) or not is_numeric_dtype(frame[c]) for c in frame.columns):
        return True
    for name in frame.columns:  # one column at a time: no copy of the whole table
        values = frame[name].to_numpy()
        if np.isnan(values).any() or (len(values) > 1 and np.all(values == values[0])):
            return True
    return False
