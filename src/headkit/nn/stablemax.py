"""The ``stablemax`` output map (Prieto et al. 2025).

``output="stablemax"`` maps logits to ``s(z_i)/Σ_j s(z_j)`` with ``s(x) = x + 1`` (x ≥ 0) or
``1/(1 − x)`` (x < 0); its natural loss is the NLL of ``log_stablemax`` (computed in float64),
which stays positive where float32 softmax cross-entropy collapses to exactly 0.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.nn.outputs import OUTPUTS


class StableMax(nn.Module):
    """StableMax output map; not shift-invariant (``StableMax(z + c) ≠ StableMax(z)``).

    Shape
    -----
    Input (..., C) logits; output (..., C) probabilities.
    """

    natural_loss = "nll"

    def forward(self, logits: Tensor) -> Tensor:
        return F.stablemax(logits, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return ``log StableMax(z)``, shape (..., C), computed in float64."""
        return F.log_stablemax(logits, dim=-1)


@OUTPUTS.register("stablemax")
def stablemax() -> nn.Module:
    """s(z_i)/Σ s(z_j), s(x) = x+1 or 1/(1−x): no float32 Softmax Collapse (StableMax)."""
    return StableMax()
