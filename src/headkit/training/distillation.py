"""Knowledge distillation in the fit loop: the criterion and the teacher's per-row targets.

A run names a teacher (``TrainingConfig.teacher``, a saved run directory); the estimator turns
the teacher's probabilities on the training rows into log-probabilities and hands them to
:meth:`headkit.training.Trainer.fit`, which gives each batch its rows' teacher targets. The loss
is Hinton et al.'s ``β·T_s²·KL(p_Tt^teacher ‖ p_Ts^student) + (1 − β)·hard`` (separate teacher and
student temperatures when ``student_temperature`` is set), or with ``teacher_loss="sampled_logit"``
the squared error on the label's log-probability (:class:`headkit.nn.loss_variants.DistillationLoss`).
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError, DataError
from headkit.nn.loss_variants import DistillationLoss
from headkit.training import distributed


def distillation_criterion(
    model: nn.Module, base: nn.Module, config: TrainingConfig
) -> DistillationLoss:
    """Wrap the hard-label loss ``base`` into the distillation loss the config describes.

    Raises
    ------
    ConfigError
        When the head computes its own loss (the teacher would be ignored) or under torchrun.
    """
    head = getattr(model, "head", None)
    if callable(getattr(head, "training_loss", None)):
        raise ConfigError(
            f"A teacher cannot guide head {type(head).__name__}, which computes its own loss "
            "without logits; use a head such as 'linear' or 'cosine' with --teacher."
        )
    if distributed.active():
        raise ConfigError(
            "Distillation (--teacher) does not run under torchrun; train on one process."
        )
    if config.teacher_temperature <= 0 or not 0.0 <= config.teacher_weight <= 1.0:
        raise ConfigError(
            "teacher_temperature must be > 0 and teacher_weight in [0, 1]; got "
            f"{config.teacher_temperature} and {config.teacher_weight}."
        )
    return DistillationLoss(
        config.teacher_temperature,
        config.teacher_weight,
        base,
        student_temperature=config.student_temperature,
        kind=config.teacher_loss,
    )


def check_teacher_targets(
    config: TrainingConfig, teacher_log_probs: Tensor | None, X: Tensor, device
) -> Tensor | None:
    """Validate the teacher's log-probabilities against the rows and move them to ``device``."""
    if config.teacher is None:
        if teacher_log_probs is not None:
            raise ConfigError("teacher_log_probs were given but the config names no teacher.")
        return None
    if teacher_log_probs is None:
        raise ConfigError(
            f"The config names teacher {config.teacher!r}; pass its log-probabilities of the "
            "training rows (teacher_log_probs)."
        )
    if teacher_log_probs.dim() != 2 or teacher_log_probs.shape[0] != X.shape[0]:
        raise DataError(
            f"teacher_log_probs of shape {tuple(teacher_log_probs.shape)} must have one row "
            f"per training row ({X.shape[0]})."
        )
    return teacher_log_probs.to(device)
