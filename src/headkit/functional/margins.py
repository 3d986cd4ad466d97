"""Angular-margin logits and fixed class geometries for classifier heads.

Hyperparameters (s, m, λ, ...) have no defaults here: the heads in :mod:`headkit.nn.heads` hold
the one default of each setting.

Cosine logits ``cos θ_j = ⟨x/‖x‖, w_j/‖w_j‖⟩`` and the margin penalties that make the target class
harder to win during training: CosFace (additive cosine margin), ArcFace (additive angular
margin), SphereFace (multiplicative angular margin), SphereFace2 (one-vs-all binary losses with
margins); and the fixed classifiers' class vectors (simplex ETF, Equiangular Basis Vectors).
``cosine`` may carry leading sample dims (k, N, C) with ``target`` (N,): the margin broadcasts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from headkit.exceptions import ConfigError


def cosine_similarity(features: Tensor, weight: Tensor, eps: float = 1e-12) -> Tensor:
    """Return ``normalize(features) @ normalize(weight).T``: (..., D), (C, D) → (..., C)."""
    x = torch.nn.functional.normalize(features, dim=-1, eps=eps)
    w = torch.nn.functional.normalize(weight, dim=-1, eps=eps)
    return x @ w.t()


def cosine_logits(
    features: Tensor, weight: Tensor, s: float | Tensor = 16.0, eps: float = 1e-12
) -> Tensor:
    """Normalised-softmax (cosine) logits ``z_k = s·ŵ_kᵀĥ``: features (..., D), weight (C, D).

    Both vectors are L2-normalised, so every logit lies in [−s, s] and the logits do not change
    when a feature row or a class weight row is multiplied by a positive number (hyperspherical
    embedding; Wang et al. 2017 "NormFace"). Equals ``s`` times the cosine-similarity matrix.

    Parameters
    ----------
    features : Tensor, shape (..., D)
    weight : Tensor, shape (C, D)
        Class weight vectors.
    s : float or Tensor
        Scale s > 0 (a scalar tensor when learned).
    eps : float
        Floor of the norms (a zero vector gives zero logits).

    Returns
    -------
    Tensor, shape (..., C)
    """
    return s * cosine_similarity(features, weight, eps)


def target_mask(cosine: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Boolean one-hot of ``target`` (N,) broadcastable to ``cosine`` (..., N, C)."""
    valid = target != ignore_index
    one_hot = torch.nn.functional.one_hot(torch.where(valid, target, 0), cosine.shape[-1])
    return one_hot.bool() & valid.unsqueeze(-1)


def cosface_logits(cosine: Tensor, target: Tensor, s: float, m: float) -> Tensor:
    """CosFace / AM-Softmax (Wang et al. 2018): ``s·(cos θ_y - m)`` on the target, ``s·cos θ_j``.

    Parameters
    ----------
    cosine : Tensor, shape (..., N, C)
        Cosines between normalised features and class weights.
    target : Tensor, shape (N,) int64
        Target classes (``-100`` rows get no margin).
    s : float
        Scale.
    m : float
        Additive cosine margin.

    Returns
    -------
    Tensor, shape of ``cosine``
    """
    return s * (cosine - m * target_mask(cosine, target).to(cosine.dtype))


def arcface_logits(
    cosine: Tensor,
    target: Tensor,
    s: float,
    m: float,
    easy_margin: bool = False,
) -> Tensor:
    """ArcFace (Deng et al. 2019): ``s·cos(θ_y + m)`` on the target class, ``s·cos θ_j`` else.

    As in insightface, ``cos(θ + m) = cos θ cos m - sin θ sin m``. ``θ + m`` past π would make the
    logit increase again, so where ``cos θ ≤ cos(π - m)`` (θ ≥ π - m) the target logit falls back
    to ``cos θ - m·sin m`` (monotone in θ); with ``easy_margin`` the margin is applied only where
    ``cos θ > 0`` and the raw cosine is kept elsewhere.

    Parameters
    ----------
    cosine : Tensor, shape (..., N, C)
    target : Tensor, shape (N,) int64
    s : float
        Scale.
    m : float
        Additive angular margin in radians (pytorch-metric-learning takes degrees).
    easy_margin : bool
        Apply the margin only for θ < π/2.

    Returns
    -------
    Tensor, shape of ``cosine``
    """
    sine = torch.sqrt(torch.clamp(1.0 - cosine * cosine, min=1e-12))
    phi = cosine * math.cos(m) - sine * math.sin(m)
    if easy_margin:
        phi = torch.where(cosine > 0, phi, cosine)
    else:
        phi = torch.where(cosine > math.cos(math.pi - m), phi, cosine - m * math.sin(m))
    return s * torch.where(target_mask(cosine, target), phi, cosine)


def chebyshev_cos(cosine: Tensor, m: int) -> Tensor:
    """``cos(m·θ)`` as the Chebyshev polynomial ``T_m(cos θ)`` (no ``acos`` in the gradient)."""
    prev, cur = torch.ones_like(cosine), cosine
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2 * cosine * cur - prev
    return cur


def sphereface_logits(
    cosine: Tensor,
    target: Tensor,
    feature_norm: Tensor,
    m: int,
    s: float,
    lam: float,
) -> Tensor:
    """SphereFace / A-Softmax (Liu et al. 2017): multiplicative angular margin on the target.

    Target logit ``s·‖x‖·(λ cos θ_y + ψ(θ_y)) / (1 + λ)`` with
    ``ψ(θ) = (-1)^k cos(mθ) - 2k``, ``k = ⌊mθ/π⌋`` (monotone decreasing on [0, π]); other logits
    ``s·‖x‖·cos θ_j``. λ is the paper's annealing weight (λ → ∞ is plain normalised-weight
    softmax; training anneals it down). λ = 0 matches pytorch-metric-learning's SphereFaceLoss.

    Parameters
    ----------
    cosine : Tensor, shape (..., N, C)
    target : Tensor, shape (N,) int64
    feature_norm : Tensor, shape (..., N, 1)
        ‖x‖ of each feature row.
    m : int
        Integer angular multiplier ≥ 1.
    s : float
        Extra scale.
    lam : float
        λ ≥ 0.

    Returns
    -------
    Tensor, shape of ``cosine``
    """
    c = cosine.clamp(-1.0, 1.0)
    with torch.no_grad():
        k = torch.floor(torch.acos(c) * m / math.pi)
    psi = (1 - 2 * torch.remainder(k, 2)) * chebyshev_cos(c, m) - 2 * k
    target_logit = (lam * cosine + psi) / (1 + lam)
    return s * feature_norm * torch.where(target_mask(cosine, target), target_logit, cosine)


def sphereface2_adjust(cosine: Tensor, t: float) -> Tensor:
    """SphereFace2's similarity adjustment ``g(c) = 2·((c + 1)/2)^t - 1``."""
    return 2 * ((cosine + 1) / 2).clamp(min=0) ** t - 1


def sphereface2_loss(
    cosine: Tensor,
    target: Tensor,
    bias: Tensor | float,
    r: float,
    m: float,
    lam: float,
    t: float,
    ignore_index: int = -100,
) -> Tensor:
    """SphereFace2 (Wen et al. 2022): C one-vs-all binary losses with an additive margin.

    ``L = (λ/r)·log(1 + e^{-(r(g(cos θ_y) - m) + b)})
    + ((1-λ)/r)·Σ_{j≠y} log(1 + e^{r(g(cos θ_j) + m) + b})``
    averaged over rows (and over leading sample dims). No normalisation across classes: each
    term depends on its own cosine only. At test time the logits are ``r·g(cos θ) + b``
    (:func:`sphereface2_logits`), read through per-class sigmoids.

    Parameters
    ----------
    cosine : Tensor, shape (..., N, C)
    target : Tensor, shape (N,) int64
    bias : Tensor or float
        The learnable scalar b.
    r : float
        Scale.
    m : float
        Margin.
    lam : float
        λ in (0, 1) balancing positive and negative terms.
    t : float
        Exponent of the adjustment g (t = 1: identity).
    ignore_index : int
        Rows with this target contribute nothing.

    Returns
    -------
    Tensor, shape ()
    """
    g = sphereface2_adjust(cosine, t)
    positive = target_mask(cosine, target, ignore_index)
    valid = (target != ignore_index).unsqueeze(-1).to(cosine.dtype)
    pos_logit = r * (g - m) + bias
    neg_logit = r * (g + m) + bias
    softplus = torch.nn.functional.softplus
    terms = torch.where(positive, lam * softplus(-pos_logit), (1 - lam) * softplus(neg_logit))
    rows = (terms * valid).sum(-1) / r
    n_valid = valid.sum() * (rows.numel() // max(valid.numel(), 1))
    return rows.sum() / n_valid.clamp(min=1)


def sphereface2_logits(cosine: Tensor, bias: Tensor | float, r: float, t: float) -> Tensor:
    """SphereFace2 inference logits ``r·g(cos θ) + b``, shape of ``cosine``."""
    return r * sphereface2_adjust(cosine, t) + bias


def simplex_etf(n_classes: int, dim: int, generator: torch.Generator | None = None) -> Tensor:
    """A simplex equiangular tight frame: C unit vectors in R^D with pairwise cosine -1/(C-1).

    The centred standard basis ``I - 11ᵀ/C`` spans a (C-1)-dimensional space; an orthonormal
    basis of it, rescaled by √(C/(C-1)), gives the vertices, which a random orthonormal map
    embeds in R^D (Papyan, Han & Donoho 2020: the geometry of neural collapse). Σ_k w_k = 0.

    Parameters
    ----------
    n_classes : int
        C ≥ 2.
    dim : int
        D ≥ C - 1.
    generator : torch.Generator, optional
        Randomness of the embedding.

    Returns
    -------
    Tensor, shape (C, D) float32
    """
    if n_classes < 2:
        raise ConfigError(f"A simplex ETF needs at least 2 classes; got {n_classes}.")
    if dim < n_classes - 1:
        raise ConfigError(
            f"A simplex ETF of {n_classes} classes needs feature width >= {n_classes - 1}; got "
            f"{dim}. Widen the last hidden layer or use head='ebv'."
        )
    c = n_classes
    centred = torch.eye(c, dtype=torch.float64) - 1.0 / c
    _, vectors = torch.linalg.eigh(centred)
    basis = vectors[:, 1:] * math.sqrt(c / (c - 1))  # drop the eigenvalue-0 direction (1/√C)
    gaussian = torch.randn(dim, c - 1, generator=generator, dtype=torch.float64)
    q, _ = torch.linalg.qr(gaussian)
    return (basis @ q.t()).float()


def equiangular_basis_vectors(
    n_classes: int,
    dim: int,
    max_cos: float = 0.002,
    steps: int = 2000,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Equiangular Basis Vectors (Shen et al. 2023): C nearly orthogonal unit vectors in R^D.

    With D ≥ C the vectors are an exactly orthonormal random frame. With D < C they are found as
    by optimisation from random unit vectors, stopping once ``max abs(cos) ≤ α`` or after
    ``steps`` Adam steps (α below the Welch bound √((C-D)/(D(C-1))) cannot be reached). The
    objective is a smooth maximum ``logsumexp(50·abs(cos_ij)) / 50``: the paper's hinge sum
    ``Σ max(abs(cos_ij) - α, 0)`` is an L1 objective that, when D ≪ C, drives the vectors onto
    a few shared axes (max abs(cos) → 1), while the smooth maximum reaches about 1.2× Welch.

    Parameters
    ----------
    n_classes : int
        C ≥ 1.
    dim : int
        D ≥ 1.
    max_cos : float
        Target α for the largest pairwise ``abs(cos)``.
    steps : int
        Maximum optimisation steps.
    generator : torch.Generator, optional

    Returns
    -------
    Tensor, shape (C, D) float32
    """
    if n_classes < 1 or dim < 1:
        raise ConfigError(f"EBV needs n_classes >= 1 and dim >= 1; got {n_classes}, {dim}.")
    gaussian = torch.randn(max(dim, n_classes), min(dim, n_classes), generator=generator)
    if dim >= n_classes:
        q, _ = torch.linalg.qr(gaussian.double())
        return q.t().float().contiguous()
    vectors = torch.randn(n_classes, dim, generator=generator).requires_grad_(True)
    optimiser = torch.optim.Adam([vectors], lr=0.01)
    off_diagonal = ~torch.eye(n_classes, dtype=torch.bool)
    with torch.enable_grad():
        for _ in range(steps):
            unit = torch.nn.functional.normalize(vectors, dim=-1)
            cos = (unit @ unit.t())[off_diagonal].abs()
            if cos.max() <= max_cos:
                break
            optimiser.zero_grad()
            (torch.logsumexp(50.0 * cos, 0) / 50.0).backward()
            optimiser.step()
    return torch.nn.functional.normalize(vectors.detach(), dim=-1)
