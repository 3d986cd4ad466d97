"""Ctrl-C and SIGTERM during a run: stop cleanly, leave the checkpoint, say how to resume."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass


class RunInterrupted(Exception):
    """A run stopped by Ctrl-C or SIGTERM; its staging directory holds the last checkpoint.

    Attributes
    ----------
    out : Path
        The run directory to pass to ``headkit train --resume``.
    epoch, epochs : int
        Epochs finished (and checkpointed) and epochs asked.
    """

    def __init__(self, out, epoch: int, epochs: int) -> None:
        self.out, self.epoch, self.epochs = out, epoch, epochs
        super().__init__(
            f"interrupted at epoch {epoch}/{epochs}; resume with `headkit train --resume {out}`"
        )


@dataclass
class Caught:
    """The signal that interrupted the run (SIGINT unless SIGTERM came)."""

    signum: int = signal.SIGINT

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 + signal number (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + int(self.signum)


@contextlib.contextmanager
def interrupts() -> Iterator[Caught]:
    """Turn SIGTERM into a KeyboardInterrupt (as Ctrl-C is) and record which signal came."""
    caught = Caught()
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signal handlers can only be set from the main thread
        return

    def handler(signum: int, frame: object) -> None:
        caught.signum = signum
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
