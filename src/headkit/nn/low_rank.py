"""Low-rank Dense layers with ordered dropout over the rank (``block="lowrank:rank=16"``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.nested_dropout import check_nested


class LowRankLinear(nn.Module):
    """``x·V[:, :b]·U[:, :b]ᵀ + b`` with W = U Vᵀ of rank r; b random per row in training.

    Parameters
    ----------
    in_features, out_features : int
        Sizes.
    rank : int
        r (capped at ``min(in_features, out_features)``).
    distribution, scale
        Prior of the kept rank b in training (``"uniform"`` as in Maestro; see
        :func:`headkit.functional.sample_nested_cut`).

    Attributes
    ----------
    keep : int or None
        Ranks used in eval mode (None: all r); :func:`headkit.nn.network.truncate_rank` makes a cut permanent.

    Shape
    -----
    Input (..., in_features); output (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 16,
        distribution: str = "uniform",
        scale: float = 0.5,
    ) -> None:
        super().__init__()
        check_nested(distribution, scale)
        if rank < 1:
            raise ValueError(f"rank must be >= 1; got {rank}.")
        r = min(int(rank), in_features, out_features)
        self.in_features, self.out_features, self.rank = in_features, out_features, r
        self.distribution, self.scale = distribution, scale
        self.keep: int | None = None
        # W = U Vᵀ with Var(W_ij) ≈ 1/(3·in) like nn.Linear's default at full rank
        std = (1.0 / (3.0 * in_features * r)) ** 0.25
        self.u = nn.Parameter(torch.randn(out_features, r) * std)
        self.v = nn.Parameter(torch.randn(in_features, r) * std)
        bound = 1.0 / math.sqrt(in_features)
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    @property
    def weight(self) -> Tensor:
        """The dense product U Vᵀ, shape (out_features, in_features) (diagnostics, init)."""
        return self.u @ self.v.T

    def forward(self, x: Tensor) -> Tensor:
        keep = None if self.training or self.keep is None or self.keep >= self.rank else self.keep
        return F.low_rank_linear(
            x, self.u, self.v, self.bias, rank=keep, training=self.training,
            distribution=self.distribution, scale=self.scale,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"rank={self.rank}, distribution={self.distribution!r}, keep={self.keep}"
        )
