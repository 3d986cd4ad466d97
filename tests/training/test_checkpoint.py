import pytest
import torch

from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet
from headkit.training import Checkpointer, Trainer
from headkit.training.checkpoint import read_checkpoint_info
from tests.interrupts import InterruptAt


def data(n=150, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=g)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    return X, y


def fit(callbacks, epochs=8, **config):
    """A fresh process's view: same seed, new model and trainer, then fit."""
    torch.manual_seed(0)
    model = HeadNet(n_features=4, n_classes=3, hidden_sizes=(16,), dropout=0.3)
    cfg = TrainingConfig(epochs=epochs, batch_size=32, validation_fraction=0.0, **config)
    trainer = Trainer(model, cfg, 3, callbacks)
    trainer.fit(*data(), *data(60, seed=1))
    return trainer


SETTINGS = [
    {},
    {"patience": 3, "monitor": "val_loss", "schedule": "cosine", "gradient_noise": 0.01},
]


@pytest.mark.parametrize("config", SETTINGS)
@pytest.mark.parametrize("stop_at", [1, 5])
def test_interrupted_then_resumed_fit_ends_with_bit_identical_weights(tmp_path, config, stop_at):
    reference = fit([], **config)
    with pytest.raises(KeyboardInterrupt):
        fit([InterruptAt(stop_at), Checkpointer(tmp_path, "fit-a")], **config)
    assert read_checkpoint_info(tmp_path / "checkpoint.safetensors")["epoch"] == stop_at - 1
    checkpointer = Checkpointer(tmp_path, "fit-a")
    resumed = fit([checkpointer], **config)
    assert checkpointer.resumed_from == stop_at - 1
    for name, tensor in reference.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    assert [r.train_loss for r in resumed.history] == [r.train_loss for r in reference.history]
    assert resumed.epoch == reference.epoch and resumed.best_epoch == reference.best_epoch


def test_a_finished_checkpoint_finishes_at_once_and_another_fit_is_refused(tmp_path):
    first = fit([Checkpointer(tmp_path, "fit-a")], epochs=3)
    again = fit([Checkpointer(tmp_path, "fit-a"), InterruptAt(1)], epochs=3)  # no epoch runs
    assert again.epoch == 3
    for name, tensor in first.model.state_dict().items():
        assert torch.equal(tensor, again.model.state_dict()[name])
    with pytest.raises(ConfigError, match="different fit"):
        fit([Checkpointer(tmp_path, "fit-b")], epochs=3)
