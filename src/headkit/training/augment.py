"""Training-time batch augmentation; the ``augment=`` registry.

| augment | what each training batch becomes |
|---|---|
| none | unchanged |
| mixup (``alpha=0.2,p=1``) | ``λ·x_a + (1 − λ)·x_b``, loss ``λ·L(y_a) + (1 − λ)·L(y_b)``, λ ~ Beta(α, α) |
| cutmix (``alpha=1,p=1``) | a contiguous feature segment of ``x_b`` pasted into ``x_a``, λ = the kept fraction |

``p`` is the chance that a batch is mixed. Mixed batches are scored by the head without a
target, so margin heads apply no margin to them (the margin has no single target class).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.registry import Registry

AUGMENTS = Registry("augmentation")


class BatchMixing:
    """Mix each training batch with a permutation of itself.

    Parameters
    ----------
    kind : {"mixup", "cutmix"}
    alpha : float
        Beta(α, α) parameter of λ.
    p : float
        Probability of mixing a batch.
    """

    def __init__(self, kind: str, alpha: float, p: float = 1.0) -> None:
        if alpha <= 0:
            raise ConfigError(f"{kind} needs alpha > 0; got {alpha}.")
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{kind} needs a probability p in [0, 1]; got {p}.")
        self.kind, self.alpha, self.p = kind, alpha, p

    def mix(self, x: Tensor) -> tuple[Tensor, float, Tensor]:
        """Return the mixed batch (N, D), λ (the weight of each row's own label) and the perm."""
        lam, perm = F.sample_mixing(len(x), self.alpha)
        if self.kind == "mixup":
            return F.mixup(x, lam, perm), lam, perm
        mixed, lam = F.cutmix(x, lam, perm)
        return mixed, lam, perm

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, criterion: nn.Module) -> Tensor:
        """Return the mixed-batch loss ``λ·L(y) + (1 − λ)·L(y[perm])``, shape ()."""
        if self.p < 1.0 and float(torch.rand(())) >= self.p:
            return model.training_loss(x, y, criterion)
        mixed, lam, perm = self.mix(x)
        head = getattr(model, "head", None)
        # layer_drop's exit losses live in training_loss: mix its losses (two forwards)
        if head is None or not hasattr(model, "features") or getattr(model, "layer_drop", None):
            return F.mixed_loss(lambda t: model.training_loss(mixed, t, criterion), y, perm, lam)
        feats = model.features(mixed)
        fused = getattr(head, "training_loss", None)
        if fused is not None:
            return F.mixed_loss(lambda t: fused(feats, t), y, perm, lam)
        logits = head(feats)
        return F.mixed_loss(lambda t: criterion(logits, t, features=feats), y, perm, lam)

    def __repr__(self) -> str:
        return f"BatchMixing(kind={self.kind!r}, alpha={self.alpha}, p={self.p})"


@AUGMENTS.register("none")
def none() -> None:
    """No augmentation."""
    return None


@AUGMENTS.register("mixup")
def mixup(alpha: float = 0.2, p: float = 1.0) -> BatchMixing:
    """mixup: λ·x_a + (1−λ)·x_b with labels mixed by λ ~ Beta(α, α)."""
    return BatchMixing("mixup", alpha, p)


@AUGMENTS.register("cutmix")
def cutmix(alpha: float = 1.0, p: float = 1.0) -> BatchMixing:
    """CutMix for vectors: a contiguous segment of x_b pasted into x_a, labels mixed by area."""
    return BatchMixing("cutmix", alpha, p)
