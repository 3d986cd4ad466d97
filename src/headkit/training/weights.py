"""Per-row sample weights: scikit-learn's ``class_weight`` rule and the weighted loss.

Weights enter training in one place: the loss of a batch becomes ``mean_i(w_i · ℓ_i)`` with the
weights normalised to mean 1 over the training split. With the whole split in one batch this is
``Σ w_i ℓ_i / Σ w_i``, exactly the mean loss over the data with row i repeated w_i times
(scikit-learn's meaning of ``sample_weight``); with mini-batches it is an unbiased estimate of it.
Validation loss and accuracy are weighted the same way (``Σ w ℓ / Σ w``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor, nn

from headkit import protocols
from headkit._validation import shown_names
from headkit.exceptions import ConfigError
from headkit.functional.losses import reduce_rows
from headkit.nn.losses import CrossEntropyLoss, RowLoss, flatten_samples


def check_class_weights(criterion: nn.Module, spec: str, n_classes: int) -> None:
    """Refuse a loss whose ``class_weights`` do not give one weight per class."""
    for module in criterion.modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, Tensor) and weight.dim() == 1 and len(weight) != n_classes:
            raise ConfigError(
                f"The loss {spec!r} gives {len(weight)} class weights but the data has "
                f"{n_classes} classes; give one weight per class, in the order of the sorted "
                "labels."
            )


def class_weight_vector(
    class_weight: str | Mapping[Any, float] | None, classes: np.ndarray, y_index: np.ndarray
) -> np.ndarray:
    """Return one weight per class, shape (C,), following scikit-learn's ``class_weight``.

    Parameters
    ----------
    class_weight : None, "balanced" or dict
        ``None``: all 1. ``"balanced"``: ``n_samples / (n_classes · count_c)``. A dict maps class
        labels to weights; classes not in it weigh 1.
    classes : ndarray, shape (C,)
        Sorted class labels.
    y_index : ndarray, shape (N,)
        Class index of each training row (0 … C-1).
    """
    n_classes = len(classes)
    if class_weight is None:
        return np.ones(n_classes)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ConfigError(
                f"class_weight must be 'balanced', a dict or None; got {class_weight!r}."
            )
        counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
        return len(y_index) / (n_classes * np.maximum(counts, 1.0))
    unknown = [k for k in class_weight if k not in set(classes.tolist())]
    if unknown:
        raise ConfigError(
            f"class_weight names labels {shown_names(map(repr, unknown))} that are not classes "
            f"of y; use labels from {shown_names(map(repr, classes.tolist()), 10)}."
        )
    return np.array([float(class_weight.get(c, 1.0)) for c in classes.tolist()])


def supports_row_weights(criterion: nn.Module) -> bool:
    """True when a loss exposes per-row values that can be weighted (most registered losses)."""
    return isinstance(criterion, RowLoss) and type(criterion).forward in (
        RowLoss.forward,
        CrossEntropyLoss.forward,
    )


def weighted_rows_loss(
    criterion: RowLoss, logits: Tensor, target: Tensor, weight: Tensor
) -> Tensor:
    """Return ``mean_i(weight_i · ℓ_i)`` of a row-wise loss, shape ().

    Parameters
    ----------
    criterion : RowLoss
        Its class weights and ``ignore_index`` still apply to each row.
    logits : Tensor, shape (N, C) or (k, N, C)
    target : Tensor, shape (N,) int64 or (N, C) float
    weight : Tensor, shape (N,)
        Row weights (repeated over the k samples of multi-sample dropout).
    """
    k = logits.shape[0] if logits.dim() == 3 else 1
    logits, target = flatten_samples(logits, target)
    rows = reduce_rows(
        criterion.rows(logits, target),
        target,
        criterion.weight,
        criterion.ignore_index,
        reduction="none",
    )
    return (rows * weight.to(rows.dtype).repeat(k)).mean()


class RowWeightedLoss:
    """A loss with the batch's row weights bound: ``loss(logits, target) = mean(w · ℓ)``.

    The trainer sets :attr:`weight` before each step; ``features`` is accepted and ignored
    (losses that use the features are not row-weightable, see :func:`supports_row_weights`).
    """

    def __init__(self, criterion: nn.Module) -> None:
        if not supports_row_weights(criterion):
            raise ConfigError(
                f"The loss {type(criterion).__name__} has no per-row values, so sample_weight "
                "and class_weight cannot weight it; use another loss or drop the weights."
            )
        self.criterion = criterion
        self.weight: Tensor | None = None

    def __call__(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        if self.weight is None:
            return self.criterion(logits, target)
        return weighted_rows_loss(self.criterion, logits, target, self.weight)  # type: ignore[arg-type]


def weighted_criterion(
    model: nn.Module, criterion: nn.Module, sample_weight: Tensor | None, ddp: bool
) -> RowWeightedLoss | None:
    """The criterion with per-row weights bound, or None without weights.

    Raises
    ------
    ConfigError
        A head that computes its own loss, or a ``torchrun`` fit (``ddp``), with weights.
    """
    if sample_weight is None:
        return None
    if isinstance(getattr(model, "head", None), protocols.OwnsTrainingLoss):
        raise ConfigError(
            "This head computes its own loss, which cannot weight rows; drop sample_weight "
            "and class_weight or use a head such as 'linear'."
        )
    if ddp:
        raise ConfigError(
            "sample_weight and class_weight are not supported under torchrun; train in one "
            "process or drop the weights."
        )
    return RowWeightedLoss(criterion)
