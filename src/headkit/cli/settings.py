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
from collections.abc import Callable
from dataclasses import Field
from pathlib import Path
from typing import Annotated, Any

import typer

from headkit.config import NetworkConfig, TrainingConfig, setting_fields, settings
from headkit.exceptions import ConfigError

_EXTRA_NAMES = {
    "random_state": ("--random-state", "--seed"),  # --seed: the former flag
    "calibrate": ("--calibrate/--no-calibrate",),  # neither given: "auto"
}


def _cli_type(field: Field) -> Any:
    """The type typer parses the flag as: the field's, or text for the settings in ``_TEXT``."""
    if field.name in _TEXT:
        return _TEXT[field.name][0]
    hints = {**typing.get_type_hints(NetworkConfig), **typing.get_type_hints(TrainingConfig)}
    return hints[field.name]


def setting_parameters() -> list[inspect.Parameter]:
    """One keyword parameter per setting, annotated for typer (type, flag names, help)."""
    params = []
    network = {f.name for f in settings(NetworkConfig)}
    for field in setting_fields():
        kind = _cli_type(field)
        default = field.default
        if field.name in _TEXT:
            default = _TEXT[field.name][1](default)
        names = _EXTRA_NAMES.get(field.name, ())
        if kind is bool:  # one flag that turns a setting away from its default: --track-collapse
            flag = field.name.replace("_", "-")
            names = (f"--{flag}/--no-{flag}" if default else f"--{flag}",)
        panel = "Network" if field.name in network else "Training"
        if kind is bool and default:  # --x/--no-x: a panel of their own keeps the others wide
            panel = f"{panel}: on by default"
        elif names and "/" in names[0]:  # --calibrate/--no-calibrate, neither given: auto
            panel = f"{panel}: auto by default"
        option = typer.Option(
            *names, help=field.metadata["help"], show_default=True, rich_help_panel=panel
        )
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


def teacher_value(paths: list[Path] | None) -> str | tuple[str, ...] | None:
    """``--teacher`` given once → a str, several times → a tuple of str (averaged teachers)."""
    if not paths:
        return None
    return str(paths[0]) if len(paths) == 1 else tuple(str(p) for p in paths)


def patience_value(text: str) -> int | str | None:
    """Parse ``--patience``: epochs (``10``), ``none`` (the whole schedule) or ``auto``."""
    word = text.strip().lower()
    if word in ("auto", "none"):
        return None if word == "none" else "auto"
    try:
        return int(word)
    except ValueError:
        raise ConfigError(
            f"--patience must be a number of epochs, none or auto; got {text!r}."
        ) from None


def members_value(text: str) -> int | str:
    """Parse ``--members``: a number of networks (``3``) or ``auto``."""
    word = text.strip().lower()
    if word == "auto":
        return word
    try:
        return int(word)
    except ValueError:
        raise ConfigError(
            f"--members must be a number of networks or auto; got {text!r}."
        ) from None


def _switch(text: str, words: dict[str, Any]) -> Any:
    """``words[text]`` for a known word (true, false, none, ...), else the text (a spec)."""
    return words.get(text.strip().lower(), text)


_BOOLS = {"true": True, "yes": True, "false": False, "no": False, "none": False}

# Settings whose flag is text (or a repeated path) rather than the field's own type:
# name → (flag type, default as flag text, flag text → parameter value).
_TEXT: dict[str, tuple[Any, Callable[[Any], Any], Callable[[Any], Any]]] = {
    "hidden_sizes": (str, lambda v: ",".join(str(int(h)) for h in v) or "none", parse_sizes),
    "dropout": (str, str, dropout_value),
    "residual": (
        str,
        lambda v: "none" if v is False else str(v).lower(),
        lambda text: _switch(text, _BOOLS),
    ),
    "teacher": (list[Path] | None, lambda v: None, teacher_value),
    "class_weight": (str | None, lambda v: v, lambda text: _switch(text or "none", {"none": None})),
    "tabular": (str, lambda v: str(v).lower(), lambda text: _switch(text, _BOOLS)),
    "calibrate": (bool | None, lambda v: None, lambda flag: "auto" if flag is None else flag),
    "patience": (str, lambda v: str(v).lower(), patience_value),
    "members": (str, lambda v: str(v).lower(), members_value),
    "checkpoint_dir": (str | None, lambda v: v, lambda text: text),
}


def estimator_params(values: dict[str, Any]) -> dict[str, Any]:
    """Turn parsed setting flags into :class:`headkit.HeadClassifier` parameters."""
    params = {field.name: values[field.name] for field in setting_fields()}
    for name, (_, _, parse) in _TEXT.items():
        params[name] = parse(params[name])
    return params


def with_setting_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Replace ``**setting_values`` in the signature typer reads by one flag per fit setting."""
    # eval_str: the module uses postponed annotations, and typer reads each fixed flag's names
    # and help from its Annotated[...] (a string annotation would lose both).
    signature = inspect.signature(command, eval_str=True)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    command.__signature__ = signature.replace(parameters=[*fixed, *setting_parameters()])  # type: ignore[attr-defined]
    return command
