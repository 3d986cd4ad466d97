import math

import pytest
import torch
from torch import nn

from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError, DivergenceError
from headkit.nn import HeadNet
from headkit.training import Callback, Trainer
from headkit.training.stopping import RESTORE_MARGIN


def data(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    return X, y


def make(epochs=5, **kw):
    torch.manual_seed(0)
    model = HeadNet(n_features=4, n_classes=3, hidden_sizes=(16,))
    cfg = TrainingConfig(epochs=epochs, batch_size=32, lr=1e-2, **kw)
    return model, cfg


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_fit_start(self, trainer, epochs):
        self.events.append(("start", epochs))

    def on_after_backward(self, trainer):
        assert all(p.grad is not None for p in trainer.model.parameters() if p.requires_grad)
        self.events.append("backward")

    def on_epoch_end(self, trainer, record):
        self.events.append(("epoch", record.epoch))

    def on_fit_end(self, trainer):
        self.events.append("end")


def test_loss_falls_and_callbacks_run_in_order():
    model, cfg = make(epochs=20)
    recorder = Recorder()
    history = Trainer(model, cfg, 3, [recorder]).fit(*data())
    assert history[-1].train_loss < history[0].train_loss * 0.7
    assert recorder.events[0] == ("start", 20) and recorder.events[-1] == "end"
    assert recorder.events.count("backward") == 20 * math.ceil(200 / 32)


def test_early_stopping_and_best_weights_restore():
    model, cfg = make(epochs=200, patience=3, monitor="val_loss", schedule="constant")
    X, y = data()
    Xv, yv = data(100, seed=1)
    yv = yv[torch.randperm(100)]  # labels unrelated to X: validation loss only gets worse
    trainer = Trainer(model, cfg, 3)
    trainer.fit(X, y, Xv, yv)
    assert trainer.epoch < 200
    assert trainer.epoch - trainer.best_epoch == 3
    assert trainer.restored_epoch == trainer.best_epoch
    best_val = min(r.val_loss for r in trainer.history)
    assert trainer.evaluate(Xv, yv)[0] == pytest.approx(best_val, rel=1e-5)


def test_without_patience_or_restore_the_whole_schedule_runs_and_last_weights_are_kept():
    model, cfg = make(
        epochs=12, patience=None, restore_best=False, monitor="val_loss", schedule="constant"
    )
    X, y = data()
    Xv, yv = data(100, seed=1)
    yv = yv[torch.randperm(100)]  # validation loss is best early, then worsens
    trainer = Trainer(model, cfg, 3)
    trainer.fit(X, y, Xv, yv)
    assert trainer.epoch == 12 and trainer.best_epoch < 12 and trainer.restored_epoch is None
    assert trainer.evaluate(Xv, yv)[0] == pytest.approx(trainer.history[-1].val_loss, rel=1e-5)


@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_schedules_shape_the_learning_rate(schedule):
    model, cfg = make(epochs=6, schedule=schedule)
    history = Trainer(model, cfg, 3).fit(*data())
    lrs = [r.lr for r in history]
    if schedule == "constant":
        assert lrs == [1e-2] * 6
    else:
        assert lrs[-1] < 1e-3 and max(lrs) <= 1e-2 + 1e-9


def test_progress_hook_and_own_optimizer_hook():
    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = []
            self.weight = nn.Parameter(torch.zeros(1))
            self.steps = 0

        def set_progress(self, fraction):
            self.seen.append(fraction)

        def configure_optimizer(self, lr, weight_decay):
            probe = self

            class Counter(torch.optim.SGD):
                def step(self, closure=None):
                    probe.steps += 1
                    return super().step(closure)

            return Counter([self.weight], lr=lr)

    model, cfg = make(epochs=4)
    model.probe = Probe()
    trainer = Trainer(model, cfg, 3)
    adamw_params = {id(p) for g in trainer.optimizers[0].param_groups for p in g["params"]}
    assert id(model.probe.weight) not in adamw_params
    trainer.fit(*data())
    assert model.probe.seen == [0.0, 0.25, 0.5, 0.75]
    assert model.probe.steps == 4 * math.ceil(200 / 32)


def test_divergence_and_bad_config_are_reported():
    model, cfg = make(epochs=2)
    X, y = data()
    with pytest.raises(DivergenceError, match="diverged"):
        Trainer(model, cfg, 3).fit(X * float("inf"), y)
    with pytest.raises(ConfigError, match="Unknown schedule"):
        Trainer(model, cfg.replace(schedule="warm"), 3)
    with pytest.raises(ConfigError, match="no CUDA GPU|Unknown device"):
        Trainer(model, cfg.replace(device="cuda" if not torch.cuda.is_available() else "nope"), 3)


def test_validation_accuracy_ranks_classes_by_the_output_map():
    class Reversed(torch.nn.Module):  # an output map that ranks classes opposite to the logits
        def forward(self, logits):
            return torch.softmax(-logits, dim=-1)

    model, cfg = make(epochs=1)
    X, y = data()
    trainer = Trainer(model, cfg, 3)
    _, plain = trainer.evaluate(X, y)
    model.output = Reversed()
    _, reversed_acc = trainer.evaluate(X, y)
    with torch.no_grad():
        expected = float((model.eval()(X).argmin(-1) == y).float().mean())
    assert reversed_acc == pytest.approx(expected) and reversed_acc != plain


def test_one_cycle_with_very_few_steps_trains():
    # 4 optimiser steps put torch's one-cycle warm-up end on step 0 (a division by zero).
    from headkit import HeadClassifier
    from headkit.data import load_dataset

    d = load_dataset("blobs:n_classes=4,n_features=5,n_samples=600,seed=1")
    for epochs in (1, 2, 3):
        model = HeadClassifier(hidden_sizes=(8,), epochs=epochs).fit(d.X_train, d.y_train)
        assert len(model.history_) == epochs


def test_without_patience_the_whole_schedule_runs_and_the_best_weights_are_restored():
    model, cfg = make(epochs=12, patience=None, monitor="val_loss", schedule="constant")
    X, y = data()
    Xv, yv = data(100, seed=1)
    yv = yv[torch.randperm(100)]  # validation loss is best early, then worsens
    trainer = Trainer(model, cfg, 3)
    trainer.fit(X, y, Xv, yv)
    assert trainer.epoch == 12 and trainer.restored_epoch == trainer.best_epoch < 12
    best_val = min(r.val_loss for r in trainer.history)
    assert trainer.evaluate(Xv, yv)[0] == pytest.approx(best_val, rel=1e-5)


def test_calibrated_loss_monitor_records_the_best_temperature_loss_and_restores_its_epoch():
    from headkit.functional import best_temperature

    model, cfg = make(epochs=15, monitor="val_calibrated_loss", schedule="constant")
    X, y = data()
    Xv, yv = data(100, seed=1)
    trainer = Trainer(model, cfg, 3)
    trainer.fit(X, y, Xv, yv)
    scores = [r.extra["val_calibrated_loss"] for r in trainer.history]
    assert all(s <= r.val_loss + 1e-6 for s, r in zip(scores, trainer.history, strict=True))
    assert trainer.best_epoch == 1 + int(torch.tensor(scores).argmin())
    model.eval()
    with torch.no_grad():
        now = best_temperature(model(Xv), yv)[1]
    restored = scores[-1] > min(scores) * (1 + RESTORE_MARGIN)
    assert trainer.restored_epoch == (trainer.best_epoch if restored else None)
    assert now == pytest.approx(min(scores) if restored else scores[-1], rel=1e-6)


@pytest.mark.parametrize(("margin", "restored"), [(0.0, True), (10.0, False)])
def test_calibrated_loss_monitor_keeps_the_last_weights_within_the_margin(
    monkeypatch, margin, restored
):
    monkeypatch.setattr("headkit.training.stopping.RESTORE_MARGIN", margin)
    model, cfg = make(epochs=12, monitor="val_calibrated_loss", schedule="constant")
    X, y = data()
    Xv, yv = data(100, seed=1)
    yv = yv[torch.randperm(100)]  # unrelated labels: the calibrated loss is best early
    trainer = Trainer(model, cfg, 3)
    trainer.fit(X, y, Xv, yv)
    assert trainer.best_epoch < 12
    assert trainer.restored_epoch == (trainer.best_epoch if restored else None)


def _fit_float64(graph_free: bool, **kw):
    torch.manual_seed(0)
    model = HeadNet(n_features=4, n_classes=3, hidden_sizes=(16, 8), dropout=0.2).double()
    trainer = Trainer(model, TrainingConfig(epochs=4, batch_size=32, lr=1e-2, **kw), 3)
    if not graph_free:
        trainer._graph_free = False  # every step through the autograd graph
    X, y = data()
    torch.manual_seed(1)  # the dropout masks
    history = trainer.fit(X.double(), y)
    return model, history, trainer


def test_the_default_network_trains_without_a_graph_as_with_one():
    ours, history, trainer = _fit_float64(graph_free=True)
    assert trainer._graph_free
    theirs, reference, _ = _fit_float64(graph_free=False)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(history, reference, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-9)


def test_gradient_callbacks_see_the_graph_free_gradients():
    recorder = Recorder()  # asserts every trainable parameter has a gradient after each step
    torch.manual_seed(0)
    model = HeadNet(n_features=4, n_classes=3, hidden_sizes=(16,), dropout=0.1)
    Trainer(model, TrainingConfig(epochs=2, batch_size=64), 3, [recorder]).fit(*data())
    assert recorder.events.count("backward") == 2 * math.ceil(200 / 64)
