"""Pure tensor functions: the techniques themselves, with no module state.

Every function documents its shape contract and honours ``dim`` where it has one.
"""

from headkit.functional.dropout import (
    drop_connect,
    dropout,
    dropout_mask,
    gaussian_dropout,
    linear_dropconnect,
    multi_sample_dropout,
    nested_dropout,
    nested_dropout_mask,
    sample_nested_cut,
)
from headkit.functional.linear_ce import linear_cross_entropy
from headkit.functional.losses import cross_entropy
from headkit.functional.softmax import log_softmax, softmax

__all__ = [
    "cross_entropy",
    "drop_connect",
    "dropout",
    "dropout_mask",
    "gaussian_dropout",
    "linear_cross_entropy",
    "linear_dropconnect",
    "log_softmax",
    "multi_sample_dropout",
    "nested_dropout",
    "nested_dropout_mask",
    "sample_nested_cut",
    "softmax",
]
