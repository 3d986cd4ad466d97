"""Row blocks of :mod:`linear_ce` as one pipeline over class slabs, shared by worker threads.

A row block's class-major logits ``z.T = W·x_R.T`` (C, R) are cut into slabs of K classes
(:func:`slab_classes`). One visit of slab k does, while those
stay in cache,

* the W gradient of the *previous* row block, ``dW_k += E_k·(x_{R'}·scale)`` (``E_k`` = that
  block's ``exp(z)`` slab, still in the block buffer),
* this block's logits ``z_k = W_k·x_R.T`` into the same place of the buffer, ``exp`` in place,
  its column sums, and the unscaled x gradient ``E_kᵀ·W_k`` (R, D). The logits come out
  multiplied by log2 e (``x_R`` and ``b`` are scaled first, R·D + C products) so that ``exp`` is
  ``exp2``: torch 2.13's ``exp2`` ran 3.5 G elements/s on one AMD EPYC Zen 4 core, its ``exp``
  1.2 G (Sleef ``expf`` u10 on AVX-512 both).

After all slabs a row block's sums give its log-sum-exp and the row scales (``1 / s``), which
scale the summed x gradient and, in the next pass, the rows of ``x`` for its W gradient. W and
its gradient are read from memory once per row block instead of twice and once (read and
write) respectively, and each ``exp(z)`` slab is used by its two products while still in cache (L2 or L3).
``exp`` is taken unshifted; when a block's sums leave the trusted range
(:func:`~headkit.functional._ce_blocks.unshifted_ok`) the pipeline stops before that block and
the caller finishes with the shifted per-block kernels.

Threads: with T > 1 intra-op threads the slabs are handed out one at a time to T workers (this
thread and T - 1 pool threads), each running single-threaded products with its own partial sums.
The products of a slab are too small for BLAS's own threading to split well (a (K×D)·(D×R) GEMM
with K = 256), and a shared queue keeps both cores busy when one of them is shared with another
process, where a BLAS split waits at each barrier for the slower thread. While the pipeline
runs, ``torch.set_num_threads(1)`` holds (restored after): other Python threads using torch at
the same time run single-threaded meanwhile.
"""

from __future__ import annotations

import functools
import itertools
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from headkit.functional._blocking import cache_bytes
from headkit.functional._ce_blocks import unshifted_ok

_LOG2E = 1.4426950408889634  # exp(z) = 2^(z·log2 e); torch's exp2 runs ~3x its exp on AVX-512


def slab_classes(rows: int, element_size: int) -> int:
    """Classes per slab: its ``exp(z)`` part (K×R) one L2 in size; a multiple of 16, at least 16.

    A slab's three products take ~1 ms on one core at K = 1,024, R = D = 256, so the ~10 torch
    calls that a slab costs in Python stay near 1 % of it (AMD EPYC Zen 4, 1 MiB L2, C = 65,536,
    one thread, best of 2: 5.04 s at K = 256, 5.01 at 512, 4.90 at 1,024, 5.02 at 2,048; two
    threads, best of 3: 2.82 s at 128, 2.66 at 256, 2.55 at 512, 2.52 at 1,024).
    """
    return max(16, cache_bytes()[2] // (element_size * rows) // 16 * 16)


@functools.lru_cache(maxsize=4)
def _pool(threads: int) -> ThreadPoolExecutor:
    """Pool threads kept for later calls (their OpenMP thread count stays 1: only used here)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="headkit-ce")


class _Pass:
    """One pass over the slabs: the previous block's W (and b) gradient, this block's logits."""

    def __init__(self, buf, w, b, slabs, workers, need_x, rows):
        self.buf, self.w, self.b, self.slabs, self.need_x = buf, w, b, slabs, need_x
        self.rows = rows
        self.workers, self.gw, self.gb = workers, None, None

    def setup(self, x_prev, scale_prev, x_rows):
        """Set the operands of the next pass; partial sums start at zero."""
        self.x_prev, self.scale_prev, self.x_rows = x_prev, scale_prev, x_rows
        r, p = (0 if x_rows is None else x_rows.shape[0]), self.workers
        self.s = self.w.new_zeros(p, r)
        self.gx = self.w.new_zeros(p, r, self.w.shape[1]) if self.need_x else None
        self.queue = itertools.count()  # next() is atomic under the GIL
        self.inference = torch.is_inference_mode_enabled()

    def slab(self, c0: int, c1: int, r: int) -> Tensor:
        """Slab of classes [c0, c1) as (c1 - c0, r), at an offset that does not depend on ``r``.

        Rows per block may change (the last block is shorter); each slab keeps its own part of
        the buffer so that no worker writes where another still reads the previous block.
        """
        start = c0 * self.rows
        return self.buf[start : start + (c1 - c0) * r].view(c1 - c0, r)

    def work(self, p: int) -> None:
        """Worker ``p``: visit slabs from the shared queue until none is left.

        Grad and inference mode are per thread: pool threads take the caller's inference mode
        (in-place writes to its inference tensors need it) and never record autograd.
        """
        with torch.inference_mode(self.inference), torch.no_grad():
            self._visit(p)

    def _visit(self, p: int) -> None:
        w, b, xp, xr = self.w, self.b, self.x_prev, self.x_rows
        while (k := next(self.queue)) < len(self.slabs):
            c0, c1 = self.slabs[k]
            if xp is not None:
                e = self.slab(c0, c1, xp.shape[0])
                if self.gw is not None:
                    self.gw[c0:c1].addmm_(e, xp)
                if self.gb is not None:
                    self.gb[c0:c1].addmv_(e, self.scale_prev)
            if xr is not None:
                z = self.slab(c0, c1, xr.shape[0])
                if b is None:
                    torch.mm(w[c0:c1], xr.T, out=z)
                else:
                    torch.addmm(b[c0:c1, None], w[c0:c1], xr.T, out=z)
                self.s[p].add_(z.exp2_().sum(0))
                if self.gx is not None:
                    self.gx[p].addmm_(z.T, w[c0:c1])


def pipeline_row_blocks(
    x: Tensor,
    w: Tensor,
    b: Tensor | None,
    g: Tensor | None,
    z_loss: float,
    rows: int,
    buf: Tensor,
    outs: tuple[Tensor, Tensor | None, Tensor | None, Tensor | None],
) -> int:
    """Fill ``outs = (lse, gx, gw, gb)`` for leading row blocks of ``rows`` rows; return rows done.

    Parameters
    ----------
    x : Tensor, shape (N, D)
    w : Tensor, shape (C, D)
    b : Tensor, shape (C,), optional
    g : Tensor, shape (N,), optional
        Gradient of the loss with respect to each row's loss (None: no gradients).
    z_loss : float
        Weight of the ``lse²`` term (scales the softmax part of the gradient by ``1 + 2·z·lse``).
    rows : int
        Rows per block R.
    buf : Tensor, shape (>= C·R,)
        Flat block buffer.
    outs : tuple
        ``lse`` (N,) and the gradients of x (N, D), W (C, D) and b (C,) (each None if not needed;
        gw and gb are accumulated into, gx overwritten). The target terms are not included.

    Returns
    -------
    int
        Rows whose outputs are complete: N, or the first row of the first block whose
        unshifted ``exp`` sums left the trusted range (the caller recomputes from there).
    """
    lse, gx, gw, gb = outs
    n, c = x.shape[0], w.shape[0]
    threads = torch.get_num_threads()
    k = min(slab_classes(rows, x.element_size()), -(-c // (16 * threads)) * 16)  # >= 1 per thread
    slabs = [(c0, min(c, c0 + k)) for c0 in range(0, c, k)]
    workers = max(1, min(threads, len(slabs)))
    work = _Pass(
        buf,
        w,
        None if b is None else b * _LOG2E,
        slabs,
        workers,
        g is not None and gx is not None,
        rows,
    )
    pool = _pool(workers - 1) if workers > 1 else None
    done, x_prev, scale_prev = 0, None, None
    try:
        torch.set_num_threads(1)
        for r0 in range(0, n + rows, rows):
            x_rows = x[r0 : r0 + rows] if r0 < n else None
            work.setup(x_prev, scale_prev, None if x_rows is None else x_rows * _LOG2E)
            futures = [pool.submit(work.work, p) for p in range(1, workers)] if pool else []
            work.work(0)
            for f in futures:
                f.result()
            if x_rows is None:
                break
            s = work.s.sum(0)
            if not unshifted_ok(s):
                break
            r1 = r0 + x_rows.shape[0]
            lse[r0:r1] = s.log()
            done, x_prev = r1, None
            if g is not None:
                scale_prev = g[r0:r1] * (1 + 2 * z_loss * lse[r0:r1]) / s
                if work.gx is not None:
                    torch.mul(work.gx.sum(0), scale_prev[:, None], out=gx[r0:r1])
                x_prev = x_rows * scale_prev[:, None]
                work.gw, work.gb = gw, gb
    finally:
        torch.set_num_threads(threads)
    return done
