"""How much a block changes its input: three importance criteria for dropping blocks.

For a block mapping ``h_in`` (N, D) to ``h_out`` (N, D) on the same N inputs:

* ``cosine_importance`` — ``1 − mean_i cos(h_in_i, h_out_i)`` ("What Matters in Transformers?",
  He et al. 2024): 0 for a block that keeps every direction.
* ``angular_distance`` — ``mean_i arccos(cos(h_in_i, h_out_i))/π`` ("The Unreasonable
  Ineffectiveness of the Deeper Layers", Gromov et al. 2024), in [0, 1]; applied to the input of
  block l and the output of block l+n-1 it scores the n-block run that starts at l.
* ``l2_norm_change`` — ``mean_i abs(‖h_out_i‖ − ‖h_in_i‖) / ‖h_in_i‖``, the relative change of the
  activation norm that L2 adaptive computation ("Void in Language Models", 2025) thresholds: a
  block whose change is small is a *void* (:func:`void_mask`).

Two zero vectors count as the same vector (cosine 1, distance 0, change 0). Every criterion is 0
for a residual block whose branch outputs zero, so such a block is the first to drop.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.exceptions import DataError


def _pair(h_in: Tensor, h_out: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    if h_in.shape != h_out.shape or h_in.dim() != 2:
        raise DataError(
            f"Block activations must be two (N, D) tensors of one shape; got "
            f"{tuple(h_in.shape)} and {tuple(h_out.shape)}."
        )
    return h_in, h_out, h_in.norm(dim=-1), h_out.norm(dim=-1)


def _cosine(h_in: Tensor, h_out: Tensor) -> Tensor:
    a, b, na, nb = _pair(h_in, h_out)
    cos = (a * b).sum(-1) / (na * nb).clamp_min(1e-12)
    cos = torch.where((na == 0) & (nb == 0), torch.ones_like(cos), cos)
    return cos.clamp(-1.0, 1.0)


def cosine_importance(h_in: Tensor, h_out: Tensor) -> Tensor:
    """Return ``1 − mean cos(h_in, h_out)`` over rows, in [0, 2]; inputs (N, D), output ()."""
    return 1.0 - _cosine(h_in, h_out).mean()


def angular_distance(h_in: Tensor, h_out: Tensor) -> Tensor:
    """Return ``mean arccos(cos(h_in, h_out))/π`` over rows, in [0, 1]; inputs (N, D), output ().

    The angle is computed as ``2·atan2(‖â − b̂‖, ‖â + b̂‖)`` on the unit vectors, which equals
    ``arccos(â·b̂)`` but stays exact near 0 and π (arccos loses half the digits there).
    """
    a, b, na, nb = _pair(h_in, h_out)
    ua, ub = a / na.clamp_min(1e-300).unsqueeze(-1), b / nb.clamp_min(1e-300).unsqueeze(-1)
    angle = 2 * torch.atan2((ua - ub).norm(dim=-1), (ua + ub).norm(dim=-1))
    one_zero = (na == 0) ^ (nb == 0)  # a zero vector against a non-zero one: orthogonal
    angle = torch.where(one_zero, torch.full_like(angle, math.pi / 2), angle)
    return (angle / math.pi).mean()


def l2_norm_change(h_in: Tensor, h_out: Tensor) -> Tensor:
    """Return ``mean abs(‖h_out‖ − ‖h_in‖)/‖h_in‖`` over rows; inputs (N, D), output ().

    A row whose input is the zero vector counts 0 when its output is zero too, else 1.
    """
    _, _, na, nb = _pair(h_in, h_out)
    change = (nb - na).abs() / na.clamp_min(1e-12)
    change = torch.where(na == 0, (nb != 0).to(change.dtype), change)
    return change.mean()


def void_mask(change: Tensor, threshold: float = 0.1) -> Tensor:
    """Mark the void blocks: ``change ≤ threshold · max(change)``.

    Parameters
    ----------
    change : Tensor, shape (B,)
        :func:`l2_norm_change` of each block (NaN for blocks that cannot be compared: never void).
    threshold : float
        Fraction in [0, 1] of the largest change below which a block counts as a void.

    Returns
    -------
    Tensor of bool, shape (B,)
    """
    if not 0.0 <= threshold <= 1.0:
        raise DataError(f"The void threshold must be in [0, 1]; got {threshold}.")
    finite = torch.isfinite(change)
    if not finite.any():
        return torch.zeros_like(change, dtype=torch.bool)
    top = change[finite].max()
    return finite & (change <= threshold * top)
