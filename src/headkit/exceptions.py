"""Errors headkit raises at its boundaries.

Every message is one sentence naming the problem and the fix. The CLI turns a
:class:`HeadkitError` into one red line and exit status 2.
"""

from __future__ import annotations

from sklearn.exceptions import NotFittedError as _SklearnNotFittedError


class HeadkitError(Exception):
    """Base class of the errors a user can fix (bad input, bad config, bad file)."""


class ConfigError(HeadkitError, ValueError):
    """A parameter, flag or spec string is invalid."""


class DataError(HeadkitError, ValueError):
    """Input data cannot be used as given (shape, NaN, labels, columns)."""


class DivergenceError(HeadkitError, ValueError):
    """Training diverged: the loss became non-finite or exploded (usually too high a rate)."""


class RunClaimedError(HeadkitError, FileExistsError):
    """A run directory is held by another run, or by an interrupted one waiting to resume."""


class ModelFileError(HeadkitError, OSError):
    """A saved model is missing, corrupt, truncated or from a newer format version."""


class NotFittedError(HeadkitError, _SklearnNotFittedError):
    """A model was used before it was fitted."""
