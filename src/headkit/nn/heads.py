"""Heads map trunk features to logits; the ``head=`` registry.

Contract: ``head(features, target=None) -> logits``. ``features`` has shape (..., D) (a leading
sample dimension may come from multi-sample dropout); ``target`` (shape (...,) class indices) is
given during training only, so margin heads can apply their margin to the target logit. Margins
never apply in eval mode.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit.registry import Registry

HEADS = Registry("head")


class LinearHead(nn.Linear):
    """Affine head ``logits = x W^T + b``.

    Shape
    -----
    Input (..., in_features); output (..., n_classes).
    """

    def __init__(self, in_features: int, n_classes: int, bias: bool = True) -> None:
        super().__init__(in_features, n_classes, bias=bias)

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        return super().forward(x)


@HEADS.register("linear")
def linear(in_features: int, n_classes: int, bias: bool = True) -> nn.Module:
    """Affine layer x Wᵀ + b (the default)."""
    return LinearHead(in_features, n_classes, bias=bias)
