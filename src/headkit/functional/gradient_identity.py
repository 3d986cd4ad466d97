"""The analytic gradient of a linear softmax head, and what a single-input gradient reveals.

For logits ``z = W h + b`` and softmax cross-entropy with a hard or soft target y
(Wang et al., "Towards Eliminating Hard Label Constraints in Gradient Inversion Attacks"):
``∂L/∂b = p − y`` and ``∂L/∂W = (p − y) hᵀ``. More generally, for *any* loss of z,
``∂L/∂W = g hᵀ`` with ``g = ∂L/∂z = ∂L/∂b``; so from one input's gradient the head's input is
``h = (∂L/∂W)_k / (∂L/∂b)_k`` for any k with ``(∂L/∂b)_k ≠ 0``, and under softmax cross-entropy
the target is ``y = p − ∂L/∂b`` (label-smoothed and mixup targets included).
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import DataError
from headkit.functional.losses import target_probs


def softmax_ce_head_gradients(
    features: Tensor, logits: Tensor, target: Tensor
) -> tuple[Tensor, Tensor]:
    """Closed-form gradients of mean softmax cross-entropy w.r.t. a linear head's W and b.

    Parameters
    ----------
    features : Tensor, shape (N, D)
        The head's input h.
    logits : Tensor, shape (N, C)
        ``h Wᵀ + b``.
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices or probability rows (label-smoothed, mixup).

    Returns
    -------
    (Tensor, Tensor)
        ``∂L/∂W = (P − Y)ᵀ H / N`` of shape (C, D) and ``∂L/∂b = Σ_n (p_n − y_n) / N`` of shape
        (C,).
    """
    if features.dim() != 2 or logits.dim() != 2 or len(features) != len(logits):
        raise DataError(
            f"Expected features (N, D) and logits (N, C); got {tuple(features.shape)} and "
            f"{tuple(logits.shape)}."
        )
    n = logits.shape[0]
    error = torch.softmax(logits, dim=-1) - target_probs(
        target, logits.shape[-1], logits.dtype, -100
    )
    return error.T @ features.to(error.dtype) / n, error.sum(0) / n


def recover_head_input(grad_weight: Tensor, grad_bias: Tensor) -> Tensor:
    """Recover the input h of a linear head from one input's gradients, shape (D,).

    Uses ``h = (∂L/∂W)_k / (∂L/∂b)_k`` at the k with the largest ``|∂L/∂b_k|`` (the best
    conditioned row). Exact for any loss of the logits when the gradient comes from a single input;
    with a batch it returns a gradient-weighted mixture of the inputs.

    Parameters
    ----------
    grad_weight : Tensor, shape (C, D)
    grad_bias : Tensor, shape (C,)
    """
    if grad_weight.dim() != 2 or grad_bias.shape != grad_weight.shape[:1]:
        raise DataError(
            f"Expected ∂L/∂W (C, D) and ∂L/∂b (C,); got {tuple(grad_weight.shape)} and "
            f"{tuple(grad_bias.shape)}."
        )
    k = int(grad_bias.abs().argmax())
    if grad_bias[k] == 0:
        raise DataError("∂L/∂b is zero everywhere (a saturated loss); nothing can be recovered.")
    return grad_weight[k] / grad_bias[k]


def recover_softmax_target(grad_bias: Tensor, probs: Tensor) -> Tensor:
    """Recover a softmax cross-entropy target from one input's bias gradient: ``y = p − ∂L/∂b``.

    Parameters
    ----------
    grad_bias : Tensor, shape (C,)
    probs : Tensor, shape (C,)
        The softmax probabilities of that input (an attacker who knows W, b and the recovered h
        computes them).

    Returns
    -------
    Tensor, shape (C,)
        The target row (one-hot, label-smoothed or mixed).
    """
    return probs - grad_bias
