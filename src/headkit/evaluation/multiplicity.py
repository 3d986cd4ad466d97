"""Predictive multiplicity of a set of fits (I7) and the T-similarity of an ensemble head (H4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from headkit import functional as F


def predictive_multiplicity(models: Sequence[Any], X: Any) -> dict[str, Any]:
    """Spread of the probabilities of equally good fits (seeds, regularisers) on the rows of ``X``.

    Parameters
    ----------
    models : sequence of fitted classifiers, at least 2
        Fits of one problem with the same classes (e.g. one per ``random_state``).
    X : array-like, shape (N, F)

    Returns
    -------
    dict
        ``range`` (N, C): ``max p − min p`` per row and class; ``max_range`` (N,): its largest
        class; ``ambiguity``: share of rows whose predicted class is not unanimous;
        ``discrepancy``: the largest share of rows on which a fit disagrees with the first.
    """
    if len(models) < 2:
        raise ValueError(f"Predictive multiplicity needs at least 2 fits; got {len(models)}.")
    first = np.asarray(models[0].classes_)
    for model in models[1:]:
        if not np.array_equal(np.asarray(model.classes_), first):
            raise ValueError("Every fit must have the same classes_ (fit them on the same labels).")
    probs = torch.as_tensor(np.stack([np.asarray(m.predict_proba(X)) for m in models]))
    spread = F.probability_range(probs)
    return {"range": spread.numpy(), "max_range": spread.amax(-1).numpy(),
            "ambiguity": F.ambiguity(probs), "discrepancy": F.discrepancy(probs)}  # fmt: skip


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
