"""The fit loop and its callbacks."""

from headkit.training.callbacks import Callback, PlainLog, ProgressBar, default_callbacks
from headkit.training.checkpoint import Checkpointer
from headkit.training.devices import resolve_device
from headkit.training.trainer import EpochRecord, Trainer

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

from headkit.training.augment import AUGMENTS, BatchMixing
from headkit.training.privacy import PRIVACY, DifferentialPrivacy
from headkit.training.pruning import PRUNING, weight_sparsity
from headkit.training.softmax_collapse import SoftmaxCollapseDetector, SoftmaxCollapseWarning
from headkit.training.solvers import SOLVERS

__all__ += [
    "AUGMENTS",
    "PRIVACY",
    "PRUNING",
    "SOLVERS",
    "BatchMixing",
    "DifferentialPrivacy",
    "SoftmaxCollapseDetector",
    "SoftmaxCollapseWarning",
    "weight_sparsity",
]
