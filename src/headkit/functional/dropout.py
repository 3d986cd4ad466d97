"""Dropout-family functions: random masks and noise on activations or weights.

Randomness is drawn independently of the input's dtype, so a seed gives the same masks for float32
and bfloat16 inputs: Bernoulli masks come from the fast sampler of :mod:`headkit.functional._masks`
(global RNG; survivors scaled by its exact keep probability) or, when a ``generator`` is given,
from ``torch.rand`` on it; Gaussian noise from ``torch.randn`` in float32. Each function accepts an
explicit mask or noise tensor instead (scaled by ``1 / (1 - p)``), for exact references and
``gradcheck``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.functional._masks import keep_mask, scaled_keep_mask

DROPCONNECT_INFERENCE = ("mean", "moment")


def check_rate(p: float) -> float:
    """Return ``p`` if it is a drop probability in [0, 1); raise ``ValueError`` otherwise.

    The one range check of every dropout kind (functions, modules and plans call it).
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
    return p


def check_samples(k: int) -> int:
    """Return ``k`` if it is a valid number of multi-sample masks (k >= 1)."""
    if k < 1:
        raise ValueError(f"multi-sample dropout needs k >= 1 masks; got k={k}.")
    return k


def check_inference(inference: str) -> str:
    """Return ``inference`` if it names a DropConnect eval rule (``mean`` or ``moment``)."""
    if inference not in DROPCONNECT_INFERENCE:
        raise ValueError(f"inference must be one of {DROPCONNECT_INFERENCE}; got {inference!r}.")
    return inference


def dropout_mask(
    shape: tuple[int, ...] | torch.Size,
    p: float,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return a Bernoulli keep-mask: ones with probability ``1 - p``, zeros with probability ``p``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the mask.
    p : float
        Drop probability in [0, 1).
    device : torch.device or str, optional
        Where the mask lives.
    generator : torch.Generator, optional
        Source of randomness (on ``device``).

    Returns
    -------
    Tensor, shape ``shape``, float32 with values in {0, 1}
    """
    return _keep_mask(shape, p, device, generator)[0].float()


def _keep_mask(
    shape: tuple[int, ...] | torch.Size,
    p: float,
    device: torch.device | str | None,
    generator: torch.Generator | None,
) -> tuple[Tensor, float]:
    """Boolean keep-mask and its exact keep probability.

    Without a generator, the fast lane sampler of :mod:`headkit.functional._masks` (keep
    probability ``1 - round(p·2^16)/2^16`` on the CPU); with one, ``u >= p`` for ``u ~ U[0, 1)``
    drawn in float32 from it (keep probability ``1 - p``).
    """
    check_rate(p)
    if generator is None:
        return keep_mask(tuple(shape), p, torch.device(device or "cpu"))
    u = torch.rand(shape, device=device, dtype=torch.float32, generator=generator)
    return u >= p, 1.0 - p


def _multiplier(
    shape: tuple[int, ...] | torch.Size,
    p: float,
    like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """The inverted-dropout multiplier ``m / keep`` in ``like``'s dtype and device, shape ``shape``.

    Without a generator, :func:`~headkit.functional._masks.scaled_keep_mask` (the fast lane
    sampler written straight into the dtype: the same kept elements as :func:`_keep_mask`);
    with one, :func:`_keep_mask`'s draw from it, scaled.
    """
    if generator is None:
        return scaled_keep_mask(tuple(shape), p, like.device, like.dtype)
    return _scaled(*_keep_mask(shape, p, like.device, generator), like.dtype)


def _scaled(keep: Tensor, keep_prob: float, dtype: torch.dtype) -> Tensor:
    """``keep / keep_prob`` in ``dtype`` (``keep`` bool or {0, 1}), a fresh tensor."""
    if keep.dtype != torch.bool:
        keep = keep != 0
    return keep.to(dtype).mul_(1.0 / keep_prob)


def _apply_keep(x: Tensor, keep: Tensor, keep_prob: float) -> Tensor:
    """Return ``x ⊙ keep / keep_prob`` (``keep`` bool or {0, 1}, broadcastable to ``x``)."""
    # The scaled mask is built outside the graph (a fresh tensor), so autograd sees one multiply.
    return x * _scaled(keep, keep_prob, x.dtype)


def dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Inverted dropout (Srivastava et al. 2014).

    ``y = x ⊙ m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` elementwise, so ``E[y] = x``; identity
    when ``training`` is false or ``p == 0``.

    Parameters
    ----------
    x : Tensor, shape (...)
        Activations.
    p : float
        Drop probability in [0, 1).
    training : bool
        Apply the mask; when false, return ``x`` unchanged.
    mask : Tensor, shape broadcastable to ``x.shape``, optional
        Keep-mask in {0, 1} to use instead of a random one (see :func:`dropout_mask`).
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    check_rate(p)
    if not training or p == 0.0:
        return x
    if mask is not None:
        return _apply_keep(x, mask, 1.0 - p)
    # The multiplier is built outside the graph (a fresh tensor), so autograd sees one multiply.
    return x * _multiplier(x.shape, p, x, generator)


def multi_sample_dropout(
    x: Tensor,
    k: int,
    p: float,
    training: bool = True,
    *,
    masks: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Multi-sample dropout (Inoue 2019): k independent dropout masks on the same activations.

    The trunk that produced ``x`` runs once; a shared head applied to the result runs as one
    batched matmul over the leading sample dimension and the k losses are averaged.

    Equivalent to ``torch.stack([dropout(x, p) for _ in range(k)])``.

    Parameters
    ----------
    x : Tensor, shape (...)
        Activations, typically (N, D) trunk features.
    k : int
        Number of masks (samples), at least 1.
    p : float
        Drop probability in [0, 1).
    training : bool
        When false, return ``x`` unchanged, *without* a sample dimension.
    masks : Tensor, shape (k, ...), optional
        Keep-masks in {0, 1} to use instead of random ones.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape (k, ...) in training; ``x`` itself otherwise
    """
    check_rate(p)
    check_samples(k)
    if not training:
        return x
    if masks is not None:
        return _apply_keep(x.unsqueeze(0), masks, 1.0 - p)
    if p == 0.0:
        return x.unsqueeze(0).expand(k, *x.shape)
    return x.unsqueeze(0) * _multiplier((k, *x.shape), p, x, generator)


def gaussian_dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gaussian (multiplicative-noise) dropout (Srivastava et al. 2014, §10; Wang & Manning 2013).

    ``y = x ⊙ (1 + σ ε)`` with ``ε ~ N(0, 1)`` and ``σ² = p / (1 - p)``: the multiplier has mean 1
    and variance ``p / (1 - p)``, the first two moments of inverted Bernoulli dropout's
    ``m / (1 - p)``. Identity when ``training`` is false or ``p == 0``.

    Parameters
    ----------
    x : Tensor, shape (...)
        Activations.
    p : float
        Equivalent Bernoulli drop probability in [0, 1).
    training : bool
        Apply the noise; when false, return ``x`` unchanged.
    noise : Tensor, shape broadcastable to ``x.shape``, optional
        Standard-normal ε to use instead of a random draw.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    check_rate(p)
    if not training or p == 0.0:
        return x
    if noise is None:
        noise = torch.randn(x.shape, device=x.device, dtype=torch.float32, generator=generator)
    sigma = math.sqrt(p / (1.0 - p))
    return x * (1.0 + sigma * noise).to(x.dtype)


def gaussian_noise(
    x: Tensor,
    sigma: float = 0.1,
    training: bool = True,
    *,
    noise: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Additive Gaussian noise injection ``y = x + σ ε``, ``ε ~ N(0, 1)``.

    The additive twin of :func:`gaussian_dropout`: the mean is kept (E y = x) and the variance
    is σ² whatever x is, where the multiplicative form's is ``σ² x²``. Identity when
    ``training`` is false or ``sigma == 0``.

    Parameters
    ----------
    x : Tensor, shape (...)
        Activations.
    sigma : float
        Noise standard deviation σ >= 0.
    training : bool
        Apply the noise; when false, return ``x`` unchanged.
    noise : Tensor, shape broadcastable to ``x.shape``, optional
        Standard-normal ε to use instead of a random draw.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    check_sigma(sigma)
    if not training or sigma == 0.0:
        return x
    if noise is None:
        noise = torch.randn(x.shape, device=x.device, dtype=torch.float32, generator=generator)
    return x + (sigma * noise).to(x.dtype)


def check_sigma(sigma: float) -> float:
    """Return ``sigma`` as a float, or raise ``ValueError`` unless it is finite and >= 0."""
    if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0 <= sigma < math.inf:
        raise ValueError(f"noise sigma must be a finite number >= 0; got {sigma!r}.")
    return float(sigma)


def drop_connect(
    weight: Tensor,
    p: float = 0.5,
    training: bool = True,
    *,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DropConnect on a weight tensor (Wan et al. 2013): ``W ⊙ M / (1 - p)``, ``M ~ Bern(1 - p)``.

    The inverted scaling keeps ``E[W ⊙ M / (1 - p)] = W``, so the dense layer is the expectation.

    Parameters
    ----------
    weight : Tensor, shape (...)
        Weights, typically (out_features, in_features).
    p : float
        Drop probability in [0, 1).
    training : bool
        When false, return ``weight`` unchanged.
    mask : Tensor, shape broadcastable to ``weight.shape``, optional
        Keep-mask in {0, 1}; a leading dimension (N, out, in) gives per-sample weights.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape of ``weight`` (or of ``mask`` when it broadcasts to more dimensions)
    """
    return dropout(weight, p, training, mask=mask, generator=generator)


def linear_dropconnect(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    p: float = 0.5,
    training: bool = True,
    *,
    per_sample: bool = False,
    inference: str = "mean",
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Linear layer with DropConnect: ``y = x (W ⊙ M / (1 - p))ᵀ + b``.

    Training: one weight mask per call (``per_sample=False``, the batch shares it: cheap, as in
    most implementations) or one mask per row of ``x`` (``per_sample=True``, Wan et al.'s
    formulation; memory N·out·in). Inference rules:

    * ``"mean"`` — ``y = x Wᵀ + b``, the exact expectation over masks (deterministic).
    * ``"moment"`` — one draw from the moment-matched Gaussian of Wan et al. 2013 (§3):
      ``y ~ N(x Wᵀ + b, p / (1 - p) · x² (W²)ᵀ)``; averaging the output map over several
      such passes (MC prediction) approximates their moment-matching inference.

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
        Input.
    weight : Tensor, shape (out_features, in_features)
        Weights.
    bias : Tensor, shape (out_features,), optional
        Bias (never dropped).
    p : float
        Weight drop probability in [0, 1).
    training : bool
        Sample masks; when false, apply the ``inference`` rule.
    per_sample : bool
        One mask per row of ``x`` instead of one per call.
    inference : {"mean", "moment"}
        Rule used when ``training`` is false.
    mask : Tensor, optional
        Keep-mask (out, in) or, with ``per_sample``, (M, out, in) with M = ``x[..., 0].numel()``.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape (..., out_features)
    """
    check_rate(p)
    check_inference(inference)
    if not training:
        mean = torch.nn.functional.linear(x, weight, bias)
        if inference == "mean" or p == 0.0:
            return mean
        var = torch.nn.functional.linear(x * x, weight * weight) * (p / (1.0 - p))
        noise = torch.randn(mean.shape, device=x.device, dtype=torch.float32, generator=generator)
        return mean + var.sqrt() * noise.to(mean.dtype)
    if p == 0.0:
        return torch.nn.functional.linear(x, weight, bias)
    if not per_sample:
        return torch.nn.functional.linear(
            x, drop_connect(weight, p, mask=mask, generator=generator), bias
        )
    rows = x.reshape(-1, x.shape[-1])
    if mask is None:
        weights = weight * _multiplier((rows.shape[0], *weight.shape), p, weight, generator)
    else:
        weights = drop_connect(weight, p, mask=mask)
    out = torch.bmm(weights, rows.unsqueeze(-1)).squeeze(-1)
    if bias is not None:
        out = out + bias
    return out.reshape(*x.shape[:-1], weight.shape[0])
