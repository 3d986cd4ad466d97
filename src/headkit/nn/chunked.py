"""A linear head that trains without materialising its logits (``head="chunked_linear"``).

For heads with hundreds of thousands or millions of classes the N×C logit matrix (and its
gradient) dominate memory. :class:`LinearCrossEntropyHead` is an ordinary affine head in
``forward`` (eval, prediction) but defines ``training_loss(features, target)``, which
:class:`headkit.nn.HeadNet` uses instead of ``criterion(head(features), target)``: the loss and
its gradients come from :func:`headkit.functional.linear_cross_entropy` block by block.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.functional.linear_ce import auto_memory_budget, linear_cross_entropy
from headkit.nn.heads import HEADS


class LinearCrossEntropyHead(nn.Module):
    """Linear head trained by chunked linear cross-entropy, never holding N×C logits.

    Parameters
    ----------
    in_features, n_classes : int
        D and C.
    bias : bool
        Learn a per-class bias.
    label_smoothing, z_loss, softcap
        As in :func:`headkit.functional.linear_cross_entropy`; ``softcap`` also applies to the
        logits ``forward`` returns, so training and prediction see the same scores.
    memory_budget_mb : float, optional
        MiB for one block of logits during training and for the class chunks of ``forward``
        (default: :func:`headkit.functional.linear_ce.auto_memory_budget`).

    Shape
    -----
    ``forward``: (..., D) → (..., C). ``training_loss``: features (N, D) or (k, N, D), target
    (N,) → scalar (mean over rows, and over the k dropout samples).
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        bias: bool = True,
        label_smoothing: float = 0.0,
        z_loss: float = 0.0,
        softcap: float | None = None,
        memory_budget_mb: float | None = None,
    ) -> None:
        super().__init__()
        if memory_budget_mb is not None and memory_budget_mb <= 0:
            raise ConfigError(f"memory_budget_mb must be > 0; got {memory_budget_mb}.")
        self.in_features, self.n_classes = in_features, n_classes
        self.label_smoothing, self.z_loss, self.softcap = label_smoothing, z_loss, softcap
        self.memory_budget_mb = memory_budget_mb
        layer = nn.Linear(in_features, n_classes, bias=bias)
        self.weight = layer.weight
        self.bias = layer.bias

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return logits (..., C), computed over class chunks that fit the memory budget."""
        budget = self._budget()
        rows = max(1, x.numel() // max(1, x.shape[-1]))
        chunk = max(1, min(self.n_classes, budget // (4 * rows)))
        if chunk >= self.n_classes or torch.is_grad_enabled():
            out = nn.functional.linear(x, self.weight, self.bias)
            return self._cap(out)
        out = x.new_empty(*x.shape[:-1], self.n_classes)
        for c0 in range(0, self.n_classes, chunk):
            c1 = min(self.n_classes, c0 + chunk)
            b = self.bias[c0:c1] if self.bias is not None else None
            out[..., c0:c1] = self._cap(nn.functional.linear(x, self.weight[c0:c1], b))
        return out

    def _budget(self) -> int:
        if self.memory_budget_mb is None:
            return auto_memory_budget(self.n_classes, self.in_features)
        return int(self.memory_budget_mb * 2**20)

    def _cap(self, logits: Tensor) -> Tensor:
        if self.softcap is None:
            return logits
        return self.softcap * torch.tanh(logits / self.softcap)

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Return the mean cross-entropy of ``features`` against ``target`` without logits."""
        if features.dim() == target.dim() + 2:  # (k, N, D) from multi-sample dropout
            target = target.expand(features.shape[0], *target.shape)
        return linear_cross_entropy(
            features,
            self.weight,
            target,
            self.bias,
            label_smoothing=self.label_smoothing,
            z_loss=self.z_loss,
            softcap=self.softcap,
            memory_budget=self._budget(),
        )

    def extra_repr(self) -> str:
        extras = [f"in_features={self.in_features}", f"n_classes={self.n_classes}"]
        extras.append(f"bias={self.bias is not None}")
        if self.label_smoothing:
            extras.append(f"label_smoothing={self.label_smoothing}")
        if self.z_loss:
            extras.append(f"z_loss={self.z_loss}")
        if self.softcap is not None:
            extras.append(f"softcap={self.softcap}")
        return ", ".join(extras)


HEADS.register("chunked_linear")(LinearCrossEntropyHead)
