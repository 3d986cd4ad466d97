"""Loss modules; the ``loss=`` registry.

Contract: ``loss(logits, target, features=None) -> scalar``. ``logits`` has shape (N, C) or
(k, N, C) (multi-sample dropout: the k losses are averaged); ``target`` is (N,) class indices;
``features`` (N, D) or (k, N, D) are the trunk outputs for losses that need them. Factories may
take ``n_classes`` and ``output`` (the network's output map) from context.
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.registry import Registry

LOSSES = Registry("loss")


def flatten_samples(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Fold a leading sample dimension into the batch: (k, N, C), (N,) → (k·N, C), (k·N,).

    The mean over the folded batch equals the mean of the k per-sample means.
    """
    if logits.dim() == target.dim() + 2:
        k = logits.shape[0]
        return logits.reshape(-1, logits.shape[-1]), target.repeat(k, *([1] * (target.dim() - 1)))
    return logits, target


class CrossEntropyLoss(nn.Module):
    """Softmax cross-entropy with optional label smoothing and class weights."""

    def __init__(self, label_smoothing: float = 0.0, weight: Tensor | None = None) -> None:
        super().__init__()
        self.label_smoothing = label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        logits, target = flatten_samples(logits, target)
        return F.cross_entropy(
            logits, target, weight=self.weight, label_smoothing=self.label_smoothing
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


@LOSSES.register("softmax_cross_entropy")
def softmax_cross_entropy(label_smoothing: float = 0.0) -> nn.Module:
    """Softmax cross-entropy on the logits, whatever the output map."""
    return CrossEntropyLoss(label_smoothing)


@LOSSES.register("cross_entropy")
def cross_entropy(output: nn.Module | None = None) -> nn.Module:
    """The negative log-likelihood matched to the output map (softmax → softmax cross-entropy)."""
    natural = getattr(output, "natural_loss", "softmax_cross_entropy")
    return LOSSES.build(natural, output=output)
