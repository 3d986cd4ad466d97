"""Dropout modules and the ``dropout=`` registry.

A dropout spec names a :class:`DropoutPlan`: it decides which module follows each hidden Dense
block (``hidden``), which one sits between the trunk and the head (``final``), and which linear
layer the Dense blocks use (``linear``; DropConnect replaces it). A float spec such as ``0.2`` means
standard dropout at that rate.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.registry import Registry

DROPOUTS = Registry("dropout kind")


class Dropout(nn.Module):
    """Inverted dropout; identity in eval mode.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1).

    Shape
    -----
    Input (...), output the same shape.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropoutPlan:
    """Where dropout goes in a :class:`headkit.nn.HeadNet`; the base is standard dropout.

    Parameters
    ----------
    p : float
        Drop probability used by :meth:`hidden` and :meth:`final`.
    """

    def __init__(self, p: float = 0.2) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
        self.p = p

    def hidden(self, width: int) -> nn.Module:
        """Return the module applied after each hidden Dense block but the last."""
        return Dropout(self.p) if self.p > 0 else nn.Identity()

    def final(self, width: int) -> nn.Module:
        """Return the module between the trunk (width ``width``) and the head.

        A module may return an extra leading sample dimension in training mode (multi-sample
        dropout: shape (k, N, width)); heads and losses accept it.
        """
        return self.hidden(width)

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        """Return the linear layer of a Dense block."""
        return nn.Linear(in_features, out_features)


@DROPOUTS.register("standard")
def standard(p: float = 0.2) -> DropoutPlan:
    """Inverted Bernoulli dropout on activations (Srivastava et al. 2014)."""
    return DropoutPlan(p)


@DROPOUTS.register("none")
def no_dropout() -> DropoutPlan:
    """No dropout."""
    return DropoutPlan(0.0)


def build_dropout(spec: str | float) -> DropoutPlan:
    """Return the plan for a dropout spec: a rate (``0.2``) or a name (``"multisample:k=8"``)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return DROPOUTS.build(f"standard:p={float(spec)}")
    try:
        rate = float(spec)
    except (TypeError, ValueError):
        return DROPOUTS.build(spec)
    return DROPOUTS.build(f"standard:p={rate}")
