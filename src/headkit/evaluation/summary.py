"""The headline numbers printed after training and by ``headkit evaluate``."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss


def summary_metrics(y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Return accuracy, macro-F1, log-loss and top-3 accuracy for labelled predictions.

    Parameters
    ----------
    y_true : ndarray, shape (n_samples,)
        Labels, all among ``classes``.
    proba : ndarray, shape (n_samples, n_classes)
        Predicted probabilities, columns in ``classes`` order.
    classes : ndarray, shape (n_classes,)

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``log_loss`` (probabilities clipped at 1e-12 so sparse
        output maps give a finite value), ``top3_accuracy`` and ``n_samples``.
    """
    pred = classes[proba.argmax(axis=1)]
    index = np.searchsorted(classes, y_true)
    k = min(3, len(classes))
    top = np.argsort(-proba, axis=1)[:, :k]
    clipped = np.clip(proba, 1e-12, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=classes, zero_division=0)),
        "log_loss": float(log_loss(index, clipped, labels=np.arange(len(classes)))),
        "top3_accuracy": float((top == index[:, None]).any(axis=1).mean()),
        "n_samples": len(y_true),
    }
