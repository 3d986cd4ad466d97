"""The fit loop and its callbacks."""

from headkit.training.callbacks import Callback, PlainLog, ProgressBar, default_callbacks
from headkit.training.checkpoint import Checkpointer
from headkit.training.trainer import EpochRecord, Trainer, resolve_device

__all__ = [
    "Callback",
    "Checkpointer",
    "EpochRecord",
    "PlainLog",
    "ProgressBar",
    "Trainer",
    "default_callbacks",
    "resolve_device",
]
