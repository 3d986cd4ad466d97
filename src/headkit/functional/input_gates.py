"""Learnable input-feature gates: OptFS sigmoid gates and stochastic gates (catalogue A17).

Each input feature i has a score; the network reads ``g_i · x_i`` and the training loss adds a
sparsity penalty on the gates, so features that do not pay for their penalty are switched off.

* **OptFS** (Lyu et al. 2023, *Optimizing Feature Set for Click-Through Rate Prediction*,
  "learning by continuation"): ``g_i = σ(β_t·s_i)`` with β_t rising over training, so the gate
  tends to the step ``1[s_i > 0]``, which is the gate used at prediction. Penalty ``λ·mean_i g_i``.
* **STG** (Yamada et al. 2020, *Feature Selection using Stochastic Gates*):
  ``z_i = clamp(μ_i + ε_i + 0.5, 0, 1)`` with ε_i ~ N(0, σ²) in training and ε = 0 at prediction.
  Penalty ``λ·mean_i Φ((μ_i + 0.5)/σ)``, the expected share of open gates (a relaxed L0 norm).

A closed gate is an exact 0 at prediction, so the feature has no influence on the logits.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def optfs_gates(scores: Tensor, beta: float, training: bool = True) -> Tensor:
    """Return OptFS gates: ``σ(β·s)`` in training, the step ``1[s > 0]`` otherwise.

    Parameters
    ----------
    scores : Tensor, shape (D,)
        Gate scores s.
    beta : float
        Inverse temperature β > 0 (rises over training; as β → ∞, σ(β·s) → 1[s > 0]).
    training : bool
        False gives the hard gate used at prediction.

    Returns
    -------
    Tensor, shape (D,)
        Gates in [0, 1] (exactly 0 or 1 when not training).
    """
    if beta <= 0:
        raise ValueError(f"beta must be > 0; got {beta}.")
    if not training:
        return (scores > 0).to(scores.dtype)
    return torch.sigmoid(beta * scores)


def optfs_beta(progress: float, beta_max: float) -> float:
    """The continuation schedule ``β_t = β_max ** progress``: 1 at the start, β_max at the end."""
    if beta_max < 1:
        raise ValueError(f"beta_max must be >= 1; got {beta_max}.")
    return float(beta_max ** min(max(progress, 0.0), 1.0))


def stochastic_gates(
    mu: Tensor, sigma: float, training: bool = True, noise: Tensor | None = None
) -> Tensor:
    """Return STG gates ``clamp(μ + ε + 0.5, 0, 1)``, ε ~ N(0, σ²) in training, 0 otherwise.

    Parameters
    ----------
    mu : Tensor, shape (D,)
        Gate means μ.
    sigma : float
        Noise scale σ > 0.
    training : bool
        Draw ε (True) or use ε = 0 (the deterministic gate at prediction).
    noise : Tensor, shape (D,), optional
        A standard-normal draw to use instead of a fresh one (tests, reproducibility).

    Returns
    -------
    Tensor, shape (D,)
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0; got {sigma}.")
    if training:
        eps = torch.randn_like(mu) if noise is None else noise.to(mu)
        mu = mu + sigma * eps
    return (mu + 0.5).clamp(0.0, 1.0)


def stochastic_gate_open_probability(mu: Tensor, sigma: float) -> Tensor:
    """``P(z_i > 0) = Φ((μ_i + 0.5)/σ)``, shape of ``mu``: the STG's relaxed L0 norm per gate."""
    return 0.5 * (1.0 + torch.erf((mu + 0.5) / (sigma * math.sqrt(2.0))))


def gate_penalty(gates: Tensor, lam: float) -> Tensor:
    """``λ·mean_i g_i``, shape (): the sparsity penalty (mean so λ does not scale with D)."""
    if lam < 0:
        raise ValueError(f"lam must be >= 0; got {lam}.")
    return lam * gates.mean()
