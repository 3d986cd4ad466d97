"""What one input's last-layer gradient gives away (a check before sharing gradients).

For a linear head ``z = W h + b``, the gradient of any loss of z from a single input satisfies
``∂L/∂W = (∂L/∂b) hᵀ``, so h is read off exactly, and under softmax cross-entropy the target is
``p − ∂L/∂b`` (see :mod:`headkit.functional.gradient_identity`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from headkit.exceptions import ConfigError
from headkit.functional.gradient_identity import recover_head_input, recover_softmax_target


def last_layer_leakage(net: nn.Module, x: Any, target: Any, criterion: Any = None) -> dict:
    """Recover one input's penultimate features and target from its head gradients.

    Parameters
    ----------
    net : HeadNet
        With a linear head (``weight`` (C, D) and ``bias`` (C,)).
    x : array-like, shape (F,) or (1, F)
        One raw input.
    target : int or array-like of shape (C,)
        Its class index or target row.
    criterion : callable, optional
        ``criterion(logits, target)``; softmax cross-entropy by default.

    Returns
    -------
    dict
        ``feature_cosine`` (cosine between recovered and true h; 1 = fully leaked),
        ``feature_error`` (max abs difference), ``recovered_target`` (C,) = p − ∂L/∂b and
        ``recovered_label`` (its argmax; the label under cross-entropy).
    """
    weight, bias = getattr(net.head, "weight", None), getattr(net.head, "bias", None)
    if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor):
        raise ConfigError("last_layer_leakage needs a linear head with a weight and a bias.")
    buffer = next(net.buffers())
    row = torch.as_tensor(np.asarray(x, np.float32)).reshape(1, -1).to(buffer.device, buffer.dtype)
    tgt = torch.as_tensor(np.asarray(target)).to(buffer.device)
    tgt = tgt.reshape(1) if tgt.dim() == 0 else tgt.reshape(1, -1).to(buffer.dtype)
    was_training = net.training
    net.eval()
    try:
        with torch.enable_grad():
            h = net.features(row)
            logits = net.head(h)
            loss_fn = criterion or torch.nn.functional.cross_entropy
            grad_w, grad_b = torch.autograd.grad(loss_fn(logits, tgt), [weight, bias])
    finally:
        net.train(was_training)
    h_rec = recover_head_input(grad_w, grad_b)
    true = h.detach()[0]
    cosine = torch.nn.functional.cosine_similarity(h_rec, true, dim=0)
    recovered = recover_softmax_target(grad_b, torch.softmax(logits.detach()[0], -1))
    return {
        "feature_cosine": float(cosine),
        "feature_error": float((h_rec - true).abs().max()),
        "recovered_target": recovered.double().cpu().numpy(),
        "recovered_label": int(recovered.argmax()),
    }
