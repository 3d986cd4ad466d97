"""Dropout modules and the ``dropout=`` registry.

A dropout spec names a :class:`DropoutPlan`: it decides which module follows each hidden Dense
block (``hidden``), which one sits between the trunk and the head (``final``), and which linear
layer the Dense blocks use (``linear``; DropConnect replaces it). A float spec such as ``0.2`` means
standard dropout at that rate. Registered kinds: ``standard``, ``none``, ``multisample``,
``gaussian``, ``dropconnect``, ``nested`` (``"multisample:k=8,p=0.5"``).

Modules whose class attribute ``mc_dropout`` is true are switched on by MC-dropout prediction
(:func:`headkit.nn.uncertainty.mc_predict`); nested dropout is not (a random truncation is not a
posterior sample).
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.dropout import DROPCONNECT_INFERENCE, NESTED_DISTRIBUTIONS
from headkit.registry import Registry

DROPOUTS = Registry("dropout kind")


class Dropout(nn.Module):
    """Inverted dropout; identity in eval mode.

    Parameters
    ----------
    p : float
        Drop probability in [0, 1).

    Shape
    -----
    Input (...), output the same shape.
    """

    mc_dropout = True

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MultiSampleDropout(Dropout):
    """Multi-sample dropout (Inoue 2019): k masks on the trunk output in training.

    The head that follows runs once on the stacked (k, N, D) tensor (one batched matmul) and the
    loss averages the k sample losses (:func:`headkit.nn.losses.flatten_samples`); the trunk runs
    once. Identity in eval mode, so predictions do not depend on k.

    Parameters
    ----------
    k : int
        Number of masks, at least 1 (k = 1 is standard dropout).
    p : float
        Drop probability in [0, 1).

    Shape
    -----
    Input (N, D); output (k, N, D) in training mode, (N, D) in eval mode.
    """

    def __init__(self, k: int = 4, p: float = 0.5) -> None:
        super().__init__(p)
        if k < 1:
            raise ValueError(f"multi-sample dropout needs k >= 1 masks; got k={k}.")
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return F.multi_sample_dropout(x, self.k, self.p, self.training)

    def extra_repr(self) -> str:
        return f"k={self.k}, p={self.p}"


class GaussianDropout(Dropout):
    """Multiplicative Gaussian noise N(1, p/(1-p)); identity in eval mode.

    Shape
    -----
    Input (...), output the same shape.
    """

    def forward(self, x: Tensor) -> Tensor:
        return F.gaussian_dropout(x, self.p, self.training)


class DropConnectLinear(nn.Linear):
    """Linear layer with DropConnect (Wan et al. 2013) on its weight matrix (not its bias).

    Parameters
    ----------
    in_features, out_features : int
        Sizes, as for ``nn.Linear``.
    p : float
        Weight drop probability in [0, 1).
    per_sample : bool
        One mask per input row (Wan et al.) instead of one per batch (default, cheaper).
    inference : {"mean", "moment"}
        Eval-mode rule: ``"mean"`` uses the weights themselves (the exact expectation,
        deterministic); ``"moment"`` draws from the moment-matched Gaussian of the pre-activation
        (stochastic; average several passes with MC prediction).
    bias : bool
        Learn an additive bias.

    Shape
    -----
    Input (..., in_features); output (..., out_features).
    """

    mc_dropout = True

    def __init__(
        self,
        in_features: int,
        out_features: int,
        p: float = 0.5,
        per_sample: bool = False,
        inference: str = "mean",
        bias: bool = True,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropconnect rate p must be in [0, 1); got {p}.")
        if inference not in DROPCONNECT_INFERENCE:
            raise ValueError(f"inference must be 'mean' or 'moment'; got {inference!r}.")
        self.p = p
        self.per_sample = per_sample
        self.inference = inference

    def forward(self, x: Tensor) -> Tensor:
        return F.linear_dropconnect(
            x,
            self.weight,
            self.bias,
            self.p,
            self.training,
            per_sample=self.per_sample,
            inference=self.inference,
        )

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, p={self.p}, per_sample={self.per_sample}, "
            f"inference={self.inference!r}"
        )


class NestedDropout(nn.Module):
    """Nested (ordered) dropout (Rippel et al. 2014) over the last dimension.

    In training, each row keeps its first b units (b drawn per row) and zeroes the rest, without
    rescaling. In eval mode it keeps the first ``keep`` units (all of them by default), so a
    network can be evaluated at any width; :meth:`headkit.nn.HeadNet.truncate` makes the cut
    permanent and smaller.

    Parameters
    ----------
    distribution : {"geometric", "gaussian", "uniform"}
        Law of b (see :func:`headkit.functional.sample_nested_cut`).
    scale : float
        Spread of b as a fraction of the width.

    Shape
    -----
    Input (..., D), output the same shape.
    """

    mc_dropout = False

    def __init__(self, distribution: str = "geometric", scale: float = 0.5) -> None:
        super().__init__()
        if distribution not in NESTED_DISTRIBUTIONS:
            raise ValueError(
                f"distribution must be 'geometric', 'gaussian' or 'uniform'; got {distribution!r}."
            )
        if scale <= 0:
            raise ValueError(f"scale must be > 0; got {scale}.")
        self.distribution = distribution
        self.scale = scale
        self.keep: int | None = None

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            return F.nested_dropout(x, True, distribution=self.distribution, scale=self.scale)
        if self.keep is None or self.keep >= x.shape[-1]:
            return x
        return F.nested_dropout(x, False, cut=self.keep)

    def extra_repr(self) -> str:
        return f"distribution={self.distribution!r}, scale={self.scale}, keep={self.keep}"


class DropoutPlan:
    """Where dropout goes in a :class:`headkit.nn.HeadNet`; the base is standard dropout.

    Parameters
    ----------
    p : float
        Drop probability used by :meth:`hidden` and :meth:`final`.
    """

    def __init__(self, p: float = 0.2) -> None:
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate p must be in [0, 1); got {p}.")
        self.p = p

    def hidden(self, width: int) -> nn.Module:
        """Return the module applied after each hidden Dense block but the last."""
        return Dropout(self.p) if self.p > 0 else nn.Identity()

    def final(self, width: int) -> nn.Module:
        """Return the module between the trunk (width ``width``) and the head.

        A module may return an extra leading sample dimension in training mode (multi-sample
        dropout: shape (k, N, width)); heads and losses accept it.
        """
        return self.hidden(width)

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        """Return the linear layer of a Dense block."""
        return nn.Linear(in_features, out_features)

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


class MultiSamplePlan(DropoutPlan):
    """Standard dropout after hidden blocks; k-mask multi-sample dropout before the head."""

    def __init__(self, k: int = 4, p: float = 0.3) -> None:
        super().__init__(p)
        if k < 1:
            raise ValueError(f"multi-sample dropout needs k >= 1 masks; got k={k}.")
        self.k = k

    def final(self, width: int) -> nn.Module:
        return MultiSampleDropout(self.k, self.p)


class GaussianPlan(DropoutPlan):
    """Gaussian multiplicative noise wherever standard dropout would be."""

    def hidden(self, width: int) -> nn.Module:
        return GaussianDropout(self.p) if self.p > 0 else nn.Identity()


class DropConnectPlan(DropoutPlan):
    """DropConnect on every Dense block's weights; no activation dropout."""

    def __init__(self, p: float = 0.2, per_sample: bool = False, inference: str = "mean") -> None:
        super().__init__(p)
        DropConnectLinear(1, 1, p, per_sample, inference)  # validates the options
        self.per_sample = per_sample
        self.inference = inference

    def hidden(self, width: int) -> nn.Module:
        return nn.Identity()

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        return DropConnectLinear(in_features, out_features, self.p, self.per_sample, self.inference)


class NestedPlan(DropoutPlan):
    """Standard dropout (rate ``p``) after hidden blocks; nested dropout before the head."""

    def __init__(self, p: float = 0.2, distribution: str = "geometric", scale: float = 0.5) -> None:
        super().__init__(p)
        NestedDropout(distribution, scale)  # validates the options
        self.distribution = distribution
        self.scale = scale

    def final(self, width: int) -> nn.Module:
        return NestedDropout(self.distribution, self.scale)


@DROPOUTS.register("standard")
def standard(p: float = 0.2) -> DropoutPlan:
    """Inverted Bernoulli dropout on activations (Srivastava et al. 2014)."""
    return DropoutPlan(p)


@DROPOUTS.register("none")
def no_dropout() -> DropoutPlan:
    """No dropout."""
    return DropoutPlan(0.0)


@DROPOUTS.register("multisample")
def multisample(k: int = 4, p: float = 0.3) -> DropoutPlan:
    """Multi-sample dropout: k masks before a shared head, k losses averaged (Inoue 2019)."""
    return MultiSamplePlan(k, p)


@DROPOUTS.register("gaussian")
def gaussian(p: float = 0.2) -> DropoutPlan:
    """Gaussian dropout: multiplicative N(1, p/(1-p)) noise on activations."""
    return GaussianPlan(p)


@DROPOUTS.register("dropconnect")
def dropconnect(p: float = 0.2, per_sample: bool = False, inference: str = "mean") -> DropoutPlan:
    """DropConnect: Bernoulli masks on the Dense weights (Wan et al. 2013); eval uses the mean."""
    return DropConnectPlan(p, per_sample, inference)


@DROPOUTS.register("nested")
def nested(p: float = 0.2, distribution: str = "geometric", scale: float = 0.5) -> DropoutPlan:
    """Nested dropout: keep the first b units of the last hidden layer (Rippel et al. 2014)."""
    return NestedPlan(p, distribution, scale)


def build_dropout(spec: str | float) -> DropoutPlan:
    """Return the plan for a dropout spec: a rate (``0.2``) or a name (``"multisample:k=8"``)."""
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return DROPOUTS.build(f"standard:p={float(spec)}")
    try:
        rate = float(spec)
    except (TypeError, ValueError):
        return DROPOUTS.build(spec)
    return DROPOUTS.build(f"standard:p={rate}")


def is_mc_module(module: nn.Module) -> bool:
    """Return whether MC-dropout prediction should keep ``module`` stochastic."""
    explicit = getattr(type(module), "mc_dropout", None)
    if explicit is not None:
        return bool(explicit)
    return isinstance(module, nn.modules.dropout._DropoutNd)
