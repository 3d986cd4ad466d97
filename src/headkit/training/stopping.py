"""Callbacks that decide when training ends: early stopping with best-weight restore, divergence.

:class:`headkit.training.Trainer` installs them itself from its config (``patience``,
``restore_best``, ``monitor``); they keep their state in :meth:`state_dict` so a checkpoint
resumes them exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from headkit.exceptions import DivergenceError
from headkit.functional.temperature import best_temperature, best_temperatures
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer

EXPLOSION_FACTOR = 1e3  # a training loss this many times the first batch's loss has diverged
# monitor="val_calibrated_loss" restores the best epoch only when the final epoch's calibrated
# validation loss is this much (relatively) worse: on MNIST-1D the curve ends flat (the best of
# 200 rows beat the last by 0.7 % at epoch 53, by chance, costing 1–3 accuracy points) while an
# overfitting table ends 18 % above its best (AER CreditCard).
RESTORE_MARGIN = 0.02


def calibrated_loss(
    model: nn.Module, X: Tensor, y: Tensor, weight: Tensor | None = None, batch_size: int = 4096
) -> dict[str, float]:
    """Return ``val_calibrated_loss`` and ``val_temperature`` of ``model`` on rows (X, y).

    The softmax NLL of the logits at the temperature that minimises it on these rows
    (:func:`headkit.functional.best_temperature`; without row weights Newton steps find it,
    :func:`headkit.functional.temperature.best_temperatures`): how good the probabilities are
    once calibrated, the score of ``monitor="val_calibrated_loss"``. Empty (the monitor then falls
    back to ``val_loss``) for multi-label targets (N, C) or an output map other than softmax.
    """
    if y.dim() != 1 or type(getattr(model, "output", None)).__name__ != "Softmax":
        return {}
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(X[i : i + batch_size]) for i in range(0, len(X), batch_size)])
    model.train(was_training)
    if weight is None:  # the Newton search: ~10 passes over the logits instead of 32
        temperatures, nlls = best_temperatures(logits[None], y)
        return {"val_calibrated_loss": float(nlls[0]), "val_temperature": float(temperatures[0])}
    temperature, nll = best_temperature(logits, y, weight)
    return {"val_calibrated_loss": nll, "val_temperature": temperature}


class EarlyStopping(Callback):
    """Track the best validation epoch; stop after ``patience`` epochs without improvement.

    Sets ``trainer.best_epoch`` after every validated epoch and ``trainer.stop`` when patience
    runs out. With ``restore_best`` the best epoch's weights are kept and put back at the end of
    the fit (whether it stopped early or ran its whole schedule), setting
    ``trainer.restored_epoch``; with ``val_calibrated_loss`` only when the last epoch's score is
    more than :data:`RESTORE_MARGIN` (2 %) worse than the best, so that a flat end of the curve
    keeps the last weights rather than a noisy dip.

    Parameters
    ----------
    monitor : {"val_accuracy", "val_loss", "val_calibrated_loss"}
        What "best" means; ties on accuracy go to the lower validation loss;
        ``val_calibrated_loss`` is the loss after the best temperature (:func:`calibrated_loss`,
        read from the record's ``extra``; ``val_loss`` where the record has none).
    patience : int or None
        Epochs without improvement before stopping; ``None`` never stops early.
    restore_best : bool
        Restore the best epoch's weights at the end.
    """

    def __init__(self, monitor: str, patience: int | None, restore_best: bool) -> None:
        self.monitor = monitor
        self.patience = patience
        self.restore_best = restore_best
        self.best_score: tuple[float, float] = (math.inf, math.inf)
        self.since_best = 0
        self.best_state: dict[str, Tensor] | None = None

    def _score(
        self, val_loss: float, val_acc: float, calibrated: float | None = None
    ) -> tuple[float, float]:
        """Return a key where smaller is better, for the monitored quantity."""
        if self.monitor == "val_loss":
            return (round(val_loss, 7), -val_acc)
        if self.monitor == "val_calibrated_loss":
            return (round(calibrated if calibrated is not None else val_loss, 7), -val_acc)
        return (-val_acc, round(val_loss, 7))

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        if trainer.epoch == trainer.fit_start_epoch:  # a fresh fit, not a resumed one
            self.best_score, self.since_best, self.best_state = (math.inf, math.inf), 0, None

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        if record.val_loss is None:
            return
        score = self._score(
            record.val_loss,
            record.val_accuracy,  # type: ignore[arg-type]
            record.extra.get("val_calibrated_loss"),
        )
        if score < self.best_score:
            self.best_score, self.since_best = score, 0
            trainer.best_epoch = record.epoch
            if self.restore_best:
                self.best_state = {
                    k: v.detach().clone() for k, v in trainer.model.state_dict().items()
                }
        else:
            self.since_best += 1
        if self.patience is not None and self.since_best >= self.patience:
            trainer.stop = True

    def _worth_restoring(self, trainer: Trainer) -> bool:
        last = trainer.history[-1] if trainer.history else None
        if self.monitor != "val_calibrated_loss" or last is None or last.val_loss is None:
            return True
        final = last.extra.get("val_calibrated_loss", last.val_loss)
        return round(final, 7) > self.best_score[0] * (1 + RESTORE_MARGIN)

    def on_fit_end(self, trainer: Trainer) -> None:
        if (
            self.best_state is not None
            and trainer.best_epoch != trainer.epoch
            and self._worth_restoring(trainer)
        ):
            trainer.model.load_state_dict(self.best_state)
            trainer.restored_epoch = trainer.best_epoch

    def state_dict(self) -> dict[str, Any]:
        """Return the tracking state (a checkpoint stores it)."""
        return {
            "best_score": list(self.best_score),
            "since_best": self.since_best,
            "best_state": self.best_state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.best_score = (float(state["best_score"][0]), float(state["best_score"][1]))
        self.since_best = int(state["since_best"])
        self.best_state = state["best_state"]


class DivergenceGuard(Callback):
    """Stop with :class:`headkit.exceptions.DivergenceError` when the training loss explodes.

    An epoch's mean training loss diverged when it is not finite or exceeds
    ``factor`` × the loss of the very first batch (measured before any update). The error is
    raised from ``on_epoch_end`` before any later callback runs, so a checkpoint written by a
    :class:`headkit.training.Checkpointer` stays at the last good epoch.

    Parameters
    ----------
    factor : float
        How many times the initial loss counts as exploding.
    """

    def __init__(self, factor: float = EXPLOSION_FACTOR) -> None:
        self.factor = factor
        self.initial_loss: float | None = None

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        if trainer.epoch == trainer.fit_start_epoch:
            self.initial_loss = None

    def on_after_backward(self, trainer: Trainer) -> None:
        if self.initial_loss is None and trainer.last_loss is not None:
            self.initial_loss = abs(float(trainer.last_loss))

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        loss = record.train_loss
        limit = self.factor * max(self.initial_loss or 0.0, 1.0)
        if math.isfinite(loss) and loss <= limit:
            return
        lr = trainer.config.lr
        raise DivergenceError(
            f"Training diverged in epoch {record.epoch}/{trainer.fit_end_epoch} (loss {loss:.3g}, "
            f"first batch {self.initial_loss or float('nan'):.3g}); lower the learning rate "
            f"(lr={lr:g}, try {lr / 10:g}) or check the features for extreme values."
        )

    def state_dict(self) -> dict[str, Any]:
        """Return the reference loss (a checkpoint stores it)."""
        return {"initial_loss": self.initial_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.initial_loss = state["initial_loss"]
