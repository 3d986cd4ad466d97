"""⊥Grad in the fit loop (``orthogonal_gradients=True`` / ``--orthogonal-gradients``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headkit.functional.orthogonal_gradient import project_gradients_
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.config import TrainingConfig
    from headkit.training.trainer import Trainer


class OrthogonalGradients(Callback):
    """Project every trainable parameter's gradient orthogonally to the parameter, each step.

    Runs after the backward pass and before the optimiser step, so it wraps any optimiser
    (:func:`headkit.functional.orthogonal_gradient`; Prieto et al. 2025's ⊥Grad).
    """

    def on_after_backward(self, trainer: Trainer) -> None:
        params = [p for p in trainer.model.parameters() if p.requires_grad and p.grad is not None]
        project_gradients_(params)


def gradient_callbacks(config: TrainingConfig) -> list[Callback]:
    """The callbacks a training config asks for that change gradients or weights (⊥Grad, pruning, DP)."""
    from headkit.training.privacy import PRIVACY
    from headkit.training.pruning import PRUNING

    found: list[Callback] = []
    if getattr(config, "orthogonal_gradients", False):
        found.append(OrthogonalGradients())
    pruning = PRUNING.build(getattr(config, "prune", "none"))
    privacy = PRIVACY.build(
        getattr(config, "privacy", "none")
    )  # DP-SGD: last, it swaps the optimiser
    return [c for c in (*found, pruning, privacy) if c is not None]
