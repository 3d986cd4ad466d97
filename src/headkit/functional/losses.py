"""Classification losses on logits."""

from __future__ import annotations

import torch
from torch import Tensor


def cross_entropy(
    logits: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy, accepting class indices or soft targets.

    Equivalent to ``torch.nn.functional.cross_entropy`` on float32-upcast logits.

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
    compute = logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
    return torch.nn.functional.cross_entropy(
        compute,
        target,
        weight=weight,
        ignore_index=ignore_index,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )
