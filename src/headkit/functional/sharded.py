"""Cross-entropy over classes sharded across torch.distributed ranks, and a row gather.

The model-parallel softmax of Partial FC (An et al. 2021): rank k holds the class centres
``[offset_k, offset_k + C_k)``. :func:`sharded_cross_entropy` gathers the global batch's features,
computes this rank's logits, and assembles the softmax normaliser with two ``all_reduce`` calls
on per-row vectors (maximum, then sum of exponentials), never gathering the N×C logits; in
backward the centre gradient stays local and the feature gradients are summed with one
``all_reduce`` of an N×D matrix.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
from torch import Tensor


def class_shard(n_classes: int, rank: int, world_size: int) -> tuple[int, int]:
    """Return ``(offset, size)`` of rank's contiguous block of classes (sizes differ by ≤ 1)."""
    base, extra = divmod(n_classes, world_size)
    size = base + (1 if rank < extra else 0)
    return rank * base + min(rank, extra), size


def all_gather_rows(t: Tensor, group=None) -> tuple[Tensor, list[int]]:
    """Concatenate every rank's ``t`` along dim 0 (row counts may differ between ranks).

    A collective: every rank of ``group`` must call it.

    Parameters
    ----------
    t : Tensor, shape (n_k, ...)
        This rank's rows.
    group : ProcessGroup, optional
        Defaults to the world.

    Returns
    -------
    (Tensor, list of int)
        The rows of ranks 0, 1, … in order, shape (Σ n_k, ...), and the counts n_k.
    """
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
        xs, sizes = all_gather_rows(x.detach(), group)
        ts, _ = all_gather_rows(target, group)
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
