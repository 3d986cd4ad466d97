"""Dropout modules and the ``dropout=`` registry.

A dropout spec names a :class:`DropoutPlan`: it decides which module follows each hidden Dense
block (``hidden``), which one sits between the trunk and the head (``final``), and which linear
layer the Dense blocks use (``linear``; DropConnect replaces it). A float spec such as ``0.2`` means
standard dropout at that rate. Registered kinds: ``standard``, ``none``, ``multisample``,
``gaussian`` (multiplicative noise), ``gaussian_noise`` (additive noise), ``dropconnect``,
``nested`` (``"multisample:k=8,p=0.5"``).

Modules whose class attribute ``mc_dropout`` is true are switched on by MC-dropout prediction
(:func:`headkit.nn.uncertainty.mc_predict`); nested dropout is not (a random truncation is not a
posterior sample).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.dropout import check_inference, check_rate, check_samples, check_sigma
from headkit.functional.nested_dropout import check_nested
from headkit.nn.noise import GaussianNoise
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
    identity_in_eval = True  # see DropoutPlan.identity_in_eval

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = check_rate(p)

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

    def __init__(self, k: int, p: float) -> None:
        super().__init__(p)
        self.k = check_samples(k)

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
        p: float,
        per_sample: bool,
        inference: str,
        bias: bool = True,
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.p = check_rate(p)
        self.per_sample = per_sample
        self.inference = check_inference(inference)

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

    identity_in_eval = True  # keeps every unit in eval until truncated (then the width shrinks)

    mc_dropout = False

    def __init__(self, distribution: str, scale: float) -> None:
        super().__init__()
        check_nested(distribution, scale)
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
    """Inverted Bernoulli dropout on activations (Srivastava et al. 2014).

    The base plan says where dropout goes in a :class:`headkit.nn.HeadNet`: standard dropout
    after every hidden block and before the head.

    Parameters
    ----------
    p : float
        Drop probability used by :meth:`hidden` and :meth:`final`.
    """

    def __init__(self, p: float = 0.2) -> None:
        self.p = check_rate(p)

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

    def identity_in_eval(self) -> bool:
        """Whether the network in eval mode is the same as without this plan.

        True when the plan keeps plain linear layers and every module it inserts is
        ``nn.Identity`` or declares ``identity_in_eval = True`` (dropout that only scales in
        training); read from the modules, never from a list of names.
        """
        if type(self).linear is not DropoutPlan.linear:
            return False
        modules = (self.hidden(2), self.final(2))
        return all(
            isinstance(m, nn.Identity) or getattr(type(m), "identity_in_eval", False)
            for m in modules
        )

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({options})"


class MultiSamplePlan(DropoutPlan):
    """Multi-sample dropout: k masks before a shared head, k losses averaged (Inoue 2019).

    Standard dropout (rate ``p``) after the hidden blocks. The default p=0.3 trains on small
    problems (MNIST-1D); the paper used p=0.5 with k=8 (``multisample:k=8,p=0.5``).
    """

    def __init__(self, k: int = 4, p: float = 0.3) -> None:
        super().__init__(p)
        self.k = check_samples(k)

    def final(self, width: int) -> nn.Module:
        return MultiSampleDropout(self.k, self.p)


class GaussianPlan(DropoutPlan):
    """Gaussian dropout: multiplicative N(1, p/(1-p)) noise on activations."""

    def hidden(self, width: int) -> nn.Module:
        return GaussianDropout(self.p) if self.p > 0 else nn.Identity()


class GaussianNoisePlan(DropoutPlan):
    """Additive Gaussian noise h + σε after every hidden block and before the head.

    The variance σ² does not depend on h (the ``gaussian`` kind's multiplicative noise has
    variance ``σ²h²``). Activations are standardised inputs passed through Dense blocks, so σ is
    in their units; the default σ = 0.1 is mild.
    """

    def __init__(self, sigma: float = 0.1) -> None:
        super().__init__(0.0)
        self.sigma = check_sigma(sigma)

    def hidden(self, width: int) -> nn.Module:
        return GaussianNoise(self.sigma) if self.sigma > 0 else nn.Identity()


class DropConnectPlan(DropoutPlan):
    """DropConnect: Bernoulli masks on the Dense weights (Wan et al. 2013); eval uses the mean.

    No activation dropout. ``per_sample`` draws one mask per row; ``inference="moment"`` samples
    the moment-matched Gaussian in eval mode (see :class:`DropConnectLinear`).
    """

    def __init__(self, p: float = 0.2, per_sample: bool = False, inference: str = "mean") -> None:
        super().__init__(p)
        self.per_sample = per_sample
        self.inference = check_inference(inference)

    def hidden(self, width: int) -> nn.Module:
        return nn.Identity()

    def linear(self, in_features: int, out_features: int) -> nn.Module:
        return DropConnectLinear(in_features, out_features, self.p, self.per_sample, self.inference)


class NestedPlan(DropoutPlan):
    """Nested dropout: keep the first b units of the last hidden layer (Rippel et al. 2014).

    Standard dropout (rate ``p``) after the other hidden blocks.
    """

    def __init__(self, p: float = 0.2, distribution: str = "geometric", scale: float = 0.5) -> None:
        super().__init__(p)
        check_nested(distribution, scale)
        self.distribution = distribution
        self.scale = scale

    def final(self, width: int) -> nn.Module:
        return NestedDropout(self.distribution, self.scale)


class NoDropoutPlan(DropoutPlan):
    """No dropout."""

    def __init__(self) -> None:
        super().__init__(0.0)


for _name, _plan in {
    "standard": DropoutPlan,
    "none": NoDropoutPlan,
    "multisample": MultiSamplePlan,
    "gaussian": GaussianPlan,
    "gaussian_noise": GaussianNoisePlan,
    "dropconnect": DropConnectPlan,
    "nested": NestedPlan,
}.items():
    DROPOUTS.register(_name)(_plan)


def _rate(spec: str | float) -> float | None:
    """The rate of a dropout setting given as a number (``0.2`` or ``"0.2"``), else None."""
    if isinstance(spec, bool):
        return None
    try:
        return float(spec)
    except (TypeError, ValueError):
        return None


def dropout_options(spec: str | float) -> tuple[str, dict[str, Any]]:
    """The registry name and typed options of a dropout setting (a rate is ``standard:p=rate``)."""
    rate = _rate(spec)
    return ("standard", {"p": rate}) if rate is not None else DROPOUTS.resolve(str(spec))


def build_dropout(spec: str | float) -> DropoutPlan:
    """Return the plan for a dropout spec: a rate (``0.2``) or a name (``"multisample:k=8"``)."""
    return DROPOUTS.construct(*dropout_options(spec))


def resolved_dropout(spec: str | float) -> dict[str, Any]:
    """Name, options (defaults filled in) and whether the plan is the identity in eval mode."""
    name, options = dropout_options(spec)
    plan = DROPOUTS.construct(name, options)
    return {
        "name": name,
        "options": {**DROPOUTS.defaults(name), **options},
        "identity_in_eval": plan.identity_in_eval(),
    }
