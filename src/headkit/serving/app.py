"""The prediction service: a plain ASGI app (no framework) over a loaded model.

Routes:

``POST /predict``
    JSON rows or a CSV body (see :mod:`headkit.serving.parsing`) →
    ``{"classes": [...], "labels": [...], "probabilities": [[...], ...]}``, probability columns in
    ``classes`` order, written as float32 (the precision of the network's logits); a table model
    adds ``"empty_rows": [bool, ...]``, true for a row whose every cell is empty or a category
    never seen in training (its answer is a guess). Concurrent
    requests share one model call (:class:`MicroBatcher`).
``GET /health``
    Liveness: ``{"status": "ok"}`` while the process answers.
``GET /ready``
    Readiness: 200 ``{"status": "ready"}`` once the model answered a warm-up call; 503 before
    that and once the app's shutdown began.
``GET /metadata``, ``GET /openapi.json``, ``GET /metrics``
    Classes, columns, network and limits; the OpenAPI 3.1 document of ``/predict`` for this
    run; Prometheus text metrics.

Every error is JSON ``{"error": "..."}``: 400 unreadable body or a wrong-typed value, 404 unknown
path, 405 wrong method, 408 body not received within the time limit, 413 body over the size
limit, 415 unsupported content type, 422 rows that do not fit the model, 503 queue full (with
``Retry-After``), 504 answer not ready within the time limit, 500 a fault of the server itself.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import orjson

from headkit.config import MULTILABEL_THRESHOLD
from headkit.exceptions import HeadkitError
from headkit.serving.batching import MicroBatcher, QueueFull
from headkit.serving.metrics import CONTENT_TYPE as METRICS_TYPE
from headkit.serving.metrics import Metrics
from headkit.serving.model import ServedModel, table_columns, warm_up_rows
from headkit.serving.openapi import openapi_document
from headkit.serving.options import ServeOptions
from headkit.serving.parsing import RequestError, Schema, parse_rows

CLIENT_CLOSED = 499  # nginx's code for a client that went away; never reaches the client
JSON = b"application/json"
Answer = tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]  # status, body, type, headers
Handler = Callable[[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]], Awaitable[Answer]]


class ClientGone(Exception):
    """The client disconnected before its request was answered."""


def predicted_labels(proba: np.ndarray, classes: np.ndarray, multilabel: bool) -> list[Any]:
    """Return each row's labels as ``predict`` gives them.

    The most probable class; for a multi-label model the list of classes whose probability is
    above 0.5 (the indicator ``HeadClassifier.predict`` returns, as names).
    """
    if multilabel:
        return [classes[row > MULTILABEL_THRESHOLD].tolist() for row in proba]
    return classes[proba.argmax(axis=1)].tolist()


def error(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    """A JSON ``{"error": message}`` answer."""
    return status, orjson.dumps({"error": message}), JSON, headers or []


def _model_call(model: ServedModel, table: bool) -> Callable[[list[Any]], np.ndarray]:
    """``predict(parts) -> proba`` over the model, parts being requests' rows."""

    def predict(parts: list[Any]) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing rows get a 422
            if table:  # DataFrames of raw columns; the model's preprocessing encodes them
                import pandas as pd

                return model.predict_proba(parts[0] if len(parts) == 1 else pd.concat(parts))
            return model.predict_proba(parts[0] if len(parts) == 1 else np.concatenate(parts))

    return predict


def _metadata(model: ServedModel, schema: Schema, options: ServeOptions) -> dict[str, Any]:
    network = model.network  # type: ignore[attr-defined]
    temperature = getattr(network, "temperature", None)
    if temperature is None:
        temperature = network.weights["temperature"]
    roles = None
    if model.preprocessing is not None:
        from headkit.data.preprocessing import TablePreprocessor

        roles = {"table": TablePreprocessor.from_dict(model.preprocessing).column_roles()}
    return {
        "classes": model.classes.tolist(),
        "multilabel": model.multilabel,
        "features": schema.columns(),
        "n_features": schema.n_features,
        "target": schema.target,
        "engine": model.engine,
        "network": network.config.to_dict(),
        "training": model.metadata.get("training", {}),
        "temperature": float(temperature),
        "preprocessing": roles,
        "limits": {
            "max_body_bytes": options.max_body_bytes,
            "max_batch_rows": options.max_batch_rows,
            "max_queue_rows": options.max_queue_rows,
            "timeout_s": options.timeout_s,
        },
    }


def model_schema(model: ServedModel) -> Schema:
    """The columns a request must hold: the raw table columns, or the network's features."""
    entries = table_columns(model)
    target = model.metadata.get("target")
    if entries:
        numeric = tuple(e["name"] for e in entries if e["role"] == "numeric")
        return Schema([e["name"] for e in entries], len(entries), target, True, numeric)
    return Schema([str(n) for n in model.feature_names], model.n_features, target)


async def _read_body(scope: dict[str, Any], receive: Any, limit: int) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-length":
            if not value.isdigit():
                raise RequestError(400, f"Content-Length {value.decode()!r} is not a byte count.")
            if int(value) > limit:
                raise RequestError(
                    413, f"The body is {int(value)} bytes; this server takes at most {limit} bytes."
                )
    chunks, size, more = [], 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"The body is over {limit} bytes, this server's limit.")
        chunks.append(chunk)
        more = message.get("more_body", False)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class PredictionApp:
    """The ASGI app serving a loaded model (see the module docstring for its routes).

    Parameters
    ----------
    model : ServedModel
        Answers every request (a :class:`headkit.inference.saved_model.SavedModel`).
    options : ServeOptions
        Limits (body size, batch and queue rows, time limit) and the access log.

    Attributes
    ----------
    ready : bool
        The model answered its warm-up call and the server is not shutting down.
    batcher : MicroBatcher
    metrics : Metrics
    """

    def __init__(self, model: ServedModel, options: ServeOptions | None = None) -> None:
        self.model = model
        self.options = options = options or ServeOptions()
        self.schema = model_schema(model)
        self.table = self.schema.table
        self._classes = model.classes
        self._class_list = model.classes.tolist()
        self._conformal = _conformal_scores(model)  # for ?alpha=: prediction sets
        self._table = None  # the table preprocessing, for the answer's empty_rows
        if model.preprocessing is not None:
            from headkit.data.preprocessing import TablePreprocessor

            self._table = TablePreprocessor.from_dict(model.preprocessing)
        self.routes: dict[str, tuple[str, Handler]] = {
            "/predict": ("POST", self._predict),
            "/health": ("GET", self._health),
            "/ready": ("GET", self._ready),
            "/metadata": (
                "GET",
                self._static(orjson.dumps(_metadata(model, self.schema, options))),
            ),
            "/openapi.json": ("GET", self._static(orjson.dumps(self.openapi()))),
            "/metrics": ("GET", self._metrics),
        }
        self.metrics = Metrics(list(self.routes), self._gauges)
        self.batcher = MicroBatcher(
            _model_call(model, self.table),
            max_rows=options.max_batch_rows,
            max_queue_rows=options.max_queue_rows,
            on_call=self.metrics.observe_call,
            inline_rows=options.inline_rows,
        )
        self.ready = False
        self._warm_up: asyncio.Task[None] | None = None

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of this server's routes, for this model's columns and classes."""
        entries = table_columns(self.model) or None
        return openapi_document(
            self.schema.columns(), self._class_list, self.model.multilabel, entries
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Answer one ASGI connection scope (``http`` or ``lifespan``)."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        start = time.perf_counter()
        path, method = scope["path"], scope["method"]
        route = self.routes.get(path)
        if route is None:
            answer = error(404, f"No route {path}; see /openapi.json for the routes.")
        elif method != route[0]:
            answer = error(405, f"{path} takes {route[0]}, not {method}.")
            answer[3].append((b"allow", route[0].encode()))
        else:
            try:
                answer = await route[1](scope, receive)
            except ClientGone:
                self.metrics.observe_request(path, CLIENT_CLOSED, time.perf_counter() - start)
                return
            except Exception as fault:  # a fault of the server: still one JSON line
                first = str(fault).strip().splitlines()[0] if str(fault).strip() else repr(fault)
                answer = error(500, f"The server failed on this request ({first}).")
        status, body, kind, headers = answer
        headers.append((b"content-type", kind))
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        seconds = time.perf_counter() - start
        self.metrics.observe_request(path, status, seconds)
        if self.options.access_log:
            _log_access(scope, status, seconds, len(body))

    async def _predict(self, scope: dict[str, Any], receive: Any) -> Answer:
        limit = self.options.timeout_s
        reading = True
        try:
            async with asyncio.timeout(limit):
                body = await _read_body(scope, receive, self.options.max_body_bytes)
                reading = False
                rows = parse_rows(body, _content_type(scope), self.schema)
                alpha = _alpha(scope, self._conformal)
                proba = await self.batcher.submit(rows)
        except RequestError as refused:
            return error(refused.status, refused.message)
        except QueueFull as full:
            retry = [(b"retry-after", str(self.options.retry_after_s).encode())]
            return error(503, f"The server is overloaded ({full}); retry later.", retry)
        except TimeoutError:
            if reading:
                return error(408, f"The body did not arrive within {limit:g} s; send it faster.")
            return error(504, f"No answer within this server's time limit of {limit:g} s.")
        except (HeadkitError, ValueError) as invalid:  # the model's own input checks
            return error(422, str(invalid).strip().splitlines()[0])
        finite = np.isfinite(proba).all(axis=1)
        if not finite.all():  # values so large that the float32 forward overflows
            row = int(np.argmin(finite))
            return error(
                422,
                f"Row {row} gives no finite probabilities: its values are too large for the "
                "network's float32 arithmetic; send values on the training data's scale.",
            )
        labels = predicted_labels(proba, self._classes, self.model.multilabel)
        answer = {
            "classes": self._class_list,
            "labels": labels,
            "probabilities": proba.astype(np.float32),
        }
        if self._table is not None:  # rows with every cell empty or unknown: a guess
            answer["empty_rows"] = self._table.empty_rows(rows).tolist()
        if alpha is not None:
            encoded = self._table.transform(rows) if self._table is not None else rows
            sets = self._conformal.sets(proba, encoded, alpha)  # type: ignore[union-attr]
            answer["sets"] = [self._classes[row].tolist() for row in sets]
        return 200, orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), JSON, []

    async def _health(self, scope: dict[str, Any], receive: Any) -> Answer:
        counts = {"requests": self.batcher.requests, "calls": self.batcher.calls}
        return 200, orjson.dumps({"status": "ok", "pid": os.getpid(), **counts}), JSON, []

    async def _ready(self, scope: dict[str, Any], receive: Any) -> Answer:
        if self.ready:
            return 200, b'{"status":"ready"}', JSON, []
        return 503, b'{"status":"not ready"}', JSON, []

    async def _metrics(self, scope: dict[str, Any], receive: Any) -> Answer:
        return 200, self.metrics.render().encode(), METRICS_TYPE.encode(), []

    def _static(self, body: bytes) -> Handler:
        async def answer(scope: dict[str, Any], receive: Any) -> Answer:
            return 200, body, JSON, []

        return answer

    def _gauges(self) -> dict[str, tuple[str, float]]:
        return {
            "headkit_queue_rows": ("Rows waiting for a model call.", self.batcher.queued_rows),
            "headkit_queue_requests": ("Requests waiting for a model call.", self.batcher.waiting),
            "headkit_ready": ("1 once the model answered its warm-up call.", float(self.ready)),
        }

    async def warm_up(self) -> None:
        """Run one row through the model; the server is ready once it answered."""
        try:
            await self.batcher.submit(warm_up_rows(self.model))
        except Exception as fault:  # stay unready; /ready says so and the log says why
            print(f"headkit serve: the warm-up call failed ({fault})", file=sys.stderr, flush=True)
            return
        self.ready = True

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._warm_up = asyncio.create_task(self.warm_up())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self.ready = False
                self.batcher.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _conformal_scores(model: ServedModel) -> Any:
    """The run's held-out conformal scores (None without them or outside a run directory)."""
    from pathlib import Path

    from headkit.evaluation.conformal_scores import ConformalScores
    from headkit.io import CONFORMAL

    path = getattr(model, "path", None)
    return ConformalScores.load(Path(path) / CONFORMAL) if path is not None else None


def _alpha(scope: dict[str, Any], conformal: Any) -> float | None:
    """The ``alpha`` query parameter of ``/predict`` (None without one); 422 when unusable."""
    query = scope.get("query_string")
    if not query:  # the common request: no query string to parse
        return None
    from urllib.parse import parse_qs

    values = parse_qs(query.decode("latin-1")).get("alpha")
    if not values:
        return None
    try:
        alpha = float(values[-1])
    except ValueError:
        alpha = float("nan")
    if not 0.0 < alpha < 1.0:
        raise RequestError(
            422, f"alpha must be a number strictly between 0 and 1; got {values[-1]!r}."
        )
    if conformal is None:
        raise RequestError(
            422, "This run has no conformal scores (fitted without a held-out split); drop ?alpha."
        )
    return alpha


def _content_type(scope: dict[str, Any]) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1")
    return ""


def _log_access(scope: dict[str, Any], status: int, seconds: float, size: int) -> None:
    client = scope.get("client")
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        "client": f"{client[0]}:{client[1]}" if client else None,
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "ms": round(seconds * 1000, 3),
        "bytes": size,
        "pid": os.getpid(),
    }
    os.write(2, orjson.dumps(line) + b"\n")


def create_app(model: ServedModel, options: ServeOptions | None = None) -> PredictionApp:
    """Build the ASGI app serving a loaded model (see :class:`PredictionApp`)."""
    return PredictionApp(model, options)
