"""Training callbacks that record evaluation measures per epoch (``--track-collapse``).

A callback adds its numbers to the epoch's ``record.extra``, so they land in the estimator's
``history_`` and the run's ``history.csv`` next to the losses, where the report finds them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from headkit.evaluation._arrays import to_numpy
from headkit.evaluation.collapse import collapse_of_network
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer


class CollapseTracker(Callback):
    """Record NC1–NC4 of the penultimate features on (a sample of) the training data each epoch.

    The measures are computed in eval mode without gradients and without drawing random
    numbers, so tracking never changes the training trajectory.

    Parameters
    ----------
    X : array-like, shape (N, F)
        Training features (raw; the network applies its own standardisation).
    y : array-like, shape (N,)
        Class indices 0..C−1.
    max_samples : int
        Rows used (a fixed random subset when N is larger), bounding the cost per epoch.
    every : int
        Measure every ``every`` epochs (and always the last one).
    seed : int
        Seed of the subset.

    Attributes
    ----------
    records : list of dict
        ``{"epoch", "nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4"}`` per measured epoch.
    """

    def __init__(
        self, X: Any, y: Any, *, max_samples: int = 2000, every: int = 1, seed: int = 0
    ) -> None:
        x = to_numpy(X, dtype=np.float32)
        labels = to_numpy(y, dtype=np.int64)
        if len(x) > max_samples:
            keep = np.sort(np.random.default_rng(seed).choice(len(x), max_samples, replace=False))
            x, labels = x[keep], labels[keep]
        self.X = x
        self.y = labels
        self.every = max(1, int(every))
        self.records: list[dict[str, float]] = []

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        last = record.epoch >= trainer.fit_end_epoch or trainer.stop
        if record.epoch % self.every and not last:
            return
        values = collapse_of_network(trainer.model, self.X, self.y)
        record.extra.update(values)
        self.records.append({"epoch": record.epoch, **values})

    def state_dict(self) -> dict[str, Any]:
        """Return the measures recorded so far (a checkpoint stores them)."""
        return {"records": self.records}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.records = [dict(r) for r in state["records"]]
