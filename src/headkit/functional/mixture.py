"""Mixture-of-experts Dense layer: top-k softmax gating, Gumbel gating, load balancing (A14).

``y = Σ_{i ∈ Top-k(W_g x)} softmax_{Top-k}(W_g x)_i · E_i(x)`` with E_i(x) = W_i x + b_i: each row
uses k of the E experts, with gates that are exactly zero elsewhere and sum to 1 (Shazeer et
al. 2017; k = E gives dense softmax gating). Gumbel gating (GG-MoE) adds Gumbel noise to the gate
logits in training and divides by a temperature τ. The load-balancing loss of Switch / GShard,
``E · Σ_e f_e · P_e`` (f_e: share of the routing slots sent to expert e, P_e: mean gate
probability of e), is 1 when routing is uniform.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as TF


def top_k_gates(
    logits: Tensor, k: int, tau: float = 1.0, gumbel: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Return sparse gates and the full gate probabilities of gate logits.

    Parameters
    ----------
    logits : Tensor, shape (N, E)
        Gate logits W_g x.
    k : int
        Experts per row, 1 <= k <= E.
    tau : float
        Temperature τ > 0: the gates are computed from ``(logits + gumbel)/τ``.
    gumbel : Tensor, shape (N, E), optional
        Gumbel noise −log(−log U) to add (Gumbel gating in training); None adds none.

    Returns
    -------
    gates : Tensor, shape (N, E)
        softmax over each row's top-k entries, exactly 0 at the other E − k.
    probs : Tensor, shape (N, E)
        The dense softmax of the same scores (P_e of the balancing loss).
    """
    n_experts = logits.shape[-1]
    if not 1 <= k <= n_experts:
        raise ValueError(f"k must be in [1, {n_experts}] (the number of experts); got {k}.")
    if tau <= 0:
        raise ValueError(f"tau must be > 0; got {tau}.")
    scores = logits if gumbel is None else logits + gumbel
    scores = scores / tau
    top, index = scores.topk(k, dim=-1)
    gates = torch.zeros_like(scores).scatter(-1, index, torch.softmax(top, dim=-1))
    return gates, torch.softmax(scores, dim=-1)


def sample_gumbel(shape: torch.Size | tuple[int, ...], like: Tensor) -> Tensor:
    """Standard Gumbel noise −log(−log U), U ~ Uniform(0, 1), of ``shape`` (dtype/device of like)."""
    u = torch.rand(shape, dtype=like.dtype, device=like.device)
    tiny = torch.finfo(like.dtype).tiny
    exponential = (-torch.log(u.clamp_min(tiny))).clamp_min(tiny)  # −log U ~ Exp(1), > 0
    return -torch.log(exponential)


def load_balancing_loss(gates: Tensor, probs: Tensor) -> Tensor:
    """Switch / GShard load-balancing loss ``E · Σ_e f_e · P_e``, shape ().

    Parameters
    ----------
    gates : Tensor, shape (N, E)
        Sparse gates; the routing of row n to expert e is ``gates[n, e] > 0`` (k per row).
    probs : Tensor, shape (N, E)
        Dense gate probabilities.

    Notes
    -----
    f_e = (1/(N·k))·Σ_n 1[e routed for n] is not differentiable; the gradient reaches the gate
    through P_e = mean_n probs[n, e]. Uniform routing (f_e = P_e = 1/E) gives 1; all rows on one
    expert with probability 1 gives E; with f = P it is E·Σ_e P_e² ≥ 1, equal only at uniform.
    """
    routed = (gates > 0).to(probs.dtype)
    f = routed.sum(0) / routed.sum().clamp_min(1.0)
    p = probs.mean(0)
    return probs.shape[-1] * (f * p).sum()


def moe_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, gates: Tensor, dense: bool = False
) -> Tensor:
    """``Σ_e gates[:, e] · (x W_eᵀ + b_e)``, computing each expert only on its routed rows.

    Parameters
    ----------
    x : Tensor, shape (N, in_features)
    weight : Tensor, shape (E, out_features, in_features)
    bias : Tensor, shape (E, out_features), optional
    gates : Tensor, shape (N, E)
        Sparse gates (:func:`top_k_gates`); an expert whose gate is 0 for a row is not run on
        it, so it gets exactly zero gradient from that row.
    dense : bool
        Run every expert on every row and weight by the gates instead (the same values up to
        float rounding, E/k times the work; traceable, for ONNX export).

    Returns
    -------
    Tensor, shape (N, out_features)

    Equivalent to ``torch.einsum("ne,neo->no", gates, torch.einsum("ni,eoi->neo", x, weight) +
    bias)`` (the dense form).
    """
    if dense:
        experts = torch.einsum("ni,eoi->neo", x, weight)
        if bias is not None:
            experts = experts + bias
        return torch.einsum("ne,neo->no", gates, experts)
    out = x.new_zeros(x.shape[0], weight.shape[1])
    for e in range(weight.shape[0]):
        rows = gates[:, e].nonzero().squeeze(-1)
        if rows.numel() == 0:
            continue
        h = TF.linear(x[rows], weight[e], None if bias is None else bias[e])
        out = out.index_add(0, rows, gates[rows, e, None] * h)
    return out
