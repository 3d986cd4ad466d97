"""Runs: a training run as a plain function, behind ``headkit train``.

``train_run(TrainRequest(...))`` reads the data, fits, measures, saves the run directory and
(optionally) writes the report, without typer.
"""

from headkit.runs.interrupt import RunInterrupted, interrupts
from headkit.runs.resume import resume_point, resume_run
from headkit.runs.train import (
    RunResult,
    TrainRequest,
    feature_frame,
    split_metrics,
    train_run,
)

__all__ = [
    "RunInterrupted",
    "RunResult",
    "TrainRequest",
    "feature_frame",
    "interrupts",
    "resume_point",
    "resume_run",
    "split_metrics",
    "train_run",
]
