"""Batch mixing augmentations for feature vectors: mixup and a 1-D CutMix.

Both pair each row with a row of a permuted batch and mix the labels with a weight λ. mixup
(Zhang et al. 2018) blends whole rows, ``λ·x_a + (1 − λ)·x_b``. CutMix (Yun et al. 2019) pastes
a region of ``x_b`` into ``x_a``; for vectors the region is one contiguous segment of features
(our adaptation of the paper's box), and λ is recomputed as the exact fraction of ``x_a`` kept.
The training loss of a mixed batch is ``λ·L(z, y_a) + (1 − λ)·L(z, y_b)``, which for
cross-entropy equals the cross-entropy with soft targets ``λ·y_a + (1 − λ)·y_b``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from headkit.exceptions import ConfigError


def sample_mixing(
    n: int, alpha: float, generator: torch.Generator | None = None
) -> tuple[float, Tensor]:
    """Draw ``λ ~ Beta(α, α)`` and a permutation of the batch.

    Parameters
    ----------
    n : int
        Batch size N.
    alpha : float
        Beta parameter α > 0.
    generator : torch.Generator, optional
        CPU generator for reproducible draws (default: torch's global one).

    Returns
    -------
    lam : float
        Mixing weight in [0, 1].
    perm : Tensor, shape (N,) int64
        Partner row of each row.
    """
    if alpha <= 0:
        raise ConfigError(f"The mixing parameter alpha must be > 0; got {alpha}.")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    return lam, torch.randperm(n, generator=generator)


def mixup(x: Tensor, lam: float, perm: Tensor) -> Tensor:
    """Return ``λ·x + (1 − λ)·x[perm]``.

    Parameters
    ----------
    x : Tensor, shape (N, ...)
    lam : float
        λ in [0, 1].
    perm : Tensor, shape (N,)
        Partner rows.

    Returns
    -------
    Tensor, shape (N, ...)
    """
    return lam * x + (1.0 - lam) * x[perm.to(x.device)]


def cutmix_segment(
    width: int, lam: float, generator: torch.Generator | None = None
) -> tuple[int, int]:
    """Return the segment ``[start, end)`` to paste for a target kept-fraction λ.

    The segment has length ``round((1 − λ)·width)`` around a centre drawn uniformly in
    ``[0, width)`` and is clipped to the vector, as the paper clips its box to the image.
    """
    cut = round((1.0 - lam) * width)
    centre = int(torch.randint(0, width, (1,), generator=generator))
    start = min(max(centre - cut // 2, 0), width)
    end = min(max(centre + cut - cut // 2, 0), width)
    return start, end


def cutmix(
    x: Tensor, lam: float, perm: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, float]:
    """Paste a contiguous feature segment of ``x[perm]`` into ``x`` (CutMix for vectors).

    Parameters
    ----------
    x : Tensor, shape (N, D)
    lam : float
        Target fraction of each row's own features to keep.
    perm : Tensor, shape (N,)
        Partner rows.
    generator : torch.Generator, optional
        Source of the segment's centre.

    Returns
    -------
    mixed : Tensor, shape (N, D)
    lam : float
        The exact kept fraction ``1 − (end − start) / D``, the weight of the row's own label.
    """
    width = x.shape[-1]
    start, end = cutmix_segment(width, lam, generator)
    mixed = x.clone()
    mixed[..., start:end] = x[perm.to(x.device)][..., start:end]
    return mixed, 1.0 - (end - start) / width


def mix_targets(target: Tensor, perm: Tensor, lam: float, n_classes: int) -> Tensor:
    """Return soft targets ``λ·onehot(y) + (1 − λ)·onehot(y[perm])``, shape (N, C).

    Parameters
    ----------
    target : Tensor, shape (N,) int64
    perm : Tensor, shape (N,)
    lam : float
    n_classes : int
    """
    one_hot = torch.nn.functional.one_hot(target, n_classes).float()
    return lam * one_hot + (1.0 - lam) * one_hot[perm.to(target.device)]


def mixed_loss(
    loss: Callable[[Tensor], Tensor], target: Tensor, perm: Tensor, lam: float
) -> Tensor:
    """Return ``λ·loss(y) + (1 − λ)·loss(y[perm])``, the loss of a mixed batch.

    Parameters
    ----------
    loss : callable
        Maps index targets (N,) to a scalar loss on the mixed batch's logits.
    target : Tensor, shape (N,)
    perm : Tensor, shape (N,)
    lam : float
    """
    if lam == 1.0:
        return loss(target)
    return lam * loss(target) + (1.0 - lam) * loss(target[perm.to(target.device)])
