"""Observers of the fit loop: the epoch record, the callback base class, progress and logs.

A callback overrides any of the hooks; the trainer calls them in order. Setting ``trainer.stop``
ends training after the current epoch. A callback with state that a resumed fit needs returns
it from ``state_dict`` (tensors, numbers, strings, lists and dicts) and takes it back in
``load_state_dict``; :class:`headkit.training.Checkpointer` stores it.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from headkit.training.trainer import Trainer


@dataclass
class EpochRecord:
    """One row of the training history."""

    epoch: int
    train_loss: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float
    extra: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a flat dict (the ``history.csv`` row)."""
        row = {
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "lr": self.lr,
            "seconds": self.seconds,
        }
        row.update(self.extra)
        return row


class Callback:
    """Base class: every hook does nothing."""

    def on_fit_setup(self, trainer: Trainer) -> None:
        """Run once the optimisers, schedulers and shuffling are built; a checkpoint resumes here."""

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        """Run before the first epoch."""

    def on_after_backward(self, trainer: Trainer) -> None:
        """Run after each backward pass, before the optimiser step (gradients are set)."""

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        """Run after each epoch's validation."""

    def on_fit_end(self, trainer: Trainer) -> None:
        """Run after the last epoch (and the best-weights restore)."""

    def state_dict(self) -> dict[str, Any]:
        """Return the state a resumed fit needs (none by default)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""


def _summary(record: EpochRecord) -> str:
    text = f"loss {record.train_loss:.4f}"
    if record.val_loss is not None:
        text += f"  val_loss {record.val_loss:.4f}  val_acc {record.val_accuracy:.3f}"
    return text


class PlainLog(Callback):
    """One line per epoch, for logs and pipes (used when stderr is not a terminal)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        stream = self.stream or sys.stderr
        print(
            f"epoch {record.epoch:>4}  {_summary(record)}  ({record.seconds:.2f}s)",
            file=stream,
            flush=True,
        )

    def on_fit_end(self, trainer: Trainer) -> None:
        if trainer.restored_epoch is not None:
            print(
                f"restored weights of epoch {trainer.restored_epoch}",
                file=self.stream or sys.stderr,
            )


class ProgressBar(Callback):
    """A rich progress bar over epochs showing loss and validation accuracy (terminals only)."""

    def __init__(self) -> None:
        self._progress = None
        self._task = None

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[summary]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._progress.start()
        done = trainer.epoch - trainer.fit_start_epoch  # > 0 when the fit resumed
        self._task = self._progress.add_task("fit", total=epochs, completed=done, summary="")

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, summary=_summary(record))

    def on_fit_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            done = self._progress.tasks[0].completed
            self._progress.update(self._task, total=done)
            self._progress.stop()
            self._progress = None


def default_callbacks(verbose: int | bool) -> list[Callback]:
    """Return the progress reporting for a verbosity: none, a bar on a terminal, else a log."""
    if not verbose:
        return []
    return [ProgressBar()] if sys.stderr.isatty() else [PlainLog()]
