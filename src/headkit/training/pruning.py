"""Sparse Dense layers in the fit loop; the ``prune=`` registry (``none``, ``gmp``, ``erk``).

Masks live on the Dense layers' and the linear head's weights through
``torch.nn.utils.prune`` (the weight is ``weight_orig * weight_mask`` during the fit, so masked
weights give no gradient and stay zero); at the end of the fit the masks are made permanent, so
the saved weights hold exact zeros under their usual names.

| prune | masks |
|---|---|
| none | — |
| gmp (``sparsity=0.9,start=0,end=0.7``) | magnitude pruning each epoch to the cubic schedule's sparsity |
| erk (``density=0.1,seed=0``) | a fixed random mask per layer, ERK densities |
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn.utils import prune

from headkit import functional as F
from headkit.functional.sparsity import erk_densities, magnitude_mask, random_mask
from headkit.registry import Registry
from headkit.training.callbacks import Callback

if TYPE_CHECKING:
    from headkit.training.trainer import EpochRecord, Trainer

PRUNING = Registry("pruning")


def prunable(model: nn.Module) -> list[nn.Linear]:
    """The Dense layers' ``nn.Linear`` modules and a linear head, in order."""
    trunk = getattr(model, "trunk", None)
    layers = [b.linear for b in getattr(trunk, "blocks", []) if type(b.linear) is nn.Linear]
    head = getattr(model, "head", None)
    if isinstance(head, nn.Linear):
        layers.append(head)
    return layers


def weight_sparsity(model: nn.Module) -> float:
    """Share of exactly-zero entries over the :func:`prunable` weights."""
    weights = [m.weight for m in prunable(model)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights)) / max(total, 1)


class _Masks(Callback):
    """Base: put a mask on every prunable weight at the start, make it permanent at the end."""

    def on_fit_start(self, trainer: Trainer, epochs: int) -> None:
        self._layers = prunable(trainer.model)
        for layer in self._layers:
            if not prune.is_pruned(layer):
                prune.custom_from_mask(layer, "weight", torch.ones_like(layer.weight))
        self.initial_masks(trainer)

    def initial_masks(self, trainer: Trainer) -> None:
        """Set the masks before the first epoch (default: keep everything)."""

    def on_fit_end(self, trainer: Trainer) -> None:
        for layer in self._layers:
            if prune.is_pruned(layer):
                prune.remove(layer, "weight")
                with torch.no_grad():  # w·0 is -0.0 for a negative w: store every zero as +0.0
                    layer.weight.masked_fill_(layer.weight == 0, 0.0)


class GradualMagnitudePruning(_Masks):
    """Gradual magnitude pruning to ``sparsity`` on the cubic schedule (Zhu & Gupta 2017).

    After each epoch every prunable layer is pruned to ``s_t`` of its weights by magnitude, with
    t the fraction of the fit done, rising from 0 at ``start`` to ``sparsity`` at ``end``.
    """

    def __init__(self, sparsity: float = 0.9, start: float = 0.0, end: float = 0.7) -> None:
        F.cubic_sparsity(0.0, sparsity, start, end)  # validates
        self.sparsity, self.start, self.end = sparsity, start, end

    def on_epoch_end(self, trainer: Trainer, record: EpochRecord) -> None:
        fit = max(trainer.fit_end_epoch - trainer.fit_start_epoch, 1)
        t = (record.epoch - trainer.fit_start_epoch) / fit
        s = F.cubic_sparsity(t, self.sparsity, self.start, self.end)
        with torch.no_grad():
            for layer in self._layers:
                layer.weight_mask.copy_(magnitude_mask(layer.weight_orig * layer.weight_mask, s))
                layer.weight = layer.weight_orig * layer.weight_mask  # until the next forward

    def on_fit_end(self, trainer: Trainer) -> None:
        # A fit that stopped early, or whose best epoch (restored just before this callback)
        # came before the schedule's end, holds a denser mask: prune it to the target now.
        with torch.no_grad():
            for layer in self._layers:
                kept = layer.weight_orig * layer.weight_mask
                if 1.0 - layer.weight_mask.mean().item() < self.sparsity:
                    layer.weight_mask.copy_(magnitude_mask(kept, self.sparsity))
        super().on_fit_end(trainer)


class ERKRandomSparse(_Masks):
    """Static random sparse training: fixed random masks with ERK densities (Liu et al. 2022)."""

    def __init__(self, density: float = 0.1, seed: int = 0) -> None:
        erk_densities([(2, 2)], density)  # validates
        self.density, self.seed = density, seed

    def initial_masks(self, trainer: Trainer) -> None:
        if trainer.epoch > trainer.fit_start_epoch or trainer.fit_start_epoch > 0:
            return  # a resumed or continued fit keeps its masks
        shapes = [tuple(layer.weight.shape) for layer in self._layers]
        generator = torch.Generator().manual_seed(self.seed)
        with torch.no_grad():
            for layer, d in zip(self._layers, erk_densities(shapes, self.density), strict=True):
                mask = random_mask(tuple(layer.weight.shape), d, generator)
                layer.weight_mask.copy_(mask.to(layer.weight_mask))


@PRUNING.register("none")
def no_pruning() -> None:
    """Dense weights (the default)."""
    return None


PRUNING.register("gmp")(GradualMagnitudePruning)
PRUNING.register("erk")(ERKRandomSparse)
