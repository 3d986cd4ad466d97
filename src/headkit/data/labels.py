"""Class labels: checking a classification target and encoding labels as class indices."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets

from headkit.exceptions import DataError


def check_labels(y: np.ndarray) -> np.ndarray:
    """Return the sorted distinct labels of a classification target, shape (C,), C >= 2.

    Raises
    ------
    DataError
        For a continuous target or one with a single class.
    """
    check_classification_targets(y)
    classes = np.unique(y)
    if classes.size < 2:
        raise DataError(
            f"The target has only one class ({classes[0]!r}); a classifier needs at least two "
            "classes in the training labels."
        )
    return classes


def encode_labels(classes: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """Return the index of each label of ``y`` in ``classes`` (sorted), shape (N,) int64.

    Raises
    ------
    DataError
        When ``y`` holds labels outside ``classes``.
    """
    index = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    unseen = classes[index] != y
    if unseen.any():
        raise DataError(
            f"Labels {sorted(set(np.asarray(y)[unseen].tolist()))[:5]} were not among the classes "
            "seen in the first call; pass every class to partial_fit's `classes` argument."
        )
    return torch.as_tensor(index, dtype=torch.int64)
