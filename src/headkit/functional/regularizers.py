"""Weight regularisers added to a loss.

The *norm loss* (Georgiou et al., "Norm Loss: An efficient yet effective regularization method
for deep neural networks") pulls every neuron's weight vector towards the unit sphere, i.e. the
weight matrix towards the oblique manifold: ``R(W) = λ·Σ_i (‖w_i‖₂ − 1)²`` over the rows w_i of
each dense layer. Its gradient ``2λ(1 − 1/‖w_i‖)·w_i`` is radial: it rescales rows, never turns
them.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor


def norm_loss(weights: Tensor | Iterable[Tensor], lam: float = 1.0) -> Tensor:
    """Return ``λ·Σ_W Σ_i (‖w_i‖₂ − 1)²`` over the rows of one or several weight matrices.

    Parameters
    ----------
    weights : Tensor of shape (out, in), or an iterable of them
        Dense-layer weights; each row is one neuron's incoming weights.
    lam : float
        λ ≥ 0.

    Returns
    -------
    Tensor, shape ()
        In the first matrix's dtype; 0 for an empty iterable.
    """
    matrices = [weights] if isinstance(weights, Tensor) else list(weights)
    if not matrices:
        return torch.zeros(())
    total = matrices[0].new_zeros(())
    for w in matrices:
        total = total + (w.norm(dim=-1) - 1.0).square().sum().to(total.dtype)
    return lam * total
