"""Classification losses on logits: cross-entropy, NLL of a map, one-vs-all BCE, distillation.

Every loss takes logits (N, C) (class dimension last) and a target that is either class indices
(N,) int64 (``ignore_index`` rows contribute nothing) or probability rows (N, C) float ("soft
targets"). Per-row losses are combined by :func:`reduce_rows`, which follows
``torch.nn.functional.cross_entropy``: with class weights ``w`` and index targets the mean is
``Σ_n w_{y_n} ℓ_n / Σ_n w_{y_n}``; with soft targets each row is weighted by ``⟨w, y_n⟩`` and
the mean divides by N.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from headkit.exceptions import ConfigError, DataError
from headkit.functional.softmax import check_class_dim

Reduction = Literal["mean", "sum", "none"]
_HALF = (torch.float16, torch.bfloat16)


def upcast(x: Tensor) -> Tensor:
    """Return ``x`` in float32 when it is float16/bfloat16, else unchanged."""
    return x.float() if x.dtype in _HALF else x


def check_logits_target(logits: Tensor, target: Tensor) -> None:
    """Validate logits (N, C) against index targets (N,) or soft targets (N, C).

    Raises
    ------
    DataError
        For an empty class dimension or mismatched shapes.
    """
    if logits.dim() != 2:
        raise DataError(f"Expected logits of shape (N, C); got {tuple(logits.shape)}.")
    check_class_dim(logits, -1)
    if target.is_floating_point():
        if target.shape != logits.shape:
            raise DataError(
                f"Soft targets must have the logits' shape {tuple(logits.shape)}; "
                f"got {tuple(target.shape)}."
            )
    elif target.shape != logits.shape[:1]:
        raise DataError(
            f"Index targets must have shape ({logits.shape[0]},); got {tuple(target.shape)}."
        )


def check_reduction(reduction: str) -> None:
    """Refuse a reduction other than ``"mean"``, ``"sum"`` or ``"none"``."""
    if reduction not in ("mean", "sum", "none"):
        raise ConfigError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}.")


def check_smoothing(epsilon: float) -> None:
    """Refuse a label-smoothing ε outside [0, 1]."""
    if not 0.0 <= epsilon <= 1.0:
        raise ConfigError(f"label_smoothing must be in [0, 1]; got {epsilon}.")


def target_probs(target: Tensor, n_classes: int, dtype: torch.dtype, ignore_index: int) -> Tensor:
    """Return target rows as probabilities (N, C); ignored index rows are all zeros."""
    if target.is_floating_point():
        return target.to(dtype)
    valid = target != ignore_index
    one_hot = torch.nn.functional.one_hot(torch.where(valid, target, 0), n_classes)
    return one_hot.to(dtype) * valid.unsqueeze(-1).to(dtype)


def smooth_targets(
    target: Tensor, n_classes: int, epsilon: float, ignore_index: int = -100
) -> Tensor:
    """Label smoothing (Szegedy et al. 2016; Müller et al. 2019): ``(1 - ε)·y + ε / C``.

    Parameters
    ----------
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices or probability rows.
    n_classes : int
        C.
    epsilon : float
        ε in [0, 1].
    ignore_index : int
        Index rows equal to it become all-zero rows (they then contribute nothing).

    Returns
    -------
    Tensor, shape (N, C) float
    """
    check_smoothing(epsilon)
    if target.is_floating_point():
        probs = target
        keep = torch.ones_like(probs[:, :1])
    else:
        probs = target_probs(target, n_classes, torch.get_default_dtype(), ignore_index)
        keep = (target != ignore_index).unsqueeze(-1).to(probs.dtype)
    return (1 - epsilon) * probs + keep * epsilon / n_classes


def zero_safe_product(w: Tensor, z: Tensor) -> Tensor:
    """``w ⊙ z`` with 0 wherever ``w`` is 0, so that 0 · (±inf) counts as 0 (a masked class).

    Shapes broadcast as for ``w * z``.
    """
    return torch.where(w != 0, w * z, 0.0)


def reduce_rows(
    rows: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """Combine per-row losses (N,) with class weights and ``ignore_index`` like torch's CE.

    Returns
    -------
    Tensor
        Scalar, or (N,) for ``reduction="none"`` (ignored rows are 0).
    """
    check_reduction(reduction)
    if target.is_floating_point():
        w = (target * weight).sum(-1) if weight is not None else torch.ones_like(rows)
        denominator = torch.tensor(float(rows.shape[0]), dtype=rows.dtype, device=rows.device)
    else:
        valid = (target != ignore_index).to(rows.dtype)
        w = valid if weight is None else weight[torch.where(target != ignore_index, target, 0)]
        w = w.to(rows.dtype) * valid
        denominator = w.sum()
    weighted = zero_safe_product(w, rows)
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    return weighted.sum() / denominator


def nll_rows(log_probs: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor:
    """Per-row ``-Σ_k y_k log p_k`` from log-probabilities (N, C); 0·log 0 counts as 0."""
    y = target_probs(target, log_probs.shape[-1], log_probs.dtype, ignore_index)
    terms = torch.where(y > 0, y * log_probs, torch.zeros_like(log_probs))
    return -terms.sum(-1)


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy, accepting class indices or soft targets.

    ``CE(z, y) = -Σ_k y_k log softmax(z)_k``. Equivalent to ``torch.nn.functional.cross_entropy``
    on float32-upcast logits.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
        Unnormalised scores.
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices (``ignore_index`` rows contribute nothing) or probability rows.
    weight : Tensor, shape (C,), optional
        Per-class weights.
    ignore_index : int
        Target value to skip.
    reduction : {"mean", "sum", "none"}
        How to combine per-row losses.
    label_smoothing : float
        ε in [0, 1]: the target becomes ``(1 - ε)·onehot + ε / C``.

    Returns
    -------
    Tensor
        Scalar, or shape (N,) for ``reduction="none"``.
    """
    check_logits_target(logits, target)
    return torch.nn.functional.cross_entropy(
        upcast(logits),
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


def nll_loss(
    log_probs: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """Negative log-likelihood of any output map, from its log-probabilities.

    ``ℓ = -Σ_k y_k log p_k``: the natural loss of maps with strictly positive probabilities
    (Gumbel-softmax, Scalable-Softmax, Power-Softmax) through their ``log_prob``.

    Parameters
    ----------
    log_probs : Tensor, shape (N, C)
        Log-probabilities of the map.
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices or probability rows.
    weight, ignore_index, reduction
        As in :func:`cross_entropy`.

    Returns
    -------
    Tensor
        Scalar, or (N,) for ``reduction="none"``.
    """
    check_logits_target(log_probs, target)
    rows = nll_rows(upcast(log_probs), target, ignore_index)
    return reduce_rows(rows, target, weight, ignore_index, reduction)


def one_vs_all_loss(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: Reduction = "mean",
) -> Tensor:
    """One-vs-all binary cross-entropy: the natural loss of per-class sigmoid outputs.

    ``ℓ = Σ_k BCE(σ(z_k), y_k) = Σ_k softplus(z_k) - y_k z_k`` (SphereFace2's binary view of
    classification, without margins); each class's term depends on its own logit only.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
    target : Tensor, shape (N,) int64 or (N, C) float
        Class indices, or per-class probabilities in [0, 1] (multi-label rows need not sum to 1).
    weight, ignore_index, reduction
        As in :func:`cross_entropy`.

    Returns
    -------
    Tensor
        Scalar, or (N,) for ``reduction="none"``.
    """
    check_logits_target(logits, target)
    z = upcast(logits)
    y = target_probs(target, z.shape[-1], z.dtype, ignore_index)
    # a masked class (z = -inf, y = 0) adds 0, not 0·(-inf)
    rows = (torch.nn.functional.softplus(z) - zero_safe_product(y, z)).sum(-1)
    return reduce_rows(rows, target, weight, ignore_index, reduction)


def distillation_loss(
    logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 4.0,
    target: Tensor | None = None,
    beta: float = 0.5,
    ignore_index: int = -100,
    student_temperature: float | None = None,
) -> Tensor:
    """Knowledge distillation with temperature (Hinton et al. 2015).

    ``L = β·T_s²·KL(softmax(t/T_t) ‖ softmax(s/T_s)) + (1 - β)·CE(s, y)``; without ``target``
    only the distillation term ``T_s²·KL`` is returned. ``T_t`` is ``temperature`` and ``T_s``
    is ``student_temperature`` (default: the same T, Hinton's loss); LTD (Chen et al.) uses a
    low teacher temperature. The ``T_s²`` factor keeps the gradient's scale independent of
    T_s: ``∂(T_s²·KL)/∂s = T_s·(softmax(s/T_s) - softmax(t/T_t))``. The teacher gets no
    gradient.

    Parameters
    ----------
    logits : Tensor, shape (N, C)
        Student logits s.
    teacher_logits : Tensor, shape (N, C)
        Teacher logits t; log-probabilities work too (``softmax(log p / T) ∝ p^{1/T}``), with
        ``-inf`` for classes the teacher gives probability 0.
    temperature : float
        Teacher temperature T_t > 0 (also the student's unless ``student_temperature``).
    target : Tensor, shape (N,) int64, optional
        Hard labels for the (1 - β) cross-entropy term.
    beta : float
        Weight β in [0, 1] of the distillation term when ``target`` is given.
    ignore_index : int
        Target value skipped by the cross-entropy term.
    student_temperature : float, optional
        Student temperature T_s > 0.

    Returns
    -------
    Tensor, shape ()
    """
    t_s = temperature if student_temperature is None else student_temperature
    if temperature <= 0 or t_s <= 0:
        raise ValueError(f"temperatures must be > 0; got {temperature} and {t_s}.")
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must be in [0, 1]; got {beta}.")
    if teacher_logits.shape != logits.shape:
        raise DataError(
            f"Teacher logits {tuple(teacher_logits.shape)} must match the student's "
            f"{tuple(logits.shape)}."
        )
    check_class_dim(logits, -1)
    s = upcast(logits) / t_s
    t = upcast(teacher_logits).detach() / temperature
    log_q = torch.log_softmax(s, -1).reshape(-1, s.shape[-1])
    p = torch.softmax(t, -1).reshape(-1, s.shape[-1])
    # xlogy: a teacher probability of exactly 0 (teacher logit −inf) contributes 0, not NaN
    kl = (torch.special.xlogy(p, p) - p * log_q).sum(-1).mean()
    distill = t_s**2 * kl
    if target is None:
        return distill
    hard = cross_entropy(upcast(logits), target, ignore_index=ignore_index)
    return beta * distill + (1 - beta) * hard
