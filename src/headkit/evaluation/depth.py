"""The depth/width report of a Dense trunk: aspect ratio and pre-activation scale per layer.

For a network at initialisation (or any time), :func:`depth_width_report` gives the
depth-to-width ratio ``r = Σ_l 1/n_l`` (Roberts, Yaida & Hanin: the distance from the
infinite-width limit) and the mean squared pre-activation ``K_l = mean(z_l²)`` of every Dense
layer on given inputs. At a critical initialisation K_l stays of the same order over depth;
below it K_l decays geometrically (vanishing signals and gradients), above it K_l explodes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from headkit import functional as F


def preactivation_second_moments(model: nn.Module, X: Tensor | np.ndarray) -> list[float]:
    """Return ``mean(z_l²)`` of each Dense block's linear output on ``X``, in eval mode.

    Parameters
    ----------
    model : HeadNet
        A network with ``trunk.blocks`` (each with a ``linear`` layer) and ``features``.
    X : Tensor or ndarray, shape (N, F)
        Raw input rows (the network standardises them as it does for prediction).

    Returns
    -------
    list of float, one per block.
    """
    moments: list[float] = []
    handles = [
        block.linear.register_forward_hook(
            lambda module, inputs, output: moments.append(float(output.double().pow(2).mean()))
        )
        for block in model.trunk.blocks
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model.features(torch.as_tensor(np.asarray(X), dtype=torch.float32))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return moments


def depth_width_report(model: nn.Module, X: Tensor | np.ndarray) -> dict[str, Any]:
    """Return the depth/width diagnostics of a network's trunk.

    Returns
    -------
    dict
        ``depth`` (L), ``widths`` (n_1 … n_L), ``aspect_ratio`` (Σ 1/n_l),
        ``preactivation_second_moments`` (K_1 … K_L on ``X``) and ``signal_ratio`` (K_L / K_1;
        near 1 at criticality, ≪ 1 when the signal vanishes, ≫ 1 when it explodes; NaN without
        layers).
    """
    widths = [int(block.linear.weight.shape[0]) for block in model.trunk.blocks]
    moments = preactivation_second_moments(model, X) if widths else []
    ratio = moments[-1] / moments[0] if moments and moments[0] > 0 else float("nan")
    return {
        "depth": len(widths),
        "widths": widths,
        "aspect_ratio": F.aspect_ratio(widths),
        "preactivation_second_moments": moments,
        "signal_ratio": ratio,
    }
