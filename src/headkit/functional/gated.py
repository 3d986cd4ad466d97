"""Gated linear units: GLU, SwiGLU, GeGLU (Dauphin et al. 2017; Shazeer 2020).

``GLU(x) = (W_a x + b_a) ⊙ σ(W_g x + b_g)``; SwiGLU swaps σ for SiLU and GeGLU for GELU. A gated
unit replaces a Dense layer *and* its activation.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as TF

GATES = {"glu": torch.sigmoid, "swiglu": TF.silu, "geglu": TF.gelu}


def gated_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, gate: str = "glu"
) -> Tensor:
    """Return ``(x W_aᵀ + b_a) ⊙ act(x W_gᵀ + b_g)``.

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
    weight : Tensor, shape (2·out_features, in_features)
        ``W_a`` stacked over ``W_g`` (value rows first, then gate rows).
    bias : Tensor, shape (2·out_features,), optional
        ``b_a`` then ``b_g``.
    gate : {"glu", "swiglu", "geglu"}
        The gate's nonlinearity: sigmoid, SiLU or GELU.

    Returns
    -------
    Tensor, shape (..., out_features)
    """
    if gate not in GATES:
        raise ValueError(f"gate must be one of {', '.join(GATES)}; got {gate!r}.")
    if weight.shape[0] % 2:
        raise ValueError(
            f"weight needs an even number of rows (value, then gate); got {weight.shape[0]}."
        )
    value, gated = TF.linear(x, weight, bias).chunk(2, dim=-1)
    return value * GATES[gate](gated)
