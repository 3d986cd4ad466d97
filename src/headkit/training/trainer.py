"""The fit loop: in-memory tensors, AdamW, a schedule, early stopping, history.

The loop keeps per-batch Python work to the minimum (index a shuffled permutation, one forward,
one backward, one optimiser step); losses are summed as tensors and read once per epoch.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from headkit import protocols
from headkit.config import PLAIN_AUTO, TrainingConfig, batch_rows
from headkit.exceptions import ConfigError, DataError
from headkit.nn.losses import LOSSES
from headkit.threads import with_thread_policy
from headkit.training import distributed
from headkit.training.augment import AUGMENTS
from headkit.training.callbacks import Callback, EpochRecord
from headkit.training.devices import resolve_device
from headkit.training.distillation import check_teacher_targets, distillation_criterion
from headkit.training.gradient_noise import GradientNoise
from headkit.training.optim import SCHEDULES, FusedAdamW, build_schedulers
from headkit.training.orthogonal import gradient_callbacks
from headkit.training.solvers import SOLVERS, fit_readout
from headkit.training.stopping import DivergenceGuard, EarlyStopping, calibrated_loss
from headkit.training.weights import check_class_weights, weighted_criterion, weighted_rows_loss

MONITORS = ("val_accuracy", "val_loss", "val_calibrated_loss")


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
        Observers (progress, logging, checkpoints); run after DivergenceGuard and EarlyStopping.

    Attributes
    ----------
    history : list of EpochRecord
    best_epoch : int or None
        Epoch with the best monitored validation score so far.
    restored_epoch : int or None
        Epoch whose weights the last ``fit`` restored (early stopping with ``restore_best``).
    stop : bool
        Set by a callback to end training after the current epoch.
    epoch : int
        Epochs run so far (over every ``fit`` call).
    fit_start_epoch, fit_end_epoch : int
        The epoch the current ``fit`` started from and the one it runs to.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainingConfig,
        n_classes: int,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        auto = {k: v for k, v in PLAIN_AUTO.items() if getattr(config, k) == "auto"}
        config = config.replace(**auto)  # no data to follow here: "auto" is the plain path
        for name, allowed in (("schedule", SCHEDULES), ("monitor", MONITORS)):
            if getattr(config, name) not in allowed:
                value = getattr(config, name)
                raise ConfigError(f"Unknown {name} {value!r}; choose one of {', '.join(allowed)}.")
        self.model = model
        self.config = config
        self.device = resolve_device(config.device)
        output = getattr(model, "output", None)
        self.criterion = LOSSES.build(
            config.loss, n_classes=n_classes, output=output, network=model
        )
        check_class_weights(self.criterion, config.loss, n_classes)
        if config.teacher is not None:
            self.criterion = distillation_criterion(model, self.criterion, config)
        self.solver = SOLVERS.build(config.solver)  # None: the fit loop
        self.augment = AUGMENTS.build(config.augment)  # None: batches as they are
        if self.augment is not None and config.teacher is not None:
            raise ConfigError(
                "augment mixes rows, so the teacher's per-row targets no longer apply; "
                "use augment='none' with a teacher."
            )
        self.criterion.to(self.device)
        early = EarlyStopping(config.monitor, config.patience, config.restore_best)
        self.callbacks = [DivergenceGuard(), early, *gradient_callbacks(config), *callbacks]
        owners = [c for c in self.callbacks if isinstance(c, protocols.OwnsTrainPass)]
        self.privacy = owners[0] if owners else None  # DP-SGD: Poisson batches, clipped, noised
        self.history: list[EpochRecord] = []
        self.best_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.stop = False
        self.epoch = 0
        self._optimizers: list[torch.optim.Optimizer] | None = None
        self.fit_start_epoch = self.fit_end_epoch = 0
        self.last_loss: Tensor | None = None
        self.schedulers: list[Any] = []
        self.threads: int | None = None  # intra-op threads of the last fit (headkit.threads)
        self.generator = torch.Generator(device="cpu")
        # torch.distributed (torchrun): DDP-wrapped loss step; None in a single process.
        self._ddp_step = (
            distributed.wrap_ddp(model, self.criterion) if distributed.active() else None
        )
        if config.gradient_noise < 0 or config.gradient_noise_gamma < 0:
            raise ConfigError(
                "gradient_noise and gradient_noise_gamma must be >= 0; "
                f"got {config.gradient_noise} and {config.gradient_noise_gamma}."
            )
        self.gradient_noise = GradientNoise(config.gradient_noise, config.gradient_noise_gamma)
        self._auxiliary = protocols.modules_with([model], protocols.AuxiliaryLoss)
        # The fused default network's gradients without autograd (HeadNet.fused_gradients): a
        # plain loss on one process only; the method itself returns None for other networks.
        plain = self.augment is None and self._ddp_step is None and not self._auxiliary
        self._graph_free = plain and self.privacy is None  # DP-SGD clips per-row gradients
        self._noisy_params = [
            p for root in (self.model, self.criterion) for p in root.parameters() if p.requires_grad
        ]

    @property
    def optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers, built on first use: loading a model to predict never builds them.

        (Building a torch optimiser imports ``torch._dynamo``, seconds of start-up; the default
        :class:`~headkit.training.optim.FusedAdamW` does not.)
        """
        if self._optimizers is None:
            self._optimizers = self._build_optimizers()
        return self._optimizers

    def _build_optimizers(self) -> list[torch.optim.Optimizer]:
        cfg = self.config
        optimizers: list[torch.optim.Optimizer] = []
        owned: set[int] = set()
        for module in protocols.modules_with(
            [self.model, self.criterion], protocols.ConfiguresOptimizer
        ):
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
            optimizers.insert(0, FusedAdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay))
        return optimizers

    def evaluate(
        self, X: Tensor, y: Tensor, batch_size: int = 4096, weight: Tensor | None = None
    ) -> tuple[float, float]:
        """Return (mean loss, accuracy) of the model on (X, y) in eval mode.

        Accuracy ranks classes by the model's probabilities (``HeadNet.probabilities``: the
        output map and temperature; ``power`` ranks by ``|z|``, not ``z``), else by the logits;
        for multi-label targets (N, C) a row counts as correct when every label is
        (probability > 0.5). With ``weight`` (N,) both are weighted means (``Σ w ℓ / Σ w``).
        """
        was_training = self.model.training
        self.model.eval()
        probabilities = (
            self.model.probabilities if isinstance(self.model, protocols.Probabilistic) else None
        )
        total_loss, correct = 0.0, 0.0
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                xb, yb = X[start : start + batch_size], y[start : start + batch_size]
                logits = self.model(xb)
                scores = probabilities(logits) if probabilities is not None else logits
                if yb.dim() == 2:
                    hits = ((scores > 0.5) == (yb > 0.5)).all(-1)
                else:
                    hits = scores.argmax(-1) == yb
                if weight is None:
                    total_loss += float(self.criterion(logits, yb)) * len(xb)
                    correct += int(hits.sum())
                    continue
                wb = weight[start : start + batch_size]
                total_loss += float(weighted_rows_loss(self.criterion, logits, yb, wb)) * len(xb)
                correct += float((hits * wb).sum())
        self.model.train(was_training)
        total = len(X) if weight is None else float(weight.sum())
        return total_loss / total, correct / total

    @with_thread_policy
    def fit(
        self,
        X: Tensor,
        y: Tensor,
        X_val: Tensor | None = None,
        y_val: Tensor | None = None,
        epochs: int | None = None,
        sample_weight: Tensor | None = None,
        val_weight: Tensor | None = None,
        teacher_log_probs: Tensor | None = None,
    ) -> list[EpochRecord]:
        """Train for up to ``epochs`` (default: the config's) and return this fit's history.

        Parameters
        ----------
        X : Tensor, shape (N, F)
        y : Tensor, shape (N,) int64 class indices, or (N, C) float 0/1 multi-label indicators
        X_val, y_val : Tensor, optional
            Validation data for early stopping and the best-weights restore.
        epochs : int, optional
            Overrides ``config.epochs`` (``partial_fit`` passes 1).
        sample_weight, val_weight : Tensor, shape (N,) and (N_val,), optional
            Row weights of the training loss (normalise them to mean 1; see
            :mod:`headkit.training.weights`) and of the validation loss and accuracy.
        teacher_log_probs : Tensor, shape (N, C), optional
            The teacher's log-probabilities of the rows of ``X``; required when the config
            names a teacher (knowledge distillation).

        Notes
        -----
        Callbacks see ``on_fit_setup`` (a checkpoint may restore the whole training state there,
        so the fit resumes), then ``on_fit_start``, ``on_after_backward`` per step,
        ``on_epoch_end`` per epoch and ``on_fit_end``.
        """
        epochs = self.config.epochs if epochs is None else epochs
        if len(X) == 0:
            raise DataError("Cannot train on zero samples; give at least one row.")
        if self.solver is not None:
            return fit_readout(self, X, y, X_val, y_val, sample_weight, teacher_log_probs)
        X, y = X.to(self.device), y.to(self.device)
        self._teacher = check_teacher_targets(self.config, teacher_log_probs, X, self.device)
        self._weighted = weighted_criterion(
            self.model, self.criterion, sample_weight, ddp=self._ddp_step is not None
        )
        if self._weighted is not None and self._teacher is not None:
            raise ConfigError(
                "sample_weight and class_weight do not combine with a teacher; drop one of them."
            )
        if self._weighted is not None and self.augment is not None:
            raise ConfigError(
                "sample_weight and class_weight do not combine with augment (mixed rows have no "
                "single weight); drop one of them."
            )
        self._sample_weight = None if sample_weight is None else sample_weight.to(self.device)
        self._val_weight = None if val_weight is None else val_weight.to(self.device)
        has_val = X_val is not None and y_val is not None and len(X_val) > 0
        val = (X_val.to(self.device), y_val.to(self.device)) if has_val else None  # type: ignore[union-attr]
        rank_rows = distributed.rank_rows(len(X))  # this process's share of the rows
        batch_size = batch_rows(self.config.batch_size, rank_rows)
        steps_per_epoch = math.ceil(rank_rows / batch_size)
        steps = steps_per_epoch * epochs if epochs > 1 else 0
        self.schedulers = build_schedulers(self.config.schedule, self.optimizers, steps)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        self.begin_fit(epochs, resumable=True)
        self.model.train()
        self._progress = protocols.modules_with(
            [self.model, self.criterion], protocols.ProgressAware
        )
        while self.epoch < self.fit_end_epoch and not self.stop:
            self.end_epoch(self._run_epoch(X, y, val, batch_size))
        self.end_fit()
        return self.history[self.fit_start_epoch :]

    def begin_fit(self, epochs: int, resumable: bool) -> None:
        """Open a fit of ``epochs`` epochs from the current one; ``on_fit_setup`` if resumable."""
        self.fit_start_epoch, self.fit_end_epoch = self.epoch, self.epoch + epochs
        self.stop, self.restored_epoch = False, None
        for cb in self.callbacks if resumable else ():
            cb.on_fit_setup(self)  # a checkpoint may restore the whole training state here
        for cb in self.callbacks:
            cb.on_fit_start(self, epochs)

    def end_epoch(self, record: EpochRecord) -> None:
        """Append an epoch's record to the history and show it to the callbacks."""
        self.history.append(record)
        for cb in self.callbacks:
            cb.on_epoch_end(self, record)

    def end_fit(self) -> None:
        """Close the fit: ``on_fit_end`` (which may restore the best weights), eval mode."""
        for cb in self.callbacks:
            cb.on_fit_end(self)
        self.model.eval()

    def _run_epoch(
        self, X: Tensor, y: Tensor, val: tuple[Tensor, Tensor] | None, batch_size: int
    ) -> EpochRecord:
        """One pass over (X, y) in shuffled batches, then validation; return the epoch's record."""
        started = time.perf_counter()
        for module in self._progress:
            fit_epochs = max(self.fit_end_epoch - self.fit_start_epoch, 1)
            module.set_progress((self.epoch - self.fit_start_epoch) / fit_epochs)
        own = self.privacy
        train_loss = own.train_pass(self, X, y) if own else self._train_pass(X, y, batch_size)
        val_loss, val_acc, extra = None, None, {}
        if val is not None:
            val_loss, val_acc = self.evaluate(*val, weight=self._val_weight)
            if self.config.monitor == "val_calibrated_loss":
                extra = calibrated_loss(self.model, *val, weight=self._val_weight)
        self.epoch += 1
        lr = self.optimizers[0].param_groups[0]["lr"] if self.optimizers else 0.0
        seconds = time.perf_counter() - started
        return EpochRecord(self.epoch, train_loss, val_loss, val_acc, lr, seconds, extra)

    def _train_pass(self, X: Tensor, y: Tensor, batch_size: int) -> float:
        """One pass over (X, y) in shuffled batches; return the mean training loss."""
        order = torch.randperm(len(X), generator=self.generator).to(self.device)
        order = distributed.rank_slice(order)  # this rank's share (all of it on one process)
        losses: list[Tensor] = []  # one per step, summed once per epoch (no per-step arithmetic)
        rows: list[int] = []
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            if len(index) < 2 and len(X) >= 2:
                continue  # a batch of one breaks batch norm and adds only noise
            teacher = None if self._teacher is None else self._teacher[index]
            weight = None if self._sample_weight is None else self._sample_weight[index]
            xb = X.index_select(0, index) if isinstance(X, Tensor) else X[index]  # faster than []
            losses.append(self._step(xb, y.index_select(0, index), teacher, weight))
            rows.append(len(index))
        if not losses:
            return distributed.all_reduce_mean(0.0)
        row_counts = torch.tensor(rows, dtype=losses[0].dtype, device=self.device)
        loss_sum = torch.stack(losses) @ row_counts
        return distributed.all_reduce_mean(float(loss_sum) / len(order))

    def _step(
        self, xb: Tensor, yb: Tensor, teacher: Tensor | None = None, weight: Tensor | None = None
    ) -> Tensor:
        """One optimisation step on a batch (and its rows' teacher log-probabilities / weights)."""
        for opt in self.optimizers:  # before either path: the graph-free one writes .grad
            opt.zero_grad(set_to_none=True)
        loss = None
        graph_free = getattr(self.model, "fused_gradients", None) if self._graph_free else None
        if graph_free is not None and teacher is None and weight is None:
            loss = graph_free(xb, yb, self.criterion)  # None: not the fused kind
        if loss is None:
            loss = self._loss(xb, yb, teacher, weight)
            if loss.requires_grad:  # memory heads on fixed features have nothing to train
                loss.backward()
        self.last_loss = loss.detach()
        for cb in self.callbacks:
            cb.on_after_backward(self)
        if self.gradient_noise.enabled:
            self.gradient_noise(self._noisy_params)
        for opt in self.optimizers:
            opt.step()
        for sched in self.schedulers:
            sched.step()
        return self.last_loss

    def _loss(
        self, xb: Tensor, yb: Tensor, teacher: Tensor | None, weight: Tensor | None
    ) -> Tensor:
        """The batch's training loss, with its autograd graph."""
        if weight is not None:
            self._weighted.weight = weight  # type: ignore[union-attr]
            loss = self.model.training_loss(xb, yb, self._weighted)
        elif self._ddp_step is not None:
            loss = self._ddp_step(xb, yb)
        else:
            criterion = self.criterion
            if teacher is not None:
                criterion = functools.partial(criterion, teacher_logits=teacher)
            if self.augment is not None:
                loss = self.augment.loss(self.model, xb, yb, criterion)
            else:
                loss = self.model.training_loss(xb, yb, criterion)
        if self._auxiliary:
            loss = loss + protocols.auxiliary_loss(self._auxiliary)  # gate penalty, MoE balance
        return loss
