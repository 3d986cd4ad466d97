"""Annealed Gaussian gradient noise (Neelakantan et al. 2015).

After the backward pass and before the optimiser step, every gradient receives independent noise
``N(0, σ_t²)`` with ``σ_t² = η / (1 + t)^γ``, t the number of optimiser steps taken so far
(t = 0 for the first step). The paper uses γ = 0.55 and η ∈ {0.01, 0.3, 1.0}. η = 0 leaves the
gradients, and hence training, unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor


def gradient_noise_variance(step: int, eta: float, gamma: float = 0.55) -> float:
    """Return σ_t² = η / (1 + t)^γ for optimiser step ``t = step`` (0-based)."""
    if step < 0:
        raise ValueError(f"step must be >= 0; got {step}.")
    return eta / (1.0 + step) ** gamma


def add_gradient_noise(
    parameters: Iterable[Tensor],
    step: int,
    eta: float,
    gamma: float = 0.55,
    *,
    generator: torch.Generator | None = None,
) -> float:
    """Add ``N(0, η / (1 + step)^γ)`` noise in place to the ``.grad`` of each parameter.

    Parameters without a gradient are skipped. The noise is drawn in float32 and cast to each
    gradient's dtype, on the gradient's device. A sparse gradient (Partial FC's row-sparse weight
    gradient) gets noise on its stored rows only, so the update stays row-sparse.

    Parameters
    ----------
    parameters : iterable of Tensor
        Parameters whose ``.grad`` receives noise.
    step : int
        Optimiser steps taken so far (0 for the first).
    eta : float
        Noise scale η ≥ 0; 0 adds nothing.
    gamma : float
        Decay exponent γ ≥ 0.
    generator : torch.Generator, optional
        Source of randomness (on the gradients' device); the global RNG when ``None``.

    Returns
    -------
    float
        The standard deviation σ_t used.
    """
    if eta < 0 or gamma < 0:
        raise ValueError(f"gradient noise needs eta >= 0 and gamma >= 0; got {eta}, {gamma}.")
    std = math.sqrt(gradient_noise_variance(step, eta, gamma))
    if std == 0.0:
        return 0.0
    with torch.no_grad():
        for param in parameters:
            grad = param.grad
            if grad is None:
                continue
            if grad.is_sparse:
                param.grad = grad = grad.coalesce()  # one noise draw per stored row
                grad = grad._values()
            noise = torch.randn(
                grad.shape, device=grad.device, dtype=torch.float32, generator=generator
            )
            grad.add_(noise.mul_(std).to(grad.dtype))
    return std


class GradientNoise:
    """Stateful annealed gradient noise: call it once per optimiser step, after ``backward``.

    Parameters
    ----------
    eta : float
        Noise scale η ≥ 0 (``TrainingConfig.gradient_noise``).
    gamma : float
        Decay exponent γ (``TrainingConfig.gradient_noise_gamma``, 0.55 in the paper).
    generator : torch.Generator, optional
        Source of randomness; the global RNG when ``None`` (seeded by the trainer).

    Examples
    --------
    >>> noise = GradientNoise(eta=0.3)
    >>> loss.backward()  # doctest: +SKIP
    >>> noise(model.parameters())  # doctest: +SKIP
    >>> optimizer.step()  # doctest: +SKIP
    """

    def __init__(
        self, eta: float, gamma: float = 0.55, generator: torch.Generator | None = None
    ) -> None:
        if eta < 0 or gamma < 0:
            raise ValueError(f"gradient noise needs eta >= 0 and gamma >= 0; got {eta}, {gamma}.")
        self.eta = eta
        self.gamma = gamma
        self.generator = generator
        self.step = 0

    @property
    def enabled(self) -> bool:
        """Whether any noise is added (η > 0)."""
        return self.eta > 0

    def variance(self, step: int | None = None) -> float:
        """Return σ_t² at ``step`` (default: the next step)."""
        return gradient_noise_variance(self.step if step is None else step, self.eta, self.gamma)

    def __call__(self, parameters: Iterable[Tensor]) -> float:
        """Add this step's noise to the gradients, advance t and return σ_t."""
        std = add_gradient_noise(
            parameters, self.step, self.eta, self.gamma, generator=self.generator
        )
        self.step += 1
        return std

    def __repr__(self) -> str:
        return f"GradientNoise(eta={self.eta}, gamma={self.gamma}, step={self.step})"
