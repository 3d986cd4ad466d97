"""Random-feature layers and the closed-form ridge readout.

A random-feature model is a frozen random hidden layer ``φ(x) = σ(x Wᵀ + b) / √m`` followed by a
trained linear readout (Rahimi & Recht 2007; Simon et al., *More is Better*, 2023). With a
squared loss the readout has a closed form, ridge regression, solved here in the primal
(``(ΦᵀΦ + λI)⁻¹ΦᵀY``, an m × m system) or the dual (``Φᵀ(ΦΦᵀ + λI)⁻¹Y``, an n × n system).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor

from headkit.exceptions import ConfigError, DataError

WEIGHT_LAWS = ("gaussian", "bandlimited")
_ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "cos": torch.cos,
    "sigmoid": torch.sigmoid,
}


def sample_random_weights(
    n_in: int,
    width: int,
    law: str = "gaussian",
    scale: float | None = None,
    mean: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Draw the frozen weights of a random-feature layer.

    Parameters
    ----------
    n_in, width : int
        Input width d and number of random features m.
    law : {"gaussian", "bandlimited"}
        ``gaussian``: ``W_ij ~ N(mean, scale²)``, ``b_i ~ N(0, 1)``. ``bandlimited``: ``W_ij`` and
        ``b_i ~ U[−B, B]`` with ``B = scale`` (Bandlimited Random Weights), so
        ``max abs(W) ≤ B``.
    scale : float, optional
        Standard deviation (gaussian) or bound B (bandlimited); default ``1/√d`` and ``√(3/d)``
        (both give ``Var(w·x) = 1`` for unit-variance inputs).
    mean : float
        Mean of the Gaussian weights (non-zero-mean Gaussian features); gaussian only.
    generator : torch.Generator, optional
        Source of randomness (default: torch's global generator).
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    weight : Tensor, shape (m, d)
    bias : Tensor, shape (m,)
    """
    if n_in < 1 or width < 1:
        raise ConfigError(f"A random-feature layer needs n_in, width >= 1; got {n_in}, {width}.")
    if law not in WEIGHT_LAWS:
        raise ConfigError(f"Unknown weight law {law!r}; choose one of {', '.join(WEIGHT_LAWS)}.")
    if scale is not None and scale <= 0:
        raise ConfigError(f"The weight scale must be > 0; got {scale}.")
    if law == "gaussian":
        std = 1.0 / math.sqrt(n_in) if scale is None else scale
        weight = torch.randn(width, n_in, generator=generator, dtype=dtype) * std + mean
        bias = torch.randn(width, generator=generator, dtype=dtype)
        return weight, bias
    if mean != 0.0:
        raise ConfigError("mean applies to the gaussian law only; drop it or use law='gaussian'.")
    bound = math.sqrt(3.0 / n_in) if scale is None else scale
    weight = (torch.rand(width, n_in, generator=generator, dtype=dtype) * 2 - 1) * bound
    bias = (torch.rand(width, generator=generator, dtype=dtype) * 2 - 1) * bound
    return weight, bias


def random_features(x: Tensor, weight: Tensor, bias: Tensor, activation: str = "relu") -> Tensor:
    """Return ``φ(x) = σ(x Wᵀ + b) / √m``.

    Parameters
    ----------
    x : Tensor, shape (..., d)
    weight : Tensor, shape (m, d)
    bias : Tensor, shape (m,)
    activation : {"relu", "tanh", "cos", "sigmoid"}
        σ; ``cos`` with Gaussian weights gives random Fourier features of the RBF kernel.

    Returns
    -------
    Tensor, shape (..., m)
    """
    if activation not in _ACTIVATIONS:
        raise ConfigError(
            f"Unknown random-feature activation {activation!r}; choose one of "
            f"{', '.join(_ACTIVATIONS)}."
        )
    z = torch.nn.functional.linear(x, weight.to(x.dtype), bias.to(x.dtype))
    return _ACTIVATIONS[activation](z) / math.sqrt(weight.shape[0])


def ridge_solve(
    phi: Tensor,
    targets: Tensor,
    lam: float,
    form: Literal["auto", "primal", "dual"] = "auto",
    fit_intercept: bool = True,
) -> tuple[Tensor, Tensor]:
    """Closed-form ridge regression ``argmin_θ ½‖Φθ + 1cᵀ − Y‖² + ½λ‖θ‖²``.

    Equivalent to ``sklearn.linear_model.Ridge(alpha=lam, fit_intercept=fit_intercept)``. The
    intercept c is not penalised: with ``fit_intercept`` Φ and Y are centred first.

    Parameters
    ----------
    phi : Tensor, shape (n, m)
        Features (the random-feature matrix).
    targets : Tensor, shape (n, C) or (n,)
        Regression targets (one-hot rows for classification).
    lam : float
        λ ≥ 0. At λ = 0 the minimum-norm least-squares solution (pseudo-inverse) is returned,
        which interpolates the training targets when ``m ≥ n`` and Φ has full row rank.
    form : {"auto", "primal", "dual"}
        ``primal`` solves the m × m system ``(ΦᵀΦ + λI)θ = ΦᵀY``; ``dual`` the n × n system
        ``(ΦΦᵀ + λI)α = Y`` and returns ``θ = Φᵀα``; ``auto`` picks the smaller.
    fit_intercept : bool
        Fit an unpenalised intercept c.

    Returns
    -------
    theta : Tensor, shape (m, C) (or (m,) for 1-d targets)
    intercept : Tensor, shape (C,) (or ())
    """
    if phi.dim() != 2 or targets.shape[:1] != phi.shape[:1]:
        raise DataError(
            f"ridge_solve needs phi (n, m) and targets with n rows; got {tuple(phi.shape)} and "
            f"{tuple(targets.shape)}."
        )
    if lam < 0:
        raise ConfigError(f"The ridge penalty lam must be >= 0; got {lam}.")
    if form not in ("auto", "primal", "dual"):
        raise ConfigError(f"form must be 'auto', 'primal' or 'dual'; got {form!r}.")
    y = targets.to(phi.dtype)
    if fit_intercept:
        phi_mean, y_mean = phi.mean(0), y.mean(0)
        phi, y = phi - phi_mean, y - y_mean
    n, m = phi.shape
    if lam == 0:
        theta = torch.linalg.pinv(phi) @ y
    elif form == "primal" or (form == "auto" and m <= n):
        gram = phi.T @ phi + lam * torch.eye(m, dtype=phi.dtype, device=phi.device)
        theta = torch.linalg.solve(gram, phi.T @ y)
    else:
        gram = phi @ phi.T + lam * torch.eye(n, dtype=phi.dtype, device=phi.device)
        theta = phi.T @ torch.linalg.solve(gram, y)
    intercept = y_mean - phi_mean @ theta if fit_intercept else torch.zeros_like(y[0])
    return theta, intercept
