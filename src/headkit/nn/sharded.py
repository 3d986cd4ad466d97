"""Class-sharded softmax head for torch.distributed (``head="sharded_linear"``).

The model-parallel scheme of Partial FC (An et al., "Partial FC: Training 10 Million Identities on
a Single Machine", 2021): rank k of a group of W processes holds only the class centres
``[offset_k, offset_k + C_k)`` (about C/W rows). Features of the whole global batch are gathered,
each rank computes the logits of its own classes, and the softmax normaliser is assembled with two
``all_reduce`` calls on per-row vectors (the maximum, then the sum of exponentials), never
gathering the N×C logit matrix. In backward, each rank's centre gradient stays local and the
feature gradients are summed across ranks with one ``all_reduce`` of an N×D matrix.

Outside a process group (or with one process) the head is an ordinary bias-free linear head, so
the same code runs on one machine.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor, nn

from headkit.nn.heads import HEADS


def _group_info(group) -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(group), dist.get_world_size(group)
    return 0, 1


def class_shard(n_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """Return ``(offset, size)`` of rank's contiguous block of classes (sizes differ by ≤ 1)."""
    base, extra = divmod(n_classes, world_size)
    size = base + (1 if rank < extra else 0)
    return rank * base + min(rank, extra), size


def _all_gather_rows(t: Tensor, group) -> tuple[Tensor, list[int]]:
    """Concatenate every rank's ``t`` (rows may differ in number); return it and the counts."""
    world = dist.get_world_size(group)
    n = torch.tensor([t.shape[0]], device=t.device)
    counts = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(counts, n, group=group)
    sizes = [int(c) for c in counts]
    padded = t.new_zeros((max(sizes), *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous(), group=group)
    return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)]), sizes


class _ShardedCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, target, offset, ignore_index, grad_scale, group):  # type: ignore[override]
        rank = dist.get_rank(group)
        xs, sizes = _all_gather_rows(x.detach(), group)
        ts, _ = _all_gather_rows(target, group)
        z = xs.float() @ w.float().T  # (N, C_k): this rank's classes only
        local = ts - offset
        mine = (local >= 0) & (local < w.shape[0]) & (ts != ignore_index)
        rows = mine.nonzero().squeeze(1)
        zt = z.new_zeros(z.shape[0])  # target logit, filled by the rank that owns the class
        zt[rows] = z[rows, local[rows]]
        m = z.amax(1) if z.shape[1] else z.new_full((z.shape[0],), -math.inf)
        dist.all_reduce(m, op=dist.ReduceOp.MAX, group=group)
        p = z.sub_(m[:, None]).exp_()
        s = p.sum(1)
        dist.all_reduce(s, group=group)
        dist.all_reduce(zt, group=group)
        p.div_(s[:, None])
        valid = ts != ignore_index
        n_valid = int(valid.sum())
        per_row = torch.where(valid, m + s.log() - zt, 0.0)
        loss = per_row.sum() / n_valid if n_valid else per_row.new_tensor(math.nan)
        start = sum(sizes[:rank])
        ctx.save_for_backward(xs, w, p, local, rows, valid)
        ctx.info = (n_valid, start, x.shape[0], grad_scale, group, x.dtype)
        return loss

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # type: ignore[override]
        xs, w, p, local, rows, valid = ctx.saved_tensors
        n_valid, start, n_local, grad_scale, group, x_dtype = ctx.info
        g = p  # softmax, reused in place as dL/dz
        g[rows, local[rows]] -= 1.0
        g.mul_((valid.float() * (grad / max(n_valid, 1)))[:, None])
        gw = (g.T @ xs.float()).to(w.dtype)
        gx = g @ w.float()
        dist.all_reduce(gx, group=group)
        gx_local = (gx[start : start + n_local] * grad_scale).to(x_dtype)
        return gx_local, gw, None, None, None, None, None


def sharded_cross_entropy(
    x: Tensor,
    weight_shard: Tensor,
    target: Tensor,
    class_offset: int,
    *,
    ignore_index: int = -100,
    feature_grad_scale: float = 1.0,
    group=None,
) -> Tensor:
    """Global-batch softmax cross-entropy with the class weights split across ranks.

    Equivalent to ``F.cross_entropy(cat_ranks(x) @ cat_ranks(weight_shard).T, cat_ranks(target))``
    (the mean over every rank's non-ignored rows), returned identically on every rank.

    Parameters
    ----------
    x : Tensor, shape (n_k, D)
        This rank's features (row counts may differ between ranks).
    weight_shard : Tensor, shape (C_k, D)
        This rank's class centres, classes ``class_offset .. class_offset + C_k - 1``.
    target : Tensor, shape (n_k,) int64
        Global class indices of this rank's rows.
    class_offset : int
        First class held by this rank.
    ignore_index : int
        Target value whose rows are skipped.
    feature_grad_scale : float
        Factor on the gradient returned for ``x``. Use the world size when the trunk is wrapped
        in DistributedDataParallel (which averages gradients over ranks) so that the trunk
        receives the gradient of this global-mean loss.
    group : ProcessGroup, optional
        Defaults to the world.

    Returns
    -------
    Tensor, shape ()
        The loss (float32).
    """
    return _ShardedCrossEntropy.apply(
        x, weight_shard, target.long(), class_offset, ignore_index, feature_grad_scale, group
    )


class ShardedLinearHead(nn.Module):
    """Bias-free linear head whose C class centres are split across the ranks of a group.

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

    def __init__(self, in_features: int, n_classes: int, group=None) -> None:
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
            full, _ = _all_gather_rows(self.weight.detach(), self.group)
            self.weight = nn.Parameter(full, requires_grad=self.weight.requires_grad)
            self.class_offset, self.gathered = 0, True
        return self

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        """Return full logits (..., C), gathering every rank's class block."""
        local = x @ self.weight.T
        if not self._distributed():
            return local
        flat = local.reshape(-1, local.shape[-1]).T.contiguous()
        full, _ = _all_gather_rows(flat.detach(), self.group)
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


@HEADS.register("sharded_linear")
def sharded_linear(in_features: int, n_classes: int) -> nn.Module:
    """Linear head with classes split across torch.distributed ranks (model parallel)."""
    return ShardedLinearHead(in_features, n_classes)
