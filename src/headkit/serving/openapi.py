"""The OpenAPI 3.1 document of a served run: ``/predict``'s rows and answers for its columns.

OpenAPI 3.1 schemas are JSON Schema (2020-12), so the same document validates answers in the
tests. Rows are described exactly: a list of one number per training column (in order) or an
object keyed by column name; a table model's text columns take strings and every table column
takes ``null`` for a gap. Answers list this run's classes as an ``enum``.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
METRICS = "text/plain"

ERROR_STATUSES = {
    "400": "The body is not JSON/CSV, or a value has the wrong type.",
    "408": "The body did not arrive within the server's time limit.",
    "413": "The body is larger than the server's limit.",
    "415": "The content type is neither JSON nor CSV.",
    "422": "The rows do not fit the model (columns, widths, values).",
    "503": "The queue is full; retry after the Retry-After header's seconds.",
    "504": "The answer took longer than the server's time limit.",
}


def _value_schema(entry: dict[str, Any] | None) -> dict[str, Any]:
    """One cell: a number, or for a table column its accepted JSON types (null = a gap)."""
    if entry is None:
        return {"type": "number"}
    if entry["role"] == "numeric":
        return {"type": ["number", "null"]}
    return {"type": ["string", "number", "null"]}


def _rows_schema(columns: list[str], entries: list[dict[str, Any]] | None) -> dict[str, Any]:
    cells = [_value_schema(entries[i] if entries else None) for i in range(len(columns))]
    as_list = {
        "type": "array",
        "prefixItems": cells,
        "items": False,
        "minItems": len(columns),
        "description": "Values in training column order: " + ", ".join(columns),
    }
    as_object = {
        "type": "object",
        "properties": dict(zip(columns, cells, strict=True)),
        "required": columns,
        "additionalProperties": False,
    }
    return {"type": "array", "minItems": 1, "items": {"oneOf": [as_list, as_object]}}


def _answer_schema(classes: list[Any], multilabel: bool) -> dict[str, Any]:
    label = {"enum": classes}
    return {
        "type": "object",
        "required": ["classes", "labels", "probabilities"],
        "properties": {
            "classes": {"const": classes},
            "labels": {
                "type": "array",
                "items": {"type": "array", "items": label} if multilabel else label,
            },
            "probabilities": {
                "type": "array",
                "items": {
                    "type": "array",
                    "items": {"type": "number", "minimum": 0, "maximum": 1},
                    "minItems": len(classes),
                    "maxItems": len(classes),
                },
            },
            "empty_rows": {
                "type": "array",
                "items": {"type": "boolean"},
                "description": "Table models: true where every cell was empty or unknown.",
            },
            "sets": {
                "type": "array",
                "items": {"type": "array", "items": label},
                "description": "With ?alpha=: each row's conformal prediction set.",
            },
        },
    }


def _json(ref: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}},
    }


def _get(summary: str, description: str, ref: str | None = None, media: str = "") -> dict[str, Any]:
    """A GET route answering 200 with a ``ref`` schema, or any body of type ``media``."""
    if ref is not None:
        ok = _json(ref, description)
    else:
        kind = "object" if media == "application/json" else "string"
        ok = {"description": description, "content": {media: {"schema": {"type": kind}}}}
    return {"get": {"summary": summary, "responses": {"200": ok}}}


def openapi_document(
    columns: list[str],
    classes: list[Any],
    multilabel: bool = False,
    table: list[dict[str, Any]] | None = None,
    title: str = "headkit classifier",
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document of a server for these columns and classes.

    Parameters
    ----------
    columns : list of str
        The columns a row holds, in training order.
    classes : list
        Label names, in probability-column order.
    multilabel : bool
        Labels are lists of classes (probability above 0.5) instead of one class per row.
    table : list of dict, optional
        A table model's column entries (``role`` per column) in ``columns`` order.
    """
    rows = _rows_schema(columns, table)
    body = {"oneOf": [{"type": "object", "required": ["rows"], "properties": {"rows": rows}}, rows]}
    errors = {status: _json("Error", text) for status, text in ERROR_STATUSES.items()}
    errors["503"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    predict = {
        "summary": "Class probabilities and labels of each row.",
        "parameters": [
            {
                "name": "alpha",
                "in": "query",
                "required": False,
                "description": "Add split-conformal prediction sets holding the label with "
                "probability 1 - alpha (APS; the run's held-out scores).",
                "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": body},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        "responses": {"200": _json("Prediction", "One answer per row, in order."), **errors},
    }
    status = {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    }
    ready = _get("Readiness: the model answered its warm-up call.", "Ready.", "Status")
    ready["get"]["responses"]["503"] = _json("Status", "Not ready yet (warming up or stopping).")
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1"},
        "paths": {
            "/predict": {"post": predict},
            "/health": _get("Liveness: the process answers.", "Alive.", "Status"),
            "/ready": ready,
            "/metadata": _get("Classes, columns, network, limits.", "Metadata.", media=JSON),
            "/metrics": _get("Prometheus text metrics.", "Metrics.", media=METRICS),
            "/openapi.json": _get("This document.", "OpenAPI 3.1 document.", media=JSON),
        },
        "components": {
            "schemas": {
                "Prediction": _answer_schema(classes, multilabel),
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "Status": status,
            }
        },
    }
