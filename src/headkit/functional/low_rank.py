"""Low-rank factorised dense layer with ordered dropout over its rank (Maestro, catalogue A13).

``W = U Vᵀ`` with U (out, r) and V (in, r). In training each row keeps the first b rank
components (b drawn from an ordering prior, :func:`headkit.functional.sample_nested_cut`), so the
components learn an importance order; after training the trailing ranks can be cut to trade
accuracy for cost. On linear regression with isotropic inputs the rank-b truncations approach
the Eckart–Young optimum (the SVD truncated to b).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as TF

from headkit.functional.nested_dropout import nested_dropout


def low_rank_linear(
    x: Tensor,
    u: Tensor,
    v: Tensor,
    bias: Tensor | None = None,
    *,
    rank: int | Tensor | None = None,
    training: bool = False,
    distribution: str = "uniform",
    scale: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Return ``x·V[:, :b]·U[:, :b]ᵀ + bias``.

    Parameters
    ----------
    x : Tensor, shape (..., in_features)
    u : Tensor, shape (out_features, r)
    v : Tensor, shape (in_features, r)
    bias : Tensor, shape (out_features,), optional
    rank : int or Tensor, optional
        b, the ranks kept (an int, or one per row of shape ``x.shape[:-1]``); default: all r,
        or a random b per row when ``training``.
    training : bool
        Draw b per row from the ordering prior (ordered dropout) when ``rank`` is None.
    distribution, scale
        The prior of b (see :func:`headkit.functional.sample_nested_cut`).
    generator : torch.Generator, optional
        Source of randomness.

    Returns
    -------
    Tensor, shape (..., out_features)
    """
    if u.shape[1] != v.shape[1]:
        raise ValueError(f"U {tuple(u.shape)} and V {tuple(v.shape)} need the same rank r.")
    h = x @ v
    if rank is not None or training:
        h = nested_dropout(
            h, training, cut=rank, distribution=distribution, scale=scale, generator=generator
        )
    return TF.linear(h, u, bias)
