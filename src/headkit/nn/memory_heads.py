"""Heads that remember features instead of learning weights: nearest class mean and kNN.

Both fill their memory from the features they see in training mode with a target, and hold it in
buffers, so it is saved with the weights. A call to ``set_progress(f)`` with ``f > 0`` (the
trainer's second and later epochs over the same data) starts the memory afresh, so after ``fit``
it describes one pass over the training rows with the final trunk; ``partial_fit`` (always at
progress 0) keeps adding to it, which makes both heads streaming. They have no parameters: with
``hidden_sizes=()`` (frozen features) nothing is trained by gradient, and the trainer skips the
backward pass. With a trainable trunk, ``ncm`` trains it through ``−½‖h − μ_c‖²`` logits (means
held fixed within a step); ``knn`` gives no gradient, so keep its trunk frozen.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.functional.neighbors import (
    METRICS,
    knn_votes,
    nearest_mean_logits,
    update_class_means,
)
from headkit.nn.heads import HEADS

VOTE_FLOOR = 1e-9  # logits are log(vote share + floor): finite, and softmax returns the shares


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ConfigError(f"Unknown metric {metric!r}; choose 'l2' or 'cosine'.")


class _Memory(nn.Module):
    """Restart-on-new-pass bookkeeping shared by the memory heads."""

    def __init__(self) -> None:
        super().__init__()
        self._restart = False

    def set_progress(self, fraction: float) -> None:
        """Start the memory afresh at the next update when a later epoch begins."""
        if fraction > 0:
            self._restart = True

    def _learning(self, target: Tensor | None) -> bool:
        return self.training and target is not None


class NearestMeanHead(_Memory):
    """Nearest-class-mean classifier over streaming class means (class-incremental).

    Parameters
    ----------
    in_features, n_classes : int
        Feature width D and number of classes C.
    metric : {"l2", "cosine"}
        Logits ``−½‖h − μ_c‖²`` or ``cos(h, μ_c)``.

    Shape
    -----
    Input (..., D); output (..., C). Classes never seen score −inf.
    """

    def __init__(self, in_features: int, n_classes: int, metric: str = "l2") -> None:
        super().__init__()
        _check_metric(metric)
        self.metric = metric
        self.register_buffer("means", torch.zeros(n_classes, in_features))
        self.register_buffer("counts", torch.zeros(n_classes, dtype=torch.int64))

    def update(self, features: Tensor, target: Tensor) -> None:
        """Fold features (N, D) with class indices (N,) into the means."""
        if self._restart:
            self.means.zero_()
            self.counts.zero_()
            self._restart = False
        flat = features.detach().reshape(-1, features.shape[-1])
        labels = target.repeat(len(flat) // max(len(target), 1))  # (k, N, D) samples share y
        with torch.no_grad():
            means, counts = update_class_means(self.means, self.counts, flat, labels)
        self.means.copy_(means)
        self.counts.copy_(counts)

    def add_classes(self, n_new: int) -> None:
        """Append ``n_new`` empty classes (indices C … C + n_new − 1); existing means stay."""
        if n_new < 1:
            raise ConfigError(f"add_classes needs n_new >= 1; got {n_new}.")
        d = self.means.shape[1]
        self.means = torch.cat([self.means, self.means.new_zeros(n_new, d)])
        self.counts = torch.cat([self.counts, self.counts.new_zeros(n_new)])

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        if self._learning(target):
            self.update(x, target)  # type: ignore[arg-type]
        return nearest_mean_logits(x, self.means, self.counts, self.metric)

    def extra_repr(self) -> str:
        n_classes, in_features = self.means.shape
        return f"in_features={in_features}, n_classes={n_classes}, metric={self.metric!r}"


class KNNHead(_Memory):
    """k-nearest-neighbour classifier over the stored training features (KNN-Net).

    Logits are ``log(vote share + 1e-9)``, so ``softmax`` returns the vote shares (up to 1e-8).
    In training, each batch is scored against the memory *before* it is added (an empty memory
    gives uniform logits), then stored.

    Parameters
    ----------
    in_features, n_classes : int
    k : int
        Neighbours.
    metric : {"l2", "cosine"}
    weighted : bool
        Votes weighted by 1/distance.

    Shape
    -----
    Input (N, D) (or (k, N, D), folded); output the same leading shape with C last.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        k: int = 5,
        metric: str = "l2",
        weighted: bool = False,
    ) -> None:
        super().__init__()
        _check_metric(metric)
        if k < 1:
            raise ConfigError(f"knn needs k >= 1; got {k}.")
        self.n_classes, self.k, self.metric, self.weighted = n_classes, k, metric, weighted
        self._warned = False
        self.register_buffer("keys", torch.zeros(0, in_features))
        self.register_buffer("labels", torch.zeros(0, dtype=torch.int64))

    def update(self, features: Tensor, target: Tensor) -> None:
        """Append features (N, D) with class indices (N,) to the memory."""
        if self._restart:
            self.keys = self.keys[:0]
            self.labels = self.labels[:0]
            self._restart = False
        keep = (target >= 0) & (target < self.n_classes)
        self.keys = torch.cat([self.keys, features.detach()[keep].to(self.keys.dtype)])
        self.labels = torch.cat([self.labels, target[keep]])

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if len(self.labels) == 0:
            logits = flat.new_zeros(len(flat), self.n_classes)
        else:
            votes = knn_votes(flat, self.keys, self.labels, self.n_classes, self.k, self.metric,
                              self.weighted)  # fmt: skip
            logits = torch.log(votes + VOTE_FLOOR)
        if self._learning(target):
            if x.requires_grad and not self._warned:
                warnings.warn(
                    "head='knn' passes no gradient to the Dense layers, so they keep their "
                    "initial weights; use hidden_sizes=() (frozen features) or head='ncm'.",
                    stacklevel=2,
                )
                self._warned = True
            self.update(x if x.dim() == 2 else x[0], target)  # type: ignore[arg-type]
        return logits.reshape(*x.shape[:-1], self.n_classes)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # the memory's size is data-dependent: take the stored one before the default copy
        for name in ("keys", "labels"):
            stored = state_dict.get(prefix + name)
            if stored is not None:
                setattr(self, name, torch.empty_like(getattr(self, name)).resize_(stored.shape))
        super()._load_from_state_dict(state_dict, prefix, *args)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.keys.shape[1]}, n_classes={self.n_classes}, k={self.k}, "
            f"metric={self.metric!r}, weighted={self.weighted}, stored={len(self.labels)}"
        )


@HEADS.register("ncm")
def ncm(in_features: int, n_classes: int, metric: str = "l2") -> nn.Module:
    """Nearest class mean: streaming class means, predict the closest (l2 or cosine)."""
    return NearestMeanHead(in_features, n_classes, metric)


@HEADS.register("knn")
def knn(
    in_features: int, n_classes: int, k: int = 5, metric: str = "l2", weighted: bool = False
) -> nn.Module:
    """The k nearest stored training features vote (majority or 1/distance weighted)."""
    return KNNHead(in_features, n_classes, k, metric, weighted)
