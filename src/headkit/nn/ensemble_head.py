"""An ensemble of linear heads on one trunk, with T-similarity confidence (``head="ensemble:m=5"``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.nn.heads import HEADS


@HEADS.register("ensemble")
class EnsembleHead(nn.Module):
    """M linear heads on the shared features; logits are their mean, each trained on its own CE.

    ``training_loss`` is the mean of the M heads' softmax cross-entropies (so the members stay
    independent fits of the same features; the ``loss`` setting is not used).
    :meth:`member_probabilities` gives the M probability vectors and :meth:`t_similarity` their
    agreement (:func:`headkit.functional.t_similarity`), a confidence for pseudo-labelling.

    Shape
    -----
    Input (..., D); output (..., C).
    """

    def __init__(self, in_features: int, n_classes: int, m: int = 5) -> None:
        super().__init__()
        if m < 2:
            raise ValueError(f"An ensemble needs m >= 2 heads; got {m}.")
        self.m = int(m)
        self.members = nn.ModuleList(nn.Linear(in_features, n_classes) for _ in range(self.m))

    def member_logits(self, x: Tensor) -> Tensor:
        """Return every head's logits, shape (M, ..., C)."""
        return torch.stack([head(x) for head in self.members])

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        return self.member_logits(x).mean(0)

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Mean over heads of softmax cross-entropy, shape ()."""
        logits = self.member_logits(features)
        flat = logits.reshape(-1, logits.shape[-1])
        rows = target.expand(logits.shape[:-1]).reshape(-1)
        return F.cross_entropy(flat, rows)

    def member_probabilities(self, x: Tensor) -> Tensor:
        """Return the heads' softmax probabilities, shape (M, ..., C)."""
        return torch.softmax(self.member_logits(x).float(), -1)

    def t_similarity(self, x: Tensor) -> Tensor:
        """Return the T-similarity of the heads on features ``x``, shape (...)."""
        return F.t_similarity(self.member_probabilities(x))

    def extra_repr(self) -> str:
        return f"m={self.m}"
