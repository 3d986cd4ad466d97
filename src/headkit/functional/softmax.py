"""Output maps from logits to probabilities: the softmax family."""

from __future__ import annotations

import torch
from torch import Tensor


def softmax(x: Tensor, dim: int = -1, temperature: float = 1.0) -> Tensor:
    """Softmax with temperature, safe for extreme logits and low-precision inputs.

    ``softmax(x)_i = exp(x_i / T) / Σ_j exp(x_j / T)``. The maximum is subtracted before
    exponentiating and half-precision inputs are computed in float32, so logits of ±1e4 in
    float16/bfloat16 give finite probabilities that sum to 1.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.
    temperature : float
        T > 0; T > 1 flattens, T < 1 sharpens.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities along ``dim``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    compute = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return torch.softmax(compute / temperature, dim=dim).to(x.dtype)


def log_softmax(x: Tensor, dim: int = -1, temperature: float = 1.0) -> Tensor:
    """Logarithm of :func:`softmax`, computed stably as ``x/T - logsumexp(x/T)``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.
    temperature : float
        T > 0.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Log-probabilities along ``dim``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    compute = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    return torch.log_softmax(compute / temperature, dim=dim).to(x.dtype)
