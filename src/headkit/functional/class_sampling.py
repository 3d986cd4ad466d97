"""Class-centre sampling for sampled softmax heads (Partial FC).

Partial FC (An et al. 2021, 2022) computes each step's softmax over a set of classes S: every
positive class of the batch plus negatives drawn uniformly **without replacement** from the other
classes, so that ``|S| = max(#positives, ⌈r·C⌉)`` exactly. Because S contains every target, the
sampled log-normaliser is a sum over a subset of the full one, hence for the same logits the
sampled cross-entropy never exceeds the full cross-entropy.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.exceptions import ConfigError

_DENSE_BELOW = 1 << 16  # up to this many classes, one random key per class is cheapest


def sampled_set_size(n_positive: int, n_classes: int, rate: float) -> int:
    """Return ``|S| = max(#positives, ⌈r·C⌉)`` (at most C); ``r·C`` is rounded to 9 digits first."""
    return min(n_classes, max(n_positive, math.ceil(round(rate * n_classes, 9))))


def _dense_negatives(positives: Tensor, n_classes: int, n_neg: int, generator) -> Tensor:
    """n_neg classes outside ``positives``, sorted: the smallest of C i.i.d. uniform keys (O(C))."""
    keys = torch.rand(n_classes, generator=generator, device=positives.device)
    keys[positives] = 2.0  # positives can never be among the n_neg smallest keys
    return keys.topk(n_neg, largest=False).indices.sort().values


def _without(sorted_values: Tensor, remove: Tensor) -> Tensor:
    """``sorted_values`` (sorted, unique) minus the entries of ``remove``, still sorted."""
    at = torch.searchsorted(sorted_values, remove).clamp_max(max(sorted_values.numel() - 1, 0))
    keep = torch.ones_like(sorted_values, dtype=torch.bool)
    keep[at[sorted_values[at] == remove]] = False
    return sorted_values[keep]


def _sparse_negatives(positives: Tensor, n_classes: int, n_neg: int, generator) -> Tensor:
    """n_neg classes outside ``positives``, sorted, in O(n_neg log n_neg) for C ≫ n_neg.

    Draws with replacement until enough distinct non-positive classes are seen; given its size
    that distinct set is a uniform random subset (exchangeability), so keeping a uniform subset
    of it of size n_neg gives a uniform sample without replacement of the non-positive classes.
    """
    device = positives.device
    wanted = n_neg + positives.numel()
    # expected draws to see `wanted` distinct values out of C, with a little slack
    draws = int(-n_classes * math.log1p(-wanted / n_classes) * 1.02) + 32
    seen = torch.empty(0, dtype=torch.int64, device=device)
    while True:
        fresh = torch.randint(0, n_classes, (draws,), generator=generator, device=device)
        seen = torch.cat([seen, fresh]).unique()
        candidates = _without(seen, positives)
        if candidates.numel() >= n_neg:
            break
        draws = max(32, 2 * (n_neg - candidates.numel()))
    extra = candidates.numel() - n_neg  # drop a uniform subset of the surplus; order is kept
    keep = torch.ones_like(candidates, dtype=torch.bool)
    keep[torch.randperm(candidates.numel(), generator=generator, device=device)[:extra]] = False
    return candidates[keep]


def _merge_sorted(a: Tensor, b: Tensor) -> Tensor:
    """Merge two sorted, disjoint int64 vectors (``a`` short) without a full sort."""
    slots = torch.searchsorted(b, a) + torch.arange(a.numel(), device=a.device)
    out = torch.empty(a.numel() + b.numel(), dtype=b.dtype, device=b.device)
    is_a = torch.zeros_like(out, dtype=torch.bool)
    is_a[slots] = True
    out[slots] = a
    out[~is_a] = b
    return out


def sample_classes(
    target: Tensor, n_classes: int, rate: float, generator: torch.Generator | None = None
) -> Tensor:
    """Return the sorted class set S of one Partial FC step.

    S holds every distinct class of ``target`` (the positives) plus negatives drawn uniformly
    without replacement from the remaining classes, so that ``|S| = max(#positives, ⌈r·C⌉)``
    exactly. ``rate >= 1`` returns every class.

    Parameters
    ----------
    target : Tensor, shape (N,) int64
        Labels of the batch, in [0, C).
    n_classes : int
        C.
    rate : float
        Sample rate r in (0, 1].
    generator : torch.Generator, optional
        Source of randomness (on ``target``'s device).

    Returns
    -------
    Tensor, shape (|S|,) int64
        Sorted, unique class indices containing every label of ``target``.
    """
    if not 0.0 < rate:
        raise ConfigError(f"The sample rate must be in (0, 1]; got {rate}.")
    if rate >= 1.0:
        return torch.arange(n_classes, device=target.device)
    positives = target.reshape(-1).unique()
    n_neg = sampled_set_size(positives.numel(), n_classes, rate) - positives.numel()
    if n_neg == 0:
        return positives
    if n_classes <= _DENSE_BELOW or 4 * (n_neg + positives.numel()) > n_classes:
        negatives = _dense_negatives(positives, n_classes, n_neg, generator)
    else:
        negatives = _sparse_negatives(positives, n_classes, n_neg, generator)
    return _merge_sorted(positives, negatives)
