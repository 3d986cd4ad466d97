"""Reliability: expected/maximum calibration error and reliability curves.

Confidence is the top-class probability ``max_k p_k`` and a prediction is correct when its
argmax equals the label (Guo et al. 2017, "On Calibration of Modern Neural Networks").
Bins are either ``"uniform"`` (equal width on [0, 1], intervals ``(lo, hi]`` with 0 in the first
bin) or ``"quantile"`` (equal mass: the samples sorted by confidence split into ``n_bins``
groups whose sizes differ by at most one, so ties never leave a bin empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from headkit.evaluation._arrays import check_label_range, check_labels, check_scores
from headkit.exceptions import DataError

Strategy = Literal["uniform", "quantile"]


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin statistics of a reliability diagram (empty bins are dropped).

    Attributes
    ----------
    confidence : ndarray, shape (B,)
        Mean top-class probability in each non-empty bin.
    accuracy : ndarray, shape (B,)
        Fraction of correct predictions in each non-empty bin.
    count : ndarray, shape (B,)
        Number of samples in each non-empty bin.
    lower, upper : ndarray, shape (B,)
        Bin edges (for quantile bins, the smallest and largest confidence inside the bin).
    """

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """Absolute calibration gap ``|accuracy − confidence|`` per bin."""
        return np.abs(self.accuracy - self.confidence)


def _bin_index(conf: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    if strategy == "quantile":
        order = np.argsort(conf, kind="stable")
        idx = np.empty(len(conf), dtype=np.int64)
        for b, chunk in enumerate(np.array_split(order, n_bins)):
            idx[chunk] = b
        return idx
    raise DataError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}.")


def reliability_curve(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> ReliabilityCurve:
    """Bin samples by confidence and return each bin's mean confidence and accuracy.

    Parameters
    ----------
    y_true : array-like, shape (N,)
        Class indices.
    proba : array-like, shape (N, C)
        Probabilities.
    n_bins : int
        Number of bins (≥ 1).
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins.
    """
    p = check_scores(proba)
    y = check_labels(y_true, p.shape[0])
    check_label_range(y, p.shape[1])
    if n_bins < 1:
        raise DataError(f"n_bins must be >= 1; got {n_bins}.")
    if len(y) == 0:
        raise DataError("Calibration needs at least one sample; got an empty array.")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    idx = _bin_index(conf, n_bins, strategy)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    keep = count > 0
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1], edges[1:]
    else:
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        for b in np.flatnonzero(keep):
            lower[b] = conf[idx == b].min()
            upper[b] = conf[idx == b].max()
    return ReliabilityCurve(
        confidence=sum_conf[keep] / count[keep],
        accuracy=sum_acc[keep] / count[keep],
        count=count[keep],
        lower=lower[keep],
        upper=upper[keep],
    )


def expected_calibration_error(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """ECE = Σ_b (n_b / N)·|acc_b − conf_b| over confidence bins (Guo et al. 2017).

    See :func:`reliability_curve` for the arguments; 0 is perfectly calibrated.
    """
    curve = reliability_curve(y_true, proba, n_bins, strategy)
    return float(np.sum(curve.count * curve.gap) / np.sum(curve.count))


def max_calibration_error(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """MCE = max_b |acc_b − conf_b| over the non-empty confidence bins."""
    return float(np.max(reliability_curve(y_true, proba, n_bins, strategy).gap))
