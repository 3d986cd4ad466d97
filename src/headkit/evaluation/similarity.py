"""Representation similarity: linear CKA (Kornblith et al. 2019) and block redundancy.

Linear CKA between activations X (N, D1) and Y (N, D2) of the same N inputs, columns centred:

    CKA(X, Y) = ‖Yᵀ X‖_F² / (‖Xᵀ X‖_F · ‖Yᵀ Y‖_F)

equal to the Gram form HSIC(K, L)/sqrt(HSIC(K, K)·HSIC(L, L)) with K = XXᵀ, L = YYᵀ. It is 1
for identical representations, invariant to orthogonal transforms and isotropic scaling, and
near 0 for independent ones (up to a small-sample bias of order D/N).

Block redundancy (Men et al. 2024; He et al. 2024, "What Matters in Transformers?") is
``1 − mean_i cos(h_in_i, h_out_i)`` for a block mapping h_in → h_out of the same width: a block
that barely changes its input (redundancy ≈ 0) is the first candidate to drop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from headkit.evaluation._arrays import check_scores
from headkit.exceptions import DataError


def _flat(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x.detach().cpu().double().numpy() if hasattr(x, "detach") else x, np.float64)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        a = a.reshape(a.shape[0], -1)
    return check_scores(a, name)


def linear_cka(x: Any, y: Any) -> float:
    """Linear CKA between two representations of the same N samples, in [0, 1].

    Parameters
    ----------
    x : array-like, shape (N, D1)
    y : array-like, shape (N, D2)

    Returns
    -------
    float
        Uses the feature-space form when min(D1, D2) ≤ N, else the N×N Gram form; both are the
        same number. 0 when either representation is constant.
    """
    a = _flat(x, "x")
    b = _flat(y, "y")
    if a.shape[0] != b.shape[0]:
        raise DataError(f"CKA needs the same samples in both; got {a.shape[0]} and {b.shape[0]}.")
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    if max(a.shape[1], b.shape[1]) <= a.shape[0]:
        cross = np.linalg.norm(b.T @ a) ** 2
        denom = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    else:
        k = a @ a.T
        gram_y = b @ b.T
        cross = float(np.sum(k * gram_y))
        denom = np.linalg.norm(k) * np.linalg.norm(gram_y)
    if denom <= 0:
        return 0.0
    return float(cross / denom)


def cka_matrix(representations: Sequence[Any]) -> np.ndarray:
    """Linear CKA between every pair of representations, shape (L, L), symmetric, unit diagonal."""
    n = len(representations)
    out = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            out[i, j] = out[j, i] = linear_cka(representations[i], representations[j])
    return out


def block_redundancy(inputs: Sequence[Any], outputs: Sequence[Any]) -> np.ndarray:
    """``1 − mean cos(h_in, h_out)`` per block, shape (B,); NaN where the widths differ.

    Parameters
    ----------
    inputs, outputs : sequences of array-like, each (N, D_b)
        Input and output activations of each block on the same N samples.
    """
    if len(inputs) != len(outputs):
        raise DataError("block_redundancy needs one input and one output per block.")
    out = np.full(len(inputs), np.nan)
    for i, (h_in, h_out) in enumerate(zip(inputs, outputs, strict=True)):
        a, b = _flat(h_in, "inputs"), _flat(h_out, "outputs")
        if a.shape != b.shape:
            continue
        na = np.linalg.norm(a, axis=1)
        nb = np.linalg.norm(b, axis=1)
        cos = np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-12)
        # Two zero vectors are the same vector: cosine 1.
        cos = np.where((na == 0) & (nb == 0), 1.0, cos)
        out[i] = 1.0 - float(np.mean(cos))
    return out
