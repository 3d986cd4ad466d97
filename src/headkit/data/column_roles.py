"""Decide what each table column is, as a careful analyst would, and read it that way.

The rules follow skrub's ``Cleaner``/``TableVectorizer`` (``CleanNullStrings``, ``ToFloat``,
``ToDatetime``, ``DropUninformative``) and pandas' readers, restated so that every decision is
plain JSON (a run's ``preprocessing.json``) and applied identically at predict time:

* text cells equal (after stripping blanks, ignoring case) to a missing-value token
  (:data:`NA_TOKENS`, pandas' ``STR_NA_VALUES`` plus ``?``, ``-``, ``--``, ``...``, and any the
  user adds) are gaps;
* ``numeric``: a column whose other cells are at least :data:`NUMERIC_SHARE` numbers (a decimal
  point, or a decimal comma when no cell has a point); the rest become gaps and are reported;
* ``boolean``: every cell one of yes/no, true/false, y/n, t/f, on/off (any case), or bool dtype;
* ``datetime``: a datetime dtype, or text whose cells share one format that
  :func:`pandas.tseries.api.guess_datetime_format` finds (month first, else day first, as skrub);
* ``identifier``: text with a distinct value on at least :data:`ID_SHARE` of at least
  :data:`ID_MIN_ROWS` rows; not learned from;
* ``constant``: one value and no gap (or no value at all); dropped;
* ``category``: any other text, one-hot or hashed by :class:`~headkit.data.preprocessing.TablePreprocessor`.

Text is factorized first, so the rules and the parsing run once per distinct value.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from headkit.exceptions import DataError

NA_TOKENS = (
    "", "?", "-", "--", "...", "na", "n/a", "nan", "-nan", "null", "none", "<na>", "#n/a",
    "#na", "#n/a n/a", "1.#ind", "-1.#ind", "1.#qnan", "-1.#qnan",
)  # fmt: skip
TRUE_WORDS = ("true", "yes", "y", "t", "on")
FALSE_WORDS = ("false", "no", "n", "f", "off")
NUMERIC_SHARE = 0.9
DATE_SHARE = 0.9
ID_SHARE = 0.95
ID_MIN_ROWS = 20
DATE_SAMPLE = 200


class DataWarning(UserWarning):
    """Cells that were read as gaps, rows with nothing known, or a file read in a fallback way."""


def na_set(extra: Any = ()) -> frozenset[str]:
    """The missing-value tokens, lower-cased: :data:`NA_TOKENS` plus the user's ``extra``."""
    if isinstance(extra, str):
        extra = [extra]
    return frozenset(NA_TOKENS) | {str(t).strip().lower() for t in extra or ()}


def _is_text(series: Any) -> bool:
    import pandas as pd
    from pandas.api.types import is_object_dtype, is_string_dtype

    return (
        isinstance(series.dtype, pd.CategoricalDtype)
        or is_object_dtype(series)
        or is_string_dtype(series)
    )


def factorize(series: Any, na: frozenset[str]) -> tuple[np.ndarray, list[str]]:
    """Codes of a text column and its distinct cleaned values.

    Returns
    -------
    codes : ndarray, shape (N,), int64
        Index into ``uniques``; -1 where the cell is missing (NaN/None or a token in ``na``).
    uniques : list of str
        Distinct values, blanks stripped, in order of first appearance.
    """
    import pandas as pd

    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.int64)
        raw = [str(c) for c in series.cat.categories]
    else:
        codes, found = pd.factorize(series.to_numpy(dtype=object), use_na_sentinel=True)
        raw = [str(u) for u in found]
    index: dict[str, int] = {}
    remap = np.full(len(raw) + 1, -1, dtype=np.int64)  # the last slot maps -1 to -1
    for i, value in enumerate(raw):
        text = value.strip()
        if text.lower() not in na:
            remap[i] = index.setdefault(text, len(index))
    return remap[codes], list(index)


def _parse_numbers(uniques: list[str], decimal: str) -> np.ndarray:
    import pandas as pd

    text = pd.Series(uniques, dtype=object)
    if decimal == ",":  # "1.234,5" → 1234.5; a cell with a point and no comma keeps its point
        comma = text.str.contains(",", regex=False)
        swapped = text.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
        text = swapped.where(comma, text)
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)


def _guess_format(sample: list[str]) -> str | None:
    """The format most of ``sample`` shares, month first, else day first (skrub's rule)."""
    from collections import Counter

    from pandas.tseries.api import guess_datetime_format

    for dayfirst in (False, True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            formats = Counter(guess_datetime_format(v, dayfirst=dayfirst) for v in sample)
        formats.pop(None, None)
        if formats:
            fmt, count = formats.most_common(1)[0]
            if count >= DATE_SHARE * len(sample):
                return fmt
    return None


def _parse_dates(uniques: list[str], fmt: str | None) -> Any:
    """Datetimes (naive, UTC where the text had an offset) of ``uniques``; NaT if unparsed."""
    import pandas as pd

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(pd.Series(uniques, dtype=object), format=fmt, errors="coerce",
                                utc=True)  # fmt: skip
    return parsed.dt.tz_localize(None)


def _share(counts: np.ndarray, ok: np.ndarray) -> float:
    total = counts.sum()
    return float(counts[ok].sum() / total) if total else 0.0


def _text_role(name: str, codes: np.ndarray, uniques: list[str]) -> dict[str, Any]:
    counts = np.bincount(codes[codes >= 0], minlength=len(uniques))
    n_seen, n_gaps = int(counts.sum()), int((codes < 0).sum())
    entry: dict[str, Any] = {"name": name}
    if len(uniques) == 0 or (len(uniques) == 1 and n_gaps == 0):
        shown = uniques[0] if uniques else None
        return {**entry, "role": "constant", "value": shown,
                "why": "no values" if shown is None else f"always {shown!r}"}  # fmt: skip
    lowered = {u.lower() for u in uniques}
    if lowered <= set(TRUE_WORDS) | set(FALSE_WORDS) and len(uniques) <= 4:
        return {**entry, "role": "boolean", "why": f"{'/'.join(sorted(lowered))} text"}
    for decimal in (".", ","):
        if decimal == "," and any("." in u and "," not in u for u in uniques):
            continue
        ok = ~np.isnan(_parse_numbers(uniques, decimal))
        if ok.any() and _share(counts, ok) >= NUMERIC_SHARE:
            why = "numbers" + (" with a decimal comma" if decimal == "," else "")
            return {**entry, "role": "numeric", "decimal": decimal, "why": why}
    sample = uniques[:DATE_SAMPLE]
    fmt = _guess_format(sample) if any(c.isdigit() for c in "".join(sample[:5])) else None
    if fmt is not None:
        ok = _parse_dates(uniques, fmt).notna().to_numpy()
        if _share(counts, ok) >= DATE_SHARE:
            return {**entry, "role": "datetime", "format": fmt, "why": f"dates ({fmt})"}
    if n_seen >= ID_MIN_ROWS and len(uniques) >= ID_SHARE * n_seen:
        why = f"{len(uniques)} distinct values in {n_seen} rows, not learned from"
        return {**entry, "role": "identifier", "n_unique": len(uniques), "why": why}
    return {**entry, "role": "category", "why": f"text ({len(uniques)} values)"}


def infer_role(name: str, series: Any, na: frozenset[str]) -> dict[str, Any]:
    """The role of one training column (a JSON-ready dict with ``name``, ``role``, ``why``).

    Parameters
    ----------
    name : str
    series : Series, shape (N,)
    na : frozenset of str
        Missing-value tokens (:func:`na_set`).
    """
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    if is_bool_dtype(series):
        return {"name": name, "role": "boolean", "why": "true/false values"}
    if is_datetime64_any_dtype(series):
        return {"name": name, "role": "datetime", "format": None, "why": "datetime values"}
    if is_numeric_dtype(series):
        values = pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
        seen = values[~np.isnan(values)]
        if len(seen) == 0 or (len(seen) == len(values) and np.all(seen == seen[0])):
            shown = float(seen[0]) if len(seen) else None
            return {"name": name, "role": "constant", "value": shown,
                    "why": "no values" if shown is None else f"always {shown:g}"}  # fmt: skip
        return {"name": name, "role": "numeric", "decimal": ".", "why": "numbers"}
    if not _is_text(series):
        raise DataError(
            f"Column {name!r} has dtype {series.dtype}, which headkit cannot encode; convert "
            "it to numbers or strings first."
        )
    return _text_role(name, *factorize(series, na))


def _report_gaps(name: str, what: str, uniques: list[str], bad: np.ndarray, codes: np.ndarray):
    """Warn about the cells of a numeric/boolean/date column that did not parse."""
    if not bad.any():
        return
    n_cells = int(np.isin(codes, np.flatnonzero(bad)).sum())
    examples = ", ".join(repr(uniques[i]) for i in np.flatnonzero(bad)[:3])
    warnings.warn(
        f"Column {name!r}: {n_cells} cell(s) are not {what} ({examples}); read as gaps.",
        DataWarning,
        stacklevel=5,
    )


def raw_values(entry: dict[str, Any], series: Any, na: frozenset[str]) -> np.ndarray:
    """The numbers a numeric, boolean or datetime column holds, NaN where missing.

    Returns
    -------
    ndarray, shape (N,) float64 (numeric, boolean: 1.0 true, 0.0 false), or datetime64[ns]
    values (datetime; NaT where missing), as the column's entry says.
    """
    import pandas as pd
    from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

    role, name = entry["role"], entry["name"]
    if role == "datetime" and is_datetime64_any_dtype(series):
        if getattr(series.dt, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        return series.to_numpy(dtype="datetime64[ns]")
    if role in ("numeric", "boolean") and (is_bool_dtype(series) or is_numeric_dtype(series)):
        return pd.to_numeric(series).to_numpy(dtype=np.float64, na_value=np.nan)
    if not _is_text(series):
        raise DataError(f"Column {name!r} holds {series.dtype} values; give {role} values.")
    codes, uniques = factorize(series, na)
    if role == "numeric":
        parsed = _parse_numbers(uniques, entry.get("decimal", "."))
        _report_gaps(name, "numbers", uniques, np.isnan(parsed), codes)
        return np.append(parsed, np.nan)[codes]
    if role == "boolean":
        lowered = [u.lower() for u in uniques]
        parsed = np.array([1.0 if u in TRUE_WORDS else 0.0 if u in FALSE_WORDS else np.nan
                           for u in lowered])  # fmt: skip
        _report_gaps(name, "yes/no values", uniques, np.isnan(parsed), codes)
        return np.append(parsed, np.nan)[codes]
    dates = _parse_dates(uniques, entry.get("format"))
    _report_gaps(name, "dates", uniques, dates.isna().to_numpy(), codes)
    return np.append(dates.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT"))[codes]


DATE_PARTS = ("year", "month", "day", "weekday", "hour", "days",
              "month_sin", "month_cos", "weekday_sin", "weekday_cos", "hour_sin", "hour_cos")  # fmt: skip


def date_parts(values: np.ndarray, with_hour: bool) -> tuple[list[str], np.ndarray]:
    """Numbers that keep a date's order and cycles: year, month, day, weekday, hour, day count.

    Month, weekday and hour are also given as points on a circle (sin, cos), so December is
    next to January (skrub's ``DatetimeEncoder(periodic_encoding="circular")``).

    Parameters
    ----------
    values : ndarray, shape (N,), datetime64
    with_hour : bool
        Include the hour (when the training column had a time of day).

    Returns
    -------
    names : list of str
    parts : ndarray, shape (N, len(names)) float64, NaN where the date is missing
    """
    import pandas as pd

    index = pd.DatetimeIndex(values)
    days = (values.astype("datetime64[ns]").astype(np.int64) / 86_400e9).astype(np.float64)
    columns = {
        "year": index.year, "month": index.month, "day": index.day,
        "weekday": index.day_of_week, "hour": index.hour, "days": days,
    }  # fmt: skip
    out = {k: np.asarray(v, dtype=np.float64) for k, v in columns.items()}
    for part, period, offset in (("month", 12, 1), ("weekday", 7, 0), ("hour", 24, 0)):
        angle = 2 * np.pi * (out[part] - offset) / period
        out[f"{part}_sin"], out[f"{part}_cos"] = np.sin(angle), np.cos(angle)
    names = [n for n in DATE_PARTS if with_hour or not n.startswith("hour")]
    missing = np.isnat(values)
    parts = np.stack([out[n] for n in names], axis=1)
    parts[missing] = np.nan
    return names, parts
