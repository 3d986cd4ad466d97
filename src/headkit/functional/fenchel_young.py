"""Fenchel–Young losses of the entmax family: the natural losses of sparse output maps.

For the regulariser ``-H^T_α`` (Tsallis entropy ``H^T_α(p) = (1 - Σ p_i^α) / (α(α - 1))``, Shannon
entropy at α = 1) the Fenchel–Young loss (Blondel, Martins & Niculae 2020; Peters et al. 2019) is

    L_α(z, y) = ⟨p* - y, z⟩ + H^T_α(p*) - H^T_α(y),    p* = entmax_α(z),

which is ≥ 0, is 0 exactly when ``p* = y`` (a perfect, possibly sparse, prediction), and has
gradient ``∂L/∂z = p* - y``. α = 1 is softmax cross-entropy, α = 2 the sparsemax loss, α = 1.5
the 1.5-entmax loss. By the envelope theorem ``p*`` may be treated as a constant when
differentiating, also with respect to a learnable α, so no autograd runs through the map.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.functional.losses import (
    Reduction,
    check_logits_target,
    reduce_rows,
    target_probs,
    upcast,
    zero_safe_product,
)
from headkit.functional.softmax import softmax
from headkit.functional.sparse import entmax15, entmax_bisect, sparsemax


def entmax_map(z: Tensor, alpha: float | Tensor, dim: int = -1, n_iter: int = 50) -> Tensor:
    """Return ``entmax_α(z)`` using the exact kernel for α ∈ {1, 1.5, 2}, else bisection."""
    if not isinstance(alpha, Tensor):
        if alpha == 1:
            return softmax(z, dim=dim)
        if alpha == 1.5:
            return entmax15(z, dim=dim)
        if alpha == 2:
            return sparsemax(z, dim=dim)
    return entmax_bisect(z, alpha, dim=dim, n_iter=n_iter)


def tsallis_entropy(p: Tensor, alpha: float | Tensor, dim: int = -1) -> Tensor:
    """Tsallis α-entropy ``(1 - Σ p^α) / (α(α - 1))``; Shannon ``-Σ p log p`` where α = 1.

    Parameters
    ----------
    p : Tensor, shape (..., C, ...)
        Points of the simplex along ``dim``.
    alpha : float or Tensor
        α ≥ 1; a tensor broadcasts against ``p`` (size 1 along ``dim``).
    dim : int
        The class dimension.

    Returns
    -------
    Tensor, shape of ``p`` without ``dim``
    """
    positive = p > 0
    safe_p = torch.where(positive, p, torch.ones_like(p))
    shannon = -torch.where(positive, p * safe_p.log(), torch.zeros_like(p)).sum(dim)
    if not isinstance(alpha, Tensor):
        if alpha == 1:
            return shannon
        alpha = torch.tensor(float(alpha), dtype=p.dtype, device=p.device)
    alpha = alpha.to(p.dtype)
    a = alpha.squeeze(dim) if alpha.dim() == p.dim() else alpha
    is_one = a == 1
    safe_a = torch.where(is_one, torch.full_like(a, 2.0), a)
    powers = torch.where(positive, safe_p ** alpha.where(alpha != 1, 2.0), torch.zeros_like(p))
    tsallis = (1 - powers.sum(dim)) / (safe_a * (safe_a - 1))
    return torch.where(is_one, shannon, tsallis)


def fenchel_young_loss(
    logits: Tensor,
    target: Tensor,
    alpha: float | Tensor = 1.5,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
    n_iter: int = 50,
) -> Tensor:
    """The entmax-α Fenchel–Young loss ``⟨p* - y, z⟩ + H_α(p*) - H_α(y)``.

    Equivalent to ``entmax.entmax_bisect_loss(z, y, alpha)`` (the sparsemax loss of Martins &
    Astudillo 2016 at α = 2, the 1.5-entmax loss of Peters et al. 2019 at α = 1.5) and to
    softmax cross-entropy at α = 1.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
        Logits z.
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices or probability rows y.
    alpha : float or Tensor
        α ≥ 1; a tensor (scalar or (N, 1)) receives a gradient.
    weight : Tensor, shape (C,), optional
        Class weights.
    ignore_index : int
        Index target to skip.
    reduction : {"mean", "sum", "none"}
        How to combine rows.
    n_iter : int
        Bisection steps for α outside {1, 1.5, 2}.

    Returns
    -------
    Tensor
        Scalar, or (N,) for ``reduction="none"``.
    """
    check_logits_target(logits, target)
    z = upcast(logits)
    with torch.no_grad():
        detached_alpha = alpha.detach() if isinstance(alpha, Tensor) else alpha
        p = entmax_map(z.detach(), detached_alpha, -1, n_iter)
    y = target_probs(target, z.shape[-1], z.dtype, ignore_index)
    if isinstance(alpha, Tensor):
        alpha = alpha.to(z.dtype)
        if alpha.dim() == 1:
            alpha = alpha.unsqueeze(-1)
    gap = p - y  # 0 on a masked class (z = -inf), which then adds 0, not 0·(-inf)
    rows = zero_safe_product(gap, z).sum(-1)
    rows = rows + tsallis_entropy(p, alpha) - tsallis_entropy(y, alpha)
    return reduce_rows(rows, target, weight, ignore_index, reduction)
