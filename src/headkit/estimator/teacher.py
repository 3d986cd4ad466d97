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

from headkit.exceptions import ConfigError, DataError


def _one_teacher(teacher: str | Path, X: np.ndarray, classes: np.ndarray) -> torch.Tensor:
    """One run's probabilities of the rows of ``X`` for ``classes``, renormalised, (N, C) float64."""
    from headkit.estimator.classifier import HeadClassifier

    if not isinstance(teacher, str | Path):
        raise ConfigError(
            f"A teacher must be the path of a saved run (a str); got {type(teacher).__name__}."
        )
    model = HeadClassifier.load(teacher)
    if str(model.loss).startswith("label_smoothing"):
        warnings.warn(
            f"The teacher {teacher} was trained with label smoothing ({model.loss}), which "
            "erases much of the class-similarity information distillation transfers (Müller et "
            "al. 2019); a teacher trained without it usually teaches better.",
            UserWarning,
            stacklevel=3,
        )
    if model.n_features_in_ != X.shape[1]:
        raise DataError(
            f"The teacher {teacher} takes {model.n_features_in_} features but the data has "
            f"{X.shape[1]}; distil from a run trained on the same feature columns."
        )
    teacher_classes = model.classes_.tolist()
    missing = [c for c in classes.tolist() if c not in teacher_classes]
    if missing:
        raise DataError(
            f"Labels {missing[:5]} are not among the teacher's classes {teacher_classes[:10]}; "
            "distil from a run trained on the same labels."
        )
    with warnings.catch_warnings():  # a teacher fitted on a DataFrame warns on plain arrays
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        proba = model.predict_proba(X)
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
