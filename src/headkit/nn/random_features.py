"""Random-feature head: a frozen random hidden layer and a trained linear readout.

``head="random_features:width=2048,law=bandlimited"`` maps trunk features h (N, D) to
``φ(h) = σ(h Wᵀ + b)/√m`` with W, b drawn once and stored as buffers (saved with the model,
never trained), then to logits with a linear readout. The readout trains by gradient descent
like any head, or in closed form with ``solver="ridge"`` (see :mod:`headkit.training.solvers`).
"""

from __future__ import annotations

from torch import Tensor, nn

from headkit import functional as F
from headkit.nn.heads import HEADS


class RandomFeatures(nn.Module):
    """Frozen random-feature layer ``σ(x Wᵀ + b)/√m``.

    Parameters
    ----------
    in_features : int
        Input width d.
    width : int
        Number of random features m.
    law : {"gaussian", "bandlimited"}
        Weight distribution (see :func:`headkit.functional.sample_random_weights`).
    scale : float, optional
        Gaussian standard deviation or bandlimited bound B.
    mean : float
        Mean of Gaussian weights.
    activation : {"relu", "tanh", "cos", "sigmoid"}
        σ.

    Shape
    -----
    Input (..., d); output (..., m).
    """

    def __init__(
        self,
        in_features: int,
        width: int = 1024,
        law: str = "gaussian",
        scale: float | None = None,
        mean: float = 0.0,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        weight, bias = F.sample_random_weights(in_features, width, law, scale, mean)
        F.random_features(weight.new_zeros(1, in_features), weight, bias, activation)  # checks σ
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.law, self.activation, self.width = law, activation, width

    def forward(self, x: Tensor) -> Tensor:
        return F.random_features(x, self.weight, self.bias, self.activation)

    def extra_repr(self) -> str:
        return f"width={self.width}, law={self.law}, activation={self.activation}"


class RandomFeatureHead(nn.Module):
    """Random features followed by a linear readout (``embed`` then ``readout``).

    Shape
    -----
    Input (..., D); output (..., C).
    """

    def __init__(self, features: RandomFeatures, n_classes: int) -> None:
        super().__init__()
        self.features = features
        self.readout = nn.Linear(features.width, n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """Return the random features φ(x), shape (..., m)."""
        return self.features(x)

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        return self.readout(self.embed(x))


@HEADS.register("random_features")
def random_features(
    in_features: int,
    n_classes: int,
    width: int = 1024,
    law: str = "gaussian",
    scale: float | None = None,
    mean: float = 0.0,
    activation: str = "relu",
) -> nn.Module:
    """Frozen random features σ(Wx+b)/√m (gaussian or bandlimited) and a linear readout."""
    return RandomFeatureHead(
        RandomFeatures(in_features, width, law, scale, mean, activation), n_classes
    )
