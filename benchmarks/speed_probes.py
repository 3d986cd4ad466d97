"""Load-robust timing helpers for ``train_speed.py``: the machine's state, GEMM floors, a busy neighbour.

On a shared machine wall-clock times are inflated by whatever else runs; a ratio of two things
measured in the same process at the same moment (a training step vs the matrix products it must
do) survives the load far better. Every timed figure is printed next to the load average.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

BUSY_LOOP = "import time\nwhile True:\n    sum(i * i for i in range(10000))\n"


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name with its family and model numbers, for every table.

    Two hosts can share a model name ("AMD EPYC" is both a Zen 1 and a Zen 4 guest here), so the
    ``cpu family`` and ``model`` fields of ``cpuinfo`` are appended when present; elsewhere
    ``platform.processor()``.
    """
    fields: dict[str, str] = {}
    try:
        with open(cpuinfo) as f:
            for line in f:
                if not line.strip():
                    break  # the first processor's block is enough
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
    except OSError:
        pass
    if "model name" in fields:
        numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model") if k in fields]
        return fields["model name"] + (f" ({', '.join(numbers)})" if numbers else "")
    import platform

    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    """One line: CPU model, cores allowed, load averages, torch version and threads."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{cpu_model()}, {cores} cores allowed, load average {load} (1/5/15 min), torch {torch.__version__}, "
        f"{os.cpu_count()} CPUs"
    )


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Return the fastest of ``repeats`` timed calls, in seconds (a floor resists noise)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@dataclass
class StepFloor:
    """The matrix products of one training step of a Dense stack, timed on their own.

    Attributes
    ----------
    flops : float
        Forward + backward FLOPs of the step's products (6 · rows · Σ fan_in · fan_out).
    gemm_seconds : float
        Best time of the step's products run back to back (forward, grad input, grad weight).
    peak_rate : float
        FLOP/s of one large square product at the same moment (the machine's GEMM rate).
    gemm_cpu_seconds : float
        Mean CPU time of this thread per run of the products (the floor at 1 thread, robust to
        other processes, since waiting for a core is not counted).
    """

    flops: float
    gemm_seconds: float
    peak_rate: float
    gemm_cpu_seconds: float

    @property
    def flop_seconds(self) -> float:
        """FLOPs / large-GEMM rate: the step's time if every product ran at the peak rate."""
        return self.flops / self.peak_rate


def step_floor(
    widths: list[int], rows: int, repeats: int = 30, hidden_dtype: torch.dtype = torch.float32
) -> StepFloor:
    """Time the GEMMs of one forward+backward step of ``widths`` (features, hidden..., classes).

    ``hidden_dtype``: the dtype of the hidden blocks' products (``torch.bfloat16`` for a fit
    with ``precision="bfloat16"``); the head's products stay float32, as in that fit.
    """
    g = torch.Generator().manual_seed(0)
    mats = []
    pairs = list(itertools.pairwise(widths))
    for layer, (fan_in, fan_out) in enumerate(pairs):
        dtype = hidden_dtype if layer < len(pairs) - 1 else torch.float32
        x = torch.randn(rows, fan_in, generator=g).to(dtype)
        w = torch.randn(fan_out, fan_in, generator=g).to(dtype)
        dy = torch.randn(rows, fan_out, generator=g).to(dtype)
        mats.append((x, w, dy))

    def products() -> None:
        for x, w, dy in mats:
            x @ w.T  # forward
            dy @ w  # gradient of the input
            dy.T @ x  # gradient of the weight

    products()
    seconds = best_of(products, repeats)
    cpu = time.thread_time()
    for _ in range(repeats):
        products()
    cpu = (time.thread_time() - cpu) / repeats
    flops = 6.0 * rows * sum(a * b for a, b in itertools.pairwise(widths))
    a, b = torch.randn(1024, 1024, generator=g), torch.randn(1024, 1024, generator=g)
    peak = 2 * 1024**3 / best_of(lambda: a @ b, 5)
    return StepFloor(flops, seconds, peak, cpu)


class BusyNeighbour:
    """Context manager: ``count`` CPU-bound Python processes, started and stopped by us."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> BusyNeighbour:
        for _ in range(self.count):
            self.procs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP]))
        time.sleep(1.0)  # let them reach the run queue
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)
        self.procs.clear()
