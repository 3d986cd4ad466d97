"""Classification metrics on labels and per-class scores (labels first, like ``sklearn.metrics``).

Every function takes NumPy arrays or torch tensors. ``proba`` is an (N, C) array of
probabilities (or any per-class scores where only the argmax matters); hard predictions may be
given instead wherever the docstring says ``y_pred or proba``. Counting metrics delegate to
:mod:`sklearn.metrics`; NLL and the multi-class Brier score are computed here in float64 (they
are one line each and sklearn's versions renormalise or clip differently across releases).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

from headkit.evaluation._arrays import check_label_range, check_labels, check_scores, to_numpy
from headkit.evaluation.reliability import expected_calibration_error, max_calibration_error
from headkit.exceptions import DataError


def _predictions(y_pred_or_proba: Any) -> tuple[np.ndarray, int | None]:
    """Return hard predictions (N,) and the number of classes when scores were given."""
    arr = to_numpy(y_pred_or_proba)
    if arr.ndim == 2:
        return arr.argmax(axis=1).astype(np.int64), arr.shape[1]
    if arr.ndim == 1:
        return arr.astype(np.int64), None
    raise DataError(f"Predictions must be (N,) labels or (N, C) scores; got shape {arr.shape}.")


def _labels(y: np.ndarray, pred: np.ndarray, n_classes: int | None) -> np.ndarray:
    top = max(int(y.max(initial=-1)), int(pred.max(initial=-1))) + 1
    return np.arange(max(top, n_classes or 0))


def accuracy(y_true: Any, y_pred_or_proba: Any) -> float:
    """Fraction of samples whose predicted class (argmax of scores) equals the label."""
    pred, _ = _predictions(y_pred_or_proba)
    y = check_labels(y_true, pred.shape[0])
    return float(skm.accuracy_score(y, pred))


def top_k_accuracy(y_true: Any, proba: Any, k: int = 5) -> float:
    """Fraction of samples whose label is among the ``k`` highest scores.

    Ties are broken like :func:`sklearn.metrics.top_k_accuracy_score`, which this calls.
    """
    s = check_scores(proba)
    y = check_labels(y_true, s.shape[0])
    check_label_range(y, s.shape[1])
    if k < 1:
        raise DataError(f"k must be >= 1; got {k}.")
    if k >= s.shape[1]:
        return 1.0
    if s.shape[1] == 2:  # sklearn expects 1-D scores for binary problems
        return float(skm.top_k_accuracy_score(y, s[:, 1], k=k, labels=[0, 1]))
    return float(skm.top_k_accuracy_score(y, s, k=k, labels=np.arange(s.shape[1])))


def f1(
    y_true: Any, y_pred_or_proba: Any, average: Literal["macro", "micro", "weighted"] = "macro"
) -> float:
    """F1 score averaged over classes (``macro``), over decisions (``micro``) or by support."""
    pred, c = _predictions(y_pred_or_proba)
    y = check_labels(y_true, pred.shape[0])
    labels = _labels(y, pred, c)
    return float(skm.f1_score(y, pred, average=average, labels=labels, zero_division=0))


def precision_recall(y_true: Any, y_pred_or_proba: Any) -> dict[str, np.ndarray]:
    """Per-class precision, recall, F1 and support, each of shape (C,)."""
    pred, c = _predictions(y_pred_or_proba)
    y = check_labels(y_true, pred.shape[0])
    labels = _labels(y, pred, c)
    p, r, f, s = skm.precision_recall_fscore_support(
        y, pred, labels=labels, average=None, zero_division=0
    )
    return {"precision": p, "recall": r, "f1": f, "support": s}


def confusion_matrix(
    y_true: Any, y_pred_or_proba: Any, n_classes: int | None = None, normalize: str | None = None
) -> np.ndarray:
    """Confusion matrix (C, C): row = true class, column = predicted class.

    ``normalize`` is passed to :func:`sklearn.metrics.confusion_matrix` (``"true"``, ``"pred"``,
    ``"all"`` or ``None`` for counts).
    """
    pred, c = _predictions(y_pred_or_proba)
    y = check_labels(y_true, pred.shape[0])
    labels = _labels(y, pred, n_classes or c)
    return skm.confusion_matrix(y, pred, labels=labels, normalize=normalize)


def negative_log_likelihood(y_true: Any, proba: Any, eps: float = 1e-12) -> float:
    """Mean −log p(y | x) of the true class, probabilities clipped below at ``eps``.

    Equivalent to ``sklearn.metrics.log_loss(y_true, proba, labels=range(C))`` for rows that sum
    to 1.
    """
    p = check_scores(proba)
    y = check_labels(y_true, p.shape[0])
    check_label_range(y, p.shape[1])
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], eps, None))))


def brier_score(y_true: Any, proba: Any) -> float:
    """Multi-class Brier score: mean over samples of Σ_k (p_k − 1[y = k])², in [0, 2]."""
    p = check_scores(proba)
    y = check_labels(y_true, p.shape[0])
    check_label_range(y, p.shape[1])
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def classification_report(
    y_true: Any,
    proba: Any,
    class_names: Sequence[str] | None = None,
    *,
    top_k: int = 5,
    n_bins: int = 15,
) -> dict[str, Any]:
    """Return every summary metric plus per-class precision/recall/F1 as a JSON-ready dict.

    Keys: ``accuracy``, ``top_k_accuracy`` (with ``top_k``), ``macro_f1``, ``micro_f1``,
    ``nll``, ``brier``, ``ece``, ``mce``, ``n_samples`` and ``per_class`` (a dict name →
    ``{precision, recall, f1, support}``). Used for the CLI's metrics table and ``metrics.json``.
    """
    p = check_scores(proba)
    y = check_labels(y_true, p.shape[0])
    check_label_range(y, p.shape[1])
    n_classes = p.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if len(names) != n_classes:
        raise DataError(f"Got {len(names)} class names for {n_classes} score columns.")
    k = min(top_k, n_classes)
    per = precision_recall(y, np.eye(n_classes)[p.argmax(axis=1)])
    return {
        "n_samples": len(y),
        "accuracy": accuracy(y, p),
        "top_k": k,
        "top_k_accuracy": top_k_accuracy(y, p, k=k),
        "macro_f1": f1(y, p, average="macro"),
        "micro_f1": f1(y, p, average="micro"),
        "nll": negative_log_likelihood(y, p),
        "brier": brier_score(y, p),
        "ece": expected_calibration_error(y, p, n_bins=n_bins),
        "mce": max_calibration_error(y, p, n_bins=n_bins),
        "per_class": {
            names[i]: {
                "precision": float(per["precision"][i]),
                "recall": float(per["recall"][i]),
                "f1": float(per["f1"][i]),
                "support": int(per["support"][i]),
            }
            for i in range(n_classes)
        },
    }
