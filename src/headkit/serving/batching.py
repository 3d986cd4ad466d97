"""Micro-batching: requests that arrive while the model is busy share its next forward pass.

:class:`MicroBatcher` keeps a queue of pending requests. One worker task takes everything queued
(up to ``max_rows`` rows), runs the model once on the concatenated rows in a worker thread, and
hands each request its slice. A lone request runs at once (no waiting for company), so batching
adds no latency when the server is idle and grows the batches exactly when requests pile up.
The queue is bounded (``max_queue_rows``): a request that would pass the bound is refused at once
with :class:`QueueFull` (the server's 503), so overload never grows memory or latency unbounded.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np


class QueueFull(Exception):
    """The batcher's queue holds ``max_queue_rows`` rows already; try again later."""


class MicroBatcher:
    """Group concurrent prediction requests into one model call.

    Parameters
    ----------
    predict : callable
        ``predict(parts)`` takes a list of request payloads (each with ``len()`` rows) and returns
        one array of shape (sum of rows, C); it runs in a dedicated worker thread.
    max_rows : int
        Most rows per model call; a single larger request still runs (alone).
    max_queue_rows : int, optional
        Most rows waiting (not yet in a model call); :meth:`submit` raises :class:`QueueFull`
        for a request that would pass it, unless the queue is empty. None: unbounded.
    on_call : callable, optional
        ``on_call(rows, seconds)`` after each successful model call (metrics).
    inline_rows : int
        Calls of at most this many rows run in the event loop's thread: for a fast engine the
        hand-off to the worker thread costs more than the call.

    Attributes
    ----------
    calls, requests : int
        Model calls made and requests served (``requests / calls`` is the mean batch).
    queued_rows : int
        Rows waiting for a model call now.
    """

    def __init__(
        self,
        predict: Callable[[list[Any]], np.ndarray],
        max_rows: int = 4096,
        max_queue_rows: int | None = None,
        on_call: Callable[[int, float], None] | None = None,
        inline_rows: int = 0,
    ) -> None:
        self.inline_rows = inline_rows
        self._predict = predict
        self.max_rows = max_rows
        self.max_queue_rows = max_queue_rows
        self._on_call = on_call
        self.queued_rows = 0
        self._pending: deque[tuple[Any, asyncio.Future[np.ndarray]]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="headkit-predict")
        self.calls = 0
        self.requests = 0

    @property
    def waiting(self) -> int:
        """Requests waiting for a model call now."""
        return len(self._pending)

    async def submit(self, rows: Any) -> np.ndarray:
        """Queue one request's rows and wait for its (len(rows), C) probabilities.

        Raises
        ------
        QueueFull
            The queue is not empty and would hold more than ``max_queue_rows`` rows.
        """
        limit = self.max_queue_rows
        if limit is not None and self._pending and self.queued_rows + len(rows) > limit:
            raise QueueFull(f"{self.queued_rows} rows are waiting; this server queues {limit}.")
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._pending.append((rows, future))
        self.queued_rows += len(rows)
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
        self.queued_rows -= total
        return batch

    async def _drain(self) -> None:
        while self._pending:
            batch = [item for item in self._take() if not item[1].cancelled()]
            if not batch:
                continue
            start = time.perf_counter()
            try:
                proba = await self._run([rows for rows, _ in batch])
            except Exception as error:
                if len(batch) > 1:  # find the request at fault; the others still get answers
                    await self._one_by_one(batch)
                    continue
                _settle(batch[0][1], error=error)
                continue
            self._observe(len(proba), start)
            self.calls += 1
            self.requests += len(batch)
            start = 0
            for rows, future in batch:
                _settle(future, proba[start : start + len(rows)])
                start += len(rows)

    async def _run(self, parts: list[Any]) -> np.ndarray:
        """One model call: in the loop thread when small (no thread hand-off), else the worker."""
        if sum(len(p) for p in parts) <= self.inline_rows:
            result = self._predict(parts)
            await asyncio.sleep(0)  # let the loop read the requests that arrived meanwhile
            return result
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict, parts)

    def _observe(self, rows: int, start: float) -> None:
        if self._on_call is not None:
            self._on_call(rows, time.perf_counter() - start)

    async def _one_by_one(self, batch: list[tuple[Any, asyncio.Future[np.ndarray]]]) -> None:
        for rows, future in batch:
            if future.done():
                continue
            start = time.perf_counter()
            try:
                result = await self._run([rows])
            except Exception as error:
                _settle(future, error=error)
            else:
                self._observe(len(rows), start)
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
