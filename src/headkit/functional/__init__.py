"""Pure tensor functions: the techniques themselves, with no module state.

Every function documents its shape contract and honours ``dim`` where it has one.
"""

from headkit.functional.dropout import dropout
from headkit.functional.linear_ce import linear_cross_entropy
from headkit.functional.losses import cross_entropy
from headkit.functional.softmax import log_softmax, softmax

__all__ = [
    "cross_entropy",
    "dropout",
    "log_softmax",
    "softmax",
    "linear_cross_entropy",
]
