"""Learnable input-feature gates; the ``input_gates=`` registry (catalogue A17).

A gate layer multiplies each (standardised) input feature by a learned gate before the first
Dense block and adds a sparsity penalty to the training loss (its ``auxiliary_loss``, which the
trainer adds; see :class:`headkit.protocols.AuxiliaryLoss`). At prediction every gate is
deterministic and a closed gate is an exact 0, so :meth:`InputGates.kept` says which features
the network uses at all.

| input_gates | training gate | prediction gate | penalty |
|---|---|---|---|
| none | — | — | — |
| optfs (``lam=0.1,beta_max=200``) | σ(β_t·s), β_t = β_max^progress | 1[s > 0] | λ·mean σ(β_t·s) |
| stg (``lam=0.5,sigma=0.5``) | clamp(μ + ε + 0.5, 0, 1) | clamp(μ + 0.5, 0, 1) | λ·mean Φ((μ + 0.5)/σ) |
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from headkit import functional as F
from headkit.functional.input_gates import gate_penalty, optfs_beta
from headkit.registry import Registry

INPUT_GATES = Registry("input gate")


class InputGates(nn.Module):
    """Base of the gate layers: ``x ⊙ g`` with a penalty on g.

    Shape
    -----
    Input (..., D); output (..., D).
    """

    def __init__(self, lam: float) -> None:
        super().__init__()
        if lam < 0:
            raise ValueError(f"lam must be >= 0; got {lam}.")
        self.lam = lam
        self._penalty: Tensor | None = None

    def gates(self) -> Tensor:
        """The gates of the current mode, shape (D,)."""
        raise NotImplementedError

    def open_share(self) -> Tensor:
        """The penalised quantity per gate, shape (D,) (differentiable)."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if self.training and torch.is_grad_enabled():
            self._penalty = gate_penalty(self.open_share(), self.lam)
        return x * self.gates()

    def auxiliary_loss(self) -> Tensor | None:
        """The penalty of the last training forward (consumed), or None."""
        penalty, self._penalty = self._penalty, None
        return penalty

    @torch.no_grad()
    def kept(self) -> Tensor:
        """The prediction-time gate of each feature, shape (D,); 0 means the feature is unused."""
        was = self.training
        self.eval()
        try:
            return self.gates().detach().clone()
        finally:
            self.train(was)


class OptFSGates(InputGates):
    """OptFS gates σ(β_t·s_i) with β_t rising to β_max; 1[s_i > 0] at prediction.

    Parameters
    ----------
    n_features : int
        D.
    lam : float
        λ of the penalty ``λ·mean_i g_i``.
    beta_max : float
        β at the end of training (β_t = β_max^progress starts at 1).
    init : float
        Initial score s (> 0: every gate starts open, σ(init) at β = 1; small, so that a gate
        the data do not hold open closes within a short fit).
    """

    def __init__(
        self, n_features: int, lam: float = 0.1, beta_max: float = 200.0, init: float = 0.25
    ) -> None:
        super().__init__(lam)
        optfs_beta(0.0, beta_max)  # validates beta_max
        self.beta_max, self.beta = beta_max, 1.0
        self.scores = nn.Parameter(torch.full((n_features,), float(init)))

    def set_progress(self, fraction: float) -> None:
        """Anneal β: ``β_max ** fraction``."""
        self.beta = optfs_beta(fraction, self.beta_max)

    def gates(self) -> Tensor:
        return F.optfs_gates(self.scores, self.beta, self.training)

    def open_share(self) -> Tensor:
        return F.optfs_gates(self.scores, self.beta, True)

    def extra_repr(self) -> str:
        return f"n_features={len(self.scores)}, lam={self.lam}, beta_max={self.beta_max}"


class StochasticGates(InputGates):
    """Stochastic gates clamp(μ_i + ε_i + 0.5, 0, 1), ε ~ N(0, σ²) in training (STG).

    Parameters
    ----------
    n_features : int
        D.
    lam : float
        λ of the penalty ``λ·mean_i Φ((μ_i + 0.5)/σ)``.
    sigma : float
        Noise scale σ.
    init : float
        Initial μ (0.5: every gate starts at 1).
    """

    def __init__(
        self, n_features: int, lam: float = 0.5, sigma: float = 0.5, init: float = 0.5
    ) -> None:
        super().__init__(lam)
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0; got {sigma}.")
        self.sigma = sigma
        self.mu = nn.Parameter(torch.full((n_features,), float(init)))

    def gates(self) -> Tensor:
        return F.stochastic_gates(self.mu, self.sigma, self.training)

    def open_share(self) -> Tensor:
        return F.stochastic_gate_open_probability(self.mu, self.sigma)

    def extra_repr(self) -> str:
        return f"n_features={len(self.mu)}, lam={self.lam}, sigma={self.sigma}"


@INPUT_GATES.register("none")
def none(n_features: int) -> None:
    """No input gates: every feature enters the network."""
    return None


INPUT_GATES.register("optfs")(OptFSGates)
INPUT_GATES.register("stg")(StochasticGates)


def build_input_gates(spec: str, n_features: int) -> nn.Module:
    """The gate layer a spec names, or ``nn.Identity`` for ``"none"`` (no saved weights)."""
    gates = INPUT_GATES.build(spec, n_features=n_features)
    return nn.Identity() if gates is None else gates
