"""Criticality at initialisation and residual branch scaling.

Criticality (Roberts, Yaida & Hanin, *The Principles of Deep Learning Theory*, 2022): with
``W ~ N(0, C_W / fan_in)`` and ``b ~ N(0, C_b)``, the mean squared pre-activation
``K_l = E[z_l²]`` follows ``K_{l+1} = C_b + C_W·E[σ(z)²]``; at the critical ``(C_b, C_W)`` it
neither grows nor decays with depth, so signals and gradients survive many layers. ReLU-like
(scale-invariant) activations are critical at ``(0, 2/(1 + a²))`` (He init for ReLU), odd
activations with ``σ'(0) ≠ 0`` (tanh) at ``(0, 1/σ'(0)²)``. The deviation from the
infinite-width limit grows with the depth-to-width ratio ``r = Σ_l 1/n_l`` (``L/n`` for a
constant width n).

Residual branch scaling (SkipInit, ReZero, Inception-ResNet): ``h_{l+1} = h_l + α·f(h_l)``. With
independent branches of the same variance as their input, ``Var(h_L)/Var(h_0) = (1 + α²)^L``,
at most e for ``α = 1/√L``, against ``2^L`` for ``α = 1``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from headkit.exceptions import ConfigError

SCALE_INVARIANT = ("relu", "leaky_relu")
ODD_UNIT_SLOPE = ("tanh",)


def critical_constants(activation: str, negative_slope: float = 0.01) -> tuple[float, float]:
    """Return the critical ``(C_b, C_W)`` of an activation.

    Parameters
    ----------
    activation : str
        ``relu``, ``leaky_relu`` (with ``negative_slope`` a) or ``tanh``.
    negative_slope : float
        Slope a of leaky ReLU for x < 0.

    Returns
    -------
    (c_b, c_w) : tuple of float
        ``(0, 2)`` for ReLU, ``(0, 2/(1 + a²))`` for leaky ReLU, ``(0, 1)`` for tanh.

    Raises
    ------
    ConfigError
        For an activation without a known critical point; pass ``c_w`` and ``c_b`` explicitly.
    """
    name = activation.lower()
    if name == "relu":
        return 0.0, 2.0
    if name == "leaky_relu":
        return 0.0, 2.0 / (1.0 + negative_slope**2)
    if name == "tanh":
        return 0.0, 1.0
    raise ConfigError(
        f"No closed-form critical initialisation is known here for activation {activation!r}; "
        "use relu, leaky_relu or tanh, or give the constants: init='critical:c_w=2,c_b=0'."
    )


def critical_normal_(
    weight: Tensor,
    bias: Tensor | None,
    c_w: float,
    c_b: float = 0.0,
    generator: torch.Generator | None = None,
) -> None:
    """Fill ``weight ~ N(0, C_W / fan_in)`` and ``bias ~ N(0, C_b)`` in place.

    Parameters
    ----------
    weight : Tensor, shape (out_features, fan_in)
    bias : Tensor, shape (out_features,), or None
    c_w, c_b : float
        Weight and bias variance constants (≥ 0).
    generator : torch.Generator, optional
    """
    if c_w < 0 or c_b < 0:
        raise ConfigError(f"c_w and c_b must be >= 0; got {c_w} and {c_b}.")
    with torch.no_grad():
        std = math.sqrt(c_w / weight.shape[1])
        weight.copy_(torch.randn(weight.shape, generator=generator, dtype=weight.dtype) * std)
        if bias is not None:
            noise = torch.randn(bias.shape, generator=generator, dtype=bias.dtype)
            bias.copy_(noise * math.sqrt(c_b))


def aspect_ratio(widths: Sequence[int]) -> float:
    """Return the depth-to-width ratio ``r = Σ_l 1/n_l`` of the hidden widths (``L/n`` if equal).

    ``r → 0`` is the infinite-width (Gaussian, kernel) limit; fluctuations and the
    representation learning that departs from it grow with r.
    """
    return float(sum(1.0 / w for w in widths))


def residual_add(x: Tensor, branch: Tensor, alpha: float | Tensor) -> Tensor:
    """Return ``x + α·branch``, shapes broadcast (the residual update of a scaled block)."""
    return x + alpha * branch


def residual_variance_gain(alpha: float, depth: int) -> float:
    """Return ``(1 + α²)^L``, the variance growth of L residual blocks with independent branches."""
    return (1.0 + alpha**2) ** depth
