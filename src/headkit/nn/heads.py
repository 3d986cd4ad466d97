"""Heads map trunk features to logits; the ``head=`` registry.

Contract: ``head(features, target=None) -> logits``. ``features`` has shape (..., D) (a leading
sample dimension may come from multi-sample dropout); ``target`` (shape (N,) class indices) is
given during training only, so margin heads can apply their margin to the target logit. Margins
never apply in eval mode. A target of shape (N,) broadcasts over features (k, N, D).

| head | logits | training |
|---|---|---|
| linear | x Wᵀ + b | — |
| cosine | s·cos θ | — |
| cosface | s·cos θ | target: s·(cos θ_y - m); s, m per batch if adaptive |
| arcface | s·cos θ | target: s·cos(θ_y + m), fallback past π - m; adaptive as cosface |
| sphereface | ‖x‖·cos θ | target: ‖x‖·(λ cos θ_y + ψ(θ_y)) / (1 + λ), λ annealed |
| sphereface2 | r·g(cos θ) + b | own one-vs-all loss (``training_loss``) |
| etf, ebv | s·cos θ to fixed class vectors | s learnable |
| ensemble | mean of M linear heads' logits | mean of the heads' CE (own loss) |
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.margins import sphereface2_logits
from headkit.registry import Registry

HEADS = Registry("head")


class LinearHead(nn.Linear):
    """Affine layer x Wᵀ + b (the default).

    Shape
    -----
    Input (..., in_features); output (..., n_classes).
    """

    def __init__(self, in_features: int, n_classes: int, bias: bool = True) -> None:
        super().__init__(in_features, n_classes, bias=bias)

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        return super().forward(x)


class CosineHead(nn.Module):
    """Normalised softmax s·cos θ (features and weights L2-normalised); base of margin heads.

    Parameters
    ----------
    in_features, n_classes : int
        Feature width D and number of classes C.
    s : float
        Scale (initial value when ``learn_scale``).
    learn_scale : bool
        Train s (stored as log s).

    Shape
    -----
    Input (..., D); output (..., C) in [-s, s].
    """

    def __init__(
        self, in_features: int, n_classes: int, s: float = 16.0, learn_scale: bool = False
    ) -> None:
        super().__init__()
        if s <= 0:
            raise ValueError(f"scale s must be > 0; got {s}.")
        self.weight = nn.Parameter(torch.empty(n_classes, in_features))
        nn.init.normal_(self.weight, std=0.01)
        self.log_scale = nn.Parameter(torch.tensor(math.log(s)), requires_grad=learn_scale)

    @property
    def s(self) -> Tensor:
        """The scale, a scalar tensor."""
        return self.log_scale.exp()

    def cosine(self, x: Tensor) -> Tensor:
        """Return cos θ between features and class weights, shape (..., C)."""
        return F.cosine_similarity(x, self.weight)

    def margin_logits(self, cosine: Tensor, target: Tensor, features: Tensor) -> Tensor:
        """Return training logits with the margin; the plain head has none."""
        return self.s * cosine

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        cosine = self.cosine(x)
        if self.training and target is not None:
            return self.margin_logits(cosine, target, x)
        return self.eval_logits(cosine, x)

    def eval_logits(self, cosine: Tensor, features: Tensor) -> Tensor:
        """Return logits without margin."""
        return self.s * cosine

    def extra_repr(self) -> str:
        n_classes, in_features = self.weight.shape
        return f"in_features={in_features}, n_classes={n_classes}, s={self.s.item():.3g}"


class _AdaptiveMargin:
    """CFCD's per-batch adaptive s and m (``adaptive=True``), shared by CosFace and ArcFace.

    Each training batch sets s and m by :func:`headkit.functional.adaptive_scale_margin`; the
    last ones are kept in the buffers ``adapted_scale`` and ``adapted_margin`` (saved with the
    weights). Eval logits use the floor ``s``: the adapted scale grows like 1/(1 − cos θ̃) and
    would make eval probabilities needlessly extreme (the argmax is the same at any scale).
    """

    kind = "cosface"
    adaptive: bool
    rho: float

    def _setup_adaptive(self, adaptive: bool, rho: float, s: float) -> None:
        self.adaptive, self.rho = bool(adaptive), float(rho)
        if self.adaptive:
            if not 0.0 < rho < 1.0:
                raise ValueError(f"rho must be in (0, 1); got {rho}.")
            self.register_buffer("adapted_scale", torch.tensor(float(s)))  # type: ignore[attr-defined]
            self.register_buffer("adapted_margin", torch.tensor(0.0))  # type: ignore[attr-defined]

    def _scale_margin(self, cosine: Tensor, target: Tensor) -> tuple[Tensor | float, float]:
        if not self.adaptive:
            return self.s, self.m  # type: ignore[attr-defined]
        floor = float(self.log_scale.exp())  # type: ignore[attr-defined]
        s, m = F.adaptive_scale_margin(cosine, target, self.rho, floor, self.kind)
        self.adapted_scale.fill_(s)  # type: ignore[attr-defined]
        self.adapted_margin.fill_(m)  # type: ignore[attr-defined]
        return s, m


class CosFaceHead(_AdaptiveMargin, CosineHead):
    """CosFace / AM-Softmax: s·(cos θ_y − m) on the target in training (Wang et al. 2018).

    The default m=0.2 suits the tens of classes of tabular or signal data (MNIST-1D: 0.67–0.71
    test accuracy against 0.65–0.67 with the paper's face-recognition m=0.35). With
    ``adaptive=True`` s and m are set per batch so that the median row's target probability is
    ``rho`` (CFCD; they rise as training tightens the classes) and ``s`` is the scale's floor.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        s: float = 30.0,
        m: float = 0.2,
        adaptive: bool = False,
        rho: float = 0.1,
    ) -> None:
        super().__init__(in_features, n_classes, s)
        self.m = m
        self._setup_adaptive(adaptive, rho, s)

    def margin_logits(self, cosine: Tensor, target: Tensor, features: Tensor) -> Tensor:
        s, m = self._scale_margin(cosine, target)
        return F.cosface_logits(cosine, target, s, m)  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        extra = f", adaptive=True, rho={self.rho}" if self.adaptive else ""
        return f"{super().extra_repr()}, m={self.m}{extra}"


class ArcFaceHead(_AdaptiveMargin, CosineHead):
    """ArcFace: s·cos(θ_y + m) on the target in training, m in radians (Deng et al. 2019).

    The default m=0.2 trains from scratch on small problems (MNIST-1D: 0.69–0.70 test accuracy);
    the paper's face-recognition margin m=0.5 reaches only 0.39 there (pass ``arcface:m=0.5``
    for a large-class embedding task). Past θ = π − m the target logit falls back to
    ``cos θ − m·sin m`` (:func:`headkit.functional.arcface_logits`). ``adaptive=True`` sets s
    and the angular m per batch as for CosFace (CFCD), with ``s`` the scale's floor.
    """

    kind = "arcface"

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        s: float = 30.0,
        m: float = 0.2,
        easy_margin: bool = False,
        adaptive: bool = False,
        rho: float = 0.1,
    ) -> None:
        super().__init__(in_features, n_classes, s)
        self.m = m
        self.easy_margin = easy_margin
        self._setup_adaptive(adaptive, rho, s)

    def margin_logits(self, cosine: Tensor, target: Tensor, features: Tensor) -> Tensor:
        s, m = self._scale_margin(cosine, target)
        return F.arcface_logits(cosine, target, s, m, self.easy_margin)  # type: ignore[arg-type]

    def extra_repr(self) -> str:
        extra = f", adaptive=True, rho={self.rho}" if self.adaptive else ""
        return f"{super().extra_repr()}, m={self.m}, easy_margin={self.easy_margin}{extra}"


class SphereFaceHead(CosineHead):
    """SphereFace: multiplicative angular margin cos(mθ_y), λ-annealed (Liu et al. 2017).

    Logits keep the feature norm, ``s·‖x‖·cos θ_j``. In training the target logit is
    ``s·‖x‖·(λ cos θ_y + ψ(θ_y))/(1 + λ)``; λ decays geometrically from ``lambda_max`` to
    ``lambda_min`` over the first half of training (told by ``set_progress``) and stays there,
    following the original paper's schedule (λ from 1000 down to 5).
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        m: int = 4,
        s: float = 1.0,
        lambda_max: float = 1000.0,
        lambda_min: float = 5.0,
    ) -> None:
        super().__init__(in_features, n_classes, s)
        if m < 1:
            raise ValueError(f"m must be an integer >= 1; got {m}.")
        if not 0 <= lambda_min <= lambda_max:
            raise ValueError("Need 0 <= lambda_min <= lambda_max.")
        self.m = int(m)
        self.lambda_max = lambda_max
        self.lambda_min = lambda_min
        self.lam = lambda_max

    def set_progress(self, fraction: float) -> None:
        """Anneal λ: geometric from ``lambda_max`` (fraction 0) to ``lambda_min`` (≥ 0.5)."""
        f = min(max(2.0 * fraction, 0.0), 1.0)
        if self.lambda_min == 0:
            self.lam = self.lambda_max * (1.0 - f)
        else:
            self.lam = self.lambda_max * (self.lambda_min / self.lambda_max) ** f

    def margin_logits(self, cosine: Tensor, target: Tensor, features: Tensor) -> Tensor:
        norm = features.norm(dim=-1, keepdim=True)
        return F.sphereface_logits(cosine, target, norm, self.m, self.s, self.lam)

    def eval_logits(self, cosine: Tensor, features: Tensor) -> Tensor:
        return self.s * features.norm(dim=-1, keepdim=True) * cosine

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, m={self.m}, lambda={self.lam:.3g}"


class SphereFace2Head(CosineHead):
    """SphereFace2: one-vs-all binary losses with margins; trains with its own loss.

    ``forward`` returns ``r·g(cos θ) + b`` (read with ``output="sigmoid"``);
    ``training_loss(features, target)`` is :func:`headkit.functional.sphereface2_loss`, which
    :class:`headkit.nn.HeadNet` uses instead of the criterion. The default m=0.1 suits small
    problems (MNIST-1D: 0.69 test accuracy, against 0.63 with the paper's face-recognition m=0.4).
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        r: float = 40.0,
        m: float = 0.1,
        lam: float = 0.7,
        t: float = 3.0,
    ) -> None:
        super().__init__(in_features, n_classes, r)
        if not 0.0 < lam < 1.0:
            raise ValueError(f"lam must be in (0, 1); got {lam}.")
        self.r, self.m, self.lam, self.t = r, m, lam, t
        self.bias = nn.Parameter(torch.zeros(()))

    def eval_logits(self, cosine: Tensor, features: Tensor) -> Tensor:
        return sphereface2_logits(cosine, self.bias, self.r, self.t)

    def margin_logits(self, cosine: Tensor, target: Tensor, features: Tensor) -> Tensor:
        return self.eval_logits(cosine, features)

    def training_loss(self, features: Tensor, target: Tensor) -> Tensor:
        """Return the SphereFace2 loss of a batch, shape ()."""
        cosine = self.cosine(features)
        return F.sphereface2_loss(cosine, target, self.bias, self.r, self.m, self.lam, self.t)

    def extra_repr(self) -> str:
        return f"r={self.r}, m={self.m}, lam={self.lam}, t={self.t}"


class FixedHead(nn.Module):
    """Cosine logits to fixed, non-trainable class vectors with a learnable scale.

    Parameters
    ----------
    vectors : Tensor, shape (C, D)
        Unit class vectors (a buffer, saved with the weights, never trained).
    s : float
        Initial scale (learned as log s).

    Shape
    -----
    Input (..., D); output (..., C).
    """

    def __init__(self, vectors: Tensor, s: float) -> None:
        super().__init__()
        self.register_buffer("weight", vectors)
        self.log_scale = nn.Parameter(torch.tensor(math.log(s)))

    def forward(self, x: Tensor, target: Tensor | None = None) -> Tensor:
        return self.log_scale.exp() * F.cosine_similarity(x, self.weight)

    def extra_repr(self) -> str:
        n_classes, in_features = self.weight.shape
        return f"in_features={in_features}, n_classes={n_classes}"


class ETFHead(FixedHead):
    """Fixed simplex-ETF classifier (pairwise cosine −1/(C−1)), learnable scale only.

    ``seed`` fixes the random embedding of the simplex in R^D.
    """

    def __init__(self, in_features: int, n_classes: int, s: float = 10.0, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        super().__init__(F.simplex_etf(n_classes, in_features, generator), s)


class EBVHead(FixedHead):
    """Fixed Equiangular Basis Vectors (near-orthogonal), learnable scale (Shen et al. 2023).

    ``max_cos`` is the target largest pairwise abs(cos) (2000 optimisation steps at most).
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        s: float = 10.0,
        max_cos: float = 0.002,
        seed: int = 0,
    ) -> None:
        generator = torch.Generator().manual_seed(seed)
        vectors = F.equiangular_basis_vectors(n_classes, in_features, max_cos, 2000, generator)
        super().__init__(vectors, s)


for _name, _head in {
    "linear": LinearHead,
    "cosine": CosineHead,
    "cosface": CosFaceHead,
    "arcface": ArcFaceHead,
    "sphereface": SphereFaceHead,
    "sphereface2": SphereFace2Head,
    "etf": ETFHead,
    "ebv": EBVHead,
}.items():
    HEADS.register(_name)(_head)
