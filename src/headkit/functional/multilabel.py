"""Losses for many positives per row: decoupled softmax and a soft top-k loss (DEXML).

Gupta et al. 2024 ("Dual-Encoders for Extreme Multi-Label Classification") train with the
*decoupled softmax*: each positive p competes only with the negatives,
``ℓ = −(1/|P|)·Σ_{p∈P} log[e^{s_p} / (e^{s_p} + Σ_{n∉P} e^{s_n})]``, so positives never push each
other down. Their top-k variant rewards positives for being inside a differentiable top-k; here
the soft top-k is the sigmoid-threshold operator ``m_i = σ((s_i − t)/τ)`` with t chosen so that
``Σ_i m_i = k`` (bisection, differentiated implicitly), and the loss is
``−(1/|P|)·Σ_{p∈P} log m_p``.

Targets are class indices (N,) (one positive per row: the decoupled softmax is then plain
cross-entropy) or 0/1 rows (N, C) (any entry > 0 is a positive).
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import ConfigError, DataError
from headkit.functional.losses import Reduction, upcast


def positives_mask(target: Tensor, n_classes: int, ignore_index: int = -100) -> Tensor:
    """Return a bool mask (N, C) of the positives of index (N,) or 0/1 (N, C) targets."""
    if target.dim() == 2:
        if target.shape[1] != n_classes:
            raise DataError(
                f"Multi-label targets must have {n_classes} columns; got {target.shape[1]}."
            )
        return target > 0
    valid = target != ignore_index
    one_hot = torch.nn.functional.one_hot(torch.where(valid, target, 0), n_classes).bool()
    return one_hot & valid.unsqueeze(1)


def _reduce(rows: Tensor, has_positive: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "none":
        return rows
    total = rows.sum()
    if reduction == "sum":
        return total
    return total / has_positive.sum().clamp_min(1)


def decoupled_softmax_loss(
    logits: Tensor, target: Tensor, ignore_index: int = -100, reduction: Reduction = "mean"
) -> Tensor:
    """Decoupled softmax loss: each positive against the negatives only.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64 or (N, C)
        Class indices (then this is cross-entropy) or 0/1 rows.
    ignore_index : int
        Index target whose rows contribute nothing.
    reduction : {"mean", "sum", "none"}
        ``mean`` averages over rows with at least one positive.

    Returns
    -------
    Tensor
        Shape () or (N,) with ``reduction="none"`` (0 for rows without positives).
    """
    z = upcast(logits)
    pos = positives_mask(target, z.shape[-1], ignore_index)
    negatives = z.masked_fill(pos, float("-inf")).logsumexp(-1, keepdim=True)
    # −log(e^{s_p}/(e^{s_p} + Σ_neg)) = log(e^{s_p} + Σ_neg) − s_p; no negatives ⇒ 0
    terms = torch.logaddexp(z, negatives) - z
    n_pos = pos.sum(-1)
    rows = terms.masked_fill(~pos, 0.0).sum(-1) / n_pos.clamp_min(1)
    return _reduce(rows, n_pos > 0, reduction)


class _Threshold(torch.autograd.Function):
    """t(s) with Σ_i σ((s_i − t)/τ) = k; backward by the implicit function theorem."""

    @staticmethod
    def forward(ctx, scores: Tensor, k: float, tau: float, n_iter: int) -> Tensor:  # type: ignore[override]
        lo = scores.min(-1, keepdim=True).values - 40.0 * tau
        hi = scores.max(-1, keepdim=True).values + 40.0 * tau
        for _ in range(n_iter):
            mid = (lo + hi) / 2
            over = torch.sigmoid((scores - mid) / tau).sum(-1, keepdim=True) > k
            lo, hi = torch.where(over, mid, lo), torch.where(over, hi, mid)
        t = (lo + hi) / 2
        ctx.save_for_backward(scores, t)
        ctx.tau = tau
        return t

    @staticmethod
    def backward(ctx, grad_t: Tensor):  # type: ignore[override]
        scores, t = ctx.saved_tensors
        m = torch.sigmoid((scores - t) / ctx.tau)
        slope = m * (1 - m)
        # ∂t/∂s_j = σ'_j / Σ_i σ'_i (differentiate Σ σ((s_i − t)/τ) = k)
        share = slope / slope.sum(-1, keepdim=True).clamp_min(torch.finfo(slope.dtype).tiny)
        return grad_t * share, None, None, None


def soft_top_k(scores: Tensor, k: float, tau: float = 1.0, n_iter: int = 60) -> Tensor:
    """Soft top-k membership ``σ((s − t)/τ)`` with the threshold t making each row sum to k.

    As τ → 0 it tends to the 0/1 indicator of the k largest scores (when the k-th and (k+1)-th
    differ). Differentiable: the threshold's gradient is the implicit one,
    ``∂t/∂s_j = σ'_j / Σ_i σ'_i``.

    Parameters
    ----------
    scores : Tensor, shape (..., C)
    k : float
        Soft count, 0 < k < C.
    tau : float
        Temperature > 0.
    n_iter : int
        Bisection steps (each halves the bracket of 80τ + score range).

    Returns
    -------
    Tensor, shape (..., C), entries in (0, 1), rows summing to k
    """
    s = upcast(scores)
    return torch.sigmoid((s - _threshold(s, k, tau, n_iter)) / tau)


def _threshold(s: Tensor, k: float, tau: float, n_iter: int = 60) -> Tensor:
    c = s.shape[-1]
    if not 0 < k < c:
        raise ConfigError(f"soft top-k needs 0 < k < C = {c}; got k={k}.")
    if tau <= 0:
        raise ConfigError(f"soft top-k needs a temperature tau > 0; got {tau}.")
    return _Threshold.apply(s, float(k), float(tau), int(n_iter))


def soft_top_k_loss(
    logits: Tensor,
    target: Tensor,
    k: float = 5,
    tau: float = 1.0,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """Soft top-k loss ``−(1/|P|)·Σ_{p∈P} log m_p`` with m = :func:`soft_top_k` (logits, k, τ).

    Zero only in the limit where every positive is in the top k by a margin ≫ τ.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64 or (N, C)
    k : float
        Size of the soft top-k, clipped to C − 1 for small C.
    tau : float
        Temperature.
    ignore_index : int
    reduction : {"mean", "sum", "none"}

    Returns
    -------
    Tensor, shape () or (N,)
    """
    c = logits.shape[-1]
    pos = positives_mask(target, c, ignore_index)
    kk = min(float(k), c - 1.0)
    z = upcast(logits)
    log_m = torch.nn.functional.logsigmoid((z - _threshold(z, kk, tau)) / tau)
    n_pos = pos.sum(-1)
    rows = -(log_m.masked_fill(~pos, 0.0)).sum(-1) / n_pos.clamp_min(1)
    return _reduce(rows, n_pos > 0, reduction)
