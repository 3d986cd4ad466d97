"""Losses with a penalty on the network's weights; the ``norm_loss`` name.

``norm_loss:lam=0.01`` is the output map's natural loss plus the norm loss
``λ·Σ_i (‖w_i‖₂ − 1)²`` over the rows of every dense layer's weight (the trunk's Linear layers
and a linear head): it pulls each neuron's weight vector onto the unit sphere (the oblique
manifold) without turning it. The network arrives as the ``network`` context when the trainer
builds the loss; without one only the natural loss is computed. Under ``torch.no_grad``
(validation) the penalty is left out, so ``val_loss`` stays the data loss.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit.functional.regularizers import norm_loss as norm_penalty
from headkit.nn.losses import LOSSES, natural_loss


def dense_weights(model: nn.Module) -> list[Tensor]:
    """Return the weight (out, in) of every ``nn.Linear`` in ``model``, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


class NormLoss(nn.Module):
    """A base loss plus ``λ·Σ_i (‖w_i‖ − 1)²`` over the model's dense-layer rows.

    Parameters
    ----------
    base : nn.Module
        The loss on logits.
    lam : float
        λ ≥ 0.
    model : nn.Module, optional
        Held by reference (not a submodule, so its parameters are not counted twice).
    """

    def __init__(self, base: nn.Module, lam: float = 0.01, model: nn.Module | None = None):
        super().__init__()
        if lam < 0:
            raise ValueError(f"norm_loss needs lam >= 0; got {lam}.")
        self.base, self.lam, self._model = base, lam, (model,)

    def penalty(self) -> Tensor | float:
        """The current ``λ·Σ (‖w_i‖ − 1)²`` (0.0 without a model)."""
        model = self._model[0]
        weights = dense_weights(model) if model is not None else []
        return norm_penalty(weights, self.lam) if weights else 0.0

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        loss = self.base(logits, target, features)
        # validation (no grad) reports the data loss alone
        return loss + self.penalty() if torch.is_grad_enabled() else loss

    def extra_repr(self) -> str:
        return f"lam={self.lam}"


@LOSSES.register("norm_loss")
def norm_loss(
    lam: float = 0.01, output: nn.Module | None = None, network: nn.Module | None = None
) -> nn.Module:
    """Norm loss: natural loss + λ·Σ(‖w_i‖ − 1)² over dense-layer rows (oblique manifold)."""
    return NormLoss(natural_loss(output), lam, network)
