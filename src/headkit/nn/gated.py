"""Dense block kinds; the ``block=`` registry (``dense``, ``glu``, ``swiglu``, ``geglu``, ``lowrank``, ``moe``).

A gated block's linear layer is a :class:`GatedLinear`, which computes value and gate with one
matrix of 2·width rows and multiplies them; it replaces the Dense layer *and* its activation
(the ``activation`` setting is then unused). A ``lowrank`` block factorises each Dense layer as
U Vᵀ with ordered dropout over the rank (:class:`headkit.nn.low_rank.LowRankLinear`); a ``moe``
block makes it a mixture of experts with top-k gating (:class:`headkit.nn.mixture.MoELinear`).
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.registry import Registry

BLOCKS = Registry("block")


class GatedLinear(nn.Linear):
    """``(W_a x + b_a) ⊙ act(W_g x + b_g)`` with ``weight`` = [W_a; W_g] (2·out, in).

    Parameters
    ----------
    in_features, out_features : int
        Sizes; the weight has ``2·out_features`` rows.
    gate : {"glu", "swiglu", "geglu"}
        Gate nonlinearity (sigmoid, SiLU, GELU).

    Shape
    -----
    Input (..., in_features); output (..., out_features).
    """

    def __init__(self, in_features: int, out_features: int, gate: str = "glu") -> None:
        super().__init__(in_features, 2 * out_features)
        if gate not in F.GATES:
            raise ValueError(f"gate must be one of {', '.join(F.GATES)}; got {gate!r}.")
        self.gate = gate
        self.width = out_features

    def forward(self, x: Tensor) -> Tensor:
        return F.gated_linear(x, self.weight, self.bias, self.gate)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.width}, gate={self.gate!r}"


class Block:
    """A plain Dense block: Linear → norm → activation (the default)."""

    gate: str | None = None

    def linear(self, in_features: int, out_features: int, plain: nn.Module) -> nn.Module:
        """Return the block's linear layer (``plain`` is the dropout plan's)."""
        return plain


class GatedBlock(Block):
    """Base of the gated blocks: a :class:`GatedLinear` replaces Linear and activation."""

    def linear(self, in_features: int, out_features: int, plain: nn.Module) -> nn.Module:
        if type(plain) is not nn.Linear:
            raise ValueError(
                f"A gated block replaces the Dense layer, so it cannot use {type(plain).__name__} "
                "(DropConnect); choose another dropout kind."
            )
        return GatedLinear(in_features, out_features, self.gate or "glu")


class GLU(GatedBlock):
    """GLU block (W_a x + b_a) ⊙ σ(W_g x + b_g) (Dauphin et al. 2017)."""

    gate = "glu"


class SwiGLU(GatedBlock):
    """SwiGLU block (W_a x + b_a) ⊙ SiLU(W_g x + b_g) (Shazeer 2020)."""

    gate = "swiglu"


class GeGLU(GatedBlock):
    """GeGLU block (W_a x + b_a) ⊙ GELU(W_g x + b_g) (Shazeer 2020)."""

    gate = "geglu"


class LowRankBlock(Block):
    """Low-rank Dense layers W = U Vᵀ with ordered dropout over the rank (Maestro)."""

    def __init__(self, rank: int = 16, distribution: str = "uniform", scale: float = 0.5) -> None:
        from headkit.functional.nested_dropout import check_nested

        check_nested(distribution, scale)
        if rank < 1:
            raise ValueError(f"rank must be >= 1; got {rank}.")
        self.rank, self.distribution, self.scale = rank, distribution, scale

    def linear(self, in_features: int, out_features: int, plain: nn.Module) -> nn.Module:
        from headkit.nn.low_rank import LowRankLinear

        if type(plain) is not nn.Linear:
            raise ValueError(
                f"A low-rank block replaces the Dense layer, so it cannot use "
                f"{type(plain).__name__} (DropConnect); choose another dropout kind."
            )
        return LowRankLinear(in_features, out_features, self.rank, self.distribution, self.scale)


class MoEBlock(Block):
    """Mixture-of-experts Dense layers: top-k gating over E experts, load-balancing loss."""

    def __init__(
        self,
        experts: int = 4,
        k: int = 1,
        gumbel: bool = False,
        tau: float = 1.0,
        balance: float = 0.01,
    ) -> None:
        from headkit.nn.mixture import check_moe

        check_moe(experts, k, tau, balance)
        self.options = {"experts": experts, "k": k, "gumbel": gumbel, "tau": tau,
                        "balance": balance}  # fmt: skip

    def linear(self, in_features: int, out_features: int, plain: nn.Module) -> nn.Module:
        from headkit.nn.mixture import MoELinear

        if type(plain) is not nn.Linear:
            raise ValueError(
                f"A mixture-of-experts block replaces the Dense layer, so it cannot use "
                f"{type(plain).__name__} (DropConnect); choose another dropout kind."
            )
        return MoELinear(in_features, out_features, **self.options)


for _name, _block in {
    "dense": Block,
    "glu": GLU,
    "swiglu": SwiGLU,
    "geglu": GeGLU,
    "lowrank": LowRankBlock,
    "moe": MoEBlock,
}.items():
    BLOCKS.register(_name)(_block)
