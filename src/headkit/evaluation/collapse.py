"""Neural-collapse measures NC1–NC4 (Papyan, Han & Donoho 2020; "Perturbation Analysis of NC").

With penultimate features h_i (N, D), labels y_i ∈ {0..C−1}, class means μ_c, the global mean
μ_G taken as the *mean of the class means* (equal to the sample mean for balanced classes, and
insensitive to imbalance), centred means M = [μ_c − μ_G] (C, D) and classifier weights W (C, D):

- NC1 = tr(Σ_W Σ_B^†) / C with Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ and
  Σ_B = (1/C) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ: within-class spread relative to between-class.
- NC2 equinorm = std_c ‖M_c‖ / mean_c ‖M_c‖ (coefficient of variation, 0 at collapse);
  NC2 equiangularity = mean over pairs c ≠ c' of |cos(M_c, M_c') + 1/(C−1)| (0 for a simplex
  equiangular tight frame).
- NC3 self-duality = ‖W/‖W‖_F − M/‖M‖_F‖_F² (0 when the classifier aligns with the means).
- NC4 = fraction of samples where argmax(W h + b) equals the nearest class mean (1 at collapse).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from headkit.evaluation._arrays import check_labels, check_scores, to_numpy
from headkit.exceptions import DataError


def class_means(features: Any, y: Any, n_classes: int | None = None) -> np.ndarray:
    """Mean feature of each class, shape (C, D); rows of absent classes are NaN."""
    f = check_scores(features, "features")
    labels = check_labels(y, f.shape[0], "y")
    c = n_classes or int(labels.max()) + 1
    means = np.full((c, f.shape[1]), np.nan)
    for k in range(c):
        rows = labels == k
        if rows.any():
            means[k] = f[rows].mean(axis=0)
    return means


def nc1(features: Any, y: Any) -> float:
    """Within- vs between-class variability ``tr(Σ_W Σ_B^†)/C`` (0 at perfect collapse)."""
    f = check_scores(features, "features")
    labels = check_labels(y, f.shape[0], "y")
    classes, inv = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise DataError("Neural-collapse measures need at least two classes present.")
    means = np.stack([f[inv == k].mean(axis=0) for k in range(len(classes))])
    centred_w = f - means[inv]
    sigma_w = centred_w.T @ centred_w / f.shape[0]
    m = means - means.mean(axis=0)
    sigma_b = m.T @ m / len(classes)
    return float(np.trace(sigma_w @ np.linalg.pinv(sigma_b, hermitian=True)) / len(classes))


def _centred_means(f: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    classes = np.unique(labels)
    means = np.stack([f[labels == k].mean(axis=0) for k in classes])
    return classes, means - means.mean(axis=0)


def nc2(features: Any, y: Any) -> dict[str, float]:
    """Equinorm CV and equiangularity deviation of the centred class means from a simplex ETF."""
    f = check_scores(features, "features")
    labels = check_labels(y, f.shape[0], "y")
    classes, m = _centred_means(f, labels)
    c = len(classes)
    if c < 2:
        raise DataError("Neural-collapse measures need at least two classes present.")
    norms = np.linalg.norm(m, axis=1)
    unit = m / np.maximum(norms[:, None], 1e-12)
    cos = unit @ unit.T
    off = ~np.eye(c, dtype=bool)
    return {
        "equinorm": float(norms.std() / max(norms.mean(), 1e-12)),
        "equiangular": float(np.mean(np.abs(cos[off] + 1.0 / (c - 1)))),
    }


def nc3(features: Any, y: Any, weight: Any) -> float:
    """Self-duality ``‖W/‖W‖_F − M/‖M‖_F‖_F²`` between classifier rows and centred means."""
    f = check_scores(features, "features")
    labels = check_labels(y, f.shape[0], "y")
    w = check_scores(weight, "weight")
    classes, m = _centred_means(f, labels)
    if w.shape[1] != f.shape[1] or int(classes.max()) >= w.shape[0]:
        raise DataError(f"weight must have shape (n_classes, {f.shape[1]}); got {w.shape}.")
    w = w[classes]
    return float(np.sum((w / np.linalg.norm(w) - m / np.linalg.norm(m)) ** 2))


def nc4(features: Any, y: Any, logits: Any) -> float:
    """Agreement of the classifier's argmax with the nearest class-centre (NCC) decision."""
    f = check_scores(features, "features")
    labels = check_labels(y, f.shape[0], "y")
    z = check_scores(logits, "logits")
    classes = np.unique(labels)
    means = np.stack([f[labels == k].mean(axis=0) for k in classes])
    d = ((f[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    ncc = classes[d.argmin(axis=1)]
    return float(np.mean(z.argmax(axis=1) == ncc))


def neural_collapse(
    features: Any, y: Any, weight: Any | None = None, bias: Any | None = None
) -> dict[str, float]:
    """All NC measures at once: ``nc1``, ``nc2_equinorm``, ``nc2_equiangular``, ``nc3``, ``nc4``.

    ``nc3`` and ``nc4`` need the linear classifier ``weight`` (C, D) (and ``bias`` (C,)); they
    are NaN without it.
    """
    out = {"nc1": nc1(features, y)}
    two = nc2(features, y)
    out["nc2_equinorm"] = two["equinorm"]
    out["nc2_equiangular"] = two["equiangular"]
    if weight is None:
        out["nc3"] = float("nan")
        out["nc4"] = float("nan")
        return out
    w = to_numpy(weight)
    out["nc3"] = nc3(features, y, w)
    f = check_scores(features, "features")
    logits = f @ w.T + (to_numpy(bias) if bias is not None else 0.0)
    out["nc4"] = nc4(f, y, logits)
    return out


def linear_head_weights(net: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Return ``(W, b)`` of a HeadNet's head when it is affine (has a 2-D ``weight``), else None."""
    w = getattr(net.head, "weight", None)
    if w is None or getattr(w, "ndim", 0) != 2:
        return None, None
    b = getattr(net.head, "bias", None)
    return to_numpy(w), (to_numpy(b) if b is not None else None)


def collapse_of_network(
    net: Any, x: Any, y: Any, *, to_features: Callable[[Any], Any] | None = None
) -> dict[str, float]:
    """NC1–NC4 of a :class:`headkit.nn.HeadNet` on inputs ``x`` (N, F) with labels ``y``.

    The network is run in eval mode without gradients on its penultimate features; its mode is
    restored afterwards.
    """
    import torch

    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            xt = torch.as_tensor(to_numpy(x, dtype=np.float32))
            param = next(net.parameters(), None)
            if param is not None:
                xt = xt.to(device=param.device, dtype=param.dtype)
            feats = (to_features or net.features)(xt)
    finally:
        net.train(was_training)
    w, b = linear_head_weights(net)
    return neural_collapse(feats, y, w, b)
