"""Non-parametric classifiers on feature vectors: nearest class mean and k nearest neighbours.

Nearest class mean (NCM; Janson et al. 2022, "A Simple Baseline that Questions the Use of
Pretrained-Models in Continual Learning") keeps one running mean per class,
``μ_c ← μ_c + (h − μ_c)/n_c``, and predicts the closest mean; a new class is a new row and
never moves the others. The kNN classifier (KNN-Net, and kNN accuracy as a feature-quality
metric) votes among the k stored vectors closest to each query.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from headkit.exceptions import ConfigError, DataError

Metric = Literal["l2", "cosine"]
METRICS = ("l2", "cosine")


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"Unknown metric {metric!r}; choose 'l2' or 'cosine'.")


def update_class_means(
    means: Tensor, counts: Tensor, features: Tensor, target: Tensor
) -> tuple[Tensor, Tensor]:
    """Fold a batch into running class means (the streaming mean, exact in any order).

    For each class c with b_c rows in the batch summing to S_c:
    ``μ_c ← μ_c + (S_c − b_c·μ_c)/(n_c + b_c)`` and ``n_c ← n_c + b_c``, which is
    ``μ_c ← μ_c + (h − μ_c)/n_c`` applied row by row.

    Parameters
    ----------
    means : Tensor, shape (C, D)
        Current means (rows of classes with count 0 are ignored).
    counts : Tensor, shape (C,)
        Rows seen per class so far (float or int).
    features : Tensor, shape (N, D)
    target : Tensor, shape (N,) int64
        Class indices in [0, C); rows with an index outside that range are skipped.

    Returns
    -------
    (Tensor, Tensor)
        New means (C, D) and counts (C,), same dtypes as the inputs; inputs are not modified.
    """
    if features.dim() != 2 or target.shape != features.shape[:1]:
        raise DataError(
            f"Expected features (N, D) and targets (N,); got {tuple(features.shape)} and "
            f"{tuple(target.shape)}."
        )
    n_classes = means.shape[0]
    valid = (target >= 0) & (target < n_classes)
    feats = features[valid].to(means.dtype)
    labels = target[valid]
    batch_sum = torch.zeros_like(means).index_add_(0, labels, feats)
    batch_count = torch.zeros(n_classes, dtype=means.dtype, device=means.device)
    batch_count.index_add_(0, labels, torch.ones_like(labels, dtype=means.dtype))
    total = counts.to(means.dtype) + batch_count
    step = (batch_sum - batch_count.unsqueeze(1) * means) / total.clamp_min(1).unsqueeze(1)
    new_means = torch.where((batch_count > 0).unsqueeze(1), means + step, means)
    return new_means, (counts + batch_count.to(counts.dtype))


def nearest_mean_logits(
    features: Tensor, means: Tensor, counts: Tensor | None = None, metric: Metric = "l2"
) -> Tensor:
    """Scores of the nearest-class-mean rule: ``−½‖h − μ_c‖²`` (l2) or ``cos(h, μ_c)``.

    The argmax is the nearest mean. Classes with count 0 (nothing seen yet) score −inf, unless no
    class has been seen, when every score is 0.

    Parameters
    ----------
    features : Tensor, shape (..., D)
    means : Tensor, shape (C, D)
    counts : Tensor, shape (C,), optional
    metric : {"l2", "cosine"}

    Returns
    -------
    Tensor, shape (..., C)
    """
    _check_metric(metric)
    means = means.to(features.dtype)
    if metric == "cosine":
        h = torch.nn.functional.normalize(features, dim=-1)
        scores = h @ torch.nn.functional.normalize(means, dim=-1).T
    else:
        cross = features @ means.T
        scores = (
            cross
            - 0.5 * (features * features).sum(-1, keepdim=True)
            - 0.5 * (means * means).sum(-1)
        )
    if counts is None:
        return scores
    seen = counts > 0
    if not bool(seen.any()):
        return torch.zeros_like(scores)
    return scores.masked_fill(~seen, float("-inf"))


def _distances(queries: Tensor, keys: Tensor, metric: Metric) -> Tensor:
    if metric == "cosine":
        q = torch.nn.functional.normalize(queries, dim=-1)
        return 1.0 - q @ torch.nn.functional.normalize(keys, dim=-1).T
    return torch.cdist(queries, keys).square()


def knn_votes(
    queries: Tensor,
    keys: Tensor,
    labels: Tensor,
    n_classes: int,
    k: int = 5,
    metric: Metric = "l2",
    weighted: bool = False,
    chunk_size: int = 1024,
) -> Tensor:
    """Class vote shares of the k nearest stored vectors, shape (N, C), rows summing to 1.

    Neighbours are ranked by distance, ties broken by the smaller label (then arbitrarily among
    equal (distance, label) pairs, which cast the same vote), so the result does not depend on the
    order of the stored set. With ``weighted`` each vote counts ``1/distance`` (l2 distance or
    cosine distance); a zero-distance neighbour then takes the whole vote (with its equals).

    Parameters
    ----------
    queries : Tensor, shape (N, D)
    keys : Tensor, shape (M, D)
        Stored vectors.
    labels : Tensor, shape (M,) int64
        Their classes in [0, C).
    n_classes : int
    k : int
        Neighbours; clipped to M.
    metric : {"l2", "cosine"}
        Euclidean distance or 1 − cosine similarity.
    weighted : bool
        Distance-weighted votes.
    chunk_size : int
        Queries per distance block (bounds memory at chunk_size × M).

    Returns
    -------
    Tensor, shape (N, C), in the queries' dtype
        Vote shares; ``argmax`` (first maximum: the smaller class on a tie) is the prediction.
    """
    _check_metric(metric)
    if k < 1:
        raise ConfigError(f"k must be >= 1; got {k}.")
    if keys.shape[0] == 0:
        raise DataError("The kNN memory is empty; store some labelled vectors first.")
    k = min(k, keys.shape[0])
    by_label = torch.argsort(labels, stable=True)
    keys, labels = keys[by_label].to(queries.dtype), labels[by_label]
    one_hot = torch.nn.functional.one_hot(labels, n_classes).to(queries.dtype)  # (M, C)
    parts = []
    for start in range(0, len(queries), chunk_size):
        dist = _distances(queries[start : start + chunk_size], keys, metric)
        chosen = _first_k(dist, k)
        if weighted:
            root = dist if metric == "cosine" else dist.clamp_min(0).sqrt()
            zero = chosen & (root <= 0)
            inverse = torch.where(chosen, 1.0 / root.clamp_min(torch.finfo(root.dtype).tiny), 0.0)
            weights = torch.where(zero.any(1, keepdim=True), zero.to(root.dtype), inverse)
        else:
            weights = chosen.to(queries.dtype)
        votes = weights @ one_hot
        parts.append(votes / votes.sum(1, keepdim=True))
    return torch.cat(parts) if parts else queries.new_zeros(0, n_classes)


def _first_k(dist: Tensor, k: int) -> Tensor:
    """Mask (n, M) of the k smallest entries per row, ties at the k-th value to the lowest index.

    Equivalent to the first k of a stable sort by distance, in O(n·M) instead of O(n·M log M).
    """
    kth = dist.topk(k, dim=1, largest=False).values[:, -1:]
    below = dist < kth
    tied = dist == kth
    room = k - below.sum(1, keepdim=True)
    # the k-th value is usually unique: skip the cumulative count then
    if bool((tied.sum(1, keepdim=True) <= room).all()):
        return below | tied
    return below | (tied & (tied.cumsum(1) <= room))
