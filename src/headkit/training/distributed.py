"""torch.distributed helpers: torchrun environment, process group, data shards, DDP.

``torchrun --nproc-per-node N -m headkit train ...`` starts N processes with ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK`` set; :func:`init_distributed` reads them and joins the process group
(gloo on CPU, NCCL when CUDA is available). Each rank trains on its own shard of the in-memory
data (:func:`shard_indices`, equal sizes so every rank runs the same number of steps) and the
network is wrapped by :func:`wrap_ddp`, which averages gradients over ranks, leaves class-sharded
head weights (modules with ``sharded = True``) local, and makes ``forward(x, y)`` return the
training loss so that DDP's hooks see every step. Only rank 0 writes files and prints
(:func:`is_main_process`).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.protocols import has_flag


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a torchrun job.

    Attributes
    ----------
    world_size, rank, local_rank : int
        From ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (1, 0, 0 outside torchrun).
    """

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that writes files and prints."""
        return self.rank == 0


def detect_env() -> DistEnv:
    """Read torchrun's environment variables (defaults: a single process)."""
    try:
        env = DistEnv(
            int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("RANK", "0")),
            int(os.environ.get("LOCAL_RANK", "0")),
        )
    except ValueError as error:
        raise ConfigError(
            f"WORLD_SIZE, RANK and LOCAL_RANK must be integers (as torchrun sets them): {error}."
        ) from None
    if not 0 <= env.rank < env.world_size:
        raise ConfigError(
            f"RANK={env.rank} is outside [0, WORLD_SIZE={env.world_size}); start with torchrun."
        )
    return env


def init_distributed(backend: str | None = None, timeout_s: float = 600.0) -> DistEnv:
    """Join the torchrun process group if there is one; return this process's place in it.

    Parameters
    ----------
    backend : str, optional
        ``"gloo"`` or ``"nccl"``; by default NCCL when CUDA is available, else gloo.
    timeout_s : float
        Collective timeout.
    """
    env = detect_env()
    if not env.enabled or (dist.is_available() and dist.is_initialized()):
        return env
    if not dist.is_available():
        raise ConfigError("This torch build has no torch.distributed; run a single process.")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(env.local_rank)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return env


def shutdown() -> None:
    """Leave the process group (no-op outside one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def is_main_process() -> bool:
    """True outside torch.distributed and on rank 0 inside it."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def shard_indices(n: int, rank: int, world_size: int, seed: int | None = None) -> np.ndarray:
    """Return rank's row indices of an n-row data set, equal in number on every rank.

    Rows are (optionally) shuffled with ``seed`` (the same on every rank), padded by wrapping
    around to a multiple of ``world_size`` (as ``DistributedSampler`` does), and dealt
    round-robin, so shards are disjoint except for the ≤ world_size - 1 padded rows.
    """
    if n < 1:
        raise ConfigError("Cannot shard an empty data set; pass at least one row.")
    order = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    total = -(-n // world_size) * world_size
    order = np.concatenate([order, order[: total - n]]) if total > n else order
    return order[rank::world_size]


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_rows(n: int) -> int:
    """Number of the n rows this rank visits per epoch (n outside a process group)."""
    if not active():
        return n
    return -(-n // dist.get_world_size())


def rank_slice(order: Tensor) -> Tensor:
    """Return this rank's share of an epoch's permutation (the same on every rank), padded.

    Identity outside a process group; inside, as :func:`shard_indices` deals rows.
    """
    if not active():
        return order
    world, rank = dist.get_world_size(), dist.get_rank()
    total = -(-len(order) // world) * world
    if total > len(order):
        order = torch.cat([order, order[: total - len(order)]])
    return order[rank::world]


def shard_arrays(*arrays: np.ndarray, env: DistEnv | None = None, seed: int | None = None):
    """Return this rank's shard of each array (rows), as :func:`shard_indices` deals them."""
    env = env or detect_env()
    if not env.enabled:
        return arrays
    idx = shard_indices(len(arrays[0]), env.rank, env.world_size, seed)
    return tuple(a[idx] for a in arrays)


class LossModule(nn.Module):
    """``forward(x, y)`` = ``net.training_loss(x, y, criterion)``, so DDP can wrap the step."""

    def __init__(self, net: nn.Module, criterion: nn.Module | None) -> None:
        super().__init__()
        self.net, self.criterion = net, criterion

    def forward(self, x: Tensor, target: Tensor) -> Tensor:
        return self.net.training_loss(x, target, self.criterion)


def wrap_ddp(net: nn.Module, criterion: nn.Module | None = None, env: DistEnv | None = None):
    """Wrap ``net`` (and its criterion) for data-parallel training.

    Returns a module whose ``forward(x, y)`` is the training loss. Outside a process group it is
    a plain :class:`LossModule`. Parameters of class-sharded modules (``sharded = True``) are
    excluded from gradient averaging, and their feature gradient is scaled by the world size so
    that, after DDP's average, the trunk receives the gradient of the global-mean loss.
    Parameters of modules with sparse row gradients (``row_sparse = True``, Partial FC) are
    averaged by a gradient hook instead of DDP's dense buckets.
    """
    module = LossModule(net, criterion)
    env = env or detect_env()
    if not env.enabled or not (dist.is_available() and dist.is_initialized()):
        return module
    ignore, sparse_group = [], None
    for name, sub in module.named_modules():
        if has_flag(sub, "sharded"):
            ignore += [f"{name}.{p}" for p, _ in sub.named_parameters()]
            sub.feature_grad_scale = float(env.world_size)
        elif has_flag(sub, "row_sparse"):
            # DDP cannot bucket sparse row gradients: average them with our own hook on a
            # separate gloo group, so their collectives never interleave with DDP's buckets.
            sparse_group = sparse_group or dist.new_group(backend="gloo")
            for pname, param in sub.named_parameters():
                ignore.append(f"{name}.{pname}")
                dist.broadcast(param.data, 0)
                param.register_post_accumulate_grad_hook(_sparse_averager(sparse_group))
    if ignore:
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            module, ignore
        )
    device_ids = [env.local_rank] if next(net.parameters()).is_cuda else None
    return nn.parallel.DistributedDataParallel(module, device_ids=device_ids)


def _sparse_averager(group):
    """Return a post-accumulate-grad hook that averages a (sparse) gradient over ranks."""
    from headkit.functional.sharded import all_gather_rows

    def hook(param: Tensor) -> None:
        grad, world = param.grad, dist.get_world_size(group)
        if grad is None:
            return
        if not grad.is_sparse:
            dist.all_reduce(grad, group=group)
            grad.div_(world)
            return
        grad = grad.coalesce()
        rows, _ = all_gather_rows(grad.indices()[0], group)
        values, _ = all_gather_rows(grad.values(), group)
        param.grad = torch.sparse_coo_tensor(rows[None], values / world, grad.shape).coalesce()

    return hook


def gather_sharded(net: nn.Module) -> nn.Module:
    """Gather every class-sharded head's full weight on all ranks (call on every rank)."""
    for module in net.modules():
        if has_flag(module, "sharded"):
            module.gather_()
    return net


def all_reduce_mean(value: float) -> float:
    """Average a Python number over ranks (identity outside a process group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    dist.all_reduce(t)
    return float(t) / dist.get_world_size()
