"""Output maps turn logits into probabilities; the ``output=`` registry.

Contract: ``output(logits) -> probabilities`` along the last dimension (rows sum to 1, or each
entry in [0, 1] for one-vs-all maps), and ``output.log_prob(logits)``. ``output.natural_loss``
names the loss that trains the logits consistently with the map (``cross_entropy`` for softmax,
the Fenchel–Young loss for sparse maps); the ``cross_entropy`` loss defers to it.

| output | map | natural loss |
|---|---|---|
| softmax | exp(z/T) / Σ exp(z/T) | softmax_cross_entropy |
| sparsemax, entmax15, entmax_bisect | α-entmax (exact zeros) | fenchel_young (same α) |
| gumbel | Gumbel-softmax sample in training (τ fixed or annealed), softmax(z) in eval | nll of the relaxed sample |
| ssmax | softmax(s·log(C)·z), s learnable | nll (trains s too) |
| power | abs(z)^p / Σ abs(z)^p | nll |
| sigmoid | σ(z_k) per class | one_vs_all (binary cross-entropy) |
| softmax1 | e^{z_i}/(1 + Σ e^{z_j}); rows sum to < 1 | nll |
| adaptive_temperature | softmax(z) in training, softmax(β(H)·z) at prediction | nll |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.softmax import gumbel_noise
from headkit.registry import Registry

OUTPUTS = Registry("output map")


class Softmax(nn.Module):
    """Softmax exp(z/T)/Σ exp(z/T) (the default); an optional per-call mask zeroes classes.

    Shape
    -----
    Input (..., C) logits; output (..., C) probabilities.
    """

    natural_loss = "softmax_cross_entropy"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0; got {temperature}.")
        self.temperature = temperature

    def forward(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        return F.softmax(logits, dim=-1, temperature=self.temperature, mask=mask)

    def log_prob(self, logits: Tensor, mask: Tensor | None = None) -> Tensor:
        """Return log-probabilities, shape (..., C); ``mask`` (bool, True = keep) as in softmax."""
        return F.log_softmax(logits, dim=-1, temperature=self.temperature, mask=mask)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class _SparseOutput(nn.Module):
    """Base of the entmax maps: ``log_prob`` is ``log p`` (``-inf`` at the exact zeros)."""

    natural_loss = "fenchel_young"
    alpha: float | Tensor

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return ``log p``, shape (..., C); ``-inf`` where the map gives an exact zero.

        The gradient is finite everywhere (zero at the exact zeros), so a clamped NLL of it
        (temperature fitting) can be optimised.
        """
        p = self(logits)
        safe = torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))
        return safe.masked_fill(p == 0, -torch.inf)


class Sparsemax(_SparseOutput):
    """Sparsemax: projection onto the simplex, exact zeros (Martins & Astudillo 2016).

    α = 2 in the entmax family.

    Shape
    -----
    Input (..., C); output (..., C).
    """

    alpha = 2.0

    def forward(self, logits: Tensor) -> Tensor:
        return F.sparsemax(logits, dim=-1)


class Entmax15(_SparseOutput):
    """1.5-entmax, exact sort-based; sparse, between softmax and sparsemax (Peters et al. 2019).

    Shape
    -----
    Input (..., C); output (..., C).
    """

    alpha = 1.5

    def forward(self, logits: Tensor) -> Tensor:
        return F.entmax15(logits, dim=-1)


class EntmaxBisect(_SparseOutput):
    """α-entmax by bisection with a learnable α in (1, 2) (Adaptively Sparse Transformers).

    α = 1 + sigmoid(a). As in "Adaptively Sparse Transformers" (Correia, Niculae & Martins 2019), α is a parameter
    trained with the network (through the Fenchel–Young loss, whose α-gradient is closed-form).

    Parameters
    ----------
    alpha : float
        Initial α in (1, 2).
    learnable : bool
        Train α; when false it stays fixed.
    n_iter : int
        Bisection steps.

    Shape
    -----
    Input (..., C); output (..., C).
    """

    def __init__(self, alpha: float = 1.5, learnable: bool = True, n_iter: int = 50) -> None:
        super().__init__()
        if not 1.0 < alpha < 2.0:
            raise ValueError(f"alpha must be in (1, 2); got {alpha}.")
        raw = torch.logit(torch.tensor(alpha - 1.0))
        self.alpha_logit = nn.Parameter(raw, requires_grad=learnable)
        self.n_iter = n_iter

    @property
    def alpha(self) -> Tensor:  # type: ignore[override]
        """The current α, a scalar tensor."""
        return 1.0 + torch.sigmoid(self.alpha_logit)

    def forward(self, logits: Tensor) -> Tensor:
        return F.entmax_bisect(logits, self.alpha, dim=-1, n_iter=self.n_iter)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha.item():.4f}, learnable={self.alpha_logit.requires_grad}"


class GumbelSoftmax(nn.Module):
    """Gumbel-softmax samples in training (straight-through if hard), softmax in eval.

    In training mode ``forward`` returns ``softmax((z + g)/τ)`` (one-hot with straight-through
    gradients when ``hard``); in eval mode it returns ``softmax(z)``, the distribution that
    Gumbel-max samples follow. ``log_prob`` is ``log_softmax((z + g)/τ)`` in training (a fresh
    sample) and ``log_softmax(z)`` in eval, so the natural loss (NLL) trains on noisy relaxed
    samples and is exactly softmax cross-entropy without noise (τ = 1).

    With ``anneal > 0``, τ follows the paper's exponential schedule with a floor,
    ``τ_t = max(tau_min, tau·exp(−anneal·t))`` over the fraction t of the fit (told by
    ``set_progress``; :func:`headkit.functional.gumbel_temperature`); ``anneal = 0`` keeps τ fixed.

    Shape
    -----
    Input (..., C); output (..., C).
    """

    natural_loss = "nll"

    def __init__(
        self, tau: float = 1.0, hard: bool = False, anneal: float = 0.0, tau_min: float = 0.5
    ) -> None:
        super().__init__()
        F.gumbel_temperature(0.0, tau, anneal, tau_min)  # validates
        self.tau0, self.anneal, self.tau_min = tau, anneal, tau_min
        self.tau = tau
        self.hard = hard

    def set_progress(self, fraction: float) -> None:
        """Set τ for the fraction ``fraction`` of the fit done (fixed when ``anneal = 0``)."""
        self.tau = F.gumbel_temperature(fraction, self.tau0, self.anneal, self.tau_min)

    def forward(self, logits: Tensor) -> Tensor:
        if self.training:
            return F.gumbel_softmax(logits, tau=self.tau, hard=self.hard, dim=-1)
        return F.softmax(logits, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return log-probabilities of a relaxed sample (training) or of softmax (eval)."""
        if self.training:
            noisy = logits.float() + gumbel_noise(logits)
            return F.log_softmax(noisy, dim=-1, temperature=self.tau).to(logits.dtype)
        return F.log_softmax(logits, dim=-1)

    def extra_repr(self) -> str:
        schedule = f", anneal={self.anneal}, tau_min={self.tau_min}" if self.anneal else ""
        return f"tau={self.tau:.4g}, hard={self.hard}{schedule}"


class ScalableSoftmax(nn.Module):
    """Scalable-Softmax softmax(s·log C·z), s learnable (Nakanishi 2025).

    Shape
    -----
    Input (..., C); output (..., C).
    """

    natural_loss = "nll"

    def __init__(self, s: float = 1.0, learnable: bool = True) -> None:
        super().__init__()
        self.s = nn.Parameter(torch.tensor(float(s)), requires_grad=learnable)

    def forward(self, logits: Tensor) -> Tensor:
        return F.scalable_softmax(logits, self.s, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return log-probabilities, shape (..., C)."""
        return F.log_scalable_softmax(logits, self.s, dim=-1)

    def extra_repr(self) -> str:
        return f"s={self.s.item():.4f}, learnable={self.s.requires_grad}"


class PowerSoftmax(nn.Module):
    """Power-Softmax (abs(z)+ε)^p/Σ (abs(z)+ε)^p, a polynomial normaliser (Zimerman et al. 2025).

    The defaults train well: with ε = 1e-6 the NLL's ``p·log(abs(z)+ε)`` is so steep near 0 that
    digits reached 0.57 test accuracy in 10 epochs (p=2) against 0.94 with ε = 0.1; p = 4 beat
    p = 2 on MNIST-1D (0.665 vs 0.630 at 30 epochs). ``eps=0`` with an even p is the exact
    polynomial ``z^p / Σ z^p``.

    Shape
    -----
    Input (..., C); output (..., C).
    """

    natural_loss = "nll"

    def __init__(self, p: float = 4.0, eps: float = 0.1) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"power p must be > 0; got {p}.")
        self.p = p
        self.eps = eps

    def forward(self, logits: Tensor) -> Tensor:
        return F.power_softmax(logits, self.p, dim=-1, eps=self.eps)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return log-probabilities, shape (..., C)."""
        return F.log_power_softmax(logits, self.p, dim=-1, eps=self.eps)

    def extra_repr(self) -> str:
        return f"p={self.p}, eps={self.eps}"


class Sigmoid(nn.Module):
    """Per-class sigmoids, one-vs-all (SphereFace2; multi-label and open-set use).

    Rows need not sum to 1.

    Shape
    -----
    Input (..., C); output (..., C) in [0, 1].
    """

    natural_loss = "one_vs_all"

    def forward(self, logits: Tensor) -> Tensor:
        return F.sigmoid(logits, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return ``log σ(z)`` per class, shape (..., C)."""
        return torch.nn.functional.logsigmoid(logits.float()).to(logits.dtype)


class Softmax1(nn.Module):
    """Softmax₁ e^{z_i}/(1 + Σ e^{z_j}): softmax over [z, 0] without the extra slot.

    Rows sum to less than 1; ``none_mass(logits)`` is the rest, the mass of "none of these"
    (an abstain or out-of-distribution score). Trained by the NLL of ``log_prob``, which is
    softmax cross-entropy with one extra, never-target class of logit 0.

    Shape
    -----
    Input (..., C); output (..., C) with rows summing to less than 1.
    """

    natural_loss = "nll"

    def forward(self, logits: Tensor) -> Tensor:
        return F.softmax1(logits, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return ``log softmax₁(z)``, shape (..., C)."""
        return F.log_softmax1(logits, dim=-1)

    def none_mass(self, logits: Tensor) -> Tensor:
        """Return ``1 − Σ_i softmax₁(z)_i = 1/(1 + Σ e^{z_j})``, shape (...)."""
        return F.none_mass(logits, dim=-1)


class AdaptiveTemperatureSoftmax(nn.Module):
    """Softmax in training; at prediction softmax(β·z) with β = max(poly(H), 1) where H > 0.5.

    Entropy-adaptive temperature (Veličković et al., "softmax is not enough"): confident rows
    (entropy H ≤ 0.5 nats) are unchanged, flatter rows are sharpened, the argmax is kept
    (:func:`headkit.functional.adaptive_beta`).

    Shape
    -----
    Input (..., C); output (..., C).
    """

    natural_loss = "nll"

    def forward(self, logits: Tensor) -> Tensor:
        if self.training:
            return F.softmax(logits, dim=-1)
        return F.adaptive_temperature_softmax(logits, dim=-1)

    def log_prob(self, logits: Tensor) -> Tensor:
        """Return ``log_softmax(z)`` in training, ``log_softmax(β·z)`` in eval; shape (..., C)."""
        if self.training:
            return F.log_softmax(logits, dim=-1)
        return F.adaptive_temperature_log_softmax(logits, dim=-1)


for _name, _output in {
    "softmax": Softmax,
    "sparsemax": Sparsemax,
    "entmax15": Entmax15,
    "entmax_bisect": EntmaxBisect,
    "gumbel": GumbelSoftmax,
    "ssmax": ScalableSoftmax,
    "power": PowerSoftmax,
    "sigmoid": Sigmoid,
    "softmax1": Softmax1,
    "adaptive_temperature": AdaptiveTemperatureSoftmax,
}.items():
    OUTPUTS.register(_name)(_output)
