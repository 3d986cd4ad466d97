"""Choosing the width of a nested-dropout network (Rippel et al. 2014; Chen et al. 2022).

A network trained with ``dropout="nested"`` orders the units of its last hidden layer by
importance, so it can be cut to its first K units after training (:meth:`HeadNet.truncate`).
:func:`width_curve` measures the accuracy of every cut on held-out rows and
:func:`choose_width` picks the smallest K whose accuracy is within a budget of the best.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from headkit.evaluation._arrays import to_numpy

MAX_GRID = 32  # widths measured by default: every width up to this many, else a geometric grid


def width_grid(width: int, max_points: int = MAX_GRID) -> list[int]:
    """Return the cuts to measure: 1..width when few, else a geometric grid ending at ``width``."""
    if width <= max_points:
        return list(range(1, width + 1))
    grid = np.unique(np.round(np.geomspace(1, width, max_points)).astype(int))
    return sorted({int(k) for k in grid} | {width})


def width_curve(
    net: nn.Module, X: Any, y: Any, widths: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """Accuracy of the network cut to each width K of its last hidden layer.

    Each K is measured on the network :meth:`HeadNet.truncate` returns, so the figure is the
    deployed network's, whatever the head.

    Parameters
    ----------
    net : HeadNet
        A network with at least one hidden layer.
    X : array-like, shape (N, F)
        Held-out features (raw; the network standardises them).
    y : array-like, shape (N,)
        Class indices.
    widths : sequence of int, optional
        The cuts (default :func:`width_grid` of the last hidden width).

    Returns
    -------
    dict
        ``widths`` (int array) and ``accuracy`` (float array, same length).
    """
    full = int(net.config.hidden_sizes[-1])
    ks = width_grid(full) if widths is None else sorted({int(k) for k in widths})
    buffer = next(net.buffers())
    x = torch.as_tensor(np.asarray(to_numpy(X), np.float32)).to(buffer.device, buffer.dtype)
    target = np.asarray(to_numpy(y)).astype(np.int64)
    accuracy = []
    with torch.no_grad():
        for k in ks:
            small = net.truncate(k).eval()
            pred = small.predict_proba(x).argmax(-1).cpu().numpy()
            accuracy.append(float((pred == target).mean()))
    return {"widths": np.asarray(ks, dtype=np.int64), "accuracy": np.asarray(accuracy)}


def choose_width(widths: Sequence[int], accuracy: Sequence[float], budget: float = 0.01) -> int:
    """Return the smallest width whose accuracy is at least ``max(accuracy) − budget``.

    Parameters
    ----------
    widths, accuracy : sequences of the same length
        A curve from :func:`width_curve`.
    budget : float
        Accuracy (a fraction, >= 0) one may give up for a smaller network.
    """
    if budget < 0 or len(widths) != len(accuracy) or not len(widths):
        raise ValueError("Need budget >= 0 and two non-empty sequences of the same length.")
    acc = np.asarray(accuracy, dtype=np.float64)
    ok = acc >= acc.max() - budget - 1e-12
    order = np.argsort(np.asarray(widths))
    return int(np.asarray(widths)[order][ok[order]][0])
