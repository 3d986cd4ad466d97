"""How many intra-op threads a fit or a prediction should use, and setting them for one call.

torch's default (one thread per core) is right on an idle machine and wrong on a busy one: with
one other CPU-bound process on two cores, a two-thread fit spends its time waiting at barriers for
the thread that was descheduled: the default MNIST-1D fit at a fixed 2 threads ran 17.5–24× slower
than alone, at 1 thread 0.93–1.14× (three runs of ``benchmarks/train_speed.py --section busy``).
Small steps lose the other way: below a few tens of MFLOP the fork/join cost of a parallel region
outweighs the split work. The policy therefore takes the smallest of

- the cores this process may use (``os.sched_getaffinity``, a cgroup CPU quota),
- the limits a caller has set: ``OMP_NUM_THREADS`` (joblib's loky workers get
  ``cpu_count // n_jobs`` through it) and the current ``torch.get_num_threads()`` (what
  ``torch.set_num_threads`` or ``threadpoolctl.threadpool_limits`` left),
- the cores not busy with other processes' runnable threads right now (``/proc/stat``'s
  ``procs_running`` minus this process's own running threads, median of a few samples),
- the threads the work per step can keep busy (one per :data:`FLOPS_PER_THREAD`).

An explicit ``threads=N`` bypasses all of it. Results depend on the thread count (a matrix product
summed in two halves rounds differently), so a seeded fit is bit-for-bit repeatable only with a
fixed ``threads``.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from headkit.config import batch_rows
from headkit.exceptions import ConfigError

FLOPS_PER_THREAD = 20e6  # work per step below which another thread costs more than it saves
_SAMPLES = 5  # readings of the run queue; the median ignores a passing spike
_SAMPLE_GAP_S = 0.01  # 40 ms in all: a process that runs for a few ms is not "busy"


@dataclass(frozen=True)
class MachineState:
    """What the policy reads about the machine and the caller's limits.

    Attributes
    ----------
    allowed : int
        Cores this process may run on (affinity mask, cgroup quota).
    busy : float
        Runnable threads of other processes on those cores, right now.
    env_limit : int or None
        ``OMP_NUM_THREADS`` when set to a positive integer.
    torch_threads : int
        ``torch.get_num_threads()`` at the time of the call.
    """

    allowed: int
    busy: float
    env_limit: int | None
    torch_threads: int


def choose_threads(step_flops: float, machine: MachineState) -> int:
    """Return the intra-op thread count for steps of ``step_flops`` on ``machine`` (>= 1).

    Parameters
    ----------
    step_flops : float
        Floating-point operations of one step (forward + backward for training, forward for
        prediction) at the batch size used.
    machine : MachineState
        The machine and the caller's limits (see :func:`read_machine`).
    """
    caps = [machine.allowed, machine.torch_threads]
    if machine.env_limit is not None:
        caps.append(machine.env_limit)
    free = math.floor(machine.allowed - machine.busy + 0.5)
    by_work = math.floor(step_flops / FLOPS_PER_THREAD)
    return max(1, min(*caps, free, by_work))


def step_flops(model: nn.Module, rows: int, backward: bool) -> float:
    """Estimate the FLOPs of one step: 2 per weight-matrix entry per row, ×3 with backward.

    Parameters
    ----------
    model : nn.Module
        Its parameters of two or more dimensions are taken as the multiply-accumulate work.
    rows : int
        Rows per step (batch size).
    backward : bool
        Count the backward pass (two more products of the same size).
    """
    macs = sum(p.numel() for p in model.parameters() if p.dim() >= 2)
    return 2.0 * macs * rows * (3 if backward else 1)


_LOAD_TTL_S = 1.0  # a reading of the other processes' load is reused this long (a server's calls)
_load_reading: tuple[float, float] = (-math.inf, 0.0)  # (monotonic time, busy)


def read_machine() -> MachineState:
    """Read the cores allowed, the other processes' load and the caller's limits now.

    The load reading (40 ms: :data:`_SAMPLES` samples :data:`_SAMPLE_GAP_S` apart) is reused for
    :data:`_LOAD_TTL_S` seconds, so that back-to-back predictions (a server's micro-batches) do not
    pay for it each time.
    """
    global _load_reading
    now = time.monotonic()
    allowed = _allowed_cores()
    if now - _load_reading[0] > _LOAD_TTL_S:
        _load_reading = (now, _busy_elsewhere(allowed))
    return MachineState(
        allowed=allowed,
        busy=_load_reading[1],
        env_limit=_env_limit(),
        torch_threads=torch.get_num_threads(),
    )


def resolve_threads(threads: int | None, step_flops: float) -> int:
    """Return ``threads`` when given, else the policy's choice for steps of ``step_flops``.

    Raises
    ------
    ConfigError
        When ``threads`` is not None and not a positive integer.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(
                f"threads must be a positive integer or None (automatic); got {threads!r}."
            )
        return threads
    if step_flops < 2 * FLOPS_PER_THREAD:
        return 1  # too little work for a second thread, whatever the machine: skip reading it
    if torch.get_num_threads() == 1 or _env_limit() == 1:
        return 1  # the caller allows one thread: the 40 ms load reading could change nothing
    return choose_threads(step_flops, read_machine())


def with_thread_policy(fit: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate ``Trainer.fit``: run it under ``config.threads`` or the automatic choice.

    The count used is left in ``self.threads``; torch's global setting is restored after.
    """

    @functools.wraps(fit)
    def wrapper(self: Any, X: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        rows = batch_rows(self.config.batch_size, len(X))
        self.threads = resolve_threads(self.config.threads, step_flops(self.model, rows, True))
        with intra_op_threads(self.threads):
            return fit(self, X, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def intra_op_threads(n: int) -> Iterator[int]:
    """Run the block with ``torch.set_num_threads(n)`` and restore the previous count after."""
    previous = torch.get_num_threads()
    if n != previous:
        torch.set_num_threads(n)
    try:
        yield n
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def _allowed_cores() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(CGROUP_CPU_MAX)
    return max(1, min(cores, quota) if quota else cores)


def _cgroup_quota(path: Path) -> int | None:
    """Cores granted by a cgroup v2 ``cpu.max`` quota, rounded up; None when unlimited."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def _env_limit() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def _busy_elsewhere(allowed: int | None = None) -> float:
    """Median over a few readings of runnable threads not belonging to this process.

    System-wide counts are scaled to this process's share of the machine's cores, so that a
    process pinned to 2 of 64 cores does not count the load of the other 62. Returns 0 where
    ``/proc`` is missing (not Linux).
    """
    readings = []
    for i in range(_SAMPLES):
        running = _procs_running()
        if running is None:
            return 0.0
        readings.append(max(0, running - _own_running()))
        if i + 1 < _SAMPLES:
            time.sleep(_SAMPLE_GAP_S)
    total = os.cpu_count() or 1
    allowed = _allowed_cores() if allowed is None else allowed
    return statistics.median(readings) * min(1.0, allowed / total)


def _procs_running() -> int | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("procs_running"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _own_running() -> int:
    """Threads of this process in state R (running or runnable), this one included."""
    count = 0
    for stat in Path("/proc/self/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.rfind(")") + 2 :].startswith("R"):
            count += 1
    return max(count, 1)
