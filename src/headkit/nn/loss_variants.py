"""Regularised variants of an output map's natural loss, and distillation.

Each variant wraps the natural loss of the network's output map (see
:mod:`headkit.nn.losses`); with softmax it is exactly the paper's loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.loss_variants import (
    bias_loss_weights,
    log_z_penalty,
    maxsup_penalty,
    noisy_target_logits,
)
from headkit.functional.losses import check_smoothing, reduce_rows, smooth_targets
from headkit.nn.losses import LOSSES, RowLoss, flatten_samples, natural_loss


class _Wrapped(RowLoss):
    """A variant built on a base (natural) loss's rows."""

    def __init__(self, base: RowLoss) -> None:
        super().__init__(base.ignore_index, base.weight)
        self.base = base

    @classmethod
    def around_natural_loss(cls, output: nn.Module | None = None, **options: object) -> RowLoss:
        """Build this variant around the natural loss of ``output`` (the registry's factory)."""
        return cls(natural_loss(output), **options)


class LabelSmoothingLoss(_Wrapped):
    """The base loss on smoothed targets ``(1 - ε)·onehot + ε/C`` (Szegedy et al. 2016)."""

    def __init__(self, base: RowLoss, epsilon: float = 0.1) -> None:
        super().__init__(base)
        check_smoothing(epsilon)
        self.epsilon = epsilon

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        soft = smooth_targets(target, logits.shape[-1], self.epsilon, self.ignore_index)
        return self.base.rows(logits, soft.to(logits.dtype))

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}"


class MaxSupLoss(_Wrapped):
    """The base loss plus ``α·(z_max - mean z)`` (MaxSup, Zhou et al. 2025)."""

    def __init__(self, base: RowLoss, alpha: float = 0.1) -> None:
        super().__init__(base)
        self.alpha = alpha

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.base.rows(logits, target) + self.alpha * maxsup_penalty(logits)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class ZLoss(_Wrapped):
    """The base loss plus the auxiliary z-loss ``λ·(log Z)²``."""

    def __init__(self, base: RowLoss, lam: float = 1e-4) -> None:
        super().__init__(base)
        self.lam = lam

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.base.rows(logits, target) + self.lam * log_z_penalty(logits)

    def extra_repr(self) -> str:
        return f"lam={self.lam}"


class NoisySoftmaxLoss(_Wrapped):
    """The base loss on logits whose target entry is pushed down by annealed noise.

    The noise scale is ``alpha·(1 - progress)`` (linear to 0 over training through
    ``set_progress``); noise applies only in training mode with gradients enabled, so
    validation losses are noise-free.
    """

    def __init__(self, base: RowLoss, alpha: float = 0.1) -> None:
        super().__init__(base)
        if alpha < 0:
            raise ValueError(f"alpha must be >= 0; got {alpha}.")
        self.alpha = alpha
        self.progress = 0.0

    def set_progress(self, fraction: float) -> None:
        """Record training progress in [0, 1] (the noise anneals linearly to 0)."""
        self.progress = min(max(float(fraction), 0.0), 1.0)

    @property
    def noise_scale(self) -> float:
        """The current σ."""
        return self.alpha * (1.0 - self.progress)

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.training and torch.is_grad_enabled() and not target.is_floating_point():
            logits = noisy_target_logits(
                logits, target, self.noise_scale, ignore_index=self.ignore_index
            )
        return self.base.rows(logits, target)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, progress={self.progress:.2f}"


class BiasLoss(_Wrapped):
    """The base loss with rows weighted by ``exp(α·v) - β`` of the feature variance v.

    Without ``features`` (validation / evaluation calls) the rows are unweighted: the base loss.
    """

    def __init__(self, base: RowLoss, alpha: float = 0.3, beta: float = 0.3) -> None:
        super().__init__(base)
        self.alpha, self.beta = alpha, beta

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        if features is None:
            return self.base(logits, target)
        if logits.dim() == 3 and features.dim() == 2:
            features = features.expand(logits.shape[0], *features.shape)
        weights = bias_loss_weights(features, self.alpha, self.beta).reshape(-1)
        logits, target = flatten_samples(logits, target)
        rows = self.base.rows(logits, target) * weights
        return reduce_rows(rows, target, self.weight, self.ignore_index)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, beta={self.beta}"


class SphericalZLoss(RowLoss):
    """The Z-loss of de Brébisson & Vincent: ``softplus(a(b - ζ_y))/a`` on z-scored logits."""

    def __init__(self, a: float = 1.0, b: float | None = None, ignore_index: int = -100) -> None:
        super().__init__(ignore_index)
        self.a, self.b = a, b

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.spherical_z_loss(
            logits, target, self.a, self.b, ignore_index=self.ignore_index, reduction="none"
        )

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}"


class DistillationLoss(nn.Module):
    """Knowledge distillation ``β·T_s²·KL(teacher_Tt ‖ student_Ts) + (1 - β)·hard`` (Hinton et al.).

    ``hard`` is ``base(logits, target)`` (softmax cross-entropy when ``base`` is None).
    Call ``loss(logits, target, teacher_logits=t)``; the teacher's logits may be its
    log-probabilities. With ``target=None`` only the distillation term is returned; without
    ``teacher_logits`` only the hard loss (the validation loss of a distilled run). Logits may
    carry a leading sample dim (k, N, C); the teacher logits (N, C) are then broadcast.

    ``kind="sampled_logit"`` replaces the KL term by the squared error between the student's and
    the teacher's log-probability of each row's own label
    (:func:`headkit.functional.sampled_label_logit_loss`, Zhao & Zhu 2023): the loss for a
    teacher that gives only the sampled label's probability (temperatures unused).

    Parameters
    ----------
    temperature : float
        Teacher temperature T_t > 0 (and the student's unless ``student_temperature``).
    beta : float
        Weight β in [0, 1] of the distillation term.
    base : nn.Module, optional
        The hard-label loss ``base(logits, target, features)``.
    student_temperature : float, optional
        Student temperature T_s > 0 (default: T_t).
    kind : {"kl", "sampled_logit"}
        The distillation term.
    """

    def __init__(
        self,
        temperature: float = 4.0,
        beta: float = 0.5,
        base: nn.Module | None = None,
        student_temperature: float | None = None,
        kind: str = "kl",
    ) -> None:
        super().__init__()
        t_s = temperature if student_temperature is None else student_temperature
        if temperature <= 0 or t_s <= 0 or not 0.0 <= beta <= 1.0:
            raise ValueError(
                "Distillation needs temperatures > 0 and beta in [0, 1]; got "
                f"{temperature}, {t_s}, {beta}."
            )
        if kind not in ("kl", "sampled_logit"):
            raise ValueError(f"kind must be 'kl' or 'sampled_logit'; got {kind!r}.")
        self.temperature, self.beta, self.base = temperature, beta, base
        self.student_temperature, self.kind = t_s, kind

    def _hard(self, logits: Tensor, target: Tensor, features: Tensor | None) -> Tensor:
        if self.base is not None:
            return self.base(logits, target, features=features)
        logits, target = flatten_samples(logits, target)
        return F.cross_entropy(logits, target)

    def _soft(self, logits: Tensor, target: Tensor | None, teacher: Tensor) -> Tensor:
        """The distillation term; ``logits`` (..., N, C), ``teacher`` flattened to (-1, C)."""
        flat = logits.reshape(teacher.shape)
        if self.kind == "kl":
            return F.distillation_loss(
                flat, teacher, self.temperature, student_temperature=self.student_temperature
            )
        if target is None:
            raise ValueError("kind='sampled_logit' needs each row's label (target).")
        rows = target.expand(logits.shape[:-1]).reshape(-1)
        picked = torch.log_softmax(teacher.float(), -1).gather(-1, rows.unsqueeze(-1))
        return F.sampled_label_logit_loss(flat, rows, picked.squeeze(-1))

    def forward(
        self,
        logits: Tensor,
        target: Tensor | None,
        features: Tensor | None = None,
        *,
        teacher_logits: Tensor | None = None,
    ) -> Tensor:
        if teacher_logits is None:
            if target is None:
                raise ValueError("DistillationLoss needs teacher_logits, a target, or both.")
            return self._hard(logits, target, features)
        teacher = teacher_logits.expand_as(logits).reshape(-1, logits.shape[-1])
        soft = self._soft(logits, target, teacher)
        if target is None or self.beta == 1.0:
            return soft
        return self.beta * soft + (1 - self.beta) * self._hard(logits, target, features)

    def extra_repr(self) -> str:
        t = f"temperature={self.temperature}, student_temperature={self.student_temperature}"
        return f"{t}, beta={self.beta}, kind={self.kind!r}"


for _name, _variant in {
    "label_smoothing": LabelSmoothingLoss,
    "maxsup": MaxSupLoss,
    "z_loss": ZLoss,
    "noisy_softmax": NoisySoftmaxLoss,
    "bias_loss": BiasLoss,
}.items():
    LOSSES.register(_name, options_from=_variant)(_variant.around_natural_loss)
LOSSES.register("spherical_z")(SphericalZLoss)
