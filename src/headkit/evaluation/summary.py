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
        output maps give a finite value), ``top3_accuracy`` (only with more than 3 classes) and
        ``n_samples``.
    """
    pred = classes[proba.argmax(axis=1)]
    index = np.searchsorted(classes, y_true)
    clipped = np.clip(proba, 1e-12, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    metrics = {
        "accuracy": float(accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=classes, zero_division=0)),
        "log_loss": float(log_loss(index, clipped, labels=np.arange(len(classes)))),
    }
    if len(classes) > 3:  # with 3 classes or fewer every label is in the top 3: always 1.0
        top = np.argsort(-proba, axis=1)[:, :3]
        metrics["top3_accuracy"] = float((top == index[:, None]).any(axis=1).mean())
    metrics["n_samples"] = len(y_true)
    return metrics
