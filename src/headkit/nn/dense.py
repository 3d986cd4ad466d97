"""The Dense trunk: Linear → norm → activation → dropout, repeated."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.functional.fused_dense import linear_relu_dropout
from headkit.nn.activations import ReLU, make_activation
from headkit.nn.dropout import Dropout, DropoutPlan
from headkit.nn.init import INITS
from headkit.nn.residual import RESIDUALS, ResidualScale, residual_spec

NORMS = ("batch", "layer")


class DenseBlock(nn.Module):
    """One block: Linear → optional norm → activation → dropout, with an optional skip.

    With a skip the block computes ``dropout(x + α·activation(norm(linear(x))))``; ``residual``
    is ``True`` (α = 1) or a :class:`headkit.nn.residual.ResidualScale` holding α.

    Shape
    -----
    Input (..., in_features); output (..., out_features), or (k, ..., out_features) when the
    dropout is multi-sample in training mode.
    """

    def __init__(
        self,
        linear: nn.Module,
        out_features: int,
        activation: str,
        norm: str | None,
        dropout: nn.Module,
        residual: bool | ResidualScale | None,
    ) -> None:
        super().__init__()
        self.linear = linear
        if norm is None:
            self.norm: nn.Module = nn.Identity()
        elif norm == "batch":
            self.norm = nn.BatchNorm1d(out_features)
        elif norm == "layer":
            self.norm = nn.LayerNorm(out_features)
        else:
            raise ConfigError(f"Unknown norm {norm!r}; choose None, 'batch' or 'layer'.")
        self.activation = make_activation(activation)
        self.dropout = dropout
        if residual is True:
            residual = ResidualScale(1.0)
        self.skip = residual if isinstance(residual, ResidualScale) else None
        self.residual = self.skip is not None

    def _fusable(self) -> bool:
        """True when the block is exactly linear → ReLU → (Dropout) with no hooks in between."""
        parts = (self.linear, self.norm, self.activation, self.dropout)
        return (
            self.training
            and self.skip is None
            and type(self.linear) is nn.Linear
            and type(self.norm) is nn.Identity
            and type(self.activation) is ReLU
            and type(self.dropout) in (Dropout, nn.Identity)
            and not any(m._forward_hooks or m._forward_pre_hooks for m in parts)
        )

    def forward(self, x: Tensor) -> Tensor:
        if self._fusable():  # one autograd node, in-place passes (headkit.functional.fused_dense)
            p = getattr(self.dropout, "p", 0.0)
            return linear_relu_dropout(x, self.linear.weight, self.linear.bias, p)
        h = self.activation(self.norm(self.linear(x)))
        if self.skip is not None:
            h = self.skip(x, h)
        return self.dropout(h)


class DenseStack(nn.Module):
    """A stack of Dense blocks, usable on top of any backbone.

    Parameters
    ----------
    in_features : int
        Width of the input.
    hidden_sizes : sequence of int
        Width of each block; empty gives an identity trunk followed only by the final dropout.
    activation : str
        Activation spec (see :data:`headkit.nn.activations.ACTIVATIONS`), e.g. ``"gelu"`` or
        ``"leaky_relu:slope=0.1"``.
    norm : {None, "batch", "layer"}
        Normalisation after each linear layer.
    residual : bool or str
        Skip connection around blocks whose input and output widths agree: ``True`` (α = 1) or
        a spec of :data:`headkit.nn.residual.RESIDUALS` (``"scaled"``, ``"learnable"``).
    dropout : DropoutPlan, float or str
        A plan, a rate or a spec (see :func:`headkit.nn.dropout.build_dropout`).
    init : str
        Spec of :data:`headkit.nn.init.INITS` for the linear layers (``"critical"``).
    block : str
        Spec of :data:`headkit.nn.gated.BLOCKS`: ``"dense"`` (Linear → norm → activation) or a
        gated unit ``"glu"``, ``"swiglu"``, ``"geglu"`` (replaces Linear and activation).

    Shape
    -----
    Input (N, in_features); output (N, out_features) with ``out_features = hidden_sizes[-1]``
    (or ``in_features``), and (k, N, out_features) in training mode with multi-sample dropout.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (256, 256),
        activation: str = "relu",
        norm: str | None = None,
        residual: bool | str = False,
        dropout: DropoutPlan | float | str = 0.2,
        init: str = "default",
        block: str = "dense",
    ) -> None:
        super().__init__()
        from headkit.nn.dropout import build_dropout
        from headkit.nn.gated import BLOCKS

        kind = BLOCKS.build(block)
        kind_name = block.split(":")[0].strip().lower()
        if kind_name in ("lowrank", "moe") and init.split(":")[0] != "default":
            raise ConfigError(
                f"init {init!r} sets a dense weight matrix; a {kind_name} block stores others. "
                f"Use init='default' with block='{kind_name}'."
            )

        plan = dropout if isinstance(dropout, DropoutPlan) else build_dropout(dropout)
        widths = [in_features, *hidden_sizes]
        n_skips = sum(a == b for a, b in itertools.pairwise(widths))
        skip_spec = residual_spec(residual)
        RESIDUALS.resolve(skip_spec, ("n_blocks",))  # a bad spec fails even without a skip
        blocks = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
            last = i == len(hidden_sizes) - 1
            drop = plan.final(n_out) if last else plan.hidden(n_out)
            blocks.append(
                DenseBlock(
                    kind.linear(n_in, n_out, plan.linear(n_in, n_out)),
                    n_out,
                    activation,
                    norm,
                    drop,
                    RESIDUALS.build(skip_spec, n_blocks=n_skips) if n_in == n_out else None,
                )
            )
        if kind.gate is not None:  # the gated linear layer is the activation too
            for b in blocks:
                b.activation = nn.Identity()
        self.blocks = nn.ModuleList(blocks)
        INITS.build(init, activation=activation)([block.linear for block in blocks])
        self.input_dropout = plan.final(in_features) if not blocks else nn.Identity()
        self.in_features = in_features
        self.out_features = widths[-1]
        for b, width in zip(blocks, hidden_sizes, strict=True):
            b.out_features = width
        # skip probability of each block in training (layer_drop; headkit.nn.layer_drop)
        self.drop_rates = [0.0] * len(blocks)

    def fusable_layers(self) -> tuple[list[Tensor], list[Tensor], list[float]] | None:
        """Weights, biases and drop rates when training runs the stack as one fused node.

        That is when every block is linear (with a bias) → ReLU → dropout with nothing in
        between (:meth:`DenseBlock._fusable`), and no input dropout, LayerDrop or hook on the
        stack changes its forward pass; None otherwise.
        """
        if (
            not self.blocks
            or type(self.input_dropout) is not nn.Identity
            or any(self.drop_rates)
            or self._forward_hooks
            or self._forward_pre_hooks
            or nn.modules.module._global_forward_hooks
            or nn.modules.module._global_forward_pre_hooks
        ):
            return None
        weights, biases, rates = [], [], []
        for block in self.blocks:
            if not block._fusable() or block._forward_hooks or block._forward_pre_hooks:
                return None
            if block.linear.bias is None:
                return None
            weights.append(block.linear.weight)
            biases.append(block.linear.bias)
            rates.append(float(getattr(block.dropout, "p", 0.0)))
        return weights, biases, rates

    def forward(self, x: Tensor, exits: dict[int, Tensor] | None = None) -> Tensor:
        """Run the blocks; in training skip block l with probability ``drop_rates[l]``.

        ``exits``, when given, receives each block's output by block index (blocks skipped in
        this pass record nothing).
        """
        x = self.input_dropout(x)
        for i, block in enumerate(self.blocks):
            rate = self.drop_rates[i]
            if self.training and rate > 0 and float(torch.rand(())) < rate:
                continue  # a skipped block is exactly the identity (LayerDrop)
            x = block(x)
            if exits is not None:
                exits[i] = x
        return x
