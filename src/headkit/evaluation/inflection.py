"""Inflection layers: low output entropy together with a steep fall of the gradient norm.

After "Attention Saturation and Gradient Suppression at Inflection Layers" (catalogue J3): a
layer whose outputs are saturated (a softmax over its activations is nearly one-hot) and whose
activation gradient ``‖∂L/∂h_l‖`` is much smaller than the next layer's ``‖∂L/∂h_{l+1}‖``
(the gradient is suppressed as it passes back through it) is where adaptation stalls; the paper
inserts LoRA there. For the dense trunk the Dense blocks are the candidates, the next layer of
the last block being the logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

ENTROPY_THRESHOLD = 0.5  # normalised entropy H / log d below which a layer counts as saturated
DECAY_THRESHOLD = 0.5  # ‖∂L/∂h_l‖ / ‖∂L/∂h_{l+1}‖ below which the gradient "falls steeply"


def normalised_entropy(h: Tensor) -> float:
    """Mean over rows of ``H(softmax(h_i)) / log d``, in [0, 1] (1: uniform; d = width ≥ 2).

    Parameters
    ----------
    h : Tensor, shape (N, d)
        A layer's outputs.
    """
    d = h.shape[-1]
    if d < 2:
        return 1.0
    log_p = torch.log_softmax(h.detach().double(), -1)
    entropy = -(log_p.exp() * log_p).sum(-1)
    return float(entropy.mean() / np.log(d))


def inflection_layers(
    names: Sequence[str],
    grad_norms: Sequence[float],
    entropies: Sequence[float],
    entropy_threshold: float = ENTROPY_THRESHOLD,
    decay_threshold: float = DECAY_THRESHOLD,
) -> dict[str, Any]:
    """Flag the layers with low output entropy whose gradient norm falls steeply.

    Parameters
    ----------
    names : sequence of str, length L + 1
        The candidate layers (L Dense blocks) followed by the next layer of the last (logits).
    grad_norms : sequence of float, length L + 1
        Mean per-row ``‖∂ℓ/∂h_l‖`` of each layer's output.
    entropies : sequence of float, length L + 1
        Normalised output entropy of each (:func:`normalised_entropy`).
    entropy_threshold, decay_threshold : float
        Flag layer l < L when ``entropies[l] < entropy_threshold`` and
        ``grad_norms[l] < decay_threshold · grad_norms[l + 1]``.

    Returns
    -------
    dict
        ``layers`` (the L candidates), ``decay`` (ratios ``g_l / g_{l+1}``, NaN where
        ``g_{l+1} = 0``), ``entropy``, ``flags`` (bool per candidate) and ``inflection`` (the
        flagged names).
    """
    if not len(names) == len(grad_norms) == len(entropies):
        raise ValueError("names, grad_norms and entropies must have the same length.")
    g = np.asarray(grad_norms, dtype=np.float64)
    e = np.asarray(entropies, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        decay = np.where(g[1:] > 0, g[:-1] / np.where(g[1:] > 0, g[1:], 1.0), np.nan)
    flags = (e[:-1] < entropy_threshold) & (decay < decay_threshold)
    layers = list(names[:-1])
    return {
        "layers": layers,
        "decay": decay,
        "entropy": e[:-1],
        "flags": flags,
        "inflection": [n for n, f in zip(layers, flags, strict=True) if f],
    }
