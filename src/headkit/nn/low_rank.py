"""Low-rank Dense layers with ordered dropout over the rank (``block="lowrank:rank=16"``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.nested_dropout import check_nested


class LowRankLinear(nn.Module):
    """``x·V[:, :b]·U[:, :b]ᵀ + b`` with W = U Vᵀ of rank r; b random per row in training.

    Parameters
    ----------
    in_features, out_features : int
        Sizes.
    rank : int
        r (capped at ``min(in_features, out_features)``).
    distribution, scale
        Prior of the kept rank b in training (``"uniform"`` as in Maestro; see
        :func:`headkit.functional.sample_nested_cut`).

    Attributes
    ----------
    keep : int or None
        Ranks used in eval mode (None: all r); :func:`truncate_rank` makes a cut permanent.

    Shape
    -----
    Input (..., in_features); output (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int = 16,
        distribution: str = "uniform",
        scale: float = 0.5,
    ) -> None:
        super().__init__()
        check_nested(distribution, scale)
        if rank < 1:
            raise ValueError(f"rank must be >= 1; got {rank}.")
        r = min(int(rank), in_features, out_features)
        self.in_features, self.out_features, self.rank = in_features, out_features, r
        self.distribution, self.scale = distribution, scale
        self.keep: int | None = None
        # W = U Vᵀ with Var(W_ij) ≈ 1/(3·in) like nn.Linear's default at full rank
        std = (1.0 / (3.0 * in_features * r)) ** 0.25
        self.u = nn.Parameter(torch.randn(out_features, r) * std)
        self.v = nn.Parameter(torch.randn(in_features, r) * std)
        bound = 1.0 / math.sqrt(in_features)
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    @property
    def weight(self) -> Tensor:
        """The dense product U Vᵀ, shape (out_features, in_features) (diagnostics, init)."""
        return self.u @ self.v.T

    def forward(self, x: Tensor) -> Tensor:
        keep = None if self.training or self.keep is None or self.keep >= self.rank else self.keep
        return F.low_rank_linear(
            x, self.u, self.v, self.bias, rank=keep, training=self.training,
            distribution=self.distribution, scale=self.scale,
        )  # fmt: skip

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"rank={self.rank}, distribution={self.distribution!r}, keep={self.keep}"
        )


def truncate_rank(net: nn.Module, k: int) -> nn.Module:
    """Return a copy of a ``block="lowrank:…"`` network whose layers keep their first k ranks.

    The copy's config names ``rank=k``, so it saves and loads at that size; its outputs equal the
    original's with every layer's ``keep = k``.
    """
    from headkit.exceptions import ConfigError
    from headkit.nn.gated import BLOCKS
    from headkit.nn.network import HeadNet
    from headkit.registry import Spec

    spec = Spec.parse(net.config.block)
    if spec.name != "lowrank":
        raise ConfigError(
            f"truncate_rank needs a block='lowrank' network; got {net.config.block!r}."
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"truncate_rank needs an int k >= 1; got {k!r}.")
    _, options = BLOCKS.resolve(spec)
    options["rank"] = k
    block = "lowrank:" + ",".join(f"{key}={value}" for key, value in options.items())
    small = HeadNet(net.config.replace(block=block))
    source = net.state_dict()
    state = {}
    for name, tensor in small.state_dict().items():
        state[name] = source[name][tuple(slice(0, n) for n in tensor.shape)].detach().clone()
    small.load_state_dict(state)
    small.to(device=net.temperature.device, dtype=net.temperature.dtype)
    return small.train(net.training)
