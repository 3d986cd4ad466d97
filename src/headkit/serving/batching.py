"""Micro-batching: requests that arrive while the model is busy share its next forward pass.

:class:`MicroBatcher` keeps a queue of pending requests. One worker task takes everything queued
(up to ``max_rows`` rows), runs the model once on the concatenated rows in a worker thread, and
hands each request its slice. A lone request runs at once (no waiting for company), so batching
adds no latency when the server is idle and grows the batches exactly when requests pile up.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class MicroBatcher:
    """Group concurrent prediction requests into one model call.

    Parameters
    ----------
    predict : callable
        ``predict(parts)`` takes a list of request payloads (each with ``len()`` rows) and returns
        one array of shape (sum of rows, C); it runs in a dedicated worker thread.
    max_rows : int
        Most rows per model call; a single larger request still runs (alone).

    Attributes
    ----------
    calls, requests : int
        Model calls made and requests served (``requests / calls`` is the mean batch).
    """

    def __init__(self, predict: Callable[[list[Any]], np.ndarray], max_rows: int = 4096) -> None:
        self._predict = predict
        self.max_rows = max_rows
        self._pending: deque[tuple[Any, asyncio.Future[np.ndarray]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headkit-predict")
        self.calls = 0
        self.requests = 0

    async def submit(self, rows: Any) -> np.ndarray:
        """Queue one request's rows and wait for its (len(rows), C) probabilities."""
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[Any, asyncio.Future[np.ndarray]]]:
        batch = [self._pending.popleft()]
        total = len(batch[0][0])
        while self._pending and total + len(self._pending[0][0]) <= self.max_rows:
            item = self._pending.popleft()
            total += len(item[0])
            batch.append(item)
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch = [item for item in self._take() if not item[1].cancelled()]
            if not batch:
                continue
            try:
                proba = await loop.run_in_executor(
                    self._executor, self._predict, [rows for rows, _ in batch]
                )
            except Exception as error:
                if len(batch) > 1:  # find the request at fault; the others still get answers
                    for item in batch:
                        self._pending.appendleft(item)
                    await self._one_by_one(len(batch))
                    continue
                _settle(batch[0][1], error=error)
                continue
            self.calls += 1
            self.requests += len(batch)
            start = 0
            for rows, future in batch:
                _settle(future, proba[start : start + len(rows)])
                start += len(rows)

    async def _one_by_one(self, count: int) -> None:
        loop = asyncio.get_running_loop()
        for _ in range(count):
            rows, future = self._pending.popleft()
            try:
                result = await loop.run_in_executor(self._executor, self._predict, [rows])
            except Exception as error:
                _settle(future, error=error)
            else:
                self.calls += 1
                self.requests += 1
                _settle(future, result)

    def close(self) -> None:
        """Stop the worker thread (pending requests are left unanswered)."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(
    future: asyncio.Future[np.ndarray],
    result: np.ndarray | None = None,
    error: BaseException | None = None,
) -> None:
    if future.done():  # the client went away and its handler was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
