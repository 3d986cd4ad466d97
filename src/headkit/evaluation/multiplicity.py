"""Predictive multiplicity of a set of fits (I7) and the T-similarity of an ensemble head (H4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from headkit import functional as F


def predictive_multiplicity(
    models: Sequence[Any], X: Any, y: Any = None, epsilon: float | None = None
) -> dict[str, Any]:
    """Spread of the probabilities of equally good fits (seeds, regularisers) on the rows of ``X``.

    The fits kept form the ε-Rashomon set: with labels ``y`` and ``epsilon``, those whose mean
    log loss on (X, y) is at most L* + ε, L* the best fit's (Watson-Daniels et al. 2023); the
    first fit kept is the reference h₀. Without them every fit is kept.

    Parameters
    ----------
    models : sequence of fitted classifiers, at least 2
        Fits of one problem with the same classes (e.g. one per ``random_state``).
    X : array-like, shape (N, F)
    y : array-like, shape (N,), optional
        Labels of ``X``, for the losses that select the Rashomon set.
    epsilon : float, optional
        ε ≥ 0, the loss margin of the Rashomon set (needs ``y``).

    Returns
    -------
    dict
        ``range`` (N, C): ``max p − min p`` per row and class over the set; ``max_range`` (N,):
        its largest class; ``ambiguity``: share of rows on which some fit's predicted class
        differs from h₀'s, (1/N)·Σ_i max_h 1[h(x_i) ≠ h₀(x_i)]; ``discrepancy``: the largest
        share of rows on which one fit differs from h₀, max_h (1/N)·Σ_i 1[h(x_i) ≠ h₀(x_i)]
        (Marx, Calmon & Ustun 2020); ``members``: indices of the fits kept; ``losses`` (M,)
        (with ``y``).
    """
    if len(models) < 2:
        raise ValueError(f"Predictive multiplicity needs at least 2 fits; got {len(models)}.")
    first = np.asarray(models[0].classes_)
    for model in models[1:]:
        if not np.array_equal(np.asarray(model.classes_), first):
            raise ValueError("Every fit must have the same classes_ (fit them on the same labels).")
    if epsilon is not None and (y is None or not epsilon >= 0):
        raise ValueError(
            f"epsilon needs labels y and a value >= 0; got {epsilon} (y given: {y is not None})."
        )
    probs = np.stack([np.asarray(m.predict_proba(X)) for m in models])
    out: dict[str, Any] = {"members": list(range(len(models)))}
    if y is not None:
        rows = np.searchsorted(first, np.asarray(y))
        picked = probs[:, np.arange(len(rows)), rows]
        out["losses"] = -np.log(np.clip(picked, 1e-15, None)).mean(1)
        if epsilon is not None:
            keep = out["losses"] <= out["losses"].min() + epsilon
            out["members"] = [int(i) for i in np.flatnonzero(keep)]
    kept = torch.as_tensor(probs[out["members"]])
    spread = F.probability_range(kept)
    return {"range": spread.numpy(), "max_range": spread.amax(-1).numpy(),
            "ambiguity": F.ambiguity(kept), "discrepancy": F.discrepancy(kept), **out}  # fmt: skip


def ensemble_t_similarity(model: Any, X: Any) -> np.ndarray:
    """T-similarity of the heads of a fitted ``head="ensemble"`` classifier on rows ``X``, (N,)."""
    from headkit.nn.ensemble_head import EnsembleHead

    net = model.model_
    if not isinstance(net.head, EnsembleHead):
        raise ValueError(f"Needs a model fitted with head='ensemble'; its head is {model.head!r}.")
    rows = model.preprocessor_.transform(X) if getattr(model, "preprocessor_", None) else X
    buffer = next(net.buffers())
    x = torch.as_tensor(np.asarray(rows, dtype=np.float32)).to(buffer.device)
    net.eval()
    with torch.no_grad():
        return net.head.t_similarity(net.features(x)).cpu().numpy()
