"""Uncertainty scores for active learning, and top-q % outlier clipping (catalogue I5).

"To Softmax, or not to Softmax: that is the question when applying Active Learning for
Transformer Models": least confidence ``1 − max p``, margin ``p₍₁₎ − p₍₂₎`` (small = uncertain)
and entropy ``−Σ p log p`` rank unlabelled rows; dropping the top q % most uncertain rows
("outliers", often noise) before choosing which to label helps several of them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.functional.softmax import check_class_dim

SCORES = ("least_confidence", "margin", "entropy")


def least_confidence(p: Tensor, dim: int = -1) -> Tensor:
    """Return ``1 − max_k p_k`` along ``dim`` (higher = more uncertain), ``p``'s shape less ``dim``."""
    dim = check_class_dim(p, dim)
    return 1.0 - p.amax(dim=dim)


def margin(p: Tensor, dim: int = -1) -> Tensor:
    """Return ``p₍₁₎ − p₍₂₎``, the gap between the two largest probabilities (lower = more uncertain).

    A single class gives 1.
    """
    dim = check_class_dim(p, dim)
    if p.shape[dim] < 2:
        return torch.ones_like(p.select(dim, 0))
    top = p.topk(2, dim=dim).values
    return top.select(dim, 0) - top.select(dim, 1)


def entropy(p: Tensor, dim: int = -1) -> Tensor:
    """Return ``−Σ_k p_k log p_k`` along ``dim`` (0 for one-hot, log K for uniform), in nats."""
    dim = check_class_dim(p, dim)
    return -torch.special.xlogy(p, p).sum(dim=dim)


def uncertainty(p: Tensor, score: str = "entropy") -> Tensor:
    """Return the score ``score`` of each row of ``p`` (N, K), oriented so higher = more uncertain.

    ``margin`` is returned as ``1 − (p₍₁₎ − p₍₂₎)``.
    """
    if score == "least_confidence":
        return least_confidence(p)
    if score == "margin":
        return 1.0 - margin(p)
    if score == "entropy":
        return entropy(p)
    raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}.")


def clip_outliers(scores: Tensor, q: float) -> Tensor:
    """Return the indices of the rows kept after dropping the ⌈q·N⌉ highest scores.

    Parameters
    ----------
    scores : Tensor, shape (N,)
        Uncertainty, higher = more uncertain.
    q : float
        Share in [0, 1) of rows to drop.

    Returns
    -------
    Tensor, shape (N − ⌈q·N⌉,) int64
        Kept row indices in increasing order. Ties at the cut are broken by the lower index
        (stable sort), so exactly ⌈q·N⌉ rows go.
    """
    if not 0.0 <= q < 1.0:
        raise ValueError(f"q must be in [0, 1); got {q}.")
    n = scores.shape[0]
    drop = math.ceil(q * n - 1e-9)
    order = torch.sort(-scores, stable=True).indices
    return order[drop:].sort().values


def select_queries(p: Tensor, n: int, score: str = "entropy", clip: float = 0.0) -> Tensor:
    """Return the ``n`` most uncertain rows of ``p`` (N, K) after dropping the top ``clip`` share.

    Returns
    -------
    Tensor, shape (min(n, rows kept),) int64
        Row indices, most uncertain first.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0; got {n}.")
    scores = uncertainty(p, score)
    kept = clip_outliers(scores, clip)
    order = torch.sort(-scores[kept], stable=True).indices
    return kept[order[:n]]
