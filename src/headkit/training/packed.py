"""K networks of one shape trained together, in one pass over the data ("packed" members).

``members=K`` fits K networks that differ only in their initialisation and dropout masks.
Trained one after another they cost K times the per-step Python, small operations and
per-epoch validation; here they are one module with a leading member dimension: the first
Dense layer is one product of the shared batch with the K first layers side by side
``(F, K·H₁)``, every later layer a batched product (``torch.baddbmm``) of (K, N, H)
activations with (K, H, H') weights. The loss is the *sum* over members of each member's mean
loss, so each member's gradient is its solo gradient; AdamW is elementwise and nothing in the
plain recipe couples members (no gradient clipping or global norm; the one-cycle schedule and
its momentum cycle depend only on the step). All members see the same mini-batches (as TabM);
their dropout masks are independent (one mask over the (K, N, H) activations).

After each epoch one batched forward scores every member on the held-out rows; each member has
its own :class:`~headkit.training.stopping.EarlyStopping` (the sequential rule: best epoch,
patience, restore margin) over its own history, and the fit ends when every member has
stopped. A stopped member leaves the products (the others' weights are gathered for each
step) and keeps its weights of the epoch it stopped at (or of its best epoch).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from headkit.config import TrainingConfig, batch_rows
from headkit.functional.temperature import best_temperatures
from headkit.nn.network import HeadNet
from headkit.threads import intra_op_threads, resolve_threads, step_flops
from headkit.training.callbacks import Callback, EpochRecord
from headkit.training.devices import resolve_device
from headkit.training.optim import FusedAdamW, build_schedulers
from headkit.training.packed_net import PackedNet, member_losses
from headkit.training.stopping import DivergenceGuard, EarlyStopping


class _Member:
    """One member as :class:`EarlyStopping` sees a trainer: its own history, best epoch, stop."""

    def __init__(self, packed: PackedNet, k: int) -> None:
        self.packed, self.k = packed, k
        self.model = self  # EarlyStopping snapshots and restores ``trainer.model``'s state
        self.history: list[EpochRecord] = []
        self.best_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.stop = False
        self.epoch = self.fit_start_epoch = 0
        self.final: dict[str, Tensor] | None = None  # weights at the epoch it stopped

    def state_dict(self) -> dict[str, Tensor]:
        return self.packed.member_tensors(self.k)

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        with torch.no_grad():
            for name, view in self.packed.member_tensors(self.k).items():
                view.copy_(state[name])


class _FirstMember(nn.Module):
    """Member 0 of a :class:`PackedNet` as a network of its own: logits (N, C) from x (N, F)."""

    def __init__(self, packed: PackedNet) -> None:
        super().__init__()
        self.packed = packed
        self.index = torch.zeros(1, dtype=torch.long, device=packed.first_weight.device)

    def forward(self, x: Tensor) -> Tensor:
        return self.packed(x, self.index)[0]


class _FirstMemberView:
    """What a per-epoch callback reads of a trainer, for member 0 (its model, history, config)."""

    def __init__(self, trainer: PackedTrainer) -> None:
        self.model = _FirstMember(trainer.model)
        self.device, self.config = trainer.device, trainer.config
        self.history = trainer.members[0].history


class PackedTrainer:
    """Train K :func:`packable` networks together; each member keeps the sequential rules.

    Parameters
    ----------
    nets : sequence of HeadNet
        K >= 1 networks of one config, initialised (each from its own seed); :meth:`fit`
        writes each member's final weights back into its network.
    config : TrainingConfig
        The resolved training config of the fit (no ``"auto"`` left): optimiser, schedule,
        epochs, batch size, monitor, patience, restore, threads, device.
    criterion : nn.Module
        A :class:`~headkit.nn.losses.CrossEntropyLoss` (a mean over rows).
    callbacks : sequence of Callback
        Observers of the whole fit (progress), shown the members' mean record per epoch.
    first_member_callbacks : sequence of Callback
        Watchers of member 0 (the Softmax Collapse detector), shown its network, history and
        record after each epoch it trains, as the sequential path shows them member 0's; a
        column they add to its record is copied into the mean record.

    Attributes
    ----------
    history : list of EpochRecord
        Per epoch: the members' mean training loss, mean validation loss and accuracy;
        ``extra`` holds the mean ``val_calibrated_loss`` and ``members_training``.
    members : list
        Per member: its own ``history``, ``best_epoch``, ``restored_epoch`` and the epoch
        ``epoch`` it stopped at.
    best_epoch, restored_epoch : int or None
        Member 0's (as the sequential path reports).
    epoch : int
        Epochs run (until the last member stopped).
    threads : int or None
        Intra-op threads of the fit.
    """

    def __init__(
        self,
        nets: Sequence[HeadNet],
        config: TrainingConfig,
        criterion: nn.Module,
        callbacks: Sequence[Callback] = (),
        first_member_callbacks: Sequence[Callback] = (),
    ) -> None:
        self.nets, self.config, self.criterion = list(nets), config, criterion
        self.first_member_callbacks = list(first_member_callbacks)
        self.device = resolve_device(config.device)
        self.model = PackedNet(self.nets).to(self.device)
        self.members = [_Member(self.model, k) for k in range(len(self.nets))]
        self._first_view = _FirstMemberView(self)  # what member 0's watchers read
        self.early = [
            EarlyStopping(config.monitor, config.patience, config.restore_best) for _ in nets
        ]
        self.callbacks: list[Callback] = [DivergenceGuard(), *callbacks]
        self.history: list[EpochRecord] = []
        self.epoch = self.fit_start_epoch = self.fit_end_epoch = 0
        self.best_epoch: int | None = None
        self.restored_epoch: int | None = None
        self.stop = False
        self.threads: int | None = None
        self.last_loss: Tensor | None = None
        m = self.model
        groups = [
            {"params": [m.first_weight, *m.weights, m.head_weight]},  # decayed, as matrices are
            {"params": [m.first_bias, *m.biases, m.head_bias], "weight_decay": 0.0},
        ]
        self.optimizer = FusedAdamW(groups, lr=config.lr, weight_decay=config.weight_decay)

    def fit(self, X: Tensor, y: Tensor, X_val: Tensor, y_val: Tensor) -> list[EpochRecord]:
        """Train on (X, y), choosing each member's epoch on (X_val, y_val); return the history.

        Parameters
        ----------
        X : Tensor, shape (N, F)
        y : Tensor, shape (N,) int64 class indices
        X_val, y_val : Tensor, shapes (N_val, F) and (N_val,)
            Held-out rows (may be empty: then every member runs the whole schedule).
        """
        rows = batch_rows(self.config.batch_size, len(X))
        flops = step_flops(self.nets[0], rows, True) * len(self.nets)
        self.threads = resolve_threads(self.config.threads, flops)
        with intra_op_threads(self.threads):
            val = (X_val.to(self.device), y_val.to(self.device)) if len(X_val) else None
            self._fit(X.to(self.device), y.to(self.device), val, rows)
        return self.history

    def _fit(self, X: Tensor, y: Tensor, val: tuple[Tensor, Tensor] | None, rows: int) -> None:
        epochs = self.fit_end_epoch = self.config.epochs
        steps = math.ceil(len(X) / rows) * epochs if epochs > 1 else 0
        self.schedulers = build_schedulers(self.config.schedule, [self.optimizer], steps)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        for member, early in zip(self.members, self.early, strict=True):
            early.on_fit_start(member, epochs)  # type: ignore[arg-type]
        for cb in self.callbacks:
            cb.on_fit_start(self, epochs)  # type: ignore[arg-type]
        self.model.train()
        while self.epoch < epochs and not self.stop:
            started = time.perf_counter()
            train_loss = self._train_pass(X, y, rows)
            self.epoch += 1
            scores = self._validate(*val) if val is not None else None
            self._end_epoch(train_loss, scores, time.perf_counter() - started)
        self._finish()

    def _train_pass(self, X: Tensor, y: Tensor, rows: int) -> float:
        """One pass over (X, y) in shuffled batches; return the members' mean training loss."""
        order = torch.randperm(len(X), generator=self.generator).to(self.device)
        losses: list[Tensor] = []
        counts: list[int] = []
        training = [m.k for m in self.members if m.final is None]  # stopped ones cost nothing
        active = (
            None if len(training) == self.model.k else torch.tensor(training, device=self.device)
        )
        for start in range(0, len(order), rows):
            index = order[start : start + rows]
            if len(index) < 2 and len(X) >= 2:
                continue  # as the sequential loop: a batch of one adds only noise
            logits = self.model(X.index_select(0, index), active)  # (M, B, C)
            # the sum of the members' mean losses: each member's gradient is its solo one
            loss = member_losses(self.criterion, logits, y.index_select(0, index)).sum()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.last_loss = loss.detach() / len(training)
            for cb in self.callbacks:
                cb.on_after_backward(self)  # type: ignore[arg-type]
            self.optimizer.step()
            for sched in self.schedulers:
                sched.step()
            losses.append(self.last_loss)
            counts.append(len(index))
        if not losses:
            return 0.0
        weights = torch.tensor(counts, dtype=losses[0].dtype, device=self.device)
        return float(torch.stack(losses) @ weights) / len(order)

    def _validate(self, X: Tensor, y: Tensor) -> list[tuple[float, float, dict[str, float]]]:
        """Every member's (validation loss, accuracy, calibrated loss) from one batched forward."""
        self.model.eval()
        with torch.no_grad():
            parts = [self.model(X[i : i + 4096]) for i in range(0, len(X), 4096)]
            logits = torch.cat(parts, dim=1)  # (K, N_val, C)
            ranks = self.nets[0].probabilities(logits).argmax(-1)  # the output map's ranking
            hits = (ranks == y).double().mean(dim=1).tolist()
            losses = member_losses(self.criterion, logits, y).tolist()
        self.model.train()
        extras: list[dict[str, float]] = [{} for _ in losses]
        softmax = type(self.nets[0].output).__name__ == "Softmax"
        if self.config.monitor == "val_calibrated_loss" and softmax and y.dim() == 1:
            temperatures, nlls = best_temperatures(logits, y)
            extras = [
                {"val_calibrated_loss": nll, "val_temperature": t}
                for t, nll in zip(temperatures.tolist(), nlls.tolist(), strict=True)
            ]
        return list(zip(losses, hits, extras, strict=True))

    def _end_epoch(
        self, train_loss: float, scores: list[tuple[float, float, dict]] | None, seconds: float
    ) -> None:
        """Show each member still training its record, then the callbacks the mean record."""
        lr = self.optimizer.param_groups[0]["lr"]
        training = [m for m in self.members if m.final is None]
        for member in training:
            val_loss, val_acc, extra = scores[member.k] if scores is not None else (None, None, {})
            record = EpochRecord(self.epoch, train_loss, val_loss, val_acc, lr, seconds, extra)
            member.epoch = self.epoch
            member.history.append(record)
            if member.k == 0:
                for cb in self.first_member_callbacks:
                    cb.on_epoch_end(self._first_view, record)  # type: ignore[arg-type]
            self.early[member.k].on_epoch_end(member, record)  # type: ignore[arg-type]
            if member.stop:  # patience ran out: it keeps the weights it has now (or its best)
                member.final = {n: v.detach().clone() for n, v in member.state_dict().items()}
        mean = _mean_record(self.epoch, train_loss, scores, lr, seconds)
        first = self.members[0].history[-1] if self.members[0] in training else None
        for cb in self.first_member_callbacks if first is not None else ():
            column = getattr(cb, "column", None)
            if column in first.extra:
                mean.extra[column] = first.extra[column]
        mean.extra["members_training"] = len(training)
        self.history.append(mean)
        for cb in self.callbacks:
            cb.on_epoch_end(self, mean)  # type: ignore[arg-type]
        self.stop = all(m.final is not None for m in self.members)

    def _finish(self) -> None:
        """Give each member its kept weights (its best epoch's when restored), write the nets."""
        for member, early in zip(self.members, self.early, strict=True):
            if member.final is not None:
                member.load_state_dict(member.final)
            early.on_fit_end(member)  # type: ignore[arg-type]
            self.model.write_member(self.nets[member.k], member.k)
            self.nets[member.k].eval()
        self.best_epoch = self.members[0].best_epoch
        self.restored_epoch = self.members[0].restored_epoch
        for cb in self.callbacks:
            cb.on_fit_end(self)  # type: ignore[arg-type]
        self.model.eval()


def _mean_record(
    epoch: int, train_loss: float, scores: list | None, lr: float, seconds: float
) -> EpochRecord:
    """The epoch's record for the whole fit: the members' mean scores."""
    if scores is None:
        return EpochRecord(epoch, train_loss, None, None, lr, seconds)
    k = len(scores)
    extra = {}
    calibrated = [s[2]["val_calibrated_loss"] for s in scores if "val_calibrated_loss" in s[2]]
    if len(calibrated) == k:
        extra["val_calibrated_loss"] = sum(calibrated) / k
    val_loss, val_acc = (sum(s[i] for s in scores) / k for i in (0, 1))
    return EpochRecord(epoch, train_loss, val_loss, val_acc, lr, seconds, extra)
