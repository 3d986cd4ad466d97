"""Turn a table with categories and gaps into the float32 matrix the network reads.

:class:`TablePreprocessor` is fitted on a :class:`pandas.DataFrame` and maps every later frame
with the same columns to a float32 array (N, F). Its fitted state is plain JSON
(:meth:`TablePreprocessor.to_dict` / :meth:`TablePreprocessor.from_dict`), saved as
``preprocessing.json`` in a run directory, so an exporter or a server can rebuild the exact
transform without pickle. Column roles:

``numeric``
    Integer and float columns: median imputation, then ``(x - mean) / scale`` with the mean and
    population standard deviation of the imputed training column (scikit-learn's
    ``SimpleImputer(strategy="median")`` followed by ``StandardScaler``). A column that had gaps
    in training also gets a 0/1 ``<name>__missing`` indicator (unscaled).
``onehot``
    Strings, pandas ``category`` and booleans with at most ``max_onehot`` distinct values: one
    0/1 column per training category (sorted, as scikit-learn's ``OneHotEncoder``) plus one
    ``<name>=<unknown>`` slot that takes missing values and categories never seen in training.
``hash``
    Categorical columns with more distinct values: the CRC-32 of the value's UTF-8 text modulo
    ``hash_buckets`` picks one of ``hash_buckets`` 0/1 columns (the hashing trick; unseen values
    land in some bucket), plus an unknown slot for missing values.

Values of categorical columns are compared as text (``str(value)``), so ``True`` read from one
file and ``"True"`` from another are the same category.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from headkit._validation import check_no_infinity
from headkit.exceptions import DataError

FORMAT_VERSION = 1
UNKNOWN = "<unknown>"


def _is_categorical(series: Any) -> bool:
    import pandas as pd
    from pandas.api.types import (
        is_bool_dtype,
        is_numeric_dtype,
        is_object_dtype,
        is_string_dtype,
    )

    if isinstance(series.dtype, pd.CategoricalDtype) or is_bool_dtype(series):
        return True
    if is_numeric_dtype(series):
        return False
    if is_object_dtype(series) or is_string_dtype(series):
        return True
    raise DataError(
        f"Column {series.name!r} has dtype {series.dtype}, which headkit cannot encode; convert "
        "it to numbers or strings first."
    )


def _text_keys(series: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return (missing mask (N,), text key per row (N,) object, None where missing)."""
    missing = series.isna().to_numpy()
    keys = np.empty(len(series), dtype=object)
    keys[~missing] = [str(v) for v in series.to_numpy(dtype=object)[~missing]]
    return missing, keys


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of ``values`` where each row counts ``weights`` times.

    For integer weights this equals ``np.median`` of the values repeated that many times (the
    mean of the two middle values when the total count is even).

    Parameters
    ----------
    values, weights : ndarray, shape (N,)
        Weights are positive.
    """
    order = np.argsort(values, kind="stable")
    sorted_values, cumulative = values[order], np.cumsum(weights[order])
    total = cumulative[-1]
    low = np.searchsorted(cumulative, np.floor((total - 1) / 2), side="right")
    high = np.searchsorted(cumulative, np.floor(total / 2), side="right")
    n = len(values) - 1
    return float((sorted_values[min(low, n)] + sorted_values[min(high, n)]) / 2)


def _numeric_values(series: Any) -> np.ndarray:
    import pandas as pd

    try:
        return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)
    except (ValueError, TypeError):
        raise DataError(
            f"Column {series.name!r} was numeric in training but holds text here; give numbers "
            "(or empty cells) in that column."
        ) from None


def _fit_numeric(
    name: str, values: np.ndarray, weights: np.ndarray, numeric: str = "standard"
) -> dict[str, Any]:
    if numeric == "robust_clip":  # headkit.data.numeric: median/IQR, then smooth clipping
        from headkit.data.numeric import robust_scale

        centre, factor = robust_scale(values, weights)
        return {"name": name, "role": "numeric", "median": centre, "mean": centre,
                "scale": 1.0 / factor if factor else 1.0, "clip": True,
                "indicator": bool(np.isnan(values).any())}  # fmt: skip
    missing = np.isnan(values)
    seen, seen_weights = values[~missing], weights[~missing]
    median = weighted_median(seen, seen_weights) if len(seen) else 0.0
    filled = np.where(missing, median, values)
    mean = float(np.average(filled, weights=weights))
    scale = float(np.sqrt(np.average((filled - mean) ** 2, weights=weights)))
    return {
        "name": name,
        "role": "numeric",
        "median": median,
        "mean": mean,
        "scale": scale if scale > 1e-12 else 1.0,
        "indicator": bool(missing.any()),
    }


def _fit_categorical(name: str, keys: np.ndarray, max_onehot: int, buckets: int) -> dict[str, Any]:
    categories = sorted({k for k in keys if k is not None})
    if len(categories) <= max_onehot:
        return {"name": name, "role": "onehot", "categories": categories}
    return {"name": name, "role": "hash", "buckets": buckets, "n_seen": len(categories)}


def _hash_bucket(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % buckets


class TablePreprocessor:
    """Fitted column-wise encoder from a DataFrame to a float32 matrix.

    Parameters
    ----------
    max_onehot : int, default=16
        Categorical columns with at most this many distinct training values are one-hot encoded;
        wider ones are hashed.
    hash_buckets : int, default=32
        Number of hash columns of a high-cardinality column.
    numeric : {"standard", "robust_clip"}, default="standard"
        Scaling of numeric columns: mean and standard deviation, or median and inter-quartile
        range followed by smooth clipping to ±3 (:mod:`headkit.data.numeric`); gaps take the
        median either way.

    Attributes
    ----------
    columns_ : list of dict
        One JSON-ready entry per input column, in input order (its role and fitted statistics).
    """

    def __init__(
        self, max_onehot: int = 16, hash_buckets: int = 32, numeric: str = "standard"
    ) -> None:
        self.max_onehot = max_onehot
        self.hash_buckets = hash_buckets
        self.numeric = numeric

    def fit(self, frame: Any, sample_weight: np.ndarray | None = None) -> TablePreprocessor:
        """Learn each column's role and statistics.

        Parameters
        ----------
        frame : DataFrame, shape (N, n_columns)
        sample_weight : ndarray, shape (N,), optional
            Row weights for the medians, means and scales (a row of weight 2 counts twice).
        """
        if len(frame) == 0:
            raise DataError("Cannot fit the table preprocessing on zero rows; give some data.")
        check_no_infinity(frame, "The table")
        weights = np.ones(len(frame)) if sample_weight is None else np.asarray(sample_weight, float)
        self.columns_: list[dict[str, Any]] = []
        for name in frame.columns:
            series = frame[name]
            if _is_categorical(series):
                keys = _text_keys(series)[1]
                entry = _fit_categorical(str(name), keys, self.max_onehot, self.hash_buckets)
            else:
                entry = _fit_numeric(str(name), _numeric_values(series), weights, self.numeric)
            self.columns_.append(entry)
        return self

    @property
    def feature_names(self) -> list[str]:
        """Input column names, in the order :meth:`fit` saw them."""
        return [entry["name"] for entry in self.columns_]

    @property
    def output_names(self) -> list[str]:
        """Names of the output columns, one per column of :meth:`transform`'s result."""
        names: list[str] = []
        for entry in self.columns_:
            name = entry["name"]
            if entry["role"] == "numeric":
                names += [name, f"{name}__missing"] if entry["indicator"] else [name]
            elif entry["role"] == "onehot":
                names += [f"{name}={c}" for c in entry["categories"]] + [f"{name}={UNKNOWN}"]
            else:
                names += [f"{name}#{b}" for b in range(entry["buckets"])] + [f"{name}={UNKNOWN}"]
        return names

    def column_roles(self) -> dict[str, str]:
        """Return a short description of each input column's encoding (for ``headkit info``)."""
        roles = {}
        for entry in self.columns_:
            if entry["role"] == "numeric":
                roles[entry["name"]] = "numeric" + (" + missing flag" if entry["indicator"] else "")
            elif entry["role"] == "onehot":
                roles[entry["name"]] = f"one-hot ({len(entry['categories'])} + unknown)"
            else:
                roles[entry["name"]] = f"hashed ({entry['n_seen']} values → {entry['buckets']})"
        return roles

    def transform(self, frame: Any) -> np.ndarray:
        """Encode a DataFrame with the fitted columns (extra columns are ignored).

        Parameters
        ----------
        frame : DataFrame, shape (N, ...)
            Must hold every column seen by :meth:`fit`.

        Returns
        -------
        ndarray, shape (N, len(output_names)), float32
        """
        absent = [e["name"] for e in self.columns_ if e["name"] not in frame.columns]
        if absent:
            known = {e["name"] for e in self.columns_}
            extra = [str(c) for c in frame.columns if c not in known]
            unexpected = f"; unexpected columns {', '.join(extra[:5])}" if extra else ""
            raise DataError(
                f"Columns {', '.join(absent[:5])} were used in training but are missing "
                f"here{unexpected}; give data with the same columns as the training table."
            )
        check_no_infinity(frame[[e["name"] for e in self.columns_]], "The table")
        blocks = [self._encode(entry, frame[entry["name"]]) for entry in self.columns_]
        return np.concatenate(blocks, axis=1).astype(np.float32, copy=False)

    def _encode(self, entry: dict[str, Any], series: Any) -> np.ndarray:
        n = len(series)
        if entry["role"] == "numeric":
            values = _numeric_values(series)
            missing = np.isnan(values)
            scaled = (np.where(missing, entry["median"], values) - entry["mean"]) / entry["scale"]
            if entry.get("clip"):
                from headkit.data.numeric import smooth_clip

                scaled = smooth_clip(scaled)
            columns = [scaled, missing.astype(np.float64)] if entry["indicator"] else [scaled]
            return np.stack(columns, axis=1)
        missing, keys = _text_keys(series)
        if entry["role"] == "onehot":
            import pandas as pd

            width = len(entry["categories"])
            codes = pd.Index(entry["categories"], dtype=object).get_indexer(keys)
            slot = np.where(codes < 0, width, codes)
        else:
            width = entry["buckets"]
            uniques = {k for k in keys if k is not None}
            bucket = {k: _hash_bucket(k, width) for k in uniques}
            slot = np.array([width if k is None else bucket[k] for k in keys], dtype=np.int64)
        out = np.zeros((n, width + 1))
        out[np.arange(n), slot] = 1.0
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted state as a JSON-ready dict."""
        return {
            "format_version": FORMAT_VERSION,
            "max_onehot": self.max_onehot,
            "hash_buckets": self.hash_buckets,
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
            int(data["max_onehot"]), int(data["hash_buckets"]), data.get("numeric", "standard")
        )
        new.columns_ = [dict(entry) for entry in data["columns"]]
        return new


def needs_preprocessing(frame: Any) -> bool:
    """True when a DataFrame has a non-numeric (or boolean) column or a missing value."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return any(
        is_bool_dtype(frame[c]) or not is_numeric_dtype(frame[c]) for c in frame.columns
    ) or bool(frame.isna().to_numpy().any())
