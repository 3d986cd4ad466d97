"""Activation modules with declared properties; the ``activation=`` registry.

Every activation is a name (``activation="leaky_relu:slope=0.1"``, ``--activation mish``) that
builds an :class:`Activation`: a forward function, its closed-form derivative
(:mod:`headkit.functional.activations`) and an :class:`ActivationInfo` describing it. The tests
confirm each declared property by sampling.

| name | range | monotone | smooth | zero-centred |
|---|---|---|---|---|
| relu | [0, ∞) | yes | no | no |
| leaky_relu, prelu | (−∞, ∞) | yes (slope ≥ 0) | no | no |
| elu | (−α, ∞) | yes | no | no |
| selu | (−λα, ∞) | yes | no | yes |
| gelu | [−0.1700, ∞) | no | yes | no |
| silu | [−0.2785, ∞) | no | yes | no |
| mish | [−0.3088, ∞) | no | yes | no |
| softplus | (0, ∞) | yes | yes | no |
| tanh | (−1, 1) | yes | yes | yes |
| sigmoid | (0, 1) | yes | yes | no |

Without normalisation layers ReLU is the recommended default (Jha & Reagen 2025, "ReLU's
Revival"); it is headkit's default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from headkit.exceptions import ConfigError
from headkit.functional import activations as A
from headkit.registry import Registry

ACTIVATIONS = Registry("activation")


@dataclass(frozen=True)
class ActivationInfo:
    """What an activation promises.

    Parameters
    ----------
    lower, upper : float
        Infimum and supremum of ``f`` over the real line (``±inf`` when unbounded); a finite
        value is either reached (the minimum of GELU, SiLU, Mish) or approached.
    monotone : bool
        ``f`` is non-decreasing.
    smooth : bool
        ``f`` is infinitely differentiable (no kink in ``f`` or in any derivative).
    zero_centred : bool
        ``E[f(z)] = 0`` for ``z ~ N(0, 1)``: a standard-normal pre-activation gives zero-mean
        outputs, so layers do not shift their successors' inputs.
    """

    lower: float
    upper: float
    monotone: bool
    smooth: bool
    zero_centred: bool


class Activation(nn.Module):
    """Base of the activations: ``forward`` is ``f``, :meth:`derivative` is ``f'`` in closed form.

    Subclasses set ``info`` (an :class:`ActivationInfo`) and implement :meth:`fn` and
    :meth:`derivative`; their keyword parameters are the spec's options.

    Shape
    -----
    Input (...); output (...).
    """

    info: ActivationInfo

    def fn(self, x: Tensor) -> Tensor:
        """Return ``f(x)``, shape of ``x``."""
        raise NotImplementedError

    def derivative(self, x: Tensor) -> Tensor:
        """Return ``f'(x)`` in closed form, shape of ``x``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


_INF = math.inf


@ACTIVATIONS.register("relu")
class ReLU(Activation):
    """ReLU max(0, x): the default, recommended without normalisation layers."""

    info = ActivationInfo(0.0, _INF, True, False, False)

    def fn(self, x: Tensor) -> Tensor:
        return torch.relu(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.relu_derivative(x)


@ACTIVATIONS.register("leaky_relu")
class LeakyReLU(Activation):
    """Leaky ReLU: x for x > 0, slope·x otherwise."""

    def __init__(self, slope: float = 0.01) -> None:
        super().__init__()
        self.slope = slope
        self.info = ActivationInfo(-_INF if slope > 0 else 0.0, _INF, slope >= 0, False, False)

    def fn(self, x: Tensor) -> Tensor:
        return A.leaky_relu(x, self.slope)

    def derivative(self, x: Tensor) -> Tensor:
        return A.leaky_relu_derivative(x, self.slope)

    def extra_repr(self) -> str:
        return f"slope={self.slope}"


@ACTIVATIONS.register("prelu")
class PReLU(Activation):
    """PReLU: leaky ReLU whose negative slope is learned (initial value ``init``).

    The declared properties are those at initialisation; the slope is trained with the network
    and saved with its weights (He et al. 2015).
    """

    def __init__(self, init: float = 0.25) -> None:
        super().__init__()
        self.info = ActivationInfo(-_INF, _INF, init >= 0, False, False)
        self.weight = nn.Parameter(torch.tensor(float(init)))

    def fn(self, x: Tensor) -> Tensor:
        return A.prelu(x, self.weight.to(x.dtype))

    def derivative(self, x: Tensor) -> Tensor:
        return A.prelu_derivative(x, self.weight.detach())

    def extra_repr(self) -> str:
        return f"a={self.weight.item():.3g}"


@ACTIVATIONS.register("elu")
class ELU(Activation):
    """ELU: x for x > 0, α(eˣ − 1) otherwise; range (−α, ∞)."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        if alpha <= 0:
            raise ConfigError(f"The ELU's alpha must be > 0; got {alpha}.")
        self.alpha = alpha
        self.info = ActivationInfo(-alpha, _INF, True, False, False)

    def fn(self, x: Tensor) -> Tensor:
        return A.elu(x, self.alpha)

    def derivative(self, x: Tensor) -> Tensor:
        return A.elu_derivative(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


@ACTIVATIONS.register("selu")
class SELU(Activation):
    """SELU λ·elu(x, α): zero mean and unit variance are a fixed point (self-normalising)."""

    info = ActivationInfo(-A.SELU_SCALE * A.SELU_ALPHA, _INF, True, False, True)

    def fn(self, x: Tensor) -> Tensor:
        return A.selu(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.selu_derivative(x)


@ACTIVATIONS.register("gelu")
class GELU(Activation):
    """GELU x·Φ(x) (exact, erf-based); minimum −0.16997 at x = −0.75179."""

    info = ActivationInfo(-0.16997120747990369, _INF, False, True, False)

    def fn(self, x: Tensor) -> Tensor:
        return A.gelu(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.gelu_derivative(x)


@ACTIVATIONS.register("silu")
class SiLU(Activation):
    """SiLU / Swish x·σ(x); minimum −0.27846 at x = −1.27846."""

    info = ActivationInfo(-0.27846454276107385, _INF, False, True, False)

    def fn(self, x: Tensor) -> Tensor:
        return A.silu(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.silu_derivative(x)


@ACTIVATIONS.register("mish")
class Mish(Activation):
    """Mish x·tanh(softplus(x)); minimum −0.30884 at x = −1.19243 (Misra 2019)."""

    info = ActivationInfo(-0.3088434130172505, _INF, False, True, False)

    def fn(self, x: Tensor) -> Tensor:
        return A.mish(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.mish_derivative(x)


@ACTIVATIONS.register("softplus")
class Softplus(Activation):
    """Softplus log(1 + e^{βx})/β: a smooth, positive ReLU."""

    info = ActivationInfo(0.0, _INF, True, True, False)

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        if beta <= 0:
            raise ConfigError(f"Softplus's beta must be > 0; got {beta}.")
        self.beta = beta

    def fn(self, x: Tensor) -> Tensor:
        return A.softplus(x, self.beta)

    def derivative(self, x: Tensor) -> Tensor:
        return A.softplus_derivative(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta}"


@ACTIVATIONS.register("tanh")
class Tanh(Activation):
    """Hyperbolic tangent; range (−1, 1), odd, zero-centred."""

    info = ActivationInfo(-1.0, 1.0, True, True, True)

    def fn(self, x: Tensor) -> Tensor:
        return torch.tanh(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.tanh_derivative(x)


@ACTIVATIONS.register("sigmoid")
class Sigmoid(Activation):
    """Logistic sigmoid 1/(1 + e⁻ˣ); range (0, 1)."""

    info = ActivationInfo(0.0, 1.0, True, True, False)

    def fn(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x)

    def derivative(self, x: Tensor) -> Tensor:
        return A.sigmoid_derivative(x)


def make_activation(spec: str) -> Activation:
    """Return a fresh activation module from a spec such as ``"leaky_relu:slope=0.1"``."""
    return ACTIVATIONS.build(spec)


def activation_info(spec: str) -> ActivationInfo:
    """Return the declared properties of the activation a spec names."""
    return make_activation(spec).info
