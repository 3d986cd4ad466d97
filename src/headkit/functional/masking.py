"""Logit masking: restrict which classes compete in a row (Revisiting Softmax Masking, 2023).

A masked class gets logit −∞ before the output map and the loss, so its probability is exactly
0, the remaining probabilities sum to 1, and no gradient reaches the masked classes' head rows.
In class-incremental learning the mask is the current task's classes; at prediction time it is
a candidate set per row.
"""

from __future__ import annotations

import torch
from torch import Tensor

from headkit.exceptions import DataError


def mask_logits(logits: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """Set the logits of disallowed classes to −∞.

    Parameters
    ----------
    logits : Tensor, shape (..., C)
    mask : Tensor of bool, broadcastable to ``logits``, or None
        True where a class may compete. ``None`` returns ``logits`` unchanged.
    dim : int
        Class dimension (only used to check that every row keeps a class).

    Returns
    -------
    Tensor, same shape as ``logits``.

    Raises
    ------
    DataError
        When the mask is not boolean or leaves a row with no class.
    """
    if mask is None:
        return logits
    if mask.dtype != torch.bool:
        raise DataError(f"A class mask must be a boolean tensor; got dtype {mask.dtype}.")
    mask = mask.to(logits.device)
    if not torch.broadcast_to(mask, logits.shape).any(dim).all():
        raise DataError("The class mask leaves a row with no allowed class; allow at least one.")
    return logits.masked_fill(~mask, float("-inf"))


def present_classes(target: Tensor, n_classes: int) -> Tensor:
    """Return a (C,) boolean mask of the classes that occur in ``target`` (N,)."""
    mask = torch.zeros(n_classes, dtype=torch.bool, device=target.device)
    mask[target[(target >= 0) & (target < n_classes)]] = True
    return mask
