"""A trained network's calibration temperature, fitted through its own output map.

Runs after training on held-out rows (the estimator's validation split): the temperature is
fitted by :func:`headkit.evaluation.calibration.fit_temperature` on the network's logits with the
network's own output map, and stored in its ``temperature`` buffer, the one home of T (saved in
``model.safetensors``).
"""

from __future__ import annotations

import copy
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from headkit.evaluation.calibration import fit_temperature
from headkit.evaluation.metrics import negative_log_likelihood
from headkit.evaluation.reliability import expected_calibration_error
from headkit.functional.temperature import (
    MIN_TEMPERATURE,
    best_temperature,
    confidence_temperature,
)
from headkit.inference.forward import device_of, predict_arrays

if TYPE_CHECKING:
    from headkit.nn.network import HeadNet

LOG_EPS = math.log(1e-12)  # floor of the log-probabilities a temperature is fitted on


def fit_network_temperature(net: HeadNet, logits: Any, y: Any) -> float:
    """Fit T for ``net`` on logits (N, C) and labels (N,) through its own output map.

    Minimises the NLL of ``net.output.log_prob(logits / T)``, floored at log 1e-12 so that the
    exact zeros of sparse maps stay finite; see :func:`fit_temperature` (for softmax, whose NLL
    is convex in 1/T, :func:`headkit.functional.best_temperature`'s golden-section search finds
    the same minimum without an optimiser). T is at least
    :data:`headkit.functional.temperature.MIN_TEMPERATURE` (0.5): a few hundred nearly
    separable held-out rows would otherwise drive it towards 0. When a softmax network gets
    every held-out row right the NLL has no minimiser; T then makes the mean top probability
    0.05^(1/n) for n rows, the one-sided 95 % lower bound of an accuracy with no error in n
    trials (:func:`headkit.functional.temperature.confidence_temperature`): the lower bound, not
    the rule of succession's (n + 1) / (n + 2), because these rows also chose the epoch, which
    flatters them.
    """
    output = copy.deepcopy(net.output).cpu().double().eval()
    z = torch.as_tensor(logits).detach().cpu().double()
    target = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    if type(output).__name__ == "Softmax" and len(target):
        scaled = z / output.temperature  # T is the factor on top of the map's own τ
        if bool((z.argmax(1) == target).all()):
            # no error seen: aim the mean confidence at the 95 % lower bound of the accuracy
            return confidence_temperature(
                scaled, 0.05 ** (1 / len(target)), bounds=(MIN_TEMPERATURE, 1e2)
            )
        # convex in 1/T: a golden-section search, no torch optimiser (L-BFGS imports
        # torch._dynamo, 3.7 s of a 1-3 s table fit the first time in a process)
        return best_temperature(scaled, target, bounds=(MIN_TEMPERATURE, 1e2), iterations=40)[0]
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
    net.temperature.fill_(fit_network_temperature(net, logits, y))
    t = float(net.temperature)  # the T in use, as the buffer holds it
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
