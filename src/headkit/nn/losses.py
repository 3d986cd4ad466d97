"""Loss modules; the ``loss=`` registry.

Contract: ``loss(logits, target, features=None) -> scalar``. ``logits`` has shape (N, C) or
(k, N, C) (multi-sample dropout: the k losses are averaged); ``target`` is (N,) class indices
(or (N, C) probability rows where a loss accepts soft targets); ``features`` (N, D) or (k, N, D)
are the trunk outputs for losses that need them. Factories may take ``n_classes`` and ``output``
(the network's output map) from context.

``cross_entropy`` builds the output map's *natural* loss (``output.natural_loss``): softmax
cross-entropy for softmax, the Fenchel–Young loss of the same α for sparsemax/entmax, the NLL of
the map's log-probabilities for Gumbel/SSMax/Power, one-vs-all BCE for sigmoid. The regularised
variants (``label_smoothing``, ``maxsup``, ``z_loss``, ``noisy_softmax``, ``bias_loss``) wrap
that natural loss, so with softmax they are exactly the papers' losses and with another map they
apply the same idea to the loss that matches it. Distillation needs a teacher and is not a
by-name loss: use :class:`DistillationLoss` or :func:`headkit.functional.distillation_loss`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.losses import check_logits_target, nll_rows, reduce_rows, upcast
from headkit.registry import Registry

LOSSES = Registry("loss")


def flatten_samples(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Fold a leading sample dimension into the batch: (k, N, C), (N,) → (k·N, C), (k·N,).

    Soft targets (N, C) become (k·N, C). The mean over the folded batch equals the mean of the
    k per-sample means.
    """
    if logits.dim() == 3:
        k = logits.shape[0]
        return logits.reshape(-1, logits.shape[-1]), target.repeat(k, *([1] * (target.dim() - 1)))
    return logits, target


def _weight_tensor(class_weights: tuple[float, ...] | Tensor | None) -> Tensor | None:
    if class_weights is None or isinstance(class_weights, Tensor):
        return class_weights
    return torch.tensor(class_weights, dtype=torch.float32) if len(class_weights) else None


class RowLoss(nn.Module):
    """Base of the losses: per-row values (``rows``) reduced like torch's cross-entropy.

    Parameters
    ----------
    ignore_index : int
        Index target whose rows contribute nothing.
    class_weights : tuple of float or Tensor, shape (C,), optional
        Class weights (``"1/2/1"`` in a spec); stored as the buffer ``weight``.
    """

    def __init__(
        self, ignore_index: int = -100, class_weights: tuple[float, ...] | Tensor | None = None
    ) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("weight", _weight_tensor(class_weights))

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        """Return per-row losses (M,) for logits (M, C) and targets (M,) or (M, C)."""
        raise NotImplementedError

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        logits, target = flatten_samples(logits, target)
        return reduce_rows(self.rows(logits, target), target, self.weight, self.ignore_index)


class CrossEntropyLoss(RowLoss):
    """Softmax cross-entropy on the logits, whatever the output map.

    With optional label smoothing, class weights and ignore_index.
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        ignore_index: int = -100,
        class_weights: tuple[float, ...] | Tensor | None = None,
    ) -> None:
        super().__init__(ignore_index, class_weights)
        self.label_smoothing = label_smoothing

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            logits,
            target,
            ignore_index=self.ignore_index,
            reduction="none",
            label_smoothing=self.label_smoothing,
        )

    def forward(self, logits: Tensor, target: Tensor, features: Tensor | None = None) -> Tensor:
        logits, target = flatten_samples(logits, target)
        return F.cross_entropy(
            logits,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class MapLoss(RowLoss):
    """A loss computed through the network's output map (its α or its ``log_prob``).

    Parameters
    ----------
    output : nn.Module, optional
        The network's output map (kept by reference, not registered as a submodule).
    ignore_index, class_weights
        As in :class:`RowLoss`.
    """

    def __init__(
        self,
        output: nn.Module | None = None,
        ignore_index: int = -100,
        class_weights: tuple[float, ...] | Tensor | None = None,
    ) -> None:
        super().__init__(ignore_index, class_weights)
        self._output = (output,)

    @property
    def output(self) -> nn.Module | None:
        """The output map, or None."""
        return self._output[0]


class FenchelYoungLoss(MapLoss):
    """Fenchel–Young (sparsemax/entmax) loss; α from the output map unless given.

    Parameters
    ----------
    alpha : float, optional
        Fixed α; ``None`` uses ``output.alpha`` (a learnable α is trained through this loss).
    output, ignore_index, class_weights
        As in :class:`MapLoss`.
    """

    def __init__(
        self,
        alpha: float | None = None,
        output: nn.Module | None = None,
        ignore_index: int = -100,
        class_weights: tuple[float, ...] | Tensor | None = None,
    ) -> None:
        super().__init__(output, ignore_index, class_weights)
        self._alpha = alpha

    @property
    def alpha(self) -> float | Tensor:
        """The α in use."""
        if self._alpha is not None:
            return self._alpha
        from_output = getattr(self.output, "alpha", None)
        return 1.5 if from_output is None else from_output

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.fenchel_young_loss(
            logits, target, self.alpha, ignore_index=self.ignore_index, reduction="none"
        )

    def extra_repr(self) -> str:
        alpha = self.alpha
        return f"alpha={alpha.item() if isinstance(alpha, Tensor) else alpha:.4g}"


class NLLLoss(MapLoss):
    """Negative log-likelihood of the output map's log_prob (Gumbel, SSMax, Power)."""

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        output = self.output
        log_probs = output.log_prob(logits) if output is not None else F.log_softmax(logits)
        check_logits_target(log_probs, target)  # forward reduces the rows once (reduce_rows)
        return nll_rows(upcast(log_probs), target, self.ignore_index)


class OneVsAllLoss(RowLoss):
    """One-vs-all binary cross-entropy Σ_k BCE(σ(z_k), y_k) (sigmoid outputs)."""

    def rows(self, logits: Tensor, target: Tensor) -> Tensor:
        return F.one_vs_all_loss(logits, target, ignore_index=self.ignore_index, reduction="none")


def natural_loss(output: nn.Module | None, **options: object) -> RowLoss:
    """Build the natural loss of an output map (softmax cross-entropy when there is none).

    ``options`` (``ignore_index``, ``class_weights``) are passed to the loss.
    """
    name = getattr(output, "natural_loss", "softmax_cross_entropy")
    return LOSSES.build(name, output=output, **options)


@LOSSES.register("cross_entropy", options_from=RowLoss)
def cross_entropy(output: nn.Module | None = None, **options: object) -> nn.Module:
    """The negative log-likelihood matched to the output map (softmax → softmax cross-entropy)."""
    return natural_loss(output, **options)


for _name, _loss in {
    "softmax_cross_entropy": CrossEntropyLoss,
    "fenchel_young": FenchelYoungLoss,
    "nll": NLLLoss,
    "one_vs_all": OneVsAllLoss,
}.items():
    LOSSES.register(_name)(_loss)
