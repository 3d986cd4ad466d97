"""Agreement of an ensemble's members: T-similarity (catalogue H4) and predictive multiplicity (I7).

* **T-similarity** ("Leveraging Ensemble Diversity for Robust Self-Training"):
  ``T(x) = 1/(M(M−1)) · Σ_{i≠j} p_i(x)ᵀ p_j(x)`` over M members' probability vectors; in [0, 1],
  1 iff every member gives the same one-hot; identical members give ``‖p‖²``.
* **Predictive multiplicity** ("Predictive Multiplicity in Probabilistic Classification"): over a
  set of fits as good as each other (a Rashomon set: seeds, regularisers), the per-row range
  ``max p − min p`` of each class probability; *ambiguity* is the share of rows whose predicted
  class differs between two members, *discrepancy* the largest share of rows on which one member
  disagrees with a reference fit.
"""

from __future__ import annotations

from torch import Tensor


def t_similarity(probs: Tensor) -> Tensor:
    """Return ``T`` per row for member probabilities ``probs`` of shape (M, ..., C), M ≥ 2.

    Returns
    -------
    Tensor, shape (...)
    """
    m = probs.shape[0]
    if m < 2:
        raise ValueError(f"T-similarity needs at least 2 members; got {m}.")
    total = probs.sum(0)
    all_pairs = (total * total).sum(-1)  # Σ_i Σ_j p_iᵀ p_j
    same = (probs * probs).sum(-1).sum(0)  # Σ_i p_iᵀ p_i
    return (all_pairs - same) / (m * (m - 1))


def probability_range(probs: Tensor) -> Tensor:
    """Return ``max_m p − min_m p`` per row and class, shape (..., C), of ``probs`` (M, ..., C)."""
    return probs.amax(0) - probs.amin(0)


def ambiguity(probs: Tensor) -> float:
    """Share of rows whose predicted class is not the same for every member of (M, N, C)."""
    pred = probs.argmax(-1)
    return float((pred != pred[:1]).any(0).float().mean())


def discrepancy(probs: Tensor, reference: int = 0) -> float:
    """Largest share of rows on which one member's predicted class differs from ``reference``'s."""
    pred = probs.argmax(-1)
    return float((pred != pred[reference : reference + 1]).float().mean(-1).max())
