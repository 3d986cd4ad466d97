"""DeepFool (Moosavi-Dezfooli et al. 2016): the smallest L2 step that changes a prediction.

At the current point x_t the classifier f is linearised. For every class k other than the
original prediction ŷ, ``w′_k = ∇f_k − ∇f_ŷ`` and ``f′_k = f_k − f_ŷ``; the closest linearised
boundary is ``l = argmin_k |f′_k|/‖w′_k‖`` and the step is ``r_t = |f′_l|/‖w′_l‖²·w′_l``. Steps
are summed until the label changes; the total is scaled by ``1 + overshoot``. For an affine f the
first step lands exactly on the nearest decision boundary, so ‖r‖ (before overshoot, and a push of
``PUSH`` = 0.01 % past the boundary) is the minimal L2 distance ``min_k |f_k − f_ŷ|/‖w_k − w_ŷ‖``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from headkit.exceptions import ConfigError, DataError

PUSH = 1e-4


@dataclass
class DeepFoolResult:
    """Perturbations found by :func:`deepfool`.

    Attributes
    ----------
    perturbation : Tensor, shape (N, F)
        Total step r, overshoot included; ``x + r`` is the adversarial point.
    iterations : Tensor, shape (N,) int64
        Linearisation steps taken per row.
    flipped : Tensor, shape (N,) bool
        Whether the prediction at ``x + r`` differs from the original one.
    original : Tensor, shape (N,) int64
        The original predictions ŷ.
    """

    perturbation: Tensor
    iterations: Tensor
    flipped: Tensor
    original: Tensor


def _logit_jacobian(f: Callable[[Tensor], Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Logits (N, C) and their gradients (N, C, F), rows independent (C backward passes)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        z = f(x)
        if not z.requires_grad:  # logits without a gradient path: a zero Jacobian
            return z.detach(), x.new_zeros(len(x), z.shape[1], x.shape[1])
        grads = [
            torch.autograd.grad(z[:, c].sum(), x, retain_graph=c + 1 < z.shape[1])[0]
            for c in range(z.shape[1])
        ]
    return z.detach(), torch.stack(grads, dim=1)


def _step(z: Tensor, jac: Tensor, label: Tensor) -> tuple[Tensor, Tensor]:
    """One DeepFool step per row towards the closest linearised boundary, shape (n, F).

    Also returns a mask (n,) of rows whose logit differences have no gradient at all (a locally
    constant classifier), for which no step exists.
    """
    rows = torch.arange(len(label), device=z.device)
    f_diff = z - z[rows, label].unsqueeze(1)  # (n, C)
    w_diff = jac - jac[rows, label].unsqueeze(1)  # (n, C, F)
    w_norm = w_diff.flatten(2).norm(dim=-1)  # (n, C)
    ratio = f_diff.abs() / w_norm.clamp_min(1e-12)
    ratio[rows, label] = float("inf")
    best = ratio.argmin(dim=1)
    flat = w_norm[rows, best] == 0
    scale = f_diff[rows, best].abs() / w_norm[rows, best].clamp_min(1e-12).square()
    scale = torch.where(flat, torch.zeros_like(scale), scale)
    # 0.01 % past the boundary, so that with overshoot=0 a step landing on it still flips the label
    return (scale * (1 + PUSH)).unsqueeze(1) * w_diff[rows, best], flat


def deepfool(
    f: Callable[[Tensor], Tensor],
    x: Tensor,
    overshoot: float = 0.02,
    max_iter: int = 50,
) -> DeepFoolResult:
    """Run multi-class DeepFool on a batch.

    Parameters
    ----------
    f : callable
        Maps inputs (n, F) to logits (n, C), each row depending only on its own input (eval mode,
        no batch statistics).
    x : Tensor, shape (N, F)
    overshoot : float
        The total step is ``(1 + overshoot)·Σ_t r_t`` (0.02 in the paper).
    max_iter : int
        Steps per row before giving up (``flipped`` is then False, as for rows where the logits
        have no gradient, e.g. a kNN head).

    Returns
    -------
    DeepFoolResult
    """
    if x.dim() != 2:
        raise DataError(f"deepfool expects inputs of shape (N, F); got {tuple(x.shape)}.")
    if overshoot < 0 or max_iter < 1:
        raise ConfigError("deepfool needs overshoot >= 0 and max_iter >= 1.")
    with torch.no_grad():
        original = f(x).argmax(dim=1)
    total = torch.zeros_like(x)
    iterations = torch.zeros(len(x), dtype=torch.int64, device=x.device)
    active = torch.ones(len(x), dtype=torch.bool, device=x.device)
    for _ in range(max_iter):
        idx = active.nonzero().squeeze(1)
        if len(idx) == 0:
            break
        z, jac = _logit_jacobian(f, x[idx] + (1 + overshoot) * total[idx])
        still = z.argmax(dim=1) == original[idx]
        active[idx[~still]] = False
        idx = idx[still]
        if len(idx) == 0:
            break
        step, flat = _step(z[still], jac[still], original[idx])
        total[idx] += step
        iterations[idx] += 1
        active[idx[flat]] = False  # no gradient: DeepFool cannot move these rows
    perturbation = (1 + overshoot) * total
    with torch.no_grad():
        flipped = f(x + perturbation).argmax(dim=1) != original
    return DeepFoolResult(perturbation.detach(), iterations, flipped, original)
