"""Resuming an interrupted run: the flags it refuses, where it goes on, the whole fit's seconds."""

import json
import time

import pytest

from headkit.exceptions import ConfigError
from headkit.runs import RunInterrupted, TrainRequest, resume_point, resume_run, train_run
from headkit.training import Callback
from tests.interrupts import InterruptAt

PARAMS = {"epochs": 4, "hidden_sizes": (8,), "random_state": 0, "verbose": 0}
DATA = "blobs:n_classes=3,n_features=5,n_samples=300"


class SlowSteps(Callback):
    """Make every epoch take measurable time (inside the epoch's own clock)."""

    def on_after_backward(self, trainer):
        time.sleep(0.05)


@pytest.fixture
def interrupted(tmp_path):
    out = tmp_path / "run"
    request = TrainRequest(dataset=DATA, out=out, params=PARAMS)
    with pytest.raises(RunInterrupted):
        train_run(request, callbacks=(SlowSteps(), InterruptAt(3)))
    return out


def test_resume_refuses_the_settings_it_cannot_honour_and_names_them(interrupted):
    """`train --resume RUN --epochs 50` went on with the saved 4 epochs, silently (issue 25)."""
    with pytest.raises(ConfigError) as refused:
        resume_run(interrupted, changes={"epochs": 50, "lr": 0.5, "hidden_sizes": (8,)})
    assert "cannot take --epochs 50 (the run has 4), --lr 0.5 (the run has 0.01); " in str(
        refused.value
    )  # the saved hidden sizes, given again, are no change
    assert resume_point(interrupted) == (2, 4)  # the refusal left the checkpoint as it was


def test_resume_goes_on_from_the_checkpoint_and_counts_the_whole_fit(interrupted):
    assert resume_point(interrupted) == (2, 4)  # interrupted in epoch 3: epoch 2 is saved
    result = resume_run(interrupted, changes={"epochs": 4}, callbacks=(SlowSteps(),))
    saved = json.loads((interrupted / "metrics.json").read_text())
    assert saved["resumed_at_epoch"] == 2 and saved["epochs_run"] == 4
    every_epoch = sum(row["seconds"] for row in result.model.history_)
    assert len(result.model.history_) == 4
    # the resumed part alone ran epochs 3-4 only; the whole fit's seconds cover all four epochs
    assert saved["seconds"] >= every_epoch > 0
