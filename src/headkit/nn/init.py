"""Weight initialisation of the Dense trunk; the ``init=`` registry.

| init | weights of each Dense layer |
|---|---|
| default | PyTorch's ``nn.Linear`` initialisation (uniform, variance 1/(3·fan_in)) |
| critical | ``W ~ N(0, C_W/fan_in)``, ``b ~ N(0, C_b)`` at the activation's critical point |

A factory takes the network's ``activation`` from context and returns a callable applied to the
list of the trunk's linear layers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from headkit.functional.criticality import critical_constants, critical_normal_
from headkit.registry import Registry

INITS = Registry("init")
Initializer = Callable[[Sequence[nn.Module]], None]


@INITS.register("default")
def default() -> Initializer:
    """PyTorch's nn.Linear initialisation (unchanged)."""

    def apply(linears: Sequence[nn.Module]) -> None:
        return None

    return apply


@INITS.register("critical")
def critical(
    activation: str = "relu",
    c_w: float | None = None,
    c_b: float | None = None,
    negative_slope: float = 0.01,
) -> Initializer:
    """Criticality: W ~ N(0, C_W/fan_in), b ~ N(0, C_b); ReLU (0, 2), tanh (0, 1)."""
    if c_w is None or c_b is None:
        known_b, known_w = critical_constants(activation, negative_slope)
        c_w = known_w if c_w is None else c_w
        c_b = known_b if c_b is None else c_b

    def apply(linears: Sequence[nn.Module]) -> None:
        for linear in linears:
            critical_normal_(linear.weight, getattr(linear, "bias", None), c_w, c_b)

    return apply
