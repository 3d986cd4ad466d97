"""``headkit train``'s flags for the fit settings, derived from the config fields.

Every setting of :class:`headkit.config.NetworkConfig` and :class:`headkit.config.TrainingConfig`
becomes one option, named after the field (``--hidden-sizes``, ``--gradient-noise-gamma``), with
the field's default and its help line; :func:`estimator_params` turns the parsed values back into
:class:`headkit.HeadClassifier` parameters. A new setting therefore needs no CLI code.

This module imports no torch (``headkit --help`` stays fast).
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import Field
from typing import Annotated, Any

import typer

from headkit.config import NetworkConfig, TrainingConfig, settings
from headkit.exceptions import ConfigError

# Settings whose CLI text differs from the Python value: (CLI type, to text, from text).
_TEXT_SETTINGS = {
    "hidden_sizes": lambda value: ",".join(str(int(h)) for h in value) or "none",
    "dropout": str,
}
_EXTRA_NAMES = {"random_state": ("--random-state", "--seed")}  # --seed: the former flag


def setting_fields() -> list[Field]:
    """The fit settings, in the order of the configs."""
    return [*settings(NetworkConfig), *settings(TrainingConfig)]


def _cli_type(field: Field) -> Any:
    """The type typer parses the flag as: the field's, with text for sizes and dropout specs."""
    if field.name in _TEXT_SETTINGS:
        return str
    hints = {**typing.get_type_hints(NetworkConfig), **typing.get_type_hints(TrainingConfig)}
    return hints[field.name]


def setting_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per setting, annotated for typer (type, flag names, help)."""
    params = []
    for field in setting_fields():
        kind = _cli_type(field)
        default = field.default
        if field.name in _TEXT_SETTINGS:
            default = _TEXT_SETTINGS[field.name](default)
        names = _EXTRA_NAMES.get(field.name, ())
        option = typer.Option(*names, help=field.metadata["help"], show_default=True)
        params.append(
            inspect.Parameter(
                field.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=default,
                annotation=Annotated[kind, option],
            )
        )
    return params


def parse_sizes(text: str) -> tuple[int, ...]:
    """Parse ``--hidden-sizes`` (``256,256``, ``512x256`` or ``none``)."""
    if text.strip().lower() in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--hidden-sizes must be comma-separated integers like 256,256; got {text!r}."
        ) from None
    if any(s < 1 for s in sizes):
        raise ConfigError(f"--hidden-sizes must be positive; got {text!r}.")
    return sizes


def dropout_value(text: str) -> float | str:
    """Parse ``--dropout``: a rate (``0.2``) or a spec (``multisample:k=8``)."""
    try:
        return float(text)
    except ValueError:
        return text


def estimator_params(values: dict[str, Any]) -> dict[str, Any]:
    """Turn parsed setting flags into :class:`headkit.HeadClassifier` parameters."""
    params = {field.name: values[field.name] for field in setting_fields()}
    params["hidden_sizes"] = parse_sizes(params["hidden_sizes"])
    params["dropout"] = dropout_value(params["dropout"])
    for name in ("teacher", "checkpoint_dir"):
        if params[name] is not None:
            params[name] = str(params[name])
    return params
