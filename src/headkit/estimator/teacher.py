"""Saved runs as teachers: their probabilities on the student's training rows.

``HeadClassifier(teacher="runs/big")`` and ``headkit train --teacher runs/big`` distil a student
from a run saved by :meth:`headkit.HeadClassifier.save` or ``headkit train`` (or from several,
``--teacher a --teacher b``, whose probabilities are averaged): the teachers' calibrated
probabilities (each with its own standardisation, output map and temperature) become the soft
targets of :class:`headkit.nn.DistillationLoss`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from headkit._validation import shown_names
from headkit.exceptions import ConfigError, DataError


def _one_teacher(teacher: str | Path, X: np.ndarray, classes: np.ndarray) -> torch.Tensor:
    """One run's probabilities of the rows of ``X`` for ``classes``, renormalised, (N, C) float64.

    The run is read through :class:`headkit.inference.saved_model.SavedModel`, the one road from a
    saved run to probabilities (its torch engine: the same numbers as the estimator's).
    """
    from headkit.inference.saved_model import SavedModel

    if not isinstance(teacher, str | Path):
        raise ConfigError(
            f"A teacher must be the path of a saved run (a str); got {type(teacher).__name__}."
        )
    model = SavedModel.load(teacher, engine="torch")
    loss = str(model.metadata.get("training", {}).get("loss", ""))
    if loss.startswith("label_smoothing"):
        warnings.warn(
            f"The teacher {teacher} was trained with label smoothing ({loss}), which "
            "erases much of the class-similarity information distillation transfers (Müller et "
            "al. 2019); a teacher trained without it usually teaches better.",
            UserWarning,
            stacklevel=3,
        )
    width = len(model.feature_names) if model.preprocessing is not None else model.n_features
    if width != X.shape[1]:
        raise DataError(
            f"The teacher {teacher} takes {width} features but the data has "
            f"{X.shape[1]}; distil from a run trained on the same feature columns."
        )
    teacher_classes = model.classes.tolist()
    missing = [c for c in classes.tolist() if c not in teacher_classes]
    if missing:
        raise DataError(
            f"Labels {shown_names(missing)} are not among the teacher's classes "
            f"{shown_names(teacher_classes, 10)}; "
            "distil from a run trained on the same labels."
        )
    names = model.feature_names if model.preprocessing is not None else None
    proba = model.predict_proba(X, names)
    columns = [teacher_classes.index(c) for c in classes.tolist()]
    p = torch.as_tensor(proba[:, columns], dtype=torch.float64)
    return p / p.sum(1, keepdim=True).clamp_min(1e-300)


def teacher_log_probs(
    teacher: str | Path | Sequence[str | Path], X: np.ndarray, classes: np.ndarray
) -> torch.Tensor:
    """Return the teacher runs' log-probabilities of the rows of ``X`` for the student's classes.

    Parameters
    ----------
    teacher : str, Path or sequence of them
        A run or model directory holding a saved ``HeadClassifier``; with several, their
        probabilities are averaged (MEAL V2's multi-teacher target).
    X : ndarray, shape (N, F)
        The student's training rows, raw (each teacher applies its own preprocessing).
    classes : ndarray, shape (C,)
        The student's sorted class labels; each must be one of every teacher's.

    Returns
    -------
    Tensor, shape (N, C), float32
        ``log p`` of the (mean) teacher, restricted to ``classes`` and renormalised (``-inf``
        where the teachers give probability 0).
    """
    runs = [teacher] if isinstance(teacher, str | Path) else list(teacher)
    if not runs:
        raise ConfigError("teacher is an empty list; name at least one saved run.")
    p = sum(_one_teacher(run, X, classes) for run in runs) / len(runs)
    return torch.log(p).float()
