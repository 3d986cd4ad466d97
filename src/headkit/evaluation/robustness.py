"""Robustness of a trained network to the smallest L2 perturbation (DeepFool)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from headkit.evaluation._arrays import to_numpy
from headkit.functional.robustness import deepfool


def deepfool_robustness(
    net: nn.Module, X: Any, overshoot: float = 0.02, max_iter: int = 50
) -> dict[str, Any]:
    """DeepFool robustness ``ρ = mean_i ‖r_i‖ / ‖x_i‖`` of a network on raw rows X.

    Parameters
    ----------
    net : nn.Module
        Maps (N, F) inputs to logits (a :class:`headkit.nn.HeadNet`; run in eval mode).
    X : array-like, shape (N, F)
    overshoot, max_iter
        As in :func:`headkit.functional.robustness.deepfool`.

    Returns
    -------
    dict
        ``rho`` (over rows whose label flipped), ``median_ratio`` (the median of ‖r‖/‖x‖ over
        them; robust to the few rows where a flat linearisation sends DeepFool far),
        ``mean_distance`` (mean ‖r‖ over those rows),
        ``flipped`` (their share), ``mean_iterations``, ``distances`` (N,) with NaN where
        DeepFool gave up.
    """
    buffer = next(net.buffers())
    x = torch.as_tensor(to_numpy(X, dtype=np.float32)).to(buffer.device, buffer.dtype)
    was_training = net.training
    net.eval()
    try:
        result = deepfool(net, x, overshoot, max_iter)
    finally:
        net.train(was_training)
    dist = result.perturbation.norm(dim=1).double().cpu().numpy()
    flipped = result.flipped.cpu().numpy()
    dist[~flipped] = np.nan
    x_norm = x.norm(dim=1).double().cpu().numpy()
    ok = flipped & (x_norm > 0)
    return {
        "rho": float(np.mean(dist[ok] / x_norm[ok])) if ok.any() else float("nan"),
        "median_ratio": float(np.median(dist[ok] / x_norm[ok])) if ok.any() else float("nan"),
        "mean_distance": float(np.nanmean(dist)) if flipped.any() else float("nan"),
        "flipped": float(flipped.mean()) if len(flipped) else float("nan"),
        "mean_iterations": float(result.iterations.double().mean()) if len(x) else float("nan"),
        "distances": dist,
    }
