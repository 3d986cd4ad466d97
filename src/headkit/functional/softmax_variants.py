"""Softmax₁ (off-by-one softmax) and entropy-adaptive temperature.

* **Softmax₁** (catalogue C6; "Outlier-Efficient Hopfield Layers"): ``e^{z_i} / (1 + Σ_j e^{z_j})``,
  the first K entries of ``softmax([z, 0])``. Rows sum to less than 1; ``1 − Σ`` is the mass of
  "none of these", which tends to 1 as every logit → −∞. Not shift-invariant: adding c to every
  logit changes the result (the 0 slot does not move).
* **Entropy-adaptive temperature** (catalogue C10; Veličković et al., "softmax is not enough"):
  ``H = entropy(softmax(z))``; where ``H > 0.5`` the logits are sharpened by
  ``β = max(poly(H), 1)`` with the degree-4 fit ``[−0.037, 0.481, −2.3, 4.917, −1.791]``
  (highest degree first, [K] from public reimplementations) and ``p = softmax(β·z)``. β ≥ 1, so
  the entropy never rises and the argmax is kept; rows with ``H ≤ 0.5`` are unchanged. The
  fit was made for moderate entropies: past H ≈ 6 nats (near-uniform rows over ~1000+ classes)
  the polynomial falls below 1 and those rows are left as they are.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.functional.softmax import check_class_dim

ADAPTIVE_POLY = (-0.037, 0.481, -2.3, 4.917, -1.791)  # np.polyval order: H⁴ … H⁰
ADAPTIVE_THRESHOLD = 0.5  # nats; rows at or below keep β = 1


def _with_zero(x: Tensor, dim: int) -> Tensor:
    shape = list(x.shape)
    shape[dim] = 1
    return torch.cat([x, x.new_zeros(shape)], dim=dim)


def _shifted(x: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """``z − m`` and ``log(e^{−m} + Σ e^{z−m})`` with ``m = max(max z, 0)`` (no overflow)."""
    dim = check_class_dim(x, dim)
    z = x.double() if x.dtype == torch.float64 else x.float()
    m = z.amax(dim=dim, keepdim=True).clamp_min(0.0).detach()
    shifted = z - m
    log_norm = torch.log(torch.exp(-m) + torch.exp(shifted).sum(dim=dim, keepdim=True))
    return shifted, log_norm


def log_softmax1(x: Tensor, dim: int = -1) -> Tensor:
    """Return ``log softmax₁(x)`` along ``dim``: ``z_i − log(1 + Σ_j e^{z_j})``, same shape.

    Stabilised by the shift ``m = max(max z, 0)``: ``(z − m) − log(e^{−m} + Σ e^{z − m})``.
    """
    shifted, log_norm = _shifted(x, dim)
    return (shifted - log_norm).to(x.dtype)


def softmax1(x: Tensor, dim: int = -1) -> Tensor:
    """Return ``softmax₁(x)`` along ``dim``: ``e^{z_i} / (1 + Σ_j e^{z_j})``, same shape as ``x``."""
    shifted, log_norm = _shifted(x, dim)
    return (torch.exp(shifted) / torch.exp(log_norm)).to(x.dtype)


def none_mass(x: Tensor, dim: int = -1) -> Tensor:
    """Return ``1 − Σ softmax₁(x) = 1 / (1 + Σ_j e^{x_j})``, ``x``'s shape without ``dim``."""
    dim = check_class_dim(x, dim)
    z = x.double() if x.dtype == torch.float64 else x.float()
    return torch.exp(-torch.logsumexp(_with_zero(z, dim), dim=dim)).to(x.dtype)


def _entropy(log_p: Tensor, dim: int) -> Tensor:
    return -(log_p.exp() * log_p).sum(dim, keepdim=True)


def adaptive_beta(x: Tensor, dim: int = -1) -> Tensor:
    """Return the sharpening factor β per row, shape of ``x`` with ``dim`` of size 1 (β ≥ 1).

    ``β = max(poly(H), 1)`` where ``H = entropy(softmax(x)) > 0.5``, else 1 (no gradient).
    """
    dim = check_class_dim(x, dim)
    with torch.no_grad():
        h = _entropy(torch.log_softmax(x.detach().double(), dim), dim)
        poly = torch.zeros_like(h)
        for c in ADAPTIVE_POLY:
            poly = poly * h + c
        beta = torch.where(h > ADAPTIVE_THRESHOLD, poly.clamp_min(1.0), torch.ones_like(h))
    return beta.to(x.dtype)


def adaptive_temperature_log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Return ``log_softmax(β·x)`` with β from :func:`adaptive_beta`, same shape as ``x``."""
    z = x.double() if x.dtype == torch.float64 else x.float()
    return torch.log_softmax(adaptive_beta(z, dim) * z, dim=dim).to(x.dtype)


def adaptive_temperature_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """Return ``softmax(β·x)`` with β from :func:`adaptive_beta`, same shape as ``x``."""
    z = x.double() if x.dtype == torch.float64 else x.float()
    return torch.softmax(adaptive_beta(z, dim) * z, dim=dim).to(x.dtype)
