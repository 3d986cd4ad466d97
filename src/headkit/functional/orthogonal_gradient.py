"""⊥Grad: the gradient with its component along the weights removed (Prieto et al. 2025).

"Grokking at the Edge of Numerical Stability": past 100 % training accuracy, the cheapest way to
lower cross-entropy is to scale the logits up along the current weights ("naïve loss
minimisation"), which ends in Softmax Collapse. ``g_⊥ = g − (gᵀθ / ‖θ‖²)·θ`` per parameter
tensor forbids that direction and leaves the rest of the step to any optimiser.
"""

from __future__ import annotations

import torch
from torch import Tensor


def orthogonal_gradient(grad: Tensor, weight: Tensor, eps: float = 1e-30) -> Tensor:
    """Return ``g − (gᵀθ / ‖θ‖²)·θ`` (the whole tensor flattened as one vector).

    Parameters
    ----------
    grad : Tensor, shape of ``weight``
        The gradient g.
    weight : Tensor, any shape
        The parameter θ; where ``‖θ‖² <= eps`` g is returned unchanged.
    eps : float
        Smallest ``‖θ‖²`` treated as non-zero.

    Returns
    -------
    Tensor, shape and dtype of ``grad``
        Orthogonal to θ: ``⟨g_⊥, θ⟩ = 0`` up to rounding; projecting twice changes nothing.
    """
    if grad.shape != weight.shape:
        raise ValueError(f"grad {tuple(grad.shape)} and weight {tuple(weight.shape)} differ.")
    g, w = grad.double(), weight.detach().double()
    norm2 = (w * w).sum()
    if norm2 <= eps:
        return grad
    return (g - (g * w).sum() / norm2 * w).to(grad.dtype)


@torch.no_grad()
def project_gradients_(parameters: list[Tensor]) -> None:
    """Replace each parameter's ``.grad`` in place by :func:`orthogonal_gradient` of it."""
    for p in parameters:
        if p.grad is not None:
            p.grad.copy_(orthogonal_gradient(p.grad, p))
