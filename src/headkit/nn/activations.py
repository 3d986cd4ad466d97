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
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
    """An element-wise activation with its derivative and declared properties.

    Parameters
    ----------
    name : str
        Registered name (shown by ``repr``).
    fn, derivative : callable
        ``f(x)`` and ``f'(x)``, tensors of any shape to the same shape.
    info : ActivationInfo
        The declared properties.

    Shape
    -----
    Input (...); output (...).
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[Tensor], Tensor],
        derivative: Callable[[Tensor], Tensor],
        info: ActivationInfo,
    ) -> None:
        super().__init__()
        self.name, self.fn, self._derivative, self.info = name, fn, derivative, info

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)

    def derivative(self, x: Tensor) -> Tensor:
        """Return ``f'(x)`` in closed form, shape of ``x``."""
        return self._derivative(x)

    def extra_repr(self) -> str:
        return self.name


class PReLU(Activation):
    """Parametric ReLU with one learnable negative slope ``a`` (He et al. 2015).

    The declared properties are those at initialisation (``a = init``); the slope is trained with
    the network and saved with its weights.
    """

    def __init__(self, init: float = 0.25) -> None:
        info = ActivationInfo(-math.inf, math.inf, init >= 0, False, False)
        super().__init__("prelu", self._forward, self._grad, info)
        self.weight = nn.Parameter(torch.tensor(float(init)))

    def _forward(self, x: Tensor) -> Tensor:
        return A.prelu(x, self.weight.to(x.dtype))

    def _grad(self, x: Tensor) -> Tensor:
        return A.prelu_derivative(x, self.weight.detach())

    def extra_repr(self) -> str:
        return f"prelu, a={self.weight.item():.3g}"


def _plain(name: str, fn, derivative, info: ActivationInfo) -> Activation:
    return Activation(name, fn, derivative, info)


_INF = math.inf


@ACTIVATIONS.register("relu")
def relu() -> nn.Module:
    """ReLU max(0, x): the default, recommended without normalisation layers."""
    return _plain(
        "relu", torch.relu, A.relu_derivative, ActivationInfo(0, _INF, True, False, False)
    )


@ACTIVATIONS.register("leaky_relu")
def leaky_relu(slope: float = 0.01) -> nn.Module:
    """Leaky ReLU: x for x > 0, slope·x otherwise."""
    info = ActivationInfo(-_INF if slope > 0 else 0.0, _INF, slope >= 0, False, False)
    fn, grad = partial(A.leaky_relu, slope=slope), partial(A.leaky_relu_derivative, slope=slope)
    return _plain(f"leaky_relu, slope={slope}", fn, grad, info)


@ACTIVATIONS.register("prelu")
def prelu(init: float = 0.25) -> nn.Module:
    """PReLU: leaky ReLU whose negative slope is learned (initial value ``init``)."""
    return PReLU(init)


@ACTIVATIONS.register("elu")
def elu(alpha: float = 1.0) -> nn.Module:
    """ELU: x for x > 0, α(eˣ − 1) otherwise; range (−α, ∞)."""
    if alpha <= 0:
        raise ConfigError(f"The ELU's alpha must be > 0; got {alpha}.")
    info = ActivationInfo(-alpha, _INF, True, False, False)
    fn, grad = partial(A.elu, alpha=alpha), partial(A.elu_derivative, alpha=alpha)
    return _plain(f"elu, alpha={alpha}", fn, grad, info)


@ACTIVATIONS.register("selu")
def selu() -> nn.Module:
    """SELU λ·elu(x, α): zero mean and unit variance are a fixed point (self-normalising)."""
    info = ActivationInfo(-A.SELU_SCALE * A.SELU_ALPHA, _INF, True, False, True)
    return _plain("selu", A.selu, A.selu_derivative, info)


@ACTIVATIONS.register("gelu")
def gelu() -> nn.Module:
    """GELU x·Φ(x) (exact, erf-based); minimum −0.16997 at x = −0.75179."""
    info = ActivationInfo(-0.16997120747990369, _INF, False, True, False)
    return _plain("gelu", A.gelu, A.gelu_derivative, info)


@ACTIVATIONS.register("silu")
def silu() -> nn.Module:
    """SiLU / Swish x·σ(x); minimum −0.27846 at x = −1.27846."""
    info = ActivationInfo(-0.27846454276107385, _INF, False, True, False)
    return _plain("silu", A.silu, A.silu_derivative, info)


@ACTIVATIONS.register("mish")
def mish() -> nn.Module:
    """Mish x·tanh(softplus(x)); minimum −0.30884 at x = −1.19243 (Misra 2019)."""
    info = ActivationInfo(-0.3088434130172505, _INF, False, True, False)
    return _plain("mish", A.mish, A.mish_derivative, info)


@ACTIVATIONS.register("softplus")
def softplus(beta: float = 1.0) -> nn.Module:
    """Softplus log(1 + e^{βx})/β: a smooth, positive ReLU."""
    if beta <= 0:
        raise ConfigError(f"Softplus's beta must be > 0; got {beta}.")
    info = ActivationInfo(0.0, _INF, True, True, False)
    fn, grad = partial(A.softplus, beta=beta), partial(A.softplus_derivative, beta=beta)
    return _plain(f"softplus, beta={beta}", fn, grad, info)


@ACTIVATIONS.register("tanh")
def tanh() -> nn.Module:
    """Hyperbolic tangent; range (−1, 1), odd, zero-centred."""
    info = ActivationInfo(-1.0, 1.0, True, True, True)
    return _plain("tanh", torch.tanh, A.tanh_derivative, info)


@ACTIVATIONS.register("sigmoid")
def sigmoid() -> nn.Module:
    """Logistic sigmoid 1/(1 + e⁻ˣ); range (0, 1)."""
    info = ActivationInfo(0.0, 1.0, True, True, False)
    return _plain("sigmoid", torch.sigmoid, A.sigmoid_derivative, info)


def make_activation(spec: str) -> Activation:
    """Return a fresh activation module from a spec such as ``"leaky_relu:slope=0.1"``."""
    return ACTIVATIONS.build(spec)


def activation_info(spec: str) -> ActivationInfo:
    """Return the declared properties of the activation a spec names."""
    return make_activation(spec).info
