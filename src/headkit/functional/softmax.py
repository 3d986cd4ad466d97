"""Output maps from logits to probabilities: the softmax family.

Dense maps live here (softmax with temperature, Gumbel-softmax, Scalable-Softmax, Power-Softmax,
one-vs-all sigmoid); the sparse maps (sparsemax, entmax) are in :mod:`headkit.functional.sparse`.
Every map takes the class dimension ``dim``, rejects an empty class dimension with a
:class:`headkit.exceptions.DataError`, and computes half-precision inputs in float32.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.exceptions import DataError

_HALF = (torch.float16, torch.bfloat16)


def check_class_dim(x: Tensor, dim: int) -> int:
    """Validate the class dimension of ``x`` and return it as a non-negative index.

    Raises
    ------
    DataError
        When ``x`` is a scalar, ``dim`` is out of range, or the class dimension is empty.
    """
    if x.dim() == 0:
        raise DataError("Expected logits with a class dimension; got a scalar tensor.")
    if not -x.dim() <= dim < x.dim():
        raise DataError(f"dim={dim} is out of range for logits of shape {tuple(x.shape)}.")
    dim = dim % x.dim()
    if x.shape[dim] == 0:
        raise DataError(
            f"The class dimension (dim={dim}) of logits of shape {tuple(x.shape)} is empty; "
            "pass at least one class."
        )
    return dim


def _upcast(x: Tensor) -> Tensor:
    return x.float() if x.dtype in _HALF else x


def _scaled(x: Tensor, temperature: float) -> Tensor:
    """``x / T`` in float32 or wider; no extra pass over ``x`` when T = 1."""
    x = _upcast(x)
    return x if temperature == 1 else x / temperature


def _masked(x: Tensor, mask: Tensor | None, dim: int) -> tuple[Tensor, Tensor | None]:
    """Set entries where ``mask`` is False to -inf; rows with no entry left become 0 (kept).

    Returns the filled logits and, when some row is fully masked, a boolean of the rows that
    keep at least one entry (broadcastable along ``dim``).
    """
    if mask is None:
        return x, None
    if mask.dtype != torch.bool:
        raise DataError(f"mask must be a boolean tensor (True = keep); got dtype {mask.dtype}.")
    try:
        mask = mask.expand_as(x)
    except RuntimeError:
        raise DataError(
            f"mask of shape {tuple(mask.shape)} does not broadcast to logits {tuple(x.shape)}."
        ) from None
    alive = mask.any(dim=dim, keepdim=True)
    filled = x.masked_fill(~mask, float("-inf"))
    if bool(alive.all()):
        return filled, None
    return torch.where(alive, filled, torch.zeros_like(x)), alive


def softmax(
    x: Tensor, dim: int = -1, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """Softmax with temperature and an optional mask, safe for extreme and low-precision logits.

    ``softmax(x)_i = exp(x_i / T) / Σ_j exp(x_j / T)``, the sum over the entries the mask keeps;
    masked entries get probability exactly 0 (their logits are replaced by -inf). The maximum is
    subtracted before exponentiating and half-precision inputs are computed in float32, so logits
    of ±1e4 in float16/bfloat16 give finite probabilities that sum to 1. The result is invariant
    to adding a constant to ``x``; T → 0 tends to the one-hot argmax, T → ∞ to the uniform
    distribution over the kept entries.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.
    temperature : float
        T > 0; T > 1 flattens, T < 1 sharpens.
    mask : Tensor of bool, broadcastable to ``x``, optional
        True where an entry takes part. A slice with no True entry gives all zeros (not NaN).

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities along ``dim``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    dim = check_class_dim(x, dim)
    z, alive = _masked(_scaled(x, temperature), mask, dim)
    p = torch.softmax(z, dim=dim)
    if alive is not None:
        p = p * alive
    return p.to(x.dtype)


def log_softmax(
    x: Tensor, dim: int = -1, temperature: float = 1.0, mask: Tensor | None = None
) -> Tensor:
    """Logarithm of :func:`softmax`, computed stably as ``x/T - logsumexp(x/T)``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.
    temperature : float
        T > 0.
    mask : Tensor of bool, broadcastable to ``x``, optional
        True where an entry takes part; masked entries (and fully masked slices) give -inf.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Log-probabilities along ``dim``.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    dim = check_class_dim(x, dim)
    z, alive = _masked(_scaled(x, temperature), mask, dim)
    out = torch.log_softmax(z, dim=dim)
    if alive is not None:
        out = out.masked_fill(~alive, float("-inf"))
    return out.to(x.dtype)


def gumbel_noise(x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Standard Gumbel noise ``g = -log(E)``, ``E ~ Exponential(1)``, shaped like ``x``."""
    noise = torch.empty_like(_upcast(x)).exponential_(generator=generator)
    return -noise.log()


def gumbel_softmax(
    x: Tensor,
    tau: float = 1.0,
    hard: bool = False,
    dim: int = -1,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gumbel-softmax sample with an optional straight-through one-hot (Jang et al. 2017).

    ``y = softmax((x + g) / τ)`` with ``g_i`` i.i.d. standard Gumbel; as τ → 0 the sample tends
    to the one-hot ``argmax(x + g)``, which is distributed as ``softmax(x)`` (Gumbel-max trick).
    With ``hard=True`` the forward value is that exact one-hot and the backward pass is the
    soft sample's (straight-through): ``y_hard - y.detach() + y``.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits (unnormalised log-probabilities).
    tau : float
        Temperature τ > 0.
    hard : bool
        Return a one-hot sample with straight-through gradients.
    dim : int
        The class dimension.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        A random point of the simplex along ``dim`` (one-hot when ``hard``).
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0; got {tau}.")
    dim = check_class_dim(x, dim)
    y = torch.softmax((_upcast(x) + gumbel_noise(x, generator)) / tau, dim=dim)
    if hard:
        index = y.argmax(dim=dim, keepdim=True)
        one_hot = torch.zeros_like(y).scatter_(dim, index, 1.0)
        y = one_hot - y.detach() + y
    return y.to(x.dtype)


def gumbel_temperature(
    progress: float, tau: float = 1.0, rate: float = 0.0, tau_min: float = 0.5
) -> float:
    """Annealed Gumbel-softmax temperature ``max(τ_min, τ·exp(−r·t))`` (Jang et al. 2017, §4).

    The paper anneals ``τ = max(0.5, exp(−r·t))`` over the global step t (r ~ 1e-5 to 1e-4,
    updated every N steps); here t is the fraction of the fit done, in [0, 1], so ``rate`` is
    the total decay of log τ over one fit and the schedule does not depend on the data size.
    ``rate = 0`` is the fixed temperature τ (the floor then does not apply).

    Parameters
    ----------
    progress : float
        t, the fraction of training done, in [0, 1].
    tau : float
        Starting temperature τ > 0.
    rate : float
        Decay r >= 0 of log τ over the fit.
    tau_min : float
        Floor τ_min > 0.

    Returns
    -------
    float
    """
    if tau <= 0 or tau_min <= 0 or rate < 0:
        raise ValueError(f"Need tau > 0, tau_min > 0 and rate >= 0; got {tau}, {tau_min}, {rate}.")
    if rate == 0:
        return float(tau)
    return max(float(tau_min), float(tau) * math.exp(-rate * min(max(progress, 0.0), 1.0)))


def _ssmax_scale(x: Tensor, s: float | Tensor, dim: int, n: int | None) -> Tensor | float:
    size = x.shape[dim] if n is None else n
    if size < 1:
        raise ValueError(f"n must be >= 1; got {size}.")
    return s * math.log(size)


def scalable_softmax(
    x: Tensor, s: float | Tensor = 1.0, dim: int = -1, n: int | None = None
) -> Tensor:
    """Scalable-Softmax (SSMax; Nakanishi 2025): softmax of logits scaled by ``s·log n``.

    ``SSMax(x)_i = n^{s·x_i} / Σ_j n^{s·x_j} = softmax(s · log(n) · x)_i``. With one logit
    larger by a fixed gap, plain softmax's maximum probability fades like ``1/n`` as the number
    of entries ``n`` grows, while SSMax's stays bounded away from 0 (→ 1 when ``s·gap > 1``).

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    s : float or Tensor
        Scaling parameter (learnable in :class:`headkit.nn.outputs.ScalableSoftmax`); a tensor
        must broadcast against ``x``.
    dim : int
        The class dimension.
    n : int, optional
        The size used in ``log n``; defaults to ``x.shape[dim]``.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities along ``dim``.
    """
    dim = check_class_dim(x, dim)
    scale = _ssmax_scale(x, s, dim, n)
    return torch.softmax(_upcast(x) * scale, dim=dim).to(x.dtype)


def log_scalable_softmax(
    x: Tensor, s: float | Tensor = 1.0, dim: int = -1, n: int | None = None
) -> Tensor:
    """Logarithm of :func:`scalable_softmax`, ``log_softmax(s·log(n)·x)``; same arguments."""
    dim = check_class_dim(x, dim)
    scale = _ssmax_scale(x, s, dim, n)
    return torch.log_softmax(_upcast(x) * scale, dim=dim).to(x.dtype)


def log_power_softmax(x: Tensor, p: float = 2.0, dim: int = -1, eps: float = 1e-6) -> Tensor:
    """Logarithm of :func:`power_softmax`, ``p·log(abs(x)+ε) - logsumexp(p·log(abs(x)+ε))``."""
    if p <= 0:
        raise ValueError(f"power p must be > 0; got {p}.")
    if eps < 0:
        raise ValueError(f"eps must be >= 0; got {eps}.")
    dim = check_class_dim(x, dim)
    z = _upcast(x)
    # a logit of -inf is a masked class (headkit.functional.mask_logits): probability 0, as in
    # every other map, not the largest abs(x)
    log_u = torch.where(z == float("-inf"), float("-inf"), p * torch.log(z.abs() + eps))
    return torch.log_softmax(log_u, dim=dim).to(x.dtype)


def power_softmax(x: Tensor, p: float = 2.0, dim: int = -1, eps: float = 1e-6) -> Tensor:
    """Power-Softmax: a polynomial normaliser ``u_i^p / Σ_j u_j^p`` with ``u = abs(x) + ε``.

    The exponential of softmax is replaced by a power of a positive transform (Zimerman et al.
    2025, "Power-Softmax: Towards Secure LLM Inference over Encrypted Data"); for an even
    integer ``p`` and ``ε = 0`` it is the polynomial ``x^p / Σ_j x_j^p``. It is invariant to
    scaling ``x`` (not to shifting it, unlike softmax). Computed in log space, so logits of
    ±1e4 stay finite. ``ε > 0`` keeps every probability strictly positive, except that a logit of
    −∞ (a masked class) gets probability exactly 0, as in the other maps.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    p : float
        The power, > 0 (2 by default).
    dim : int
        The class dimension.
    eps : float
        ε ≥ 0 added to ``abs(x)``.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Probabilities along ``dim``.
    """
    return log_power_softmax(x, p, dim, eps).exp()


def sigmoid(x: Tensor, dim: int = -1) -> Tensor:
    """One-vs-all output: an independent sigmoid per class (as in SphereFace2).

    ``p_k = 1 / (1 + exp(-x_k))``; the entries do not sum to 1 (multi-label, open set: all
    may be small). ``dim`` names the class dimension, which must not be empty.

    Parameters
    ----------
    x : Tensor, shape (..., C, ...)
        Logits.
    dim : int
        The class dimension.

    Returns
    -------
    Tensor, same shape and dtype as ``x``
        Per-class probabilities in [0, 1].
    """
    check_class_dim(x, dim)
    return torch.sigmoid(_upcast(x)).to(x.dtype)
