"""NumPy twins of the eval-mode pieces of a plain network: activations, norms, output maps.

Each function mirrors the torch computation it stands for (:mod:`headkit.functional`,
:mod:`headkit.nn`) in the same dtype (float32 for the trunk, float64 for the output maps, as
:func:`headkit.inference.forward.predict_arrays`) and the same order of operations, so probabilities
agree with the torch path to float32 rounding (tests: max abs difference ≤ 1e-6). Nothing here imports
torch: :class:`headkit.inference.numpy_net.NumpyHeadNet` uses these to predict without it.

The option defaults below are those of the registry entries they mirror
(``ACTIVATIONS.defaults(name)``, ``OUTPUTS.defaults(name)``); ``tests/test_numpy_ops.py``
checks that the two agree, so a changed default cannot silently diverge.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

import numpy as np

SELU_ALPHA = 1.6732632423543772  # as headkit.functional.activations
SELU_SCALE = 1.0507009873554805
SOFTPLUS_THRESHOLD = 20.0  # torch.nn.functional.softplus: x where β·x > threshold
NORM_EPS = 1e-5  # nn.BatchNorm1d and nn.LayerNorm defaults

Array = np.ndarray


def sigmoid(x: Array) -> Array:
    """Return ``1 / (1 + e⁻ˣ)`` as torch's kernel writes it (e⁻ˣ = inf gives 0), shape of ``x``."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def softplus(x: Array, beta: float = 1.0) -> Array:
    """Return ``log(1 + e^{βx})/β``, and ``x`` where ``βx > 20`` (torch's threshold)."""
    bx = x * np.float32(beta) if beta != 1 else x
    soft = np.log1p(np.exp(np.minimum(bx, SOFTPLUS_THRESHOLD)))
    soft = soft / np.float32(beta) if beta != 1 else soft
    return np.where(bx > SOFTPLUS_THRESHOLD, x, soft).astype(x.dtype, copy=False)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """Return ``x`` for ``x > 0`` and ``α(eˣ − 1)`` otherwise, shape of ``x``."""
    return np.where(x > 0, x, np.float32(alpha) * np.expm1(np.minimum(x, 0))).astype(x.dtype)


def gelu(x: Array) -> Array:
    """Exact GELU ``x·Φ(x)`` (erf-based), computed in float64 and rounded to ``x``'s dtype."""
    from scipy.special import erf  # only GELU networks pay this import

    wide = x.astype(np.float64)
    return (wide * 0.5 * (1.0 + erf(wide / math.sqrt(2.0)))).astype(x.dtype)


def _relu(x: Array) -> Array:
    return np.maximum(x, 0, dtype=x.dtype)


def _leaky_relu(x: Array, slope: float) -> Array:
    return np.where(x > 0, x, x * np.float32(slope))


def _prelu(x: Array, weight: Array) -> Array:
    return np.where(x > 0, x, weight.astype(x.dtype) * x)


def _selu(x: Array) -> Array:
    return np.float32(SELU_SCALE) * elu(x, SELU_ALPHA)


def _silu(x: Array) -> Array:
    with np.errstate(over="ignore"):
        return x / (1 + np.exp(-x))  # torch's kernel


def _mish(x: Array) -> Array:
    return x * np.tanh(softplus(x))


# name → f(x, weights, **options): the NumPy kernel of a registered activation. Its keyword
# parameters must be exactly the registry's options (names; the values, defaults filled in, come
# from the run's ``config.json``, written from the registry declarations by headkit.io.save), so a
# kernel never holds a default of its own. ``weights`` holds the activation's saved parameters
# (PReLU's slope) under their state-dict leaf names.
ACTIVATIONS: dict[str, Callable[..., Array]] = {
    "relu": lambda x, w: _relu(x),
    "leaky_relu": lambda x, w, slope: _leaky_relu(x, slope),
    "prelu": lambda x, w, init: _prelu(x, w["weight"]),
    "elu": lambda x, w, alpha: elu(x, alpha),
    "selu": lambda x, w: _selu(x),
    "gelu": lambda x, w: gelu(x),
    "silu": lambda x, w: _silu(x),
    "mish": lambda x, w: _mish(x),
    "softplus": lambda x, w, beta: softplus(x, beta),
    "tanh": lambda x, w: np.tanh(x),
    "sigmoid": lambda x, w: sigmoid(x),
}
ACTIVATION_PARAMETERS = {"prelu": ("weight",)}  # saved per activation module


def batch_norm(x: Array, w: dict[str, Array]) -> Array:
    """Eval-mode ``nn.BatchNorm1d``: ``(x − running_mean)/√(running_var + ε)·weight + bias``."""
    scale = w["weight"] / np.sqrt(w["running_var"] + np.float32(NORM_EPS))
    return (x - w["running_mean"]) * scale + w["bias"]


def layer_norm(x: Array, w: dict[str, Array]) -> Array:
    """``nn.LayerNorm`` over the last dim (biased variance), then ``·weight + bias``."""
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / np.sqrt(var + np.float32(NORM_EPS)) * w["weight"] + w["bias"]


NORMS: dict[str, tuple[tuple[str, ...], Callable[[Array, dict[str, Array]], Array]]] = {
    "batch": (("weight", "bias", "running_mean", "running_var", "num_batches_tracked"), batch_norm),
    "layer": (("weight", "bias"), layer_norm),
}


def softmax(z: Array) -> Array:
    """Return ``exp(z − max) / Σ exp(z − max)`` along the last dim, shape of ``z``."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(z: Array) -> Array:
    """Return ``z − logsumexp(z)`` along the last dim, shape of ``z``."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def sparsemax(z: Array) -> Array:
    """Sparsemax along the last dim by sorting (as ``headkit.functional.sparsemax``)."""
    x = z - z.max(axis=-1, keepdims=True)
    z_sorted = -np.sort(-x, axis=-1)
    cumsum = z_sorted.cumsum(axis=-1) - 1
    ranks = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    k = np.maximum((ranks * z_sorted > cumsum).sum(axis=-1, keepdims=True), 1)
    tau = np.take_along_axis(cumsum, k - 1, axis=-1) / k.astype(x.dtype)
    return np.maximum(x - tau, 0)


def entmax15(z: Array) -> Array:
    """Exact 1.5-entmax along the last dim by sorting (as ``headkit.functional.entmax15``)."""
    x = (z - z.max(axis=-1, keepdims=True)) / 2
    z_sorted = -np.sort(-x, axis=-1)
    rho = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    mean = z_sorted.cumsum(axis=-1) / rho
    mean_sq = (z_sorted**2).cumsum(axis=-1) / rho
    delta = (1 - rho * (mean_sq - mean**2)) / rho
    tau = mean - np.sqrt(np.maximum(delta, 0))
    k = np.maximum((tau <= z_sorted).sum(axis=-1, keepdims=True), 1)
    return np.maximum(x - np.take_along_axis(tau, k - 1, axis=-1), 0) ** 2


def stablemax(z: Array) -> Array:
    """StableMax ``s(z_i)/Σ s(z_j)``, ``s(x) = x + 1`` (x ≥ 0) or ``1/(1 − x)``."""
    s = np.where(z >= 0, z + 1, 1 / (1 - np.minimum(z, 0)))
    return s / s.sum(axis=-1, keepdims=True)


def _softmax_t(z: Array, temperature: float) -> Array:
    return softmax(z if temperature == 1 else z / temperature)


def _ssmax(z: Array, w: dict[str, Array]) -> Array:
    scale = w["s"] * np.float32(math.log(z.shape[-1]))  # a float32 scalar, as in torch
    return softmax(z * scale)


def _power(z: Array, p: float, eps: float) -> Array:
    return np.exp(log_softmax(p * np.log(np.abs(z) + eps)))


# name → (saved parameter names, f(z, weights, **options)), z (N, C) float64 logits already
# divided by the calibration temperature (the output maps run in float64, as in
# headkit.inference.forward.predict_arrays); options as for ACTIVATIONS. Gumbel-softmax is
# softmax in eval.
OUTPUTS: dict[str, tuple[tuple[str, ...], Callable[..., Array]]] = {
    "softmax": ((), lambda z, w, temperature: _softmax_t(z, temperature)),
    "gumbel": ((), lambda z, w, tau, hard, anneal, tau_min: softmax(z)),
    "sigmoid": ((), lambda z, w: sigmoid(z)),
    "sparsemax": ((), lambda z, w: sparsemax(z)),
    "entmax15": ((), lambda z, w: entmax15(z)),
    "stablemax": ((), lambda z, w: stablemax(z)),
    "ssmax": (("s",), lambda z, w, s, learnable: _ssmax(z, w)),
    "power": ((), lambda z, w, p, eps: _power(z, p, eps)),
}


def kernel_options(kernel: Callable[..., Array]) -> set[str]:
    """The option names a kernel takes (its parameters after the array and the weights)."""
    return set(list(inspect.signature(kernel).parameters)[2:])
