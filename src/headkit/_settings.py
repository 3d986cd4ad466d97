"""How a setting is declared: a dataclass field with its default, help line and allowed values.

:mod:`headkit.config` declares every fit setting with :func:`setting`; the estimator's
validation, the CLI's flags and ``config.json`` read the fields back with :func:`settings`.
Nothing heavy is imported here: the CLI's ``--help`` reads it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Range:
    """Numbers of ``kind`` from ``low`` to ``high`` (None: unbounded); ``closed`` as sklearn's."""

    kind: type
    low: float | None
    high: float | None
    closed: str = "left"


@dataclass(frozen=True)
class Choice:
    """Allowed values: one of ``values`` (strings)."""

    values: tuple[str, ...]


def setting(default: Any, help: str, *allowed: Any) -> Any:
    """Declare a setting: a dataclass field with its default, help line and allowed values.

    Parameters
    ----------
    default
        The one default of the setting.
    help : str
        One line, shown by ``headkit train --help`` and in the estimator's docstring.
    *allowed
        Allowed values: :class:`Range`, :class:`Choice`, a type (``str``, ``bool``), ``None``,
        ``"path"`` (an ``os.PathLike``) or ``"random_state"`` (an int, a NumPy RandomState or
        None).
    """
    return field(default=default, metadata={"help": help, "allowed": allowed})


def settings(config: type) -> list[dataclasses.Field]:
    """Return the fields of a config class that are user settings (those with a help line)."""
    return [f for f in dataclasses.fields(config) if "help" in f.metadata]
