"""Out-of-distribution scores of a network's own predictions (arrays in :mod:`headkit.evaluation.ood`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from headkit.evaluation.ood import MahalanobisDetector, logit_score
from headkit.exceptions import NotFittedError
from headkit.inference.forward import penultimate_features, predict_arrays

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet


def network_ood_score(
    net: HeadNet, X: np.ndarray, method: str, detector: MahalanobisDetector | None = None
) -> np.ndarray:
    """Return a network's OOD score of rows X (N, F), shape (N,); higher = in-distribution.

    ``msp`` is the largest of the network's own probabilities (:meth:`HeadNet.probabilities`:
    its output map and calibration temperature apply), which :func:`predict_arrays`
    evaluates in float64: in float32 the top probability of every confident row rounds to
    exactly 1, and those ties lower its AUROC (0.915 on digits 0–4 vs 5–9 in float64,
    ``benchmarks/results/ood.md``). ``max_logit`` and ``energy`` read the logits;
    ``mahalanobis`` scores the penultimate features with ``detector``.
    """
    if method == "mahalanobis":
        if detector is None:
            raise NotFittedError(
                "This model has no Mahalanobis statistics (saved by an older headkit or "
                "trained with partial_fit); refit it with fit()."
            )
        return detector.score(penultimate_features(net, X))
    prediction = predict_arrays(net, X)  # probabilities in float64 (see predict_arrays)
    if method == "msp":
        return prediction.proba.max(-1).values.numpy()
    return logit_score(prediction.logits, method)
