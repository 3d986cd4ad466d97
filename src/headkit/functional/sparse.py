"""Sparse output maps: sparsemax, 1.5-entmax (exact, sort-based) and α-entmax by bisection.

All three solve ``p = argmax_{p ∈ Δ} ⟨p, z⟩ + H^T_α(p)`` with the Tsallis entropy
``H^T_α(p) = (1 - Σ p_i^α) / (α(α - 1))``; the solution is
``p_i = [(α - 1) z_i - τ]_+^{1/(α-1)}`` with τ chosen so that ``Σ p = 1``. α = 2 is sparsemax
(Martins & Astudillo 2016), α → 1 recovers softmax, α = 1.5 has an exact sort-based solution
(Peters, Niculae & Martins 2019). Outputs contain exact zeros and sum to 1. Each map is a private
``torch.autograd.Function`` with a closed-form backward: no autograd through the sort or the
bisection loop.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from headkit.functional.softmax import check_class_dim, softmax

_HALF = (torch.float16, torch.bfloat16)


def _ranks_like(x: Tensor) -> Tensor:
    """Return 1..C along the last dim, shaped to broadcast against ``x``."""
    return torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype)


class _SparsemaxFunction(torch.autograd.Function):
    """Sparsemax along the last dim; backward ``J^T g = s ⊙ (g - mean_{i∈S} g_i)``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = x - x.max(dim=-1, keepdim=True).values
        z_sorted = torch.sort(x, dim=-1, descending=True).values
        cumsum = z_sorted.cumsum(dim=-1) - 1
        support = _ranks_like(x) * z_sorted > cumsum
        k = support.sum(dim=-1, keepdim=True).clamp(min=1)  # NaN rows stay NaN
        tau = cumsum.gather(-1, k - 1) / k.to(x.dtype)
        p = torch.clamp(x - tau, min=0)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (p,) = ctx.saved_tensors
        support = (p > 0).to(grad.dtype)
        g = grad * support
        mean = g.sum(dim=-1, keepdim=True) / support.sum(dim=-1, keepdim=True)
        return support * (g - mean)


class _Entmax15Function(torch.autograd.Function):
    """Exact 1.5-entmax along the last dim; backward uses ``√p`` (Peters et al. 2019, Alg. 2)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        x = (x - x.max(dim=-1, keepdim=True).values) / 2
        z_sorted = torch.sort(x, dim=-1, descending=True).values
        rho = _ranks_like(x)
        mean = z_sorted.cumsum(dim=-1) / rho
        mean_sq = (z_sorted**2).cumsum(dim=-1) / rho
        ss = rho * (mean_sq - mean**2)
        delta = (1 - ss) / rho
        tau = mean - torch.sqrt(torch.clamp(delta, min=0))
        k = (tau <= z_sorted).sum(dim=-1, keepdim=True).clamp(min=1)
        tau_star = tau.gather(-1, k - 1)
        p = torch.clamp(x - tau_star, min=0) ** 2
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (p,) = ctx.saved_tensors
        root = p.sqrt()
        g = grad * root
        q = g.sum(dim=-1, keepdim=True) / root.sum(dim=-1, keepdim=True)
        return g - q * root


class _EntmaxBisectFunction(torch.autograd.Function):
    """α-entmax along the last dim by bisection on τ; closed-form gradients for x and α."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: Tensor, n_iter: int) -> Tensor:
        am1 = alpha - 1
        d = x.shape[-1]
        x = x * am1
        max_val = x.max(dim=-1, keepdim=True).values
        tau_lo = max_val - 1.0
        tau_hi = max_val - (1.0 / d) ** am1
        dm = tau_hi - tau_lo
        p = torch.zeros_like(x)
        for _ in range(n_iter):
            dm = dm / 2
            tau_m = tau_lo + dm
            p = torch.clamp(x - tau_m, min=0) ** (1 / am1)
            mask = p.sum(dim=-1, keepdim=True) >= 1
            tau_lo = torch.where(mask, tau_m, tau_lo)
        p = p / p.sum(dim=-1, keepdim=True)
        ctx.save_for_backward(p, alpha)
        return p

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, Tensor | None, None]:
        p, alpha = ctx.saved_tensors
        positive = p > 0
        gppr = torch.where(positive, p ** (2 - alpha), torch.zeros_like(p))
        g = grad * gppr
        q = g.sum(dim=-1, keepdim=True) / gppr.sum(dim=-1, keepdim=True)
        grad_x = g - q * gppr
        grad_alpha = None
        if ctx.needs_input_grad[1]:
            plogp = torch.where(positive, p * torch.log(torch.where(positive, p, 1)), 0)
            ent = plogp.sum(dim=-1, keepdim=True)
            skewed = gppr / gppr.sum(dim=-1, keepdim=True)
            d_alpha = grad * (p - skewed) / (alpha - 1) ** 2
            d_alpha = d_alpha - grad * (plogp - skewed * ent) / (alpha - 1)
            grad_alpha = d_alpha.sum(dim=-1, keepdim=True)
        return grad_x, grad_alpha, None


def _apply_last(fn: Any, x: Tensor, dim: int, *args: Any) -> Tensor:
    """Run a last-dim kernel along ``dim``, in float32 for half-precision inputs."""
    dim = check_class_dim(x, dim)
    compute = x.float() if x.dtype in _HALF else x
    if dim == x.dim() - 1:  # no transpose: cheaper, and ONNX export rejects perm (0, -1)
        return fn(compute, *args).to(x.dtype)
    return fn(compute.movedim(dim, -1), *args).movedim(-1, dim).to(x.dtype)


def sparsemax(x: Tensor, dim: int = -1) -> Tensor:
    """Sparsemax: the Euclidean projection of the logits onto the probability simplex.

    ``sparsemax(z) = argmin_{p ∈ Δ} ‖p - z‖² = [z - τ(z)]_+`` with τ found by sorting
    (Martins & Astudillo 2016, "From Softmax to Sparsemax"). Equivalent to
    ``entmax_bisect(z, alpha=2)``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities with exact zeros, summing to 1 along ``dim``.
    """
    return _apply_last(_SparsemaxFunction.apply, x, dim)


def entmax15(x: Tensor, dim: int = -1) -> Tensor:
    """1.5-entmax, computed exactly by sorting (Peters, Niculae & Martins 2019).

    ``entmax15(z)_i = [z_i / 2 - τ]_+²`` with τ the exact threshold making the sum 1; between
    softmax (dense) and sparsemax (sparsest). Equivalent to ``entmax_bisect(z, alpha=1.5)``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities with exact zeros, summing to 1 along ``dim``.
    """
    return _apply_last(_Entmax15Function.apply, x, dim)


def entmax_bisect(
    x: Tensor, alpha: float | Tensor = 1.5, dim: int = -1, n_iter: int = 50
) -> Tensor:
    """α-entmax by bisection on the threshold (Peters et al. 2019; Correia et al. 2019).

    ``entmax_α(z)_i = [(α - 1) z_i - τ]_+^{1/(α-1)}``, τ found by ``n_iter`` bisection steps,
    then renormalised. α = 1 returns :func:`headkit.functional.softmax` exactly, α = 2 equals
    sparsemax. A tensor α is differentiable ("Adaptively Sparse Transformers", Correia, Niculae &
    Martins 2019): ``∂p/∂α`` has a closed form.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    alpha : float or Tensor
        α ≥ 1. A tensor must broadcast against ``x`` with size 1 along ``dim`` (e.g. one α per
        row, shape (N, 1) for ``dim=-1``, or a scalar tensor).
    dim : int
        The class dimension.
    n_iter : int
        Bisection steps (50 reaches float64 resolution).

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities summing to 1 along ``dim``; exact zeros for α > 1.
    """
    dim = check_class_dim(x, dim)
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1; got {n_iter}.")
    if not isinstance(alpha, Tensor):
        if alpha < 1:
            raise ValueError(f"alpha must be >= 1; got {alpha}.")
        if alpha == 1:
            return softmax(x, dim=dim)
        alpha = torch.tensor(float(alpha))
    compute = x.float() if x.dtype in _HALF else x
    alpha = alpha.to(device=x.device, dtype=compute.dtype)
    if bool((alpha < 1).any()):
        raise ValueError("alpha must be >= 1 everywhere.")
    shape = list(x.shape)
    shape[dim] = 1
    try:
        alpha = alpha.expand(shape) if alpha.dim() else alpha.reshape([1] * x.dim()).expand(shape)
    except RuntimeError:
        raise ValueError(
            f"alpha of shape {tuple(alpha.shape)} must broadcast to {tuple(shape)} "
            f"(size 1 along dim={dim})."
        ) from None
    is_one = alpha == 1
    safe = torch.where(is_one, torch.full_like(alpha, 2.0), alpha)
    out = _EntmaxBisectFunction.apply(compute.movedim(dim, -1), safe.movedim(dim, -1), n_iter)
    out = out.movedim(-1, dim)
    if bool(is_one.any()):
        out = torch.where(is_one, torch.softmax(compute, dim=dim), out)
    return out.to(x.dtype)
