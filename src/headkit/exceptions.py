"""Errors headkit raises at its boundaries.

Every message is one sentence naming the problem and the fix. The CLI turns a
:class:`HeadkitError` into one red line and exit status 2.

This module imports nothing heavy: :class:`NotFittedError` subclasses scikit-learn's, so it is
created on first use (PEP 562 module ``__getattr__``) and ``headkit --help`` or ``headkit
predict`` never pay scikit-learn's import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any


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


class ExportError(HeadkitError, ValueError):
    """A model cannot be written in the asked format (a part has no equivalent there)."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(HeadkitError, _SklearnNotFittedError):
        """A model was used before it was fitted."""


def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as sklearn_not_fitted

    return type(
        "NotFittedError",
        (HeadkitError, sklearn_not_fitted),
        {"__doc__": "A model was used before it was fitted.", "__module__": __name__},
    )


def __getattr__(name: str) -> Any:
    if name == "NotFittedError":
        cls = _not_fitted_error()
        globals()[name] = cls  # built once; later look-ups find the module attribute
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
