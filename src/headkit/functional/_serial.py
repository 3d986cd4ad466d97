"""Run small elementwise passes on one intra-op thread, whatever the caller's thread count.

A parallel region costs a fork and a barrier. For the passes of a Dense head's training step
(ReLU, dropout multiply, ReLU gradient, bias-gradient sums, the AdamW update: 10^4–10^5
elements each) a second thread saves at most a few microseconds on an idle machine, and on a
busy one the barrier waits for whichever thread the kernel descheduled: on a 2-core AMD EPYC
(Zen 4) host beside one other CPU-bound process, a 131,072-element ``threshold_backward`` took
20 µs on one thread and 33 µs on two, a ``sum(0)`` over 500×256 9 µs and 27 µs (best of nine
runs each). The matrix products, where two threads do pay, keep the caller's count.

``torch.set_num_threads`` costs about 0.1 µs and, under OpenMP, sets the calling thread's own
count, so another Python thread's work is not affected.
"""

from __future__ import annotations

import torch

SERIAL_ELEMENTS = 1 << 18  # passes over fewer elements than this run on one thread


class one_thread:
    """Context manager: run the block on one intra-op thread when ``numel`` is small.

    Parameters
    ----------
    numel : int
        Elements the block's passes touch (the largest tensor); at or above
        :data:`SERIAL_ELEMENTS` the caller's thread count is kept.
    """

    __slots__ = ("_restore",)

    def __init__(self, numel: int) -> None:
        self._restore = 0
        if numel < SERIAL_ELEMENTS:
            threads = torch.get_num_threads()
            if threads > 1:
                self._restore = threads

    def __enter__(self) -> None:
        if self._restore:
            torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        if self._restore:
            torch.set_num_threads(self._restore)
