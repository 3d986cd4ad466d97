"""Residual connections with branch scaling; the ``residual=`` registry.

A residual Dense block computes ``h_{l+1} = h_l + α_l·f_l(h_l)`` (skip around blocks whose input
and output widths agree).

| residual | α |
|---|---|
| none | no skip connection |
| identity | 1 (a plain residual block; ``residual=True``) |
| scaled (``alpha=None``) | fixed; ``1/√L`` for L residual blocks unless given (0.1–0.3 as in Inception-ResNet) |
| learnable (``init=0``) | a trained scalar per block starting at ``init`` (SkipInit / ReZero: identity at 0) |
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.registry import Registry

RESIDUALS = Registry("residual")


class ResidualScale(nn.Module):
    """The skip of a residual block: ``x + α·branch``.

    Parameters
    ----------
    alpha : float
        Branch scale (initial value when ``learnable``).
    learnable : bool
        Train α (a scalar parameter ``alpha``).

    Shape
    -----
    ``forward(x, branch)``: x (..., D) and branch (..., D) or (k, ..., D) → the broadcast shape.
    """

    def __init__(self, alpha: float = 1.0, learnable: bool = False) -> None:
        super().__init__()
        self.learnable = learnable
        if learnable:
            self.alpha: Tensor | float = nn.Parameter(torch.tensor(float(alpha)))
        else:
            self.alpha = float(alpha)

    def forward(self, x: Tensor, branch: Tensor) -> Tensor:
        return F.residual_add(x, branch, self.alpha)

    def extra_repr(self) -> str:
        value = float(self.alpha.detach()) if isinstance(self.alpha, Tensor) else self.alpha
        return f"alpha={value:.4g}, learnable={self.learnable}"


def residual_spec(residual: bool | str | None) -> str:
    """Map the config's ``residual`` (a bool or a spec) to a spec string."""
    if residual is None or residual is False:
        return "none"
    if residual is True:
        return "identity"
    if isinstance(residual, str):
        return residual
    raise ConfigError(
        f"residual must be a bool or a spec such as 'scaled' or 'learnable'; got {residual!r}."
    )


@RESIDUALS.register("none")
def none(n_blocks: int = 0) -> None:
    """No skip connection."""
    return None


@RESIDUALS.register("identity")
def identity(n_blocks: int = 0) -> ResidualScale:
    """Plain residual block h + f(h) (α = 1)."""
    return ResidualScale(1.0)


@RESIDUALS.register("scaled")
def scaled(n_blocks: int = 1, alpha: float | None = None) -> ResidualScale:
    """Fixed branch scale: h + α·f(h), α = 1/√L for L residual blocks unless given."""
    if alpha is None:
        alpha = 1.0 / math.sqrt(max(n_blocks, 1))
    return ResidualScale(alpha)


@RESIDUALS.register("learnable")
def learnable(n_blocks: int = 0, init: float = 0.0) -> ResidualScale:
    """Learnable branch scale: h + α·f(h), α trained from init (0: identity at start)."""
    return ResidualScale(init, learnable=True)
