"""Additive Gaussian noise on activations (the ``gaussian_noise`` dropout kind's module)."""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.dropout import check_sigma


class GaussianNoise(nn.Module):
    """Additive Gaussian noise ``h + σε``, ε ~ N(0, 1); identity in eval mode.

    Parameters
    ----------
    sigma : float
        Noise standard deviation σ >= 0.

    Shape
    -----
    Input (...), output the same shape.
    """

    mc_dropout = True
    identity_in_eval = True

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = check_sigma(sigma)

    def forward(self, x: Tensor) -> Tensor:
        return F.gaussian_noise(x, self.sigma, self.training)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"
