"""Temperature scaling on arrays: fit T on validation logits, apply it.

Temperature scaling divides logits by one scalar T fitted to minimise the validation NLL; it never
changes the argmax, hence never the accuracy (Guo et al. 2017, "On Calibration of Modern Neural
Networks"). The errors it is judged by (ECE, MCE, reliability curves) are in
:mod:`headkit.evaluation.reliability`; fitting a network's own temperature through its output map
is :func:`headkit.training.calibration.calibrate_network`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from headkit.evaluation._arrays import check_label_range, check_labels, check_scores
from headkit.exceptions import DataError


def fit_temperature(
    logits: Any,
    y: Any,
    *,
    log_prob: Callable[[torch.Tensor], torch.Tensor] | None = None,
    max_iter: int = 200,
    bounds: tuple[float, float] = (1e-2, 1e2),
) -> float:
    """Fit the temperature T minimising the NLL of ``log_prob(logits / T)`` by L-BFGS.

    The optimisation runs on ``log T`` (so T stays positive) in float64 on the CPU, starting
    from T = 1; the result is clipped to ``bounds``. Temperature scaling never changes the
    argmax, hence never the accuracy (Guo et al. 2017).

    Parameters
    ----------
    logits : array-like, shape (N, C)
        Validation logits (before any temperature).
    y : array-like, shape (N,)
        Validation labels.
    log_prob : callable, optional
        Maps scaled logits (N, C) to log-probabilities; default ``torch.log_softmax(·, -1)``.
        Pass the network's output map's ``log_prob`` (as :func:`calibrate_network` does) so that
        T is fitted for the map that will apply it.
    max_iter : int
        L-BFGS iterations.
    bounds : (float, float)
        Smallest and largest temperature returned.

    Returns
    -------
    float
        The fitted temperature; ``HeadNet.predict_proba`` divides logits by it. When every
        sample is already classified correctly the NLL has no finite minimiser (it decreases
        as T → 0), so 1.0 is returned with a warning.
    """
    z = torch.as_tensor(check_scores(logits, "logits"), dtype=torch.float64)
    target = torch.as_tensor(check_labels(y, z.shape[0], "y"))
    check_label_range(target.numpy(), z.shape[1], "y")
    if z.shape[0] == 0:
        raise DataError("fit_temperature needs at least one validation sample.")
    if bool((z.argmax(dim=1) == target).all()):
        warnings.warn(
            "Every validation sample is already classified correctly, so the NLL keeps falling "
            "as T -> 0 and has no finite minimiser; keeping T = 1 (use more validation data).",
            stacklevel=2,
        )
        return 1.0
    lp = log_prob or (lambda t: torch.log_softmax(t, dim=-1))
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe", tolerance_grad=1e-10
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logp = lp(z / log_t.exp())
        loss = -logp.gather(1, target[:, None]).mean()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    t = float(log_t.detach().exp())
    if not np.isfinite(t):
        return 1.0
    return float(np.clip(t, *bounds))


def temperature_scale(logits: Any, temperature: float) -> np.ndarray:
    """Return ``softmax(logits / T)`` as a float64 array (N, C)."""
    if temperature <= 0:
        raise DataError(f"temperature must be > 0; got {temperature}.")
    z = torch.as_tensor(check_scores(logits, "logits"), dtype=torch.float64)
    return torch.softmax(z / temperature, dim=-1).numpy()
