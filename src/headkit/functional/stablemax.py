"""StableMax and the Softmax Collapse measure.

From Prieto et al., *Grokking at the Edge of Numerical Stability* (2025).

``s(x) = x + 1`` for ``x ≥ 0`` and ``1 / (1 − x)`` for ``x < 0``; ``StableMax(z)_i =
s(z_i) / Σ_j s(z_j)``. s grows linearly instead of exponentially, so the probabilities do not
round to exactly 1 in float32 at moderate margins. Unlike softmax, StableMax is not
shift-invariant: ``StableMax(z + c) ≠ StableMax(z)``.

Softmax Collapse (SC): once the target logit leads by more than ~17 in float32, ``p_y`` rounds
to 1, the cross-entropy is exactly 0 and the row's gradient vanishes. Its fraction over a batch
is the detector's signal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.functional.softmax import check_class_dim


def stablemax_s(x: Tensor) -> Tensor:
    """Return ``s(x)``: ``x + 1`` for ``x ≥ 0``, ``1 / (1 − x)`` for ``x < 0``, elementwise.

    s is positive, C¹ at 0 (``s(0) = 1``, ``s'(0) = 1`` from both sides) and monotone.
    """
    negative = 1.0 / (1.0 - torch.clamp(x, max=0.0))
    return torch.where(x >= 0, x + 1.0, negative)


def stablemax(x: Tensor, dim: int = -1) -> Tensor:
    """StableMax ``s(z_i) / Σ_j s(z_j)`` along ``dim``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits; half precision is computed in float32.
    dim : int
        Class dimension.

    Returns
    -------
    Tensor, same shape: positive, sums to 1 along ``dim``.
    """
    dim = check_class_dim(x, dim)
    s = stablemax_s(x.float() if x.dtype in (torch.float16, torch.bfloat16) else x)
    return s / s.sum(dim, keepdim=True)


def log_stablemax(x: Tensor, dim: int = -1) -> Tensor:
    """``log StableMax(z)`` computed in float64 (as in the reference), cast back to ``x``'s dtype.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
    dim : int

    Returns
    -------
    Tensor, same shape and dtype (float32 for half inputs).
    """
    dim = check_class_dim(x, dim)
    out_dtype = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
    s = stablemax_s(x.double())
    return (torch.log(s) - torch.log(s.sum(dim, keepdim=True))).to(out_dtype)


def softmax_collapse_mask(logits: Tensor, target: Tensor) -> Tensor:
    """Rows whose float32 softmax cross-entropy is exactly 0 (p_y rounds to 1).

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64

    Returns
    -------
    Tensor, shape (N,) bool
        True where the row is in Softmax Collapse: its loss, and the target's gradient
        ``p_y − 1``, are exactly 0 in float32.
    """
    loss = torch.nn.functional.cross_entropy(logits.float(), target, reduction="none")
    return loss == 0


def softmax_collapse_fraction(logits: Tensor, target: Tensor) -> float:
    """Return the share of rows in Softmax Collapse (see :func:`softmax_collapse_mask`)."""
    if len(target) == 0:
        return 0.0
    return float(softmax_collapse_mask(logits, target).float().mean())
