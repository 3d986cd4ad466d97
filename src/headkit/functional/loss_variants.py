"""Cross-entropy variants: MaxSup, auxiliary z-loss, spherical Z-loss, Noisy Softmax, Bias Loss.

Four techniques are a piece added to a loss: a per-row penalty (MaxSup, z-loss), a target-logit
perturbation (Noisy Softmax) or row weights (Bias Loss). :mod:`headkit.nn.loss_variants` adds
that piece to the natural loss of the network's output map, so with softmax the ``maxsup``,
``z_loss``, ``noisy_softmax`` and ``bias_loss`` losses are the papers' losses, for example
``CE(z, y) + α·maxsup_penalty(z)``. The spherical Z-loss is a whole loss of its own.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import DataError
from headkit.functional.losses import Reduction, check_logits_target, reduce_rows, upcast


def maxsup_penalty(logits: Tensor) -> Tensor:
    """MaxSup's per-row penalty ``z_max - mean_k z_k`` (Zhou et al. 2025), ≥ 0.

    MaxSup ("Overcoming Representation Collapse in Label Smoothing") is ``CE(z, y) + α·`` this
    penalty: it suppresses the top-1 logit where label smoothing with ε = α, which equals
    ``CE + α·(z_y - mean z)``, suppresses the target logit; the two coincide on rows whose
    argmax is the target.

    Parameters
    ----------
    logits : Tensor, shape (N, C)

    Returns
    -------
    Tensor, shape (N,)
    """
    z = upcast(logits)
    return z.max(-1).values - z.mean(-1)


def log_z_penalty(logits: Tensor) -> Tensor:
    """The auxiliary z-loss penalty ``(log Σ_k exp z_k)²`` (Mesh-TF; PaLM, Chowdhery et al.).

    ``CE(z, y) + λ·`` this penalty (λ = 1e-4 in PaLM) keeps the softmax normaliser near 1
    (log Z → 0), which stabilises large softmax layers; it changes the logits' shift, not the
    probabilities. Not the spherical Z-loss of de Brébisson & Vincent (:func:`spherical_z_loss`).

    Parameters
    ----------
    logits : Tensor, shape (N, C)

    Returns
    -------
    Tensor, shape (N,)
    """
    return torch.logsumexp(upcast(logits), -1) ** 2


def spherical_z_loss(
    logits: Tensor,
    target: Tensor,
    a: float = 1.0,
    b: float | None = None,
    eps: float = 1e-6,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """The Z-loss of de Brébisson & Vincent (2016): a shift- and scale-invariant spherical loss.

    ``ζ_c = (o_c - mean(o)) / std(o)`` (population std), ``L = softplus(a·(b - ζ_y)) / a``.
    It depends on the logits only through ``o_y``, ``Σ o`` and ``Σ o²`` and is invariant to
    ``o → λ·o + μ`` (λ > 0). ``ζ_y ≤ √(C - 1)``; ``b`` defaults to that bound, so the loss keeps
    pulling the target up until it stands alone. ``eps`` guards ``std → 0``.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64
    a : float
        Sharpness a > 0 (softplus → hinge as a grows).
    b : float, optional
        Offset b; ``None`` means √(C - 1).
    eps : float
        Added to the standard deviation.
    weight, ignore_index, reduction
        As in :func:`headkit.functional.cross_entropy`.

    Returns
    -------
    Tensor
        Scalar, or (N,) for ``reduction="none"``.
    """
    check_logits_target(logits, target)
    if target.is_floating_point():
        raise DataError("spherical_z_loss takes class-index targets, not soft targets.")
    if a <= 0:
        raise ValueError(f"a must be > 0; got {a}.")
    z = upcast(logits)
    c = z.shape[-1]
    offset = (c - 1) ** 0.5 if b is None else b
    centred = z - z.mean(-1, keepdim=True)
    zeta = centred / (centred.pow(2).mean(-1, keepdim=True).sqrt() + eps)
    safe = torch.where(target != ignore_index, target, 0)
    zeta_y = zeta.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    rows = torch.nn.functional.softplus(a * (offset - zeta_y)) / a
    return reduce_rows(rows, target, weight, ignore_index, reduction)


def noisy_target_logits(
    logits: Tensor,
    target: Tensor,
    noise_scale: float,
    generator: torch.Generator | None = None,
    ignore_index: int = -100,
) -> Tensor:
    """Subtract non-negative noise from each row's target logit (Noisy Softmax).

    ``z_y ← z_y - σ·abs(ξ)·abs(z_y)``, ξ ~ N(0, 1), with ``abs(z_y)`` detached: the target logit
    is pushed down by a random fraction of its own size, postponing softmax saturation. Chen,
    Deng & Du (2017) subtract ``α·‖W_y‖‖x‖(1 - cos θ_y)·abs(ξ)``, which needs the head's
    weights; on bare logits the target logit's magnitude takes that role. σ = 0 returns the
    logits unchanged.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64
    noise_scale : float
        σ ≥ 0.
    generator : torch.Generator, optional
    ignore_index : int
        Rows with this target are left unchanged.

    Returns
    -------
    Tensor, shape (N, C)
    """
    if noise_scale < 0:
        raise ValueError(f"noise_scale must be >= 0; got {noise_scale}.")
    if noise_scale == 0:
        return logits
    valid = target != ignore_index
    safe = torch.where(valid, target, 0).unsqueeze(-1)
    z_y = logits.gather(-1, safe)
    xi = torch.randn(z_y.shape, generator=generator, dtype=z_y.dtype, device="cpu")
    xi = xi.to(z_y.device).abs() * valid.unsqueeze(-1).to(z_y.dtype)
    shift = noise_scale * xi * z_y.detach().abs()
    return logits - torch.zeros_like(logits).scatter(-1, safe, shift)


def bias_loss_weights(features: Tensor, alpha: float = 0.3, beta: float = 0.3) -> Tensor:
    """Bias Loss row weights ``exp(α·v) - β`` from feature diversity (Abrahamyan et al. 2021).

    ``v_i`` is the variance of sample i's features, min–max normalised over the batch to
    [0, 1]; weights are detached and increase with ``v``.

    Parameters
    ----------
    features : Tensor, shape (..., D)
        Penultimate features; the leading dims are the rows.
    alpha, beta : float
        α ≥ 0, β.

    Returns
    -------
    Tensor, shape (...)
    """
    v = upcast(features).detach().var(-1, unbiased=False).reshape(-1)
    span = v.max() - v.min()
    v = (v - v.min()) / span if span > 0 else torch.zeros_like(v)
    return (torch.exp(alpha * v) - beta).reshape(features.shape[:-1])
