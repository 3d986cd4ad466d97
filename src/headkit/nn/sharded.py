"""Class-sharded softmax head for torch.distributed (``head="sharded_linear"``).

The model-parallel scheme of Partial FC (An et al., "Partial FC: Training 10 Million Identities on
a Single Machine", 2021): rank k of a group of W processes holds only the class centres
``[offset_k, offset_k + C_k)`` (about C/W rows); the loss is
:func:`headkit.functional.sharded.sharded_cross_entropy`.

Outside a process group (or with one process) the head is an ordinary bias-free linear head, so
the same code runs on one machine.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from headkit.functional.sharded import all_gather_rows, class_shard, sharded_cross_entropy
from headkit.nn.heads import HEADS


def _group_info(group) -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


class ShardedLinearHead(nn.Module):
    """Linear head with classes split across torch.distributed ranks (model parallel).

    Bias-free; rank k holds about C/W of the class centres.

    Parameters
    ----------
    in_features, n_classes : int
        D and the global C.
    group : ProcessGroup, optional
        The ranks sharing the classes (default: the world, if initialised; else one shard).

    Attributes
    ----------
    weight : Parameter, shape (C_k, D)
        This rank's centres; DistributedDataParallel must not average it (``sharded = True``
        tells :func:`headkit.training.distributed.wrap_ddp` to leave it out).
    feature_grad_scale : float
        See :func:`sharded_cross_entropy`; set to the world size by ``wrap_ddp``.

    Shape
    -----
    ``forward``: (N, D) → (N, C) full logits (gathered; for evaluation);
    ``training_loss``: (n_k, D), (n_k,) → scalar over the global batch.
    """

    sharded = True

    def __init__(self, in_features: int, n_classes: int, *, group=None) -> None:
        super().__init__()
        self.group = group
        rank, world = _group_info(group)
        self.in_features, self.n_classes = in_features, n_classes
        self.class_offset, size = class_shard(n_classes, rank, world)
        self.weight = nn.Parameter(torch.empty(size, in_features))
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(in_features))
        self.feature_grad_scale = 1.0
        self.gathered = False

    def _distributed(self) -> bool:
        return not self.gathered and _group_info(self.group)[1] > 1

    @torch.no_grad()
    def gather_(self) -> ShardedLinearHead:
        """Collect the full C×D weight on every rank (a collective) and act as a local head.

        Call on all ranks after training, before evaluating or saving: the state dict then holds
        every class and loads into a single-process model.
        """
        if self._distributed():
            full, _ = all_gather_rows(self.weight.detach(), self.group)
            self.weight = nn.Parameter(full, requires_grad=self.weight.requires_grad)
            self.class_offset, self.gathered = 0, True
        return self

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return full logits (..., C), gathering every rank's class block."""
        local = x @ self.weight.T
        if not self._distributed():
            return local
        flat = local.reshape(-1, local.shape[-1]).T.contiguous()
        full, _ = all_gather_rows(flat.detach(), self.group)
        return full.T.reshape(*x.shape[:-1], self.n_classes)

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Return the global-batch mean cross-entropy (same value on every rank)."""
        if features.dim() == target.dim() + 2:
            target = target.expand(features.shape[0], *target.shape)
        x, y = features.reshape(-1, features.shape[-1]), target.reshape(-1)
        if not self._distributed():
            return nn.functional.cross_entropy((x @ self.weight.T).float(), y)
        return sharded_cross_entropy(
            x,
            self.weight,
            y,
            self.class_offset,
            feature_grad_scale=self.feature_grad_scale,
            group=self.group,
        )

    def extra_repr(self) -> str:
        size = self.weight.shape[0]
        return (
            f"in_features={self.in_features}, n_classes={self.n_classes}, "
            f"shard=[{self.class_offset}, {self.class_offset + size})"
        )


HEADS.register("sharded_linear")(ShardedLinearHead)
