import asyncio
import threading

import numpy as np
import pytest

from headkit.serving.batching import MicroBatcher


class Model:
    """Doubles each row's values; records call sizes; fails on rows holding -1."""

    def __init__(self):
        self.sizes = []
        self.release = threading.Event()

    def __call__(self, parts):
        self.release.wait(5)
        X = np.concatenate(parts)
        if (X == -1).any():
            raise ValueError("bad row")
        self.sizes.append(len(X))
        return X * 2.0


def run_concurrently(model, requests, max_rows=4096):
    """Submit the first request, then the rest while the model is busy with it."""

    async def main():
        batcher = MicroBatcher(model, max_rows=max_rows)
        first = asyncio.ensure_future(batcher.submit(requests[0]))
        await asyncio.sleep(0.05)  # the first call has started and holds the model
        rest = [asyncio.ensure_future(batcher.submit(r)) for r in requests[1:]]
        await asyncio.sleep(0.05)
        model.release.set()
        results = await asyncio.gather(first, *rest, return_exceptions=True)
        batcher.close()
        return results, batcher

    return asyncio.run(main())


def test_requests_queued_during_a_call_share_the_next_one():
    model = Model()
    requests = [np.full((i + 1, 3), float(i)) for i in range(10)]
    results, batcher = run_concurrently(model, requests)
    for request, result in zip(requests, results, strict=True):
        np.testing.assert_array_equal(result, request * 2.0)
    assert model.sizes == [1, sum(len(r) for r in requests[1:])]
    assert (batcher.calls, batcher.requests) == (2, 10)


def test_batches_stop_at_max_rows_but_a_large_request_still_runs():
    model = Model()
    requests = [np.ones((1, 2)), np.ones((3, 2)), np.ones((3, 2)), np.ones((9, 2)), np.ones((2, 2))]
    results, _ = run_concurrently(model, requests, max_rows=6)
    assert model.sizes == [1, 6, 9, 2]
    assert [len(r) for r in results] == [1, 3, 3, 9, 2]


def test_a_failing_request_does_not_fail_its_batch_mates():
    model = Model()
    requests = [np.zeros((1, 2)), np.ones((2, 2)), -np.ones((1, 2)), np.full((1, 2), 3.0)]
    # the last three share a call that fails because of the third; each is retried alone
    results, _ = run_concurrently(model, requests)
    assert isinstance(results[2], ValueError)
    for i in (0, 1, 3):
        np.testing.assert_array_equal(results[i], requests[i] * 2.0)


def test_an_idle_batcher_answers_a_lone_request_at_once():
    model = Model()
    model.release.set()

    async def main():
        batcher = MicroBatcher(model)
        out = await asyncio.wait_for(batcher.submit(np.ones((2, 2))), timeout=5)
        batcher.close()
        return out

    np.testing.assert_array_equal(asyncio.run(main()), np.full((2, 2), 2.0))
    assert model.sizes == [2]


@pytest.mark.parametrize("n", [1, 3])
def test_cancelled_requests_are_skipped(n):
    model = Model()

    async def main():
        batcher = MicroBatcher(model)
        first = asyncio.ensure_future(batcher.submit(np.ones((1, 2))))
        await asyncio.sleep(0.02)
        gone = [asyncio.ensure_future(batcher.submit(np.ones((5, 2)))) for _ in range(n)]
        kept = asyncio.ensure_future(batcher.submit(np.ones((2, 2))))
        await asyncio.sleep(0.02)
        for task in gone:
            task.cancel()
        model.release.set()
        await first
        out = await kept
        batcher.close()
        return out

    assert len(asyncio.run(main())) == 2
    assert model.sizes == [1, 2]


def test_small_calls_can_run_in_the_loop_thread_with_the_same_answers():
    model = Model()
    model.release.set()
    threads = []

    def recording(parts):
        threads.append(threading.current_thread())
        return model(parts)

    async def main():
        batcher = MicroBatcher(recording, inline_rows=4)
        small = await batcher.submit(np.ones((3, 2)))
        large = await batcher.submit(np.ones((5, 2)))
        batcher.close()
        return small, large

    small, large = asyncio.run(main())
    np.testing.assert_array_equal(small, np.full((3, 2), 2.0))
    np.testing.assert_array_equal(large, np.full((5, 2), 2.0))
    assert threads[0] is threading.main_thread() and threads[1] is not threading.main_thread()


def test_the_queue_refuses_rows_past_its_bound_but_never_an_empty_queue():
    model = Model()

    async def main():
        batcher = MicroBatcher(model, max_rows=2, max_queue_rows=4)
        tasks = [asyncio.ensure_future(batcher.submit(np.ones((3, 2)))) for _ in range(3)]
        await asyncio.sleep(0.05)
        depth = batcher.queued_rows
        model.release.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        lone = await batcher.submit(np.ones((9, 2)))  # larger than the bound, but alone
        batcher.close()
        return depth, results, lone

    depth, results, lone = asyncio.run(main())
    assert [type(r).__name__ for r in results] == ["ndarray", "QueueFull", "QueueFull"]
    assert depth == 0 and len(lone) == 9
