"""The fit loop: in-memory tensors, AdamW, a schedule, early stopping, history.

The loop keeps per-batch Python work to the minimum (index a shuffled permutation, one forward,
one backward, one optimiser step); losses are summed as tensors and read once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError, DataError
from headkit.nn.losses import LOSSES
from headkit.training import distributed
from headkit.training.callbacks import Callback
from headkit.training.gradient_noise import GradientNoise

SCHEDULES = ("onecycle", "cosine", "constant")
MONITORS = ("val_accuracy", "val_loss")
WARMUP_FRACTION = 0.25  # share of one-cycle steps spent raising the learning rate


def resolve_device(device: str | torch.device) -> torch.device:
    """Turn ``"auto"`` into ``cuda`` when available (else ``cpu``) and validate the rest."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"Unknown device {device!r}; use 'auto', 'cpu' or 'cuda'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device='cuda' was asked for but no CUDA GPU is available; use 'auto' or 'cpu'."
        )
    return resolved


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


def _modules_with(owner: Sequence[nn.Module], method: str) -> list[nn.Module]:
    return [m for root in owner for m in root.modules() if callable(getattr(m, method, None))]


class Trainer:
    """Fit a :class:`headkit.nn.HeadNet` (or any module with ``training_loss``) on tensors.

    Parameters
    ----------
    model : nn.Module
        Must provide ``training_loss(x, y, criterion)`` and ``forward(x) -> logits``.
    config : TrainingConfig
        Optimiser, schedule, early stopping, seed, device.
    n_classes : int
        Number of classes (for building the loss).
    callbacks : sequence of Callback
        Observers of the loop (progress, logging, collapse tracking).

    Attributes
    ----------
    history : list of EpochRecord
    best_epoch : int or None
        Epoch with the best monitored validation score so far.
    restored_epoch : int or None
        Epoch whose weights the last ``fit`` restored (early stopping with ``restore_best``).
    stop : bool
        Set by a callback to end training after the current epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainingConfig,
        n_classes: int,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        if config.schedule not in SCHEDULES:
            raise ConfigError(
                f"Unknown schedule {config.schedule!r}; choose one of {', '.join(SCHEDULES)}."
            )
        if config.monitor not in MONITORS:
            raise ConfigError(
                f"Unknown monitor {config.monitor!r}; choose one of {', '.join(MONITORS)}."
            )
        self.model = model
        self.config = config
        self.device = resolve_device(config.device)
        output = getattr(model, "output", None)
        self.criterion = LOSSES.build(config.loss, n_classes=n_classes, output=output, model=model)
        self.criterion.to(self.device)
        self.callbacks = list(callbacks)
        self.history: list[EpochRecord] = []
        self.best_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.stop = False
        self.epoch = 0
        self.optimizers = self._build_optimizers()
        # torch.distributed (torchrun): DDP-wrapped loss step; None in a single process.
        self._ddp_step = (
            distributed.wrap_ddp(model, self.criterion) if distributed.active() else None
        )
        if config.gradient_noise < 0 or config.gradient_noise_gamma < 0:
            raise ConfigError(
                "gradient_noise and gradient_noise_gamma must be >= 0; "
                f"got {config.gradient_noise} and {config.gradient_noise_gamma}."
            )
        # Annealed gradient noise (Neelakantan et al. 2015), added after backward, before step.
        self.gradient_noise = GradientNoise(config.gradient_noise, config.gradient_noise_gamma)
        self._noisy_params = [
            p for root in (self.model, self.criterion) for p in root.parameters() if p.requires_grad
        ]

    def _build_optimizers(self) -> list[torch.optim.Optimizer]:
        cfg = self.config
        optimizers: list[torch.optim.Optimizer] = []
        owned: set[int] = set()
        for module in _modules_with([self.model, self.criterion], "configure_optimizer"):
            opt = module.configure_optimizer(cfg.lr, cfg.weight_decay)
            if opt is not None:
                optimizers.append(opt)
                owned.update(id(p) for p in module.parameters())
        params = [
            p
            for root in (self.model, self.criterion)
            for p in root.parameters()
            if p.requires_grad and id(p) not in owned
        ]
        if params:
            # Weight decay on matrices only; biases, norms and scalars are not decayed.
            decay = [p for p in params if p.dim() >= 2]
            rest = [p for p in params if p.dim() < 2]
            groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
            if rest:
                groups.append({"params": rest, "weight_decay": 0.0})
            fused = all(p.dtype in (torch.float32, torch.float64) for p in params)
            optimizers.insert(0, torch.optim.AdamW(groups, lr=cfg.lr, fused=fused or None))
        return optimizers

    def _schedulers(self, steps: int) -> list[Any]:
        cfg = self.config
        if cfg.schedule == "constant" or steps < 1:
            return []
        if cfg.schedule == "onecycle":
            return [
                torch.optim.lr_scheduler.OneCycleLR(
                    opt,
                    max_lr=[g["lr"] for g in opt.param_groups],
                    total_steps=steps,
                    pct_start=WARMUP_FRACTION,
                    cycle_momentum=getattr(opt, "cycle_momentum", True),
                )
                for opt in self.optimizers
            ]
        return [
            torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps) for opt in self.optimizers
        ]

    def evaluate(self, X: Tensor, y: Tensor, batch_size: int = 4096) -> tuple[float, float]:
        """Return (mean loss, accuracy) of the model on (X, y) in eval mode.

        Accuracy ranks classes by the model's ``output`` map when it has one (``power`` ranks by
        ``|z|``, not ``z``), else by the logits.
        """
        was_training = self.model.training
        self.model.eval()
        output = getattr(self.model, "output", None)
        total_loss, correct = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                xb, yb = X[start : start + batch_size], y[start : start + batch_size]
                logits = self.model(xb)
                total_loss += float(self.criterion(logits, yb)) * len(xb)
                scores = output(logits) if output is not None else logits
                correct += int((scores.argmax(-1) == yb).sum())
        self.model.train(was_training)
        return total_loss / len(X), correct / len(X)

    def _score(self, val_loss: float, val_acc: float) -> tuple[float, float]:
        """Return a key where smaller is better, for the monitored quantity."""
        if self.config.monitor == "val_loss":
            return (round(val_loss, 7), -val_acc)
        return (-val_acc, round(val_loss, 7))

    def _state(self) -> dict[str, Tensor]:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def fit(
        self,
        X: Tensor,
        y: Tensor,
        X_val: Tensor | None = None,
        y_val: Tensor | None = None,
        epochs: int | None = None,
    ) -> list[EpochRecord]:
        """Train for up to ``epochs`` (default: the config's) and return the history.

        Parameters
        ----------
        X : Tensor, shape (N, F)
        y : Tensor, shape (N,), int64 class indices
        X_val, y_val : Tensor, optional
            Validation data for early stopping and the best-weights restore.
        epochs : int, optional
            Overrides ``config.epochs`` (``partial_fit`` passes 1).
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else epochs
        if len(X) == 0:
            raise DataError("Cannot train on zero samples; give at least one row.")
        X, y = X.to(self.device), y.to(self.device)
        has_val = X_val is not None and y_val is not None and len(X_val) > 0
        if has_val:
            X_val, y_val = X_val.to(self.device), y_val.to(self.device)  # type: ignore[union-attr]
        n_local = distributed.rank_rows(len(X))  # rows this rank visits per epoch
        batch_size = min(cfg.batch_size, n_local)
        steps_per_epoch = math.ceil(n_local / batch_size)
        schedulers = self._schedulers(steps_per_epoch * epochs) if epochs > 1 else []
        progress_aware = _modules_with([self.model, self.criterion], "set_progress")
        generator = torch.Generator(device="cpu")
        generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        best_score, best_state, since_best = (math.inf, math.inf), None, 0
        start_epoch = self.epoch
        self.stop, self.restored_epoch = False, None
        for cb in self.callbacks:
            cb.on_fit_start(self, epochs)
        self.model.train()
        for local_epoch in range(epochs):
            started = time.perf_counter()
            for module in progress_aware:
                module.set_progress(local_epoch / max(epochs, 1))
            order = torch.randperm(len(X), generator=generator).to(self.device)
            order = distributed.rank_slice(order)  # this rank's share (all of it on one process)
            loss_sum = torch.zeros((), device=self.device)
            for start in range(0, len(order), batch_size):
                index = order[start : start + batch_size]
                if len(index) < 2 and len(X) >= 2:
                    continue  # a batch of one breaks batch norm and adds only noise
                if self._ddp_step is not None:
                    loss = self._ddp_step(X[index], y[index])
                else:
                    loss = self.model.training_loss(X[index], y[index], self.criterion)
                for opt in self.optimizers:
                    opt.zero_grad(set_to_none=True)
                if loss.requires_grad:  # memory heads on fixed features have nothing to train
                    loss.backward()
                for cb in self.callbacks:
                    cb.on_after_backward(self)
                if self.gradient_noise.enabled:
                    self.gradient_noise(self._noisy_params)
                for opt in self.optimizers:
                    opt.step()
                for sched in schedulers:
                    sched.step()
                loss_sum += loss.detach() * len(index)
            train_loss = distributed.all_reduce_mean(float(loss_sum) / len(order))
            if not math.isfinite(train_loss):
                raise DataError(
                    f"Training diverged (loss {train_loss}) in epoch {self.epoch + 1}; "
                    "lower the learning rate (lr) or check the features for extreme values."
                )
            val_loss = val_acc = None
            if has_val:
                val_loss, val_acc = self.evaluate(X_val, y_val)  # type: ignore[arg-type]
            self.epoch += 1
            record = EpochRecord(
                self.epoch,
                train_loss,
                val_loss,
                val_acc,
                self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0,
                time.perf_counter() - started,
            )
            self.history.append(record)
            if val_loss is not None:
                score = self._score(val_loss, val_acc)  # type: ignore[arg-type]
                if score < best_score:
                    best_score, since_best, self.best_epoch = score, 0, self.epoch
                    if cfg.restore_best and cfg.patience is not None:
                        best_state = self._state()
                else:
                    since_best += 1
                if cfg.patience is not None and since_best >= cfg.patience:
                    self.stop = True
            for cb in self.callbacks:
                cb.on_epoch_end(self, record)
            if self.stop:
                break
        if best_state is not None and self.best_epoch != self.epoch:
            self.model.load_state_dict(best_state)
            self.restored_epoch = self.best_epoch
        for cb in self.callbacks:
            cb.on_fit_end(self)
        self.model.eval()
        return self.history[start_epoch:]
