"""Logit masking in training (the ``masked`` loss) and at prediction time.

``loss="masked"`` trains with only the classes present in each batch competing: the other
classes' logits are −∞ before the natural loss, so their head rows get exactly zero gradient.
Trained task by task (``partial_fit`` on one task's data), this is the current-task masking of
*Revisiting Softmax Masking for Stability in Continual Learning*. At prediction time
:func:`masked_probabilities` restricts each row to a candidate set.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.exceptions import DataError
from headkit.nn.losses import LOSSES, flatten_samples, natural_loss


class MaskedLoss(nn.Module):
    """A loss computed on masked logits.

    Parameters
    ----------
    base : nn.Module
        The loss applied to the masked logits (the output map's natural loss).
    n_classes : int
        C.

    ``forward(logits, target, features=None, mask=None)``: logits (N, C) or (k, N, C), target
    (N,) class indices, mask (N, C) or (C,) bool; without a mask, the classes present in
    ``target`` compete.
    """

    def __init__(self, base: nn.Module, n_classes: int) -> None:
        super().__init__()
        self.base = base
        self.n_classes = n_classes

    def forward(
        self,
        logits: Tensor,
        target: Tensor,
        features: Tensor | None = None,
        mask: Tensor | None = None,
    ) -> Tensor:
        if mask is None:
            mask = F.present_classes(target, self.n_classes)
        elif not _allows_targets(mask, target, self.n_classes):
            raise DataError("A row's target class is masked out; the mask must allow it.")
        if logits.dim() == 3 and mask.dim() == 2:
            mask = mask.expand(logits.shape[0], *mask.shape).reshape(-1, mask.shape[-1])
        flat, flat_target = flatten_samples(logits, target)
        return self.base(F.mask_logits(flat, mask), flat_target)


def _allows_targets(mask: Tensor, target: Tensor, n_classes: int) -> bool:
    """Whether a (N, C) or (C,) mask allows each row's target class (negative targets: ignored)."""
    rows = torch.broadcast_to(mask, (len(target), n_classes))
    allowed = rows.gather(1, target.clamp_min(0).unsqueeze(1)).squeeze(1)
    return bool((allowed | (target < 0)).all())


def masked_probabilities(output: nn.Module, logits: Tensor, mask: Tensor) -> Tensor:
    """Return ``output(mask_logits(logits, mask))``: masked classes get probability exactly 0.

    Parameters
    ----------
    output : nn.Module
        The output map (softmax family).
    logits : Tensor, shape (N, C)
        Temperature-scaled logits.
    mask : Tensor of bool, shape (N, C) or (C,)
        True where a class may be predicted.

    Returns
    -------
    Tensor, shape (N, C)
    """
    return output(F.mask_logits(logits, mask))


@LOSSES.register("masked")
def masked(n_classes: int, output: nn.Module | None = None, ignore_index: int = -100) -> nn.Module:
    """The natural loss over the classes present in the batch only (softmax masking)."""
    return MaskedLoss(natural_loss(output, ignore_index=ignore_index), n_classes)
