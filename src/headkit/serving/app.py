"""The prediction service: a Starlette ASGI app over a loaded :class:`headkit.HeadClassifier`.

Routes:

``POST /predict``
    JSON rows or a CSV body (see :mod:`headkit.serving.parsing`) →
    ``{"classes": [...], "labels": [...], "probabilities": [[...], ...]}``, probability columns in
    ``classes`` order; a table model adds ``"empty_rows": [bool, ...]``, true for a row whose
    every cell is empty or a category never seen in training (its answer is a guess). The rows
    go through the estimator's ``predict_proba``, as in ``headkit predict``; concurrent
    requests share one model call (:class:`MicroBatcher`).
``GET /health``
    ``{"status": "ok"}`` once the model is loaded.
``GET /metadata``
    Classes, feature columns, target, network and training configs, limits.

Bad requests get a 4xx JSON ``{"error": "..."}`` saying what is wrong: 400 unreadable body,
413 body over the size limit, 415 unsupported content type, 422 rows that do not fit the model.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from headkit.config import MULTILABEL_THRESHOLD
from headkit.exceptions import HeadkitError
from headkit.serving.batching import MicroBatcher
from headkit.serving.parsing import RequestError, Schema, parse_rows

CLIENT_CLOSED = 499  # nginx's code for a client that went away; never reaches the client


class FastJSONResponse(JSONResponse):
    """JSON via orjson: NumPy arrays are written directly (float32 as its shortest repr)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _model_predict(estimator: Any, table: bool) -> Any:
    """Return ``predict(parts) -> proba`` over the estimator's own prediction path."""
    names = list(getattr(estimator, "feature_names_in_", []))

    def predict(parts: list[Any]) -> np.ndarray:
        if table:  # DataFrames of raw columns; the estimator's preprocessing encodes them
            import pandas as pd

            X = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
            return estimator.predict_proba(X)
        X = parts[0] if len(parts) == 1 else np.concatenate(parts)
        if names:
            import pandas as pd

            X = pd.DataFrame(X, columns=names, copy=False)
        return estimator.predict_proba(X)

    return predict


def _metadata(estimator: Any, schema: Schema, limits: dict[str, int]) -> dict[str, Any]:
    meta = estimator.model_.metadata
    return {
        "classes": estimator.classes_.tolist(),
        "multilabel": bool(getattr(estimator, "multilabel_", False)),
        "features": schema.columns(),
        "n_features": schema.n_features,
        "target": schema.target,
        "network": estimator.model_.config.to_dict(),
        "training": meta.get("training", {}),
        "temperature": float(estimator.model_.temperature),
        "preprocessing": _preprocessing(estimator),
        "limits": limits,
    }


def predicted_labels(proba: np.ndarray, classes: np.ndarray, multilabel: bool) -> list[Any]:
    """Return each row's labels as ``predict`` gives them.

    The most probable class; for a multi-label model the list of classes whose probability is
    above 0.5 (the indicator ``HeadClassifier.predict`` returns, as names).
    """
    if multilabel:
        return [classes[row > MULTILABEL_THRESHOLD].tolist() for row in proba]
    return classes[proba.argmax(axis=1)].tolist()


def _preprocessing(estimator: Any) -> dict[str, Any]:
    table = getattr(estimator, "preprocessor_", None)
    if table is not None:
        return {"table": table.column_roles()}
    return {"standardize": bool(estimator.standardize)}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError(400, f"Content-Length {declared!r} is not a byte count.")
        if int(declared) > limit:
            raise RequestError(
                413, f"The body is {declared} bytes; this server takes at most {limit} bytes."
            )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"The body is over {limit} bytes, this server's limit.")
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    estimator: Any, max_body_bytes: int = 16 * 2**20, max_batch_rows: int = 4096
) -> Starlette:
    """Build the ASGI app serving a fitted (or loaded) :class:`headkit.HeadClassifier`.

    Parameters
    ----------
    estimator : HeadClassifier
        Fitted; its ``predict_proba`` answers every request.
    max_body_bytes : int
        Larger request bodies get 413 without being read further.
    max_batch_rows : int
        Most rows per model call when concurrent requests are batched.
    """
    names = [str(n) for n in getattr(estimator, "feature_names_in_", [])]
    table = getattr(estimator, "preprocessor_", None) is not None
    target = estimator.model_.metadata.get("target")
    schema = Schema(names, int(estimator.n_features_in_), target, table)
    batcher = MicroBatcher(_model_predict(estimator, table), max_rows=max_batch_rows)
    limits = {"max_body_bytes": max_body_bytes, "max_batch_rows": max_batch_rows}
    metadata = _metadata(estimator, schema, limits)
    classes = estimator.classes_
    class_list = classes.tolist()
    multilabel = bool(getattr(estimator, "multilabel_", False))

    async def predict(request: Request) -> Response:
        try:
            body = await _read_body(request, max_body_bytes)
            rows = parse_rows(body, request.headers.get("content-type", ""), schema)
            proba = await batcher.submit(rows)
        except RequestError as error:
            return JSONResponse({"error": error.message}, status_code=error.status)
        except ClientDisconnect:
            return Response(status_code=CLIENT_CLOSED)
        except (HeadkitError, ValueError) as error:  # the estimator's own input checks
            return JSONResponse({"error": str(error).strip().splitlines()[0]}, status_code=422)
        labels = predicted_labels(proba, classes, multilabel)
        answer = {
            "classes": class_list,
            "labels": labels,
            "probabilities": np.ascontiguousarray(proba),
        }
        if table:  # rows with every cell empty or unknown: their answer is a guess
            answer["empty_rows"] = estimator.preprocessor_.empty_rows(rows)
        return FastJSONResponse(answer)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "requests": batcher.requests, "calls": batcher.calls})

    async def describe(request: Request) -> Response:
        return JSONResponse(metadata)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        batcher.close()

    return Starlette(
        routes=[
            Route("/predict", predict, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metadata", describe, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
