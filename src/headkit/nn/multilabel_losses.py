"""Losses for many positives per row (extreme / multi-label classification); ``loss=`` names.

``decoupled_softmax`` and ``soft_top_k`` (Gupta et al. 2024, DEXML) take class indices (N,) or
0/1 rows (N, C). With one positive per row the decoupled softmax is softmax cross-entropy.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit.functional.multilabel import decoupled_softmax_loss, soft_top_k_loss
from headkit.nn.losses import LOSSES, RowLoss, _weight_tensor


class DecoupledSoftmaxLoss(RowLoss):
    """``−(1/|P|)·Σ_{p∈P} log[e^{s_p}/(e^{s_p} + Σ_{n∉P} e^{s_n})]`` per row."""

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return decoupled_softmax_loss(logits, target, self.ignore_index, reduction="none")


class SoftTopKLoss(RowLoss):
    """``−(1/|P|)·Σ_{p∈P} log m_p`` with m the soft top-k membership (rows sum to k).

    Parameters
    ----------
    k : float
        Soft top-k size (clipped to C − 1).
    tau : float
        Temperature of the sigmoid threshold.
    """

    def __init__(
        self,
        k: float = 5.0,
        tau: float = 1.0,
        ignore_index: int = -100,
        weight: Tensor | None = None,
    ) -> None:
        super().__init__(ignore_index, weight)
        self.k, self.tau = k, tau

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return soft_top_k_loss(logits, target, self.k, self.tau, self.ignore_index, "none")

    def extra_repr(self) -> str:
        return f"k={self.k}, tau={self.tau}"


@LOSSES.register("decoupled_softmax")
def decoupled_softmax(ignore_index: int = -100, class_weights: tuple = ()) -> nn.Module:
    """Decoupled softmax (DEXML): each positive competes with the negatives only."""
    return DecoupledSoftmaxLoss(ignore_index, _weight_tensor(class_weights))


@LOSSES.register("soft_top_k")
def soft_top_k(
    k: float = 5.0, tau: float = 1.0, ignore_index: int = -100, class_weights: tuple = ()
) -> nn.Module:
    """Soft top-k loss: −log of each positive's soft membership in the top k (sums to k)."""
    return SoftTopKLoss(k, tau, ignore_index, _weight_tensor(class_weights))
