"""Output maps turn logits into probabilities; the ``output=`` registry.

Contract: ``output(logits) -> probabilities`` along the last dimension (rows sum to 1, or each
entry in [0, 1] for one-vs-all maps), and ``output.log_prob(logits)``. ``output.natural_loss``
names the loss that trains the logits consistently with the map (``cross_entropy`` for softmax,
the Fenchel–Young loss for sparse maps); the ``cross_entropy`` loss defers to it.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.registry import Registry

OUTPUTS = Registry("output map")


class Softmax(nn.Module):
    """Softmax with temperature.

    Shape
    -----
    Input (..., C) logits; output (..., C) probabilities.
    """

    natural_loss = "softmax_cross_entropy"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}.")
        self.temperature = temperature

    def forward(self, logits: Tensor) -> Tensor:
        return F.softmax(logits, dim=-1, temperature=self.temperature)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return log-probabilities, shape (..., C)."""
        return F.log_softmax(logits, dim=-1, temperature=self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


@OUTPUTS.register("softmax")
def softmax(temperature: float = 1.0) -> nn.Module:
    """Softmax exp(z/T)/Σ exp(z/T) (the default)."""
    return Softmax(temperature)
