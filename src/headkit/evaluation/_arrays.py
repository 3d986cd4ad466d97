"""Input conversion shared by the evaluation functions: tensors or arrays in, NumPy out."""

from __future__ import annotations

from typing import Any

import numpy as np

from headkit.exceptions import DataError


def to_numpy(x: Any, *, dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` (NumPy array, torch tensor or sequence) as a NumPy array of ``dtype``.

    Tensors are detached and moved to the CPU first (bfloat16 goes through float32).
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    return np.asarray(x, dtype=dtype)


def check_labels(y_true: Any, n_samples: int | None = None, name: str = "y_true") -> np.ndarray:
    """Return integer class labels of shape (N,), checking length against ``n_samples``."""
    y = to_numpy(y_true, dtype=np.float64)
    if y.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of class indices; got shape {y.shape}.")
    if y.size and (np.any(y < 0) or np.any(y != np.round(y))):
        raise DataError(f"{name} must hold non-negative integer class indices; encode the labels.")
    if n_samples is not None and y.shape[0] != n_samples:
        raise DataError(
            f"{name} has {y.shape[0]} rows but the scores have {n_samples}; pass matching rows."
        )
    return y.astype(np.int64)


def check_array(x: Any, ndim: int, name: str, shape: str) -> np.ndarray:
    """Return ``x`` as a finite float64 array with ``ndim`` dims (``shape`` names them).

    Raises
    ------
    DataError
        For another number of dims, or NaN / infinite entries.
    """
    a = to_numpy(x)
    if a.ndim != ndim:
        raise DataError(f"{name} must have shape {shape}; got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise DataError(f"{name} contains NaN or infinite values; check what computed them.")
    return a


def check_scores(scores: Any, name: str = "proba") -> np.ndarray:
    """Return a finite 2-D float64 array (N, C) of per-class scores."""
    return check_array(scores, 2, name, "(n_samples, n_classes)")


def check_1d(scores: Any, name: str) -> np.ndarray:
    """Return a finite 1-D float64 array (N,) of scores."""
    return check_array(scores, 1, name, "(n_samples,)")


def check_label_range(y: np.ndarray, n_classes: int, name: str = "y_true") -> None:
    """Raise when a label is not a column index of the scores."""
    if y.size and int(y.max()) >= n_classes:
        raise DataError(
            f"{name} holds class {int(y.max())} but the scores have only {n_classes} columns; "
            "encode labels as 0..C-1."
        )
