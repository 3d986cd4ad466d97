"""Activation functions and their closed-form derivatives.

Each activation ``f`` comes with ``f_derivative``, its derivative ``f'(x)`` written out by hand
(no autograd), so the pair can be checked against finite differences and used where an explicit
Jacobian diagonal is wanted. At a kink (x = 0 for the piecewise functions) the derivative takes
the right-hand value for ReLU and the left-hand value nowhere: ``relu'(0) = 0`` as in PyTorch.
All functions are element-wise: any shape in, the same shape out.

Mish (Misra 2019) is ``x·tanh(softplus(x))``; SELU's constants are those of Klambauer et al.
(2017), which make zero mean and unit variance a fixed point.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as TF

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


def relu_derivative(x: Tensor) -> Tensor:
    """Return ``1[x > 0]``, shape of ``x``."""
    return (x > 0).to(x.dtype)


def leaky_relu(x: Tensor, slope: float) -> Tensor:
    """Return ``x`` for ``x > 0`` and ``slope·x`` otherwise, shape of ``x``."""
    return TF.leaky_relu(x, slope)


def leaky_relu_derivative(x: Tensor, slope: float) -> Tensor:
    """Return ``1`` for ``x > 0`` and ``slope`` otherwise, shape of ``x``."""
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, slope))


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """Parametric ReLU: ``x`` for ``x > 0``, ``a·x`` otherwise; ``weight`` a broadcastable ``a``."""
    return torch.where(x > 0, x, weight * x)


def prelu_derivative(x: Tensor, weight: Tensor) -> Tensor:
    """Return ``∂prelu/∂x``: ``1`` for ``x > 0`` and ``a`` otherwise, shape of ``x``."""
    return torch.where(x > 0, torch.ones_like(x), weight.to(x.dtype).expand_as(x))


def elu(x: Tensor, alpha: float) -> Tensor:
    """Return ``x`` for ``x > 0`` and ``α(eˣ − 1)`` otherwise, shape of ``x``."""
    return TF.elu(x, alpha)


def elu_derivative(x: Tensor, alpha: float) -> Tensor:
    """Return ``1`` for ``x > 0`` and ``α·eˣ`` otherwise, shape of ``x``."""
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x.clamp_max(0)))


def selu(x: Tensor) -> Tensor:
    """Return ``λ·elu(x, α)`` with SELU's fixed-point constants λ, α; shape of ``x``."""
    return SELU_SCALE * TF.elu(x, SELU_ALPHA)


def selu_derivative(x: Tensor) -> Tensor:
    """Return ``λ`` for ``x > 0`` and ``λα·eˣ`` otherwise, shape of ``x``."""
    return SELU_SCALE * elu_derivative(x, SELU_ALPHA)


def gelu(x: Tensor) -> Tensor:
    """Exact GELU ``x·Φ(x)``, Φ the standard normal CDF; shape of ``x``."""
    return TF.gelu(x)


def gelu_derivative(x: Tensor) -> Tensor:
    """Return ``Φ(x) + x·φ(x)``, φ the standard normal density; shape of ``x``."""
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    return cdf + x * pdf


def silu(x: Tensor) -> Tensor:
    """SiLU / Swish ``x·σ(x)``; shape of ``x``."""
    return TF.silu(x)


def silu_derivative(x: Tensor) -> Tensor:
    """Return ``σ(x)·(1 + x·(1 − σ(x)))``; shape of ``x``."""
    s = torch.sigmoid(x)
    return s * (1 + x * (1 - s))


def mish(x: Tensor) -> Tensor:
    """Mish ``x·tanh(softplus(x))`` (Misra 2019); shape of ``x``.

    Non-monotone and smooth, with its minimum ≈ −0.3088 at x ≈ −1.1924, ``mish(0) = 0`` and
    ``mish(x)/x → 1`` as ``x → +∞``.
    """
    return x * torch.tanh(TF.softplus(x))


def mish_derivative(x: Tensor) -> Tensor:
    """Return ``tanh(sp(x)) + x·sech²(sp(x))·σ(x)`` with ``sp = softplus``; shape of ``x``."""
    t = torch.tanh(TF.softplus(x))
    return t + x * (1 - t * t) * torch.sigmoid(x)


def softplus(x: Tensor, beta: float) -> Tensor:
    """Return ``log(1 + e^{βx})/β``, computed stably; shape of ``x``."""
    return TF.softplus(x, beta)


def softplus_derivative(x: Tensor, beta: float) -> Tensor:
    """Return ``σ(βx)``; shape of ``x``."""
    return torch.sigmoid(beta * x)


def tanh_derivative(x: Tensor) -> Tensor:
    """Return ``1 − tanh²(x)``; shape of ``x``."""
    t = torch.tanh(x)
    return 1 - t * t


def sigmoid_derivative(x: Tensor) -> Tensor:
    """Return ``σ(x)·(1 − σ(x))``; shape of ``x``."""
    s = torch.sigmoid(x)
    return s * (1 - s)
