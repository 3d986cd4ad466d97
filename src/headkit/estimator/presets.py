"""Named recipes: sets of estimator parameters chosen together and measured together.

``HeadClassifier(preset="accurate")`` and ``headkit train --preset accurate`` start from a
preset's values instead of the library defaults. Every setting a preset may change
(:data:`PRESETTABLE`) defaults to ``"auto"`` in the estimator (scikit-learn's convention for "not
set"): ``"auto"`` takes the preset's value, else the library default, and any other value wins,
even one equal to the library default (``HeadClassifier(preset="accurate", activation="relu")``
is a ReLU network). ``get_params()`` therefore shows what the caller set, ``resolved_params()``
what a fit uses. On the command line a flag that is given counts as set. The library defaults
live in one place, the field defaults of :class:`headkit.config.NetworkConfig` and
:class:`headkit.config.TrainingConfig`.

Figures quoted in the docstrings come from ``benchmarks/train_speed.py --section preset``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from headkit.config import PLAIN_AUTO, NetworkConfig, TrainingConfig, batch_rows, settings
from headkit.exceptions import ConfigError
from headkit.registry import Registry

PRESETS = Registry("preset")


def library_defaults() -> dict[str, Any]:
    """Return every setting's default value, by name (the config fields: the one source)."""
    return {f.name: f.default for cls in (NetworkConfig, TrainingConfig) for f in settings(cls)}


# What a recipe may set: the network and the training loop, not the data handling, the seed or
# the outputs a caller reads (a preset changing `output` or `validation_fraction` would surprise).
AUTO = "auto"  # a presettable parameter not set: the preset's value, else the library default
PRESETTABLE = frozenset(
    {
        "hidden_sizes", "activation", "norm", "residual", "dropout", "init", "loss", "epochs",
        "batch_size", "lr", "weight_decay", "schedule", "augment", "gradient_noise",
    }
)  # fmt: skip


@PRESETS.register(
    "accurate", "3×512 GELU, multi-sample dropout k=4 p=0.5, label smoothing 0.1, 130 epochs"
)
def accurate(epochs: int = 130, batch_size: int = 160) -> dict[str, Any]:
    """3 × 512 GELU, multi-sample dropout (k=4, p=0.5), label smoothing 0.1, AdamW lr 3e-3.

    The regularisation that lifts MNIST-1D from the mid 70s to 80 %: wide layers with half their
    units dropped, four dropout masks before the head, softened targets. Measured on 2 quiet
    cores (``benchmarks/results/train_speed.md``, seeds 0–2): 80.3 % mean (min 79.8 %) in 25–26 s
    per fit (two runs); batch 128 for 150 epochs also reaches 80 % but takes 34–41 s.
    """
    return {
        "hidden_sizes": (512, 512, 512),
        "activation": "gelu",
        "dropout": "multisample:k=4,p=0.5",
        "loss": "label_smoothing:0.1",
        "lr": 3e-3,
        "epochs": epochs,
        "batch_size": batch_size,
    }


SMALL_DATA_ROWS = 2000  # numeric arrays under this many rows get the honest recipe too


@PRESETS.register(
    "small",
    "2×128, dropout 0.5, weight decay 0.1, lr 3e-3, label smoothing 0.1: tables and data under "
    "2,000 rows",
)
def small(smoothing: float = 0.1) -> dict[str, Any]:
    """2 × 128, dropout 0.5, AdamW weight decay 0.1, lr 3e-3, label smoothing: calibrated fits.

    On tables the 3 × 256 default overfits within a few epochs and its probabilities are worse
    than logistic regression's even when the best epoch is kept and calibrated; a narrower, more
    strongly regularised network is not. Log-loss over 3 stratified 75/25 splits (development
    suite, defaults otherwise): MASS Pima.te 0.543 → 0.487 (logistic regression 0.468), MASS
    biopsy 0.126 → 0.097 (0.085), AER CreditCard 0.417 → 0.405 (0.414). On the larger tables
    too (split 0, calibrated, patience 16): stackoverflow 0.326 → 0.313 (0.305), wa_churn 0.444
    → 0.427 (0.418), loans_full_schema 0.471 → 0.386 (0.812), in a quarter to half the time.
    ``HeadClassifier(preset=None)`` applies it wherever the fit calibrates a table or fewer
    than :data:`SMALL_DATA_ROWS` rows (``preset="none"`` keeps the library defaults).

    ``smoothing`` (label smoothing ε, 0.1 as RealMLP-TD; 0 trains on plain cross-entropy)
    softens the targets; the held-out temperature then sharpens the probabilities again (down to
    T = 0.5). The automatic preset turns it off where a class is rare (:func:`automatic_preset`).
    Split 0 of the development suite (accuracy % / log-loss, ε 0 → 0.1): digits 97.8 / 0.107 →
    98.0 / 0.072 (splits 0–2: 97.1 → 97.9 %), CreditCard 82.7 → 84.2 %, Wage 64.8 → 66.0 %,
    biopsy log-loss 0.115 → 0.094.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ConfigError(f"small: smoothing must be in [0, 1); got {smoothing!r}.")
    values: dict[str, Any] = {"hidden_sizes": (128, 128), "dropout": 0.5, "weight_decay": 0.1}
    values["lr"] = 3e-3
    if smoothing > 0:
        values["loss"] = f"label_smoothing:{smoothing:g}"
    return values


# The automatic small preset smooths the labels only where the rarest class holds at least this
# share of what it would hold among balanced classes (C × its share of the rows): smoothing puts
# ε/C on every class of every row, which on a rare class costs the log-loss of the many rows
# where it is far less likely than that. Splits 0 and 1 (ε 0 → 0.1, accuracy % / log-loss):
# ISLR Default (3.3 % positives, C × share 0.07) 97.2 / 0.076 → 97.2 / 0.077 and 97.6 / 0.074 →
# 97.0 / 0.079 (logistic regression 0.073: over its 5 % bound), loans_full_schema (grade G 0.1 %)
# 86.8 / 0.350 → 86.1 / 0.370 and 87.1 / 0.335 → 86.8 / 0.355.
SMOOTHING_BALANCE = 0.25


def class_balance(y: Any) -> float:
    """Return C × the smallest class's share of the rows of labels ``y`` (1 when balanced).

    ``y`` is (N,) labels; a 2-D (multi-label) ``y`` gives 1.0 (the preset's smoothing is then
    not the fit's loss anyway).
    """
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        return 1.0
    counts = np.unique(y, return_counts=True)[1]
    return float(len(counts) * counts.min() / len(y))


@PRESETS.register("none", "the library defaults at any data size (no automatic preset)")
def no_preset() -> dict[str, Any]:
    """No values: the library defaults, also on small data (turns the automatic preset off)."""
    return {}


def honest_data(table: bool, n_rows: int) -> bool:
    """True for the data the honest recipe is for: a table (a DataFrame) or under 2,000 rows.

    Large numeric arrays keep the plain path: holding out the 200 rows a temperature needs cost
    MNIST-1D (4,000 rows) a point of accuracy, seeds 0–4 mean 0.756 (min 0.745) → 0.748 (min
    0.742) with the last epoch kept, 0.743 on seeds 0–2 with the best val_accuracy epoch
    restored: below the 0.75 its defaults must keep.
    """
    return table or n_rows < SMALL_DATA_ROWS


def automatic_preset(
    preset: str | None,
    n_rows: int,
    calibrate: bool = True,
    table: bool = False,
    balance: float = 1.0,
) -> str | None:
    """Return the preset a fit on ``n_rows`` rows (a DataFrame when ``table``) uses.

    ``preset`` when given; for None, "small" on :func:`honest_data` when ``calibrate`` (the
    recipe was measured with the held-out epoch selection and temperature), as
    ``"small:smoothing=0"`` when ``balance`` (:func:`class_balance`) is under
    :data:`SMOOTHING_BALANCE`.
    """
    if preset is not None:
        return preset
    if not (calibrate and honest_data(table, n_rows)):
        return None
    return "small" if balance >= SMOOTHING_BALANCE else "small:smoothing=0"


# Settings whose "auto" depends on the data a fit sees (not on a preset): the fitted estimator
# keeps the value used as ``<name>_`` and saves it under config.json's metadata "resolved".
DATA_AUTO = ("calibrate", "monitor", "patience", "epochs", "members", "precision")
HONEST_MONITOR = "val_calibrated_loss"  # epoch chosen by its loss after its best temperature
HONEST_PATIENCE = 16  # epochs without a better calibrated validation loss before stopping
# The honest recipe's schedule holds at most this many steps (fewer epochs on a large table: the
# 254,654-row AER Fertility gets 9 instead of 80) and at least this many epochs.
HONEST_STEPS, HONEST_MIN_EPOCHS = 3000, 5


def honest_epochs(params: dict[str, Any], preset: str | None, n_rows: int) -> int:
    """Return the epochs of a fit with the honest recipe on ``n_rows`` rows.

    The preset's or the library default, cut so that the schedule holds at most
    :data:`HONEST_STEPS` optimisation steps (never under :data:`HONEST_MIN_EPOCHS`); epochs set
    by the caller or by the preset stand as they are.
    """
    resolved = apply_preset(preset, params)
    epochs = int(resolved["epochs"])
    if not _same(params.get("epochs", AUTO), AUTO) or "epochs" in preset_values(preset or "none"):
        return epochs
    steps = math.ceil(n_rows / batch_rows(resolved["batch_size"], n_rows))
    return min(epochs, max(HONEST_MIN_EPOCHS, math.ceil(HONEST_STEPS / steps)))


def automatic_settings(
    params: dict[str, Any], table: bool, n_rows: int, balance: float = 1.0
) -> dict[str, Any]:
    """Return the fitted ``calibrate_``, ``monitor_``, ``patience_``, ``epochs_``, ``preset_``.

    Parameters
    ----------
    params : dict
        The estimator's parameters as set (``"auto"`` included).
    table : bool
        The rows came as a DataFrame (also what ``headkit train --data file.csv`` passes).
    n_rows : int
        Training rows (before the validation hold-out).
    balance : float
        :func:`class_balance` of the training labels (1 when balanced).

    Returns
    -------
    dict
        ``calibrate_``: ``calibrate``, or for ``"auto"`` True (a temperature fitted on about 200
        held-out rows) on :func:`honest_data` or when rows are held out anyway (a positive
        ``validation_fraction``, or ``patience``), never with ``validation_fraction=0``, and
        not on its own for a DP-SGD fit (``privacy``), whose ε would not cover held-out rows.
        ``monitor_``: ``monitor``, or for ``"auto"`` :data:`HONEST_MONITOR` when the fit
        calibrates :func:`honest_data`, else ``"val_accuracy"``. ``patience_``: ``patience``, or
        for ``"auto"`` :data:`HONEST_PATIENCE` with that monitor on that data, else None (the
        whole schedule). ``epochs_``: the preset's or default epochs, cut on large tables by
        :func:`honest_epochs` under that recipe. ``preset_``: see :func:`automatic_preset`.
    """
    honest = honest_data(table, n_rows)
    calibrate, fraction = params["calibrate"], params.get("validation_fraction")
    if _same(calibrate, AUTO):
        held_out = (fraction or 0) > 0 or (
            not _same(params.get("patience"), AUTO) and (params.get("patience") is not None)
        )
        private = str(params.get("privacy") or "none") != "none"  # ε covers trained rows only
        calibrate = fraction != 0 and (held_out or (honest and not private))
    monitor = params["monitor"]
    if _same(monitor, AUTO):
        monitor = HONEST_MONITOR if calibrate and honest else PLAIN_AUTO["monitor"]
    recipe = monitor == HONEST_MONITOR and honest
    patience = params.get("patience")
    if _same(patience, AUTO):
        patience = HONEST_PATIENCE if recipe else None
    preset = automatic_preset(params["preset"], n_rows, bool(calibrate), table, balance)
    epochs = apply_preset(preset, params)["epochs"]
    return {
        "calibrate_": bool(calibrate),
        "monitor_": str(monitor),
        "patience_": patience,
        "epochs_": honest_epochs(params, preset, n_rows) if recipe else epochs,
        "preset_": preset,
    }


def resolve_data_auto(
    given: dict[str, Any], resolved: dict[str, Any], fitted: dict[str, Any]
) -> dict[str, Any]:
    """Return ``resolved`` with the fit's value of each :data:`DATA_AUTO` setting left "auto".

    ``given`` holds the parameters as set; ``fitted`` maps a name to the value the fit used
    (absent before a fit: the preset's value or ``"auto"`` stays).
    """
    resolved = dict(resolved)
    for name in DATA_AUTO:
        if _same(given.get(name, AUTO), AUTO) and name in fitted:
            resolved[name] = fitted[name]
    return resolved


def resolved_parameters(estimator: Any) -> dict[str, Any]:
    """Return the parameters a fit of ``estimator`` uses (``HeadClassifier.resolved_params``).

    ``get_params()`` with every ``"auto"`` resolved: the preset's value (``preset``, else the
    fitted ``preset_``) or the library default, and after a fit the data-dependent values.
    """
    given = estimator.get_params(deep=False)
    spec = given["preset"] if given["preset"] is not None else getattr(estimator, "preset_", None)
    fitted = {n: getattr(estimator, f"{n}_") for n in DATA_AUTO if hasattr(estimator, f"{n}_")}
    return resolve_data_auto(given, apply_preset(spec, given), fitted)


def preset_values(spec: str) -> dict[str, Any]:
    """Return the parameter values a preset spec (``"accurate"``, ``"accurate:epochs=50"``) sets.

    Raises
    ------
    ConfigError
        For an unknown preset or option.
    """
    values = PRESETS.build(spec)
    unknown = set(values) - PRESETTABLE
    if unknown:
        raise ConfigError(
            f"Preset {spec!r} sets parameters a preset may not set: {sorted(unknown)}."
        )
    return values


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return tuple(a) == tuple(b)
    if isinstance(a, bool) is not isinstance(b, bool):
        return False  # True == 1 in Python, but not as a parameter value
    if isinstance(a, str) is not isinstance(b, str):
        return False  # no array or number compares with "auto"
    return bool(a == b)


def apply_preset(spec: str | None, params: dict[str, Any]) -> dict[str, Any]:
    """Return ``params`` with every ``"auto"`` setting resolved: the preset's value, else the default.

    Parameters
    ----------
    spec : str or None
        Preset spec; ``None``: every ``"auto"`` becomes the library default.
    params : dict
        Parameter name → value as the caller set them (estimator ``get_params`` or CLI flags).
        A value other than ``"auto"`` always wins, even one equal to the library default.

    Returns
    -------
    dict
        A new dict; presettable names ``params`` lacks are added.
    """
    resolved = dict(params)
    recipe = preset_values(spec) if spec is not None else {}
    defaults = library_defaults()
    for name in PRESETTABLE:
        if _same(resolved.get(name, AUTO), AUTO):
            resolved[name] = recipe.get(name, defaults[name])
    return resolved
