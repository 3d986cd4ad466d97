"""Request bodies → checked feature rows, and the 4xx errors that say what is wrong.

``POST /predict`` takes JSON — ``{"rows": [...]}`` or a bare list, each row a list of values in
the training column order or an object keyed by column name — or CSV with a header row
(``Content-Type: text/csv``). Rows come back as a float32 array in training column order,
checked by :func:`headkit.inference.saved_model.align_rows`, the same check ``headkit predict`` runs.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from headkit.exceptions import DataError
from headkit.inference.saved_model import align_rows


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
    """

    feature_names: list[str] = field(default_factory=list)
    n_features: int = 0
    target: str | None = None
    table: bool = False

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
            frame = pd.DataFrame.from_records(data)
        elif all(isinstance(row, list) and len(row) == schema.n_features for row in data):
            frame = pd.DataFrame(data, columns=schema.feature_names)
        else:
            raise RequestError(
                422,
                f"Rows must be objects keyed by column name, or lists of {schema.n_features} "
                "values in column order.",
            )
    elif kind in ("text/csv", "application/csv"):
        frame = _csv_frame(body, schema)
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
    data = _json_list(body)
    if all(isinstance(row, dict) for row in data):
        return _object_rows(data)
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
        return _numbers(data, schema.columns()), None
    raise RequestError(422, "Rows must be all lists (values in column order) or all objects.")


def _object_rows(data: list[dict[str, Any]]) -> tuple[Any, list[str]]:
    names = list(data[0])
    for i, row in enumerate(data):
        if row.keys() != data[0].keys():
            raise RequestError(
                422, f"Row {i} has other keys than row 0; give every row the same columns."
            )
    return _numbers([[row[n] for n in names] for row in data], names), names


def _numbers(rows: list[list[Any]], names: list[str]) -> np.ndarray:
    try:
        return np.array(rows, dtype=np.float32)
    except (TypeError, ValueError):
        pass
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if isinstance(value, (bool, int, float)) or value is None:
                continue
            column = names[j] if j < len(names) else f"x{j}"
            raise RequestError(
                422, f"Row {i}, column {column}: {value!r} is not a number; send numbers only."
            )
    raise RequestError(422, "Some feature values are not numbers; send numbers only.")


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
