"""Request bodies → checked feature rows, and the 4xx errors that say what is wrong.

``POST /predict`` takes JSON — ``{"rows": [...]}`` or a bare list, each row a list of values in
the training column order or an object keyed by column name — or CSV with a header row
(``Content-Type: text/csv``). Rows come back as a float32 array in training column order,
checked by :func:`headkit.inference.columns.align_rows`, the same check ``headkit predict`` runs.
A boolean is not a number here (JSON ``true``, a CSV column of ``True``/``False``): 422.

The common body, ``{"rows": [[numbers], ...]}`` of a plain model, is read by simdjson straight
into one float64 buffer when pysimdjson is installed (the serve extra), without a Python float per
value: 256 rows of 40 MNIST-1D values (212 kB) took 195 µs instead of orjson's 293 µs plus 182 µs
for the lists → array (AMD EPYC, cpu family 25). Any other body, or one simdjson refuses, takes
the orjson path, which gives the same array (both parsers round each number correctly to float64,
then to float32) and names what is wrong.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from headkit.exceptions import DataError
from headkit.inference.columns import align_rows

try:
    import simdjson
except ImportError:  # the serve extra's optional parser is missing: every body takes orjson's path
    simdjson = None


class RequestError(Exception):
    """A request the server refuses, with its HTTP status and a one-sentence reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Schema:
    """What a request must hold: the model's columns.

    Attributes
    ----------
    feature_names : list of str
        Training columns (empty for an unnamed-array model: rows are then plain lists).
    n_features : int
        Values per row.
    target : str or None
        The training label column, dropped from CSV bodies when present.
    table : bool
        The model encodes raw table columns itself (categories, gaps): rows stay a DataFrame of
        those columns, values as sent (text, numbers, null for a gap).
    numeric_columns : tuple of str
        A table model's numeric columns (numbers or null only).
    """

    feature_names: list[str] = field(default_factory=list)
    n_features: int = 0
    target: str | None = None
    table: bool = False
    numeric_columns: tuple[str, ...] = ()

    def columns(self) -> list[str]:
        """The column names a request may use (placeholders ``x0, x1, ...`` when unnamed)."""
        return self.feature_names or [f"x{i}" for i in range(self.n_features)]


def parse_rows(body: bytes, content_type: str, schema: Schema) -> Any:
    """Return the request's rows as float32 (N, n_features) in training column order.

    For a table model (``schema.table``) the rows are a DataFrame of the raw columns instead;
    the estimator's own preprocessing checks and encodes their values.

    Raises
    ------
    RequestError
        400 for bodies that are not JSON/CSV, 415 for other content types, 422 for rows that
        do not fit the model (columns, widths, values).
    """
    kind = content_type.split(";")[0].strip().lower()
    if schema.table:
        return _table_rows(body, kind, schema)
    if kind in ("", "application/json"):
        values, names = _json_rows(body, schema)
    elif kind in ("text/csv", "application/csv"):
        values, names = _csv_rows(body, schema)
    else:
        raise RequestError(
            415, f"Content-Type {kind!r} is not supported; send application/json or text/csv."
        )
    try:
        return align_rows(values, names, schema.feature_names, schema.n_features)
    except DataError as error:
        raise RequestError(422, str(error)) from None


def _table_rows(body: bytes, kind: str, schema: Schema) -> Any:
    """A DataFrame of the model's raw columns (in training order) for a table model."""
    import pandas as pd

    if kind in ("", "application/json"):
        data = _json_list(body)
        if all(isinstance(row, dict) for row in data):
            _check_cells(data, schema)
            frame = pd.DataFrame.from_records(data)
        elif all(isinstance(row, list) and len(row) == schema.n_features for row in data):
            _check_cells(
                [dict(zip(schema.feature_names, row, strict=True)) for row in data], schema
            )
            frame = pd.DataFrame(data, columns=schema.feature_names)
        else:
            raise RequestError(
                422,
                f"Rows must be objects keyed by column name, or lists of {schema.n_features} "
                "values in column order.",
            )
    elif kind in ("text/csv", "application/csv"):
        frame = _csv_frame(body, schema)
        _no_bool_columns(frame, schema.numeric_columns)
    else:
        raise RequestError(
            415, f"Content-Type {kind!r} is not supported; send application/json or text/csv."
        )
    missing = [c for c in schema.feature_names if c not in frame.columns]
    if missing:
        raise RequestError(
            422,
            f"The rows lack the model's columns {', '.join(missing[:8])}; send every training "
            "column (null or an empty cell for a missing value).",
        )
    return frame[schema.feature_names]


SCALARS = (str, int, float, type(None))


def _check_cells(rows: list[dict[str, Any]], schema: Schema) -> None:
    """422 for a table cell that is not a scalar, or a boolean in a numeric column."""
    numeric = set(schema.numeric_columns)
    for i, row in enumerate(rows):
        for column, value in row.items():
            if not isinstance(value, SCALARS) or (column in numeric and isinstance(value, bool)):
                raise RequestError(
                    422,
                    f"Row {i}, column {column}: {orjson.dumps(value).decode()[:40]} is not a "
                    f"{'number' if column in numeric else 'text or number'}; send "
                    f"{'a number' if column in numeric else 'a string or number'} or null.",
                )


def _no_bool_columns(frame: Any, columns: Any) -> None:
    """422 for a CSV column of True/False where the model wants numbers."""
    for column in columns:
        if column in frame.columns and frame[column].dtype == bool:
            raise RequestError(
                422, f"CSV column {column} holds True/False, not numbers; send numbers only."
            )


def _json_list(body: bytes) -> list[Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(
            400,
            f'The body is not valid JSON ({error}); send {{"rows": [[...], ...]}} or text/csv.',
        ) from None
    if isinstance(data, dict):
        if "rows" not in data:
            keys = ", ".join(map(str, list(data)[:5]))
            raise RequestError(422, f'The JSON object needs a "rows" list; it has keys {keys}.')
        data = data["rows"]
    if not isinstance(data, list) or not data:
        raise RequestError(422, '"rows" must be a non-empty list of rows.')
    return data


def _json_rows(body: bytes, schema: Schema) -> tuple[Any, list[str] | None]:
    fast = _simd_numbers(body, schema.n_features)
    if fast is not None:
        return fast, None
    data = _json_list(body)
    bools = _may_hold_bools(body)
    if isinstance(data[0], list) and not bools:  # the common body: numeric lists, one C call
        fast = _fast_numbers(data, schema.n_features)
        if fast is not None:
            return fast, None
    if all(isinstance(row, dict) for row in data):
        return _object_rows(data, bools)
    if all(isinstance(row, list) for row in data):
        widths = {len(row) for row in data}
        if widths != {schema.n_features}:
            bad = next(i for i, row in enumerate(data) if len(row) != schema.n_features)
            raise RequestError(
                422,
                f"Row {bad} has {len(data[bad])} values but the model takes "
                f"{schema.n_features} (columns {', '.join(schema.columns()[:8])}"
                f"{' …' if schema.n_features > 8 else ''}).",
            )
        return _numbers(data, schema.columns(), bools), None
    raise RequestError(422, "Rows must be all lists (values in column order) or all objects.")


def _fast_numbers(data: list[Any], width: int) -> np.ndarray | None:
    """float32 (N, width) of rows that are all lists of ``width`` numbers; None for any other.

    The same conversion :func:`_numbers` makes, without its per-row checks: anything else (a
    ragged row, an object, text, a nested list) returns None and takes the checked path, which
    names the problem.
    """
    try:
        values = np.array(data, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        return None
    return values if values.ndim == 2 and values.shape[1] == width else None


def _simd_numbers(body: bytes, width: int) -> np.ndarray | None:
    """float32 (N, width) of N ≥ 1 rows of ``width`` numbers read by simdjson, else None.

    The body is ``{"rows": [...]}`` or a bare list; None for any other body, or without simdjson.

    Exactly the bodies :func:`_fast_numbers` converts: the object has the one key ``rows`` (a
    duplicate key takes orjson's path, which keeps the last), every row is an array of ``width``
    elements, and the body holds no other ``[`` (a nested list would otherwise be flattened into
    the buffer); a value that is not a number (null, true, text, an object) makes ``as_buffer``
    refuse. A UTF-8 byte-order mark, which orjson refuses, takes orjson's path too.
    """
    if simdjson is None or body.startswith(b"\xef\xbb\xbf"):
        return None
    try:
        doc = simdjson.Parser().parse(body)  # a parser per body: no state shared between calls
        if isinstance(doc, simdjson.Object):
            if len(doc) != 1 or "rows" not in doc:
                return None
            doc = doc["rows"]
        if not isinstance(doc, simdjson.Array) or not len(doc) or _brackets(body) != len(doc) + 1:
            return None
        for row in doc:
            if not isinstance(row, simdjson.Array) or len(row) != width:
                return None
        values = np.frombuffer(doc.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, RuntimeError, KeyError):  # not JSON, or not all numbers
        return None
    if values.size != len(doc) * width:
        return None
    return values.astype(np.float32).reshape(-1, width)


def _brackets(body: bytes) -> int:
    """How many ``[`` the body holds (NumPy counts a 212 kB body in 21 µs, ``bytes.count`` 60)."""
    return int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord("[")))


def _may_hold_bools(body: bytes) -> bool:
    """Whether a JSON body may hold true/false (the rare case worth a per-value scan).

    Outside strings, JSON has a ``t`` only in ``true`` and an ``f`` only in ``false``: a body
    of numbers has neither, and a one-byte search runs at memory speed.
    """
    return (b"t" in body and b"true" in body) or (b"f" in body and b"false" in body)


def _object_rows(data: list[dict[str, Any]], bools: bool) -> tuple[Any, list[str]]:
    names = list(data[0])
    for i, row in enumerate(data):
        if row.keys() != data[0].keys():
            raise RequestError(
                422, f"Row {i} has other keys than row 0; give every row the same columns."
            )
    return _numbers([[row[n] for n in names] for row in data], names, bools), names


def _numbers(rows: list[list[Any]], names: list[str], bools: bool = False) -> np.ndarray:
    """float32 rows; 422 naming the first value that is not a number (null passes: NaN)."""
    if not bools:
        try:
            return np.array(rows, dtype=np.float32)
        except (TypeError, ValueError, OverflowError):
            pass
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if (isinstance(value, (int, float)) and not isinstance(value, bool)) or value is None:
                continue
            column = names[j] if j < len(names) else f"x{j}"
            shown = orjson.dumps(value).decode()[:40] if isinstance(value, bool) else repr(value)
            raise RequestError(
                422, f"Row {i}, column {column}: {shown[:40]} is not a number; send numbers only."
            )
    try:
        return np.array(rows, dtype=np.float32)
    except (TypeError, ValueError, OverflowError):
        raise RequestError(422, "Some feature values are not numbers; send numbers only.") from None


def _csv_frame(body: bytes, schema: Schema) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        first = str(error).strip().splitlines()[0]
        raise RequestError(
            400, f"The body is not valid CSV ({first}); send a header row, then one row per line."
        ) from None
    if schema.target is not None and schema.target in frame.columns:
        frame = frame.drop(columns=[schema.target])
    if frame.empty:
        raise RequestError(422, "The CSV body has no rows; send a header row and at least one row.")
    return frame


def _csv_rows(body: bytes, schema: Schema) -> tuple[Any, list[str]]:
    frame = _csv_frame(body, schema)
    _no_bool_columns(frame, frame.columns)
    names = [str(c) for c in frame.columns]
    if not schema.feature_names and len(names) == schema.n_features:
        names = schema.columns()  # an unnamed-array model: columns in order
    try:
        values = frame.to_numpy(dtype=np.float32)
    except (TypeError, ValueError):
        text = [c for c in frame.columns if frame[c].dtype == object]
        raise RequestError(
            422, f"CSV columns {', '.join(map(str, text[:5]))} are not numbers; send numbers only."
        ) from None
    return values, names
