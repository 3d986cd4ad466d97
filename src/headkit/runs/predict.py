"""Predictions of a saved run: features matched to the model, one table, written safely.

Writing follows the rules of ordinary shell tools: ``-`` (or no path) streams CSV to stdout; a
named pipe or a device is written through; a symlink is followed and its target replaced; an
existing file is replaced only with ``overwrite``, atomically (temporary file + rename).
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import numpy as np

from headkit.config import MULTILABEL_THRESHOLD
from headkit.exceptions import ConfigError, DataError
from headkit.inference.columns import column_order

PARQUET_SUFFIXES = (".parquet", ".pq")


def align_columns(
    X: np.ndarray, names: list[str], model: Any, source: str
) -> tuple[np.ndarray, list[str]]:
    """Put the columns of X in the order the model was trained on, matching them by name.

    Parameters
    ----------
    X : ndarray, shape (n_samples, n_columns)
    names : list of str
        Column names of X as read from ``source``.
    model : HeadClassifier
        A fitted estimator (``feature_names_in_`` when it was trained on named columns).
    source : str
        Where X came from, for the message.

    Raises
    ------
    DataError
        Columns missing from X or unknown to the model (each listed), or a wrong column count
        for a model trained without names.
    """
    stored = getattr(model, "feature_names_in_", None)
    if stored is None:
        if X.shape[1] != model.n_features_in_:
            raise DataError(
                f"{source} has {X.shape[1]} feature columns but the model was trained on "
                f"{model.n_features_in_}; give data with the training columns."
            )
        return X, names
    stored = [str(c) for c in stored]
    if names == stored or getattr(model, "preprocessor_", None) is not None:
        return X, names  # a table model matches raw columns itself
    try:
        order = column_order(names, stored)
    except DataError as error:
        raise DataError(f"{source}: {error}") from None
    if hasattr(X, "columns"):
        return X[stored], stored
    return X[:, order], stored


def predictions_table(
    classes: np.ndarray,
    proba: np.ndarray,
    uncertainty: dict[str, np.ndarray] | None = None,
    leading: dict[str, Any] | None = None,
    multilabel: bool = False,
    empty: np.ndarray | None = None,
) -> Any:
    """Return the predictions table: label(s), one probability per class, optional extras.

    A single-label model gets a ``label`` column (the most probable class); a multi-label one
    gets one 0/1 column ``label_<class>`` per class instead: the indicator ``probability > 0.5``
    that :meth:`headkit.HeadClassifier.predict` and the exported ONNX model return (``headkit
    serve`` lists the same classes by name).

    Parameters
    ----------
    classes : ndarray, shape (C,)
    proba : ndarray, shape (N, C)
        Columns in ``classes`` order.
    uncertainty : dict, optional
        MC-dropout ``entropy`` and ``mutual_information`` (N,), added as columns with the
        ``least_confidence`` (1 − max p) and ``margin`` (p₍₁₎ − p₍₂₎) of ``proba`` (active
        learning's scores; :func:`headkit.functional.select_queries` picks rows by them).
    leading : dict, optional
        Columns (name → N values) put first, such as row identifiers (``--id-column``).
    multilabel : bool
        The model was fitted on a multi-label indicator matrix.
    empty : ndarray, shape (N,) bool, optional
        Rows whose every cell was empty or unknown (a table model), added as the 0/1 column
        ``empty_row``: their probabilities are a guess.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    result = pd.DataFrame(dict(leading or {}))
    if multilabel:
        for j, label in enumerate(classes):
            result[f"label_{label}"] = (proba[:, j] > MULTILABEL_THRESHOLD).astype(np.int64)
    else:
        result["label"] = classes[proba.argmax(axis=1)]
    # The network computes in float32: these columns keep that precision and no more.
    for j, label in enumerate(classes):
        result[f"proba_{label}"] = proba[:, j].astype(np.float32)
    if uncertainty is not None:
        result["entropy"] = np.asarray(uncertainty["entropy"], np.float32)
        result["mutual_information"] = np.asarray(uncertainty["mutual_information"], np.float32)
        ordered = np.sort(proba, axis=1)
        result["least_confidence"] = (1.0 - ordered[:, -1]).astype(np.float32)
        margin = ordered[:, -1] - ordered[:, -2] if proba.shape[1] > 1 else np.ones(len(proba))
        result["margin"] = margin.astype(np.float32)
    if empty is not None:
        result["empty_row"] = np.asarray(empty, dtype=np.int64)
    return result


def _csv_ready(frame: Any) -> Any:
    """Write the float32 columns (the model's outputs) with 6 significant digits, as text.

    float32 carries about 7 significant digits, so 6 are all exact; the user's own columns
    (``--id-column``) are left as pandas writes them.
    """
    narrow = [c for c in frame.columns if frame[c].dtype == np.float32]
    if not narrow:
        return frame
    frame = frame.copy()
    for column in narrow:
        frame[column] = np.char.mod("%.6g", frame[column].to_numpy())
    return frame


def _write_frame(frame: Any, target: Any, parquet: bool) -> None:
    if parquet:
        frame.to_parquet(target, index=False)
    else:
        _csv_ready(frame).to_csv(target, index=False)


def write_predictions(frame: Any, destination: str | Path | None, overwrite: bool = False) -> str:
    """Write ``frame`` to ``destination`` by the rules above; return where it went, for a message.

    Raises
    ------
    ConfigError
        The directory does not exist or cannot be written; the file exists and ``overwrite``
        is false.
    """
    from headkit.io import atomic_write

    if destination is None or str(destination) == "-":
        _csv_ready(frame).to_csv(sys.stdout, index=False)
        sys.stdout.flush()
        return "stdout"
    path = Path(destination)
    parquet = path.suffix.lower() in PARQUET_SUFFIXES
    target = path.resolve() if path.is_symlink() else path  # write through a symlink
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        if target.is_dir():
            raise ConfigError(f"{path} is a directory; give a file name to -o.")
        with open(target, "wb") as handle:  # a named pipe or a device: write through
            _write_frame(frame, handle, parquet)
        return str(path)
    if target.exists() and not overwrite:
        raise ConfigError(
            f"{path} already exists; pass --overwrite to replace it or choose another -o."
        )
    if not target.parent.is_dir():
        raise ConfigError(
            f"The directory {target.parent} does not exist; create it or choose another -o path."
        )
    try:
        atomic_write(target, lambda tmp: _write_frame(frame, tmp, parquet))
    except PermissionError:
        raise ConfigError(
            f"Cannot write {path} (permission denied in {target.parent}); choose another -o."
        ) from None
    return str(path)
