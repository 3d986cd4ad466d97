"""The Softmax Collapse detector: warn when float32 rounding zeroes the loss gradient.

Softmax Collapse (Prieto et al. 2025): once a row's target logit leads by more than ~17, its
float32 softmax probability rounds to exactly 1, its cross-entropy to exactly 0, and it stops
contributing gradient; when most of the training set is there, learning stalls (grokking
without regularisation stops). After each epoch the detector scores a fixed sample of training
rows, records the collapsed share in the history (column ``softmax_collapse``) and warns once
when it reaches the threshold. Remedies: weight decay, a lower learning rate or
``output="stablemax"``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from headkit import functional as F
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer


class SoftmaxCollapseWarning(UserWarning):
    """Most training rows have an exactly-zero float32 loss (Softmax Collapse)."""


class SoftmaxCollapseDetector(Callback):
    """Record the Softmax Collapse share per epoch and warn once above a threshold.

    Parameters
    ----------
    X : Tensor or SparseRows, shape (N, F)
        Training rows (a fixed random sample of at most ``max_rows`` is scored).
    y : Tensor, shape (N,) int64
    threshold : float
        Share of collapsed rows at which to warn.
    max_rows : int
        Rows scored per epoch.
    """

    column = "softmax_collapse"

    def __init__(self, X: Tensor, y: Tensor, threshold: float = 0.9, max_rows: int = 256) -> None:
        # Indexing also densifies sparse rows (headkit's SparseRows).
        index = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))[:max_rows]
        self.X, self.y = X[index], y[index]
        self.threshold = threshold
        self.warned = False
        self.fractions: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        """Return whether the warning was given (a checkpoint stores it)."""
        return {"warned": self.warned}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.warned = bool(state["warned"])

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        model = trainer.model
        was_training = model.training
        model.eval()
        with torch.no_grad():
            logits = model(self.X.to(trainer.device))
        model.train(was_training)
        fraction = F.softmax_collapse_fraction(logits, self.y.to(logits.device))
        self.fractions.append(fraction)
        record.extra[self.column] = fraction
        # a network with nothing to train (memory heads on fixed features) loses no gradient
        trainable = any(p.requires_grad for p in model.parameters())
        if fraction >= self.threshold and not self.warned and trainable:
            self.warned = True
            warnings.warn(
                f"Softmax Collapse in epoch {record.epoch}: {fraction:.0%} of sampled training "
                "rows have a float32 loss of exactly 0, so they no longer give gradient; "
                "add weight decay, lower lr, or use output='stablemax'.",
                SoftmaxCollapseWarning,
                stacklevel=2,
            )
