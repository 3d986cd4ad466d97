"""Block sizes of the chunked kernels from this host's caches and GEMM rate, measured once.

A block size tuned as a constant on one host is wrong on the next: a 1 MiB slab fits the L2 of
a host with 1–2 MiB of L2 per core and spills on one with 512 KiB. Here

* :func:`cache_bytes` reads the per-core data cache sizes from
  ``/sys/devices/system/cpu/cpu0/cache/index*/`` (Linux), else ``os.sysconf``, else assumes
  256 KiB of L2 (a conservative size that every x86 and ARM server core of the last decade meets);
* :func:`row_block` times one row block's three products, in the class-major layout the kernel
  uses (logits ``W_K·x_R.T``, then ``dx = E.T·W_K`` and ``dW_K += E·x_R`` for a block E of K
  classes × R rows), at a few candidate R once per process (and per D, dtype and thread count),
  and takes the largest R the memory budget allows among those within 15 % of the best rate.
  The probe's 4,096 classes stay in cache, where R barely moves the rate; at the real sizes the
  block streams W (twice) and the W gradient (read and written) from memory once per block,
  ``4·C·D·4 / R`` bytes per row on top of the block's own ``~5·C·4``, so a larger R moves less
  memory (AMD EPYC Zen 4, D = 256: the probe measured 152–172 GFLOP/s for every R at 2 threads,
  89–94 at 1; the whole call at C = 65,536, 1 thread, best of 3 interleaved: 5.56 s at
  R = 128, 5.15 s at 256, 5.07 s at 512).
  The probe only rules out an R whose products lose speed on this host; the memory budget caps
  R. Without a measurement (the call is too small to pay for the probe) the caller keeps what
  the memory budget allows.

Results depend on the block sizes (sums run in a different order), so, like the thread count, a
fixed ``chunk_size`` / ``memory_budget`` is what makes a seeded run bit-for-bit repeatable across
hosts.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path

import torch

_DEFAULT_L2 = 256 * 1024
_SYS_CACHE = Path("/sys/devices/system/cpu/cpu0/cache")
_ROW_CANDIDATES = (128, 256, 512)
_PROBE_COLS = 4096
# A block size is a candidate while it keeps this share of the best rate. The in-cache probe
# favours small R by a few per cent (Zen 4, 1 thread: 93, 90, 87 GFLOP/s at R = 128, 256, 512)
# where whole calls favour large R (less of W streamed per row): only a clear loss rules R out.
_TOLERANCE = 0.85
_ROUNDS = 4  # probe rounds, candidates interleaved


def _parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1024, "M": 1024**2, "G": 1024**3}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


@functools.lru_cache(maxsize=1)
def cache_bytes() -> dict[int, int]:
    """Return ``{level: bytes}`` of cpu0's data/unified caches (L1d, L2, L3 when known).

    Sizes are per instance as the kernel reports them (L3 is shared by the cores of a die).
    """
    sizes: dict[int, int] = {}
    for index in sorted(_SYS_CACHE.glob("index*")) if _SYS_CACHE.is_dir() else []:
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            size = _parse_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified") and size > 0:
            sizes[level] = size
    for level, name in ((1, "SC_LEVEL1_DCACHE_SIZE"), (2, "SC_LEVEL2_CACHE_SIZE")):
        if level not in sizes and name in os.sysconf_names:
            value = os.sysconf(name)
            if value and value > 0:
                sizes[level] = int(value)
    sizes.setdefault(2, _DEFAULT_L2)
    return sizes


def slab_bytes() -> int:
    """Bytes of a logit slab for the fused subtract/exp/sum pass: half the L2 of one core.

    The other half holds the row maxima, the sums and the next slab's prefetched lines.
    """
    return max(64 * 1024, cache_bytes()[2] // 2)


def _time_block(w: torch.Tensor, x: torch.Tensor, repeats: int = 1) -> float:
    """Best time of one block step's three products (class-major logits, dx, dW)."""
    zt = torch.empty(w.shape[0], x.shape[0], dtype=w.dtype)
    gx, gw = torch.empty_like(x), torch.zeros_like(w)
    best = float("inf")
    for i in range(repeats + 1):  # the first pass warms the caches and the BLAS up
        start = time.perf_counter()
        torch.mm(w, x.T, out=zt)
        torch.mm(zt.T, w, out=gx)
        gw.addmm_(zt, x)
        if i:
            best = min(best, time.perf_counter() - start)
    return best


@functools.lru_cache(maxsize=16)
def _probe_rates(d: int, dtype: torch.dtype, threads: int) -> tuple[float, ...]:
    """GFLOP/s of a block step over ``_PROBE_COLS`` classes for each candidate R.

    Best of :data:`_ROUNDS` rounds in which the candidates take turns, so that a burst of load
    on a shared machine slows every candidate alike instead of ruling out the one it hit (timed
    back to back, one probe under load chose 128 rows and gave the slowest whole call).
    """
    g = torch.Generator().manual_seed(0)
    w = torch.randn(_PROBE_COLS, d, generator=g, dtype=dtype)
    xs = [torch.randn(rows, d, generator=g, dtype=dtype) for rows in _ROW_CANDIDATES]
    best = [float("inf")] * len(xs)
    for _ in range(_ROUNDS):
        for i, x in enumerate(xs):
            best[i] = min(best[i], _time_block(w, x))
    return tuple(
        6.0 * x.shape[0] * d * _PROBE_COLS / max(t, 1e-9) / 1e9
        for x, t in zip(xs, best, strict=True)
    )


def row_block(max_rows: int, d: int, dtype: torch.dtype = torch.float32) -> int:
    """Rows per block: the largest fitting candidate within 15 % of the best block-step rate.

    Never more than ``max_rows`` (what the memory budget allows); when ``max_rows`` is below
    every candidate it is returned as it is.
    """
    fitting = [r for r in _ROW_CANDIDATES if r <= max_rows]
    if not fitting:
        return max_rows
    rates = dict(zip(_ROW_CANDIDATES, _probe_rates(d, dtype, torch.get_num_threads()), strict=True))
    best = max(rates[r] for r in fitting)
    return max(r for r in fitting if rates[r] >= _TOLERANCE * best)
