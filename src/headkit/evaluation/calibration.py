"""Calibration: expected/maximum calibration error, reliability curves, temperature scaling.

Confidence is the top-class probability ``max_k p_k`` and a prediction is correct when its
argmax equals the label (Guo et al. 2017, "On Calibration of Modern Neural Networks").
Bins are either ``"uniform"`` (equal width on [0, 1], intervals ``(lo, hi]`` with 0 in the first
bin) or ``"quantile"`` (equal mass: the samples sorted by confidence split into ``n_bins``
groups whose sizes differ by at most one, so ties never leave a bin empty).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from headkit.evaluation._arrays import check_label_range, check_labels, check_scores
from headkit.evaluation.metrics import negative_log_likelihood
from headkit.exceptions import DataError
from headkit.functional.temperature import MIN_TEMPERATURE
from headkit.inference.forward import device_of, predict_arrays

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet

LOG_EPS = math.log(1e-12)  # floor of the log-probabilities a temperature is fitted on
Strategy = Literal["uniform", "quantile"]


@dataclass(frozen=True)
class ReliabilityCurve:
    """Per-bin statistics of a reliability diagram (empty bins are dropped).

    Attributes
    ----------
    confidence : ndarray, shape (B,)
        Mean top-class probability in each non-empty bin.
    accuracy : ndarray, shape (B,)
        Fraction of correct predictions in each non-empty bin.
    count : ndarray, shape (B,)
        Number of samples in each non-empty bin.
    lower, upper : ndarray, shape (B,)
        Bin edges (for quantile bins, the smallest and largest confidence inside the bin).
    """

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def gap(self) -> np.ndarray:
        """Absolute calibration gap ``|accuracy − confidence|`` per bin."""
        return np.abs(self.accuracy - self.confidence)


def _bin_index(conf: np.ndarray, n_bins: int, strategy: str) -> np.ndarray:
    if strategy == "uniform":
        return np.clip(np.ceil(conf * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    if strategy == "quantile":
        order = np.argsort(conf, kind="stable")
        idx = np.empty(len(conf), dtype=np.int64)
        for b, chunk in enumerate(np.array_split(order, n_bins)):
            idx[chunk] = b
        return idx
    raise DataError(f"strategy must be 'uniform' or 'quantile'; got {strategy!r}.")


def reliability_curve(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> ReliabilityCurve:
    """Bin samples by confidence and return each bin's mean confidence and accuracy.

    Parameters
    ----------
    y_true : array-like, shape (N,)
        Class indices.
    proba : array-like, shape (N, C)
        Probabilities.
    n_bins : int
        Number of bins (≥ 1).
    strategy : {"uniform", "quantile"}
        Equal-width or equal-mass bins.
    """
    p = check_scores(proba)
    y = check_labels(y_true, p.shape[0])
    check_label_range(y, p.shape[1])
    if n_bins < 1:
        raise DataError(f"n_bins must be >= 1; got {n_bins}.")
    if len(y) == 0:
        raise DataError("Calibration needs at least one sample; got an empty array.")
    conf = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    idx = _bin_index(conf, n_bins, strategy)
    count = np.bincount(idx, minlength=n_bins).astype(np.int64)
    keep = count > 0
    sum_conf = np.bincount(idx, weights=conf, minlength=n_bins)
    sum_acc = np.bincount(idx, weights=correct, minlength=n_bins)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        lower, upper = edges[:-1], edges[1:]
    else:
        lower = np.full(n_bins, np.nan)
        upper = np.full(n_bins, np.nan)
        for b in np.flatnonzero(keep):
            lower[b] = conf[idx == b].min()
            upper[b] = conf[idx == b].max()
    return ReliabilityCurve(
        confidence=sum_conf[keep] / count[keep],
        accuracy=sum_acc[keep] / count[keep],
        count=count[keep],
        lower=lower[keep],
        upper=upper[keep],
    )


def expected_calibration_error(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """ECE = Σ_b (n_b / N)·|acc_b − conf_b| over confidence bins (Guo et al. 2017).

    See :func:`reliability_curve` for the arguments; 0 is perfectly calibrated.
    """
    curve = reliability_curve(y_true, proba, n_bins, strategy)
    return float(np.sum(curve.count * curve.gap) / np.sum(curve.count))


def max_calibration_error(
    y_true: Any, proba: Any, n_bins: int = 15, strategy: Strategy = "uniform"
) -> float:
    """MCE = max_b |acc_b − conf_b| over the non-empty confidence bins."""
    return float(np.max(reliability_curve(y_true, proba, n_bins, strategy).gap))


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


def fit_network_temperature(net: HeadNet, logits: Any, y: Any) -> float:
    """Fit T for ``net`` on logits (N, C) and labels (N,) through its own output map.

    Minimises the NLL of ``net.output.log_prob(logits / T)``, floored at log 1e-12 so that the
    exact zeros of sparse maps stay finite; see :func:`fit_temperature`. T is at least
    :data:`headkit.functional.temperature.MIN_TEMPERATURE` (0.5): a few hundred nearly
    separable held-out rows would otherwise drive it towards 0.
    """
    output = copy.deepcopy(net.output).cpu().double().eval()
    log_prob = lambda z: output.log_prob(z).clamp_min(LOG_EPS)  # noqa: E731
    return fit_temperature(logits, y, log_prob=log_prob, bounds=(MIN_TEMPERATURE, 1e2))


def calibrate_network(net: HeadNet, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Fit ``net.temperature`` on held-out rows through its own output map; report the effect.

    T minimises the NLL of ``net.output.log_prob(logits / T)`` (floored at log 1e-12, so sparse
    maps' exact zeros stay finite): the same map, with its own settings, that
    :meth:`headkit.nn.HeadNet.probabilities` applies afterwards, so with
    ``output="softmax:temperature=τ"`` the fitted T is the factor on top of τ.

    Parameters
    ----------
    net : HeadNet
        The network; its ``temperature`` buffer is set to the fitted T.
    X : ndarray, shape (N, F) float32
        Held-out rows (never the training rows).
    y : ndarray, shape (N,)
        Class indices.

    Returns
    -------
    dict
        ``temperature``, ``ece_before``, ``ece_after``, ``nll_before``, ``nll_after`` (on these
        rows) and ``n_samples``.
    """
    net.temperature.fill_(1.0)
    logits, before, _ = predict_arrays(net, X)
    t = fit_network_temperature(net, logits, y)
    net.temperature.fill_(t)
    with torch.no_grad():
        after = net.probabilities(logits.double().to(device_of(net))).cpu().numpy()
    return {
        "temperature": t,
        "ece_before": expected_calibration_error(y, before.numpy()),
        "ece_after": expected_calibration_error(y, after),
        "nll_before": negative_log_likelihood(y, before.numpy()),
        "nll_after": negative_log_likelihood(y, after),
        "n_samples": len(y),
    }
