"""Per-batch adaptive scale and margin for CosFace / ArcFace (CFCD's MadaCos, Zhu et al. 2023).

Each training batch sets the scale ``s`` and the margin ``m`` from its own target cosines, so
that the median row's target probability *with the margin* is a fixed ρ:

* ``c̃`` = median over rows of the target cosine ``cos θ_y``;
* ``s = max(s_min, log(A·(1 − ρ)/ρ) / (1 − c̃))`` — the scale grows as the target cosines rise
  over training; A = 1e7 is the constant of the authors' code [K];
* ``B = Σ_{j≠y} exp(s·cos θ_j)`` of the median row;
* CosFace: ``m = c̃ − log(B·ρ/(1 − ρ)) / s``, so that
  ``exp(s(c̃ − m)) / (exp(s(c̃ − m)) + B) = ρ``; ArcFace: the angular ``m`` with
  ``s·cos(θ̃ + m) = log(B·ρ/(1 − ρ))``.

A margin that would be negative is 0 (as in the authors' code). s and m carry no gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.functional.margins import target_mask

SCALE_ANCHOR = 1e7  # A in the scale rule, from the authors' code


def adaptive_scale_margin(
    cosine: Tensor,
    target: Tensor,
    rho: float = 0.1,
    s_min: float = 16.0,
    kind: str = "cosface",
) -> tuple[float, float]:
    """Return the batch's adaptive ``(s, m)`` (see the module docstring).

    Parameters
    ----------
    cosine : Tensor, shape (..., N, C)
        Cosines between normalised features and class weights (leading sample dims are pooled).
    target : Tensor, shape (N,) int64
        Target classes; rows equal to -100 are ignored.
    rho : float
        Target probability ρ in (0, 1) of the median row under the margin.
    s_min : float
        Floor of the scale (> 0).
    kind : {"cosface", "arcface"}
        Additive cosine margin (``cos θ − m``) or additive angle (``cos(θ + m)``, radians).

    Returns
    -------
    tuple of float
        ``(s, m)`` with ``s >= s_min`` and ``m >= 0``.
    """
    if not 0.0 < rho < 1.0 or s_min <= 0 or kind not in ("cosface", "arcface"):
        raise ValueError(
            f"Need rho in (0, 1), s_min > 0 and kind 'cosface' or 'arcface'; got {rho}, {s_min}, "
            f"{kind!r}."
        )
    with torch.no_grad():
        c = cosine.detach().double().reshape(-1, cosine.shape[-1])
        mask = target_mask(cosine, target).expand_as(cosine).reshape(c.shape)
        rows = mask.any(-1)
        if not rows.any():
            return float(s_min), 0.0
        c, mask = c[rows], mask[rows]
        tcos = c[mask]
        median, index = tcos.median(0)
        c_med = float(median)
        s = max(s_min, math.log(SCALE_ANCHOR * (1 - rho) / rho) / max(1.0 - c_med, 1e-6))
        others = (s * c[index]).masked_fill(mask[index], -math.inf)
        goal = float(torch.logsumexp(others, 0)) + math.log(rho / (1 - rho))  # log(Bρ/(1−ρ))
    if kind == "cosface":
        m = c_med - goal / s
    else:
        theta = math.acos(min(max(c_med, -1.0), 1.0))
        m = math.acos(min(max(goal / s, -1.0), 1.0)) - theta
        m = min(m, math.pi - theta)  # keep θ̃ + m within [0, π]
    return float(s), max(float(m), 0.0)
