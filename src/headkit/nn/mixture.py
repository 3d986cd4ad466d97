"""Mixture-of-experts Dense layers (``block="moe:experts=4,k=1"``, catalogue A14).

Each Dense layer of the trunk becomes E expert layers and a gate; a row goes through its top-k
experts, mixed by the softmax of their gate logits. In training the layer hands the trainer the
Switch load-balancing term ``balance · E · Σ_e f_e · P_e`` as its ``auxiliary_loss`` (see
:class:`headkit.protocols.AuxiliaryLoss`).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from headkit.functional.mixture import load_balancing_loss, moe_linear, sample_gumbel, top_k_gates


class MoELinear(nn.Module):
    """``Σ_{i ∈ Top-k} softmax_{Top-k}(W_g x / τ)_i · (W_i x + b_i)``.

    Parameters
    ----------
    in_features, out_features : int
        Sizes.
    experts : int
        E ≥ 1 expert layers.
    k : int
        Experts per row (1 ≤ k ≤ E; k = E is dense softmax gating).
    gumbel : bool
        Gumbel gating (GG-MoE): Gumbel noise on the gate logits in training (none at prediction).
    tau : float
        Gate temperature τ.
    balance : float
        Weight of the load-balancing loss (0.01 as in the Switch Transformer).

    Attributes
    ----------
    experts_weight : Parameter, shape (E, out_features, in_features)
    experts_bias : Parameter, shape (E, out_features)
    gate : nn.Linear
        in_features → E gate logits.

    Shape
    -----
    Input (..., in_features); output (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        experts: int = 4,
        k: int = 1,
        gumbel: bool = False,
        tau: float = 1.0,
        balance: float = 0.01,
    ) -> None:
        super().__init__()
        check_moe(experts, k, tau, balance)
        self.in_features, self.out_features = in_features, out_features
        self.experts, self.k, self.gumbel, self.tau, self.balance = experts, k, gumbel, tau, balance
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default, per expert
        self.experts_weight = nn.Parameter(
            torch.empty(experts, out_features, in_features).uniform_(-bound, bound)
        )
        self.experts_bias = nn.Parameter(torch.empty(experts, out_features).uniform_(-bound, bound))
        self.gate = nn.Linear(in_features, experts)
        self._aux: Tensor | None = None

    @property
    def weight(self) -> Tensor:
        """The experts' mean weight, shape (out_features, in_features) (layer diagnostics)."""
        return self.experts_weight.mean(0)

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Sparse gates and dense gate probabilities of rows x (N, in), each (N, E)."""
        logits = self.gate(x)
        noise = sample_gumbel(logits.shape, logits) if self.gumbel and self.training else None
        return top_k_gates(logits, self.k, self.tau, noise)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, self.in_features)
        gates, probs = self.gates(rows)
        if self.training and torch.is_grad_enabled() and self.balance > 0:
            self._aux = self.balance * load_balancing_loss(gates, probs)
        exporting = torch.compiler.is_exporting() or torch.jit.is_tracing()  # ONNX: no gathers
        out = moe_linear(rows, self.experts_weight, self.experts_bias, gates, dense=exporting)
        return out.reshape(*x.shape[:-1], self.out_features)

    def auxiliary_loss(self) -> Tensor | None:
        """The load-balancing term of the last training forward (consumed), or None."""
        aux, self._aux = self._aux, None
        return aux

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"experts={self.experts}, k={self.k}, gumbel={self.gumbel}, tau={self.tau}, "
            f"balance={self.balance}"
        )


def check_moe(experts: int, k: int, tau: float, balance: float) -> None:
    """Raise ValueError naming the first bad mixture-of-experts option."""
    if experts < 1:
        raise ValueError(f"experts must be >= 1; got {experts}.")
    if not 1 <= k <= experts:
        raise ValueError(f"k must be in [1, experts={experts}]; got {k}.")
    if tau <= 0:
        raise ValueError(f"tau must be > 0; got {tau}.")
    if balance < 0:
        raise ValueError(f"balance must be >= 0; got {balance}.")
