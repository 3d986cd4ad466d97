"""Weight sparsity: the cubic pruning schedule, magnitude masks and ERK random masks.

* Gradual magnitude pruning (catalogue K2; Zhu & Gupta 2017, used by "Efficient Neural Audio
  Synthesis"): ``s_t = S·(1 − (1 − (t − t₀)/(t₁ − t₀))³)`` between t₀ and t₁; at each pruning
  step the smallest-magnitude weights are zeroed.
* Static random sparse training with Erdős–Rényi-Kernel densities (catalogue K1; "The
  Unreasonable Effectiveness of Random Pruning"): layer l gets density ∝ (n_in + n_out)/(n_in·n_out),
  scaled to the global density and capped at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def cubic_sparsity(t: float, final: float, t0: float = 0.0, t1: float = 1.0) -> float:
    """Return ``S·(1 − (1 − (t − t₀)/(t₁ − t₀))³)``, 0 before t₀ and S after t₁."""
    if not 0.0 <= final < 1.0 or t1 <= t0:
        raise ValueError(f"Need final sparsity in [0, 1) and t1 > t0; got {final}, {t0}, {t1}.")
    x = min(max((t - t0) / (t1 - t0), 0.0), 1.0)
    return final * (1.0 - (1.0 - x) ** 3)


def magnitude_mask(weight: Tensor, sparsity: float) -> Tensor:
    """Return a 0/1 mask (weight's shape and dtype) zeroing the ``round(s·n)`` smallest |w|.

    Ties are broken by position (a stable sort), so exactly that many entries are zero.
    """
    n = weight.numel()
    drop = round(sparsity * n)
    mask = torch.ones(n, dtype=weight.dtype, device=weight.device)
    if drop:
        order = torch.sort(weight.detach().abs().flatten(), stable=True).indices
        mask[order[:drop]] = 0
    return mask.reshape(weight.shape)


def erk_densities(shapes: Sequence[tuple[int, int]], density: float) -> list[float]:
    """Per-layer densities of ERK for (out, in) weight shapes, reaching ``density`` overall.

    Layers whose density would exceed 1 are dense and the rest are rescaled (the usual
    iteration), so ``Σ d_l·n_l = density·Σ n_l`` up to rounding.
    """
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1]; got {density}.")
    sizes = [o * i for o, i in shapes]
    raw = [(o + i) / (o * i) for o, i in shapes]
    dense: set[int] = set()
    while True:
        budget = density * sum(sizes) - sum(sizes[j] for j in dense)
        free = sum(raw[j] * sizes[j] for j in range(len(shapes)) if j not in dense)
        eps = budget / free if free > 0 else 0.0
        over = {j for j in range(len(shapes)) if j not in dense and eps * raw[j] > 1.0}
        if not over:
            return [1.0 if j in dense else eps * raw[j] for j in range(len(shapes))]
        dense |= over


def random_mask(
    shape: tuple[int, ...], density: float, generator: torch.Generator | None = None
) -> Tensor:
    """Return a float 0/1 mask with exactly ``round(density·n)`` ones at uniformly random places."""
    n = 1
    for s in shape:
        n *= s
    keep = round(density * n)
    mask = torch.zeros(n)
    mask[torch.randperm(n, generator=generator)[:keep]] = 1.0
    return mask.reshape(shape)
