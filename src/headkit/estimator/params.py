"""The scikit-learn parameters of :class:`headkit.HeadClassifier`, derived from the configs.

One parameter per setting of :class:`headkit.config.NetworkConfig` and
:class:`headkit.config.TrainingConfig` (plus ``verbose``): the signature with the fields'
defaults, the ``_parameter_constraints`` from the fields' allowed values, and the docstring's
"Parameters" section from their help lines.
"""

from __future__ import annotations

import inspect
import os
from numbers import Integral, Real
from typing import Any

from sklearn.utils._param_validation import Interval, StrOptions

from headkit.config import Choice, NetworkConfig, Range, TrainingConfig, setting_fields, settings
from headkit.estimator.presets import AUTO, PRESETTABLE
from headkit.exceptions import ConfigError

NETWORK_SETTINGS = tuple(f.name for f in settings(NetworkConfig))
TRAINING_SETTINGS = tuple(f.name for f in settings(TrainingConfig))
VERBOSE_HELP = "0 silent; 1 a progress bar on terminals, one line per epoch otherwise."


def constraint(allowed: Any) -> Any:
    """Translate one allowed-value declaration of :func:`headkit.config.setting` for sklearn."""
    if isinstance(allowed, Range):
        return Interval(Integral if allowed.kind is int else Real, allowed.low, allowed.high,
                        closed=allowed.closed)  # fmt: skip
    if isinstance(allowed, Choice):
        return StrOptions(set(allowed.values))
    return {bool: "boolean", tuple: "array-like", "path": os.PathLike}.get(allowed, allowed)


def signature() -> inspect.Signature:
    """Return ``__init__``'s signature: ``self``, then one parameter per setting, then verbose."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for f in setting_fields():
        default = AUTO if f.name in PRESETTABLE else f.default  # "not set": preset or default
        params.append(inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        default=default))  # fmt: skip
    params.append(inspect.Parameter("verbose", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=0))
    return inspect.Signature(params)


def parameters_section() -> str:
    """Return the numpydoc "Parameters" section of the estimator's docstring."""
    lines = ["    Parameters", "    ----------"]
    for f in setting_fields():
        if f.name in PRESETTABLE:
            lines += [f"    {f.name} : default='auto'",
                      f"        {f.metadata['help']} 'auto': the preset's value, else {f.default!r}."]  # fmt: skip
        else:
            lines += [f"    {f.name} : default={f.default!r}", f"        {f.metadata['help']}"]
    lines += ["    verbose : default=0", f"        {VERBOSE_HELP}"]
    return "\n".join(lines) + "\n\n"


def parameter_constraints() -> dict[str, list[Any]]:
    """Return scikit-learn's ``_parameter_constraints`` for every setting and ``verbose``."""
    rules = {f.name: [constraint(a) for a in f.metadata["allowed"]] for f in setting_fields()}
    for name in PRESETTABLE:
        rules[name] = [*rules[name], StrOptions({AUTO})]
    return {**rules, "verbose": ["verbose"]}


SIGNATURE = signature()


def network_config(params: dict[str, Any], n_features: int, n_classes: int) -> NetworkConfig:
    """Return the :class:`NetworkConfig` that estimator parameters describe."""
    values = {name: params[name] for name in NETWORK_SETTINGS}
    values["hidden_sizes"] = tuple(int(h) for h in values["hidden_sizes"])
    if not isinstance(values["dropout"], str):
        values["dropout"] = float(values["dropout"])
    return NetworkConfig(n_features=n_features, n_classes=n_classes, **values)


def training_config(params: dict[str, Any]) -> TrainingConfig:
    """Return the JSON-ready :class:`TrainingConfig` that estimator parameters describe.

    A NumPy ``RandomState`` as ``random_state`` cannot be saved and becomes ``None``; paths
    become strings.
    """
    values = {name: params[name] for name in TRAINING_SETTINGS}
    seed = values["random_state"]
    values["random_state"] = int(seed) if isinstance(seed, Integral) else None
    values["device"] = str(values["device"])
    values["checkpoint_dir"] = _path(values["checkpoint_dir"])
    teacher = values["teacher"]
    values["teacher"] = (
        tuple(_path(t) for t in teacher) if isinstance(teacher, list | tuple) else _path(teacher)
    )
    if isinstance(values["class_weight"], dict):  # JSON keys are text (load restores labels)
        values["class_weight"] = {str(k): float(v) for k, v in values["class_weight"].items()}
    return TrainingConfig(**values)


def _path(value: Any) -> str | None:
    return None if value is None else os.fspath(value)


def check_mc_samples(mc_samples: Any) -> int:
    """Return ``mc_samples`` as an int >= 1, or raise a :class:`ConfigError`."""
    if isinstance(mc_samples, bool) or not isinstance(mc_samples, Integral) or mc_samples < 1:
        raise ConfigError(
            f"mc_samples must be an int >= 1 (the number of MC-dropout passes); got {mc_samples!r}."
        )
    return int(mc_samples)
