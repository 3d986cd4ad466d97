"""Fit and apply one table column's encoding, given its role (:mod:`headkit.data.column_roles`).

Each function works on one column and one JSON-ready entry, so the fitted state stays plain JSON.
Outputs per role (``k`` is the number of output columns):

``numeric``, ``boolean``
    median imputation, then ``(x - mean) / scale`` (k = 1), plus a 0/1 ``<name>__missing`` flag
    when the training column had gaps; booleans are read as 1.0 (true) and 0.0 (false).
``datetime``
    the parts of :func:`~headkit.data.column_roles.date_parts` (``<name>__year``, ...), each
    imputed and scaled as a numeric column, plus one missing flag.
``onehot``
    one 0/1 column per training category and an unknown slot (missing or unseen values).
``hash``
    CRC-32 of the text modulo ``buckets`` picks a 0/1 column, plus an unknown slot.
``identifier``, ``constant``
    nothing (k = 0): not learned from.
"""

from __future__ import annotations

import warnings
import zlib
from typing import Any

import numpy as np

from headkit._validation import check_no_infinity
from headkit.data.column_roles import DataWarning, date_parts, factorize, raw_values

UNKNOWN = "<unknown>"
LEARNED = ("numeric", "boolean", "datetime", "onehot", "hash")


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


def scaling(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Median, mean and population standard deviation of a column after median imputation.

    Parameters
    ----------
    values, weights : ndarray, shape (N,)
        NaN marks a gap.
    """
    missing = np.isnan(values)
    seen = values[~missing]
    if not len(seen):
        median = 0.0
    elif np.all(weights == weights[0]):  # equal weights: the plain median, O(N) by partition
        median = float(np.median(seen))
    else:
        median = weighted_median(seen, weights[~missing])
    filled = np.where(missing, median, values)
    mean = float(np.average(filled, weights=weights))
    scale = float(np.sqrt(np.average((filled - mean) ** 2, weights=weights)))
    return {"median": median, "mean": mean, "scale": scale if scale > 1e-12 else 1.0}


def _numbers(entry: dict[str, Any], series: Any, na: frozenset[str]) -> tuple[np.ndarray, Any]:
    """(N, k) float64 values with NaN gaps, and the part names (None for one column)."""
    values = raw_values(entry, series, na)
    if entry["role"] != "datetime":
        if np.isinf(values).any():  # an infinity is not a gap: refused, naming column and rows
            import pandas as pd

            check_no_infinity(pd.DataFrame({entry["name"]: values}), "The table")
        return values[:, None], None
    with_hour = entry.get("with_hour")
    if with_hour is None:  # fitting: keep the hour when some training value has a time of day
        seen = values[~np.isnat(values)]
        with_hour = bool(len(seen) and np.any(seen != seen.astype("datetime64[D]")))
    return date_parts(values, with_hour)[::-1]


def fit_column(
    entry: dict[str, Any], series: Any, weights: np.ndarray, na: frozenset[str],
    max_onehot: int, buckets: int, numeric: str = "standard",
) -> dict[str, Any]:  # fmt: skip
    """Add the fitted statistics to a column's role entry (a new dict).

    ``numeric="robust_clip"`` scales numeric columns by their median and inter-quartile range
    and marks them for smooth clipping (:mod:`headkit.data.numeric`).
    """
    entry = dict(entry)
    role = entry["role"]
    if role in ("numeric", "boolean", "datetime"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            values, parts = _numbers(entry, series, na)
        for warning in caught:  # kept for `headkit info`, and passed on
            entry["note"] = str(warning.message)
            warnings.warn(warning.message, stacklevel=3)
        missing = np.isnan(values).any(axis=1)
        entry["indicator"] = bool(missing.any())
        entry["n_missing"] = int(missing.sum())
        stats = [scaling(values[:, j], weights) for j in range(values.shape[1])]
        if parts is None and role == "numeric" and numeric in ("robust_clip", "ple"):
            from headkit.data.numeric import quantile_edges, robust_scale

            centre, factor = robust_scale(values[:, 0], weights)
            scale = 1.0 / factor if factor else 1.0
            entry.update(median=centre, mean=centre, scale=scale, clip=True)
            if numeric == "ple":
                filled = np.where(np.isnan(values[:, 0]), centre, values[:, 0])
                entry["edges"] = quantile_edges(filled, weights)
        elif parts is None:
            entry.update(stats[0])
        else:
            entry["with_hour"] = "hour" in parts
            entry["parts"] = [{"part": p, **s} for p, s in zip(parts, stats, strict=True)]
    elif role == "category":
        codes, uniques = factorize(series, na)
        present = np.unique(codes[codes >= 0])
        categories = sorted(uniques[i] for i in present)
        if len(categories) <= max_onehot:
            entry.update(role="onehot", categories=categories)
        else:
            entry.update(role="hash", buckets=buckets, n_seen=len(categories))
    return entry


def output_names(entry: dict[str, Any]) -> list[str]:
    """Names of the columns a fitted entry writes."""
    name, role = entry["name"], entry["role"]
    flag = [f"{name}__missing"] if entry.get("indicator") else []
    if role in ("numeric", "boolean"):
        bins = [f"{name}__bin{t}" for t in range(max(len(entry.get("edges", ())) - 1, 0))]
        return [name, *bins, *flag]
    if role == "datetime":
        return [f"{name}__{p['part']}" for p in entry["parts"]] + flag
    if role == "onehot":
        return [f"{name}={c}" for c in entry["categories"]] + [f"{name}={UNKNOWN}"]
    if role == "hash":
        return [f"{name}#{b}" for b in range(entry["buckets"])] + [f"{name}={UNKNOWN}"]
    return []


def describe(entry: dict[str, Any]) -> str:
    """One line for ``headkit info``: how the column is encoded — why (what was found)."""
    role, why = entry["role"], entry.get("why", "")
    n_gaps = entry.get("n_missing", 0)
    if n_gaps:
        why += f", {n_gaps} gap{'s' if n_gaps > 1 else ''}"
    if entry.get("note"):  # cells that did not parse: "N cell(s) are not numbers ('x')"
        why += "; " + entry["note"].split(": ", 1)[-1].replace("; read as gaps.", " → gaps")
    flag = " + missing flag" if entry.get("indicator") else ""
    if role in ("numeric", "boolean"):
        encoding = role + flag
    elif role == "datetime":
        encoding = f"date → {', '.join(p['part'] for p in entry['parts'])}{flag}"
    elif role == "onehot":
        encoding = f"one-hot ({len(entry['categories'])} + unknown)"
    elif role == "hash":
        encoding = f"hashed ({entry['n_seen']} values → {entry['buckets']})"
    else:
        encoding = "identifier, ignored" if role == "identifier" else "constant, dropped"
    return f"{encoding} — {why}" if why else encoding


def _hash_bucket(key: str, buckets: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % buckets


def encode_column(
    entry: dict[str, Any], series: Any, na: frozenset[str], out: np.ndarray
) -> np.ndarray:
    """Write a column's encoding into ``out`` (N, k); return which rows had a known value (N,)."""
    role = entry["role"]
    if role in ("numeric", "boolean", "datetime"):
        values = _numbers(entry, series, na)[0]
        stats = entry["parts"] if role == "datetime" else [entry]
        missing = np.isnan(values).any(axis=1)
        for j, s in enumerate(stats):
            column = values[:, j]
            out[:, j] = (np.where(np.isnan(column), s["median"], column) - s["mean"]) / s["scale"]
        if entry.get("clip"):
            from headkit.data.numeric import smooth_clip

            out[:, 0] = smooth_clip(out[:, 0])
        width = len(stats)
        if entry.get("edges"):
            from headkit.data.numeric import piecewise_linear

            filled = np.where(np.isnan(values[:, 0]), entry["median"], values[:, 0])
            width += len(entry["edges"]) - 1
            out[:, 1:width] = piecewise_linear(filled, entry["edges"])
        if entry.get("indicator"):
            out[:, width] = missing
        return ~np.isnan(values).all(axis=1)
    codes, uniques = factorize(series, na)
    if role == "onehot":
        width = len(entry["categories"])
        lookup = {c: i for i, c in enumerate(entry["categories"])}
    else:
        width = entry["buckets"]
        lookup = {u: _hash_bucket(u, width) for u in uniques}
    slot_of = np.array([lookup.get(u, width) for u in uniques] + [width], dtype=np.int64)
    slots = slot_of[codes]
    out[:] = 0.0
    out[np.arange(len(slots)), slots] = 1.0
    return slots < width if role == "onehot" else codes >= 0
