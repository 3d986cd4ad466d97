"""A saved run as a teacher: its probabilities on the student's training rows.

``HeadClassifier(teacher="runs/big")`` and ``headkit train --teacher runs/big`` distil a student
from a run saved by :meth:`headkit.HeadClassifier.save` or ``headkit train``: the teacher's
calibrated probabilities (its own standardisation, output map and temperature included) become
the soft targets of :class:`headkit.nn.DistillationLoss`.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from headkit.exceptions import ConfigError, DataError


def teacher_log_probs(teacher: str | Path, X: np.ndarray, classes: np.ndarray) -> torch.Tensor:
    """Return the teacher run's log-probabilities of the rows of ``X`` for the student's classes.

    Parameters
    ----------
    teacher : str or Path
        A run or model directory holding a saved ``HeadClassifier``.
    X : ndarray, shape (N, F)
        The student's training rows, raw (the teacher applies its own preprocessing).
    classes : ndarray, shape (C,)
        The student's sorted class labels; each must be one of the teacher's.

    Returns
    -------
    Tensor, shape (N, C), float32
        ``log p`` of the teacher, restricted to ``classes`` and renormalised (``-inf`` where
        the teacher gives probability 0).
    """
    from headkit.estimator import HeadClassifier

    if not isinstance(teacher, (str, Path)):
        raise ConfigError(
            f"teacher must be the path of a saved run (a str); got {type(teacher).__name__}."
        )
    model = HeadClassifier.load(teacher)
    if str(model.loss).startswith("label_smoothing"):
        warnings.warn(
            f"The teacher {teacher} was trained with label smoothing ({model.loss}), which "
            "erases much of the class-similarity information distillation transfers (Müller et "
            "al. 2019); a teacher trained without it usually teaches better.",
            UserWarning,
            stacklevel=2,
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
    p = p / p.sum(1, keepdim=True).clamp_min(1e-300)
    return torch.log(p).float()
