"""Nested (ordered) dropout (Rippel et al. 2014): keep the first b units of the last dimension.

The cut b is drawn per row from a law over {1, …, width}; :func:`sample_nested_cut` documents the
three laws.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

NESTED_DISTRIBUTIONS = ("geometric", "gaussian", "uniform")


def check_nested(distribution: str, scale: float) -> None:
    """Raise ``ValueError`` unless ``distribution`` is a known cut law and ``scale > 0``."""
    if distribution not in NESTED_DISTRIBUTIONS:
        raise ValueError(
            f"distribution must be one of {NESTED_DISTRIBUTIONS}; got {distribution!r}."
        )
    if scale <= 0:
        raise ValueError(f"scale must be > 0; got {scale}.")


def sample_nested_cut(
    n: int,
    width: int,
    distribution: str = "geometric",
    scale: float = 0.5,
    *,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample nested-dropout cut indices b ∈ {1, ..., width}: units 1..b are kept.

    * ``"geometric"`` — Rippel et al. 2014: ``P(b) ∝ ρ^(b-1) (1 - ρ)`` with mean ``scale·width``
      before truncation; draws beyond ``width`` keep every unit.
    * ``"gaussian"`` — the half-normal of Chen et al. 2022's code: ``P(b) ∝ exp(-(b/σ)²)`` with
      ``σ = scale·width``, truncated to ``width``.
    * ``"uniform"`` — every b equally likely (``scale`` unused).

    Parameters
    ----------
    n : int
        Number of cuts (one per sample).
    width : int
        Number of units D.
    distribution : {"geometric", "gaussian", "uniform"}
        Law of b.
    scale : float
        Spread of b as a fraction of ``width`` (> 0).
    device : torch.device or str, optional
        Where the result lives.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape (n,), int64 with values in [1, width]
    """
    check_nested(distribution, scale)
    if width < 1:
        raise ValueError(f"width must be >= 1; got {width}.")
    b = torch.arange(1, width + 1, device=device, dtype=torch.float64)
    if distribution == "geometric":
        rho = max(1.0 - 1.0 / max(scale * width, 1.0), 0.0)
        weights = (1.0 - rho) * torch.pow(torch.full_like(b, rho), b - 1)
        weights[-1] = rho ** (width - 1)  # P(b >= width): the tail keeps every unit
    elif distribution == "gaussian":
        weights = torch.exp(-((b / (scale * width)) ** 2))
    else:
        weights = torch.ones_like(b)
    probs = (weights / weights.sum()).float()
    return torch.multinomial(probs, n, replacement=True, generator=generator) + 1


def nested_dropout_mask(cut: Tensor, width: int) -> Tensor:
    """Return the prefix mask of nested dropout: ``mask[..., j] = 1`` iff ``j < cut[...]``.

    Parameters
    ----------
    cut : Tensor, shape (...)
        Number of kept leading units per sample (int).
    width : int
        Number of units D.

    Returns
    -------
    Tensor, shape (..., D), float32 in {0, 1}
    """
    units = torch.arange(width, device=cut.device)
    return (units < cut.unsqueeze(-1)).float()


def nested_dropout(
    x: Tensor,
    training: bool = True,
    *,
    cut: Tensor | int | None = None,
    dim: int = -1,
    distribution: str = "geometric",
    scale: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Nested (ordered) dropout (Rippel et al. 2014): keep units 1..b along ``dim``, zero the rest.

    One cut b per sample (per position of the other dimensions), drawn by
    :func:`sample_nested_cut`; no rescaling, so units learn an importance order and the first k
    units form a usable smaller representation. An explicit ``cut`` is always applied (that is how
    truncation is expressed); without one, identity when ``training`` is false.

    Parameters
    ----------
    x : Tensor, shape (..., D, ...)
        Activations; ``dim`` indexes the units.
    training : bool
        Sample cuts; when false and ``cut`` is None, return ``x`` unchanged.
    cut : Tensor or int, optional
        Number of kept units, an int or a tensor broadcastable to ``x`` without ``dim``.
    dim : int
        The unit dimension.
    distribution : {"geometric", "gaussian", "uniform"}
        Law of the sampled cut.
    scale : float
        Spread of the cut as a fraction of D.
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, same shape as ``x``
    """
    moved = x.movedim(dim, -1)
    width = moved.shape[-1]
    if cut is None:
        if not training:
            return x
        batch = moved.shape[:-1]
        sampled = sample_nested_cut(
            math.prod(batch), width, distribution, scale, device=x.device, generator=generator
        )
        cut = sampled.reshape(batch)
    elif isinstance(cut, int):
        cut = torch.tensor(cut, device=x.device)
    mask = nested_dropout_mask(cut, width).to(x.dtype)
    return (moved * mask).movedim(-1, dim)
