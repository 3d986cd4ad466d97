"""Split-conformal prediction sets: APS and RAPS scores on top of any class probabilities.

Split conformal prediction (Vovk et al. 2005; Angelopoulos & Bates 2021, "A Gentle
Introduction to Conformal Prediction") turns probabilities ``p(x)`` of shape (N, C) into sets
of classes that hold the true label with probability at least ``1 − α``, whatever the model,
as long as the calibration rows and the new rows are exchangeable (drawn the same way):

1. score every calibration row's true class, ``s_i = E(x_i, y_i)`` (higher = less conforming);
2. take the finite-sample quantile ``q̂``: the ``k``-th smallest score with
   ``k = ⌈(n + 1)(1 − α)⌉`` (``q̂ = +∞``, every class in every set, when ``k > n``);
3. a new row's set is every class ``c`` with ``E(x, c) ≤ q̂``.

Then ``P(y ∈ set) ≥ 1 − α``, and for continuous (tie-free) scores also ``≤ 1 − α + 1/(n+1)``.

Scores, with ``π`` the classes sorted by decreasing probability, ``o(c)`` the 1-based rank
of class ``c``, ``ρ(c) = Σ_{j: o(j) < o(c)} p_j`` the mass ranked strictly above it and
``u ~ Uniform(0, 1)`` drawn once per row:

- ``"aps"`` (Adaptive Prediction Sets, Romano, Sesia & Candès 2020):
  ``E(x, c) = ρ(c) + u·p_c``, randomised; ``ρ(c) + p_c`` (``u = 1``) non-randomised.
- ``"raps"`` (Regularised APS, Angelopoulos et al. 2021): the APS score plus
  ``λ·max(0, o(c) − k_reg)``, which pushes unlikely classes out and so shrinks sets when the
  probabilities have a long tail.

The randomised scores (the default everywhere) are continuous, so their coverage is close to
exactly ``1 − α`` (between ``1 − α`` and ``1 − α + 1/(n+1)`` on average) and a set may be empty;
the draws come from seeded generators (``rng=0`` for calibration rows, ``rng=1`` for new rows)
so that a call repeats. The non-randomised scores (``randomized=False``; ``"aps-det"`` on a
fitted model) over-cover: on the development tables at α = 0.1 they held the label 0.978 of the
time with 2.4 classes per set, where the randomised ones held it 0.907 of the time with 1.3
(``benchmarks/results/tabular_suite.md``). Their sets are never empty (``include_top`` adds the
most likely class, which only raises coverage). Ties between equal probabilities are broken by
class index (a stable sort), the same way in calibration and prediction.

A fitted :class:`headkit.HeadClassifier` keeps its held-out rows' scores
(:class:`headkit.evaluation.conformal_scores.ConformalScores`), behind ``predict_set``,
``headkit predict --conformal`` and the server's ``?alpha=``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from headkit.evaluation._arrays import check_label_range, check_labels, check_scores
from headkit.exceptions import ConfigError, DataError

Method = Literal["aps", "raps"]
METHODS = ("aps", "raps")


def _check_alpha(alpha: float) -> float:
    real = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    if not real or not 0.0 < float(alpha) < 1.0:
        raise ConfigError(
            f"alpha must be a miscoverage rate strictly between 0 and 1 (e.g. 0.1); got {alpha!r}."
        )
    return float(alpha)


def _check_method(method: str, lam: float, k_reg: int) -> None:
    if method not in METHODS:
        raise ConfigError(f"method must be one of {list(METHODS)}; got {method!r}.")
    if not lam >= 0.0:
        raise ConfigError(f"lam (the RAPS penalty) must be >= 0; got {lam!r}.")
    if int(k_reg) != k_reg or k_reg < 0:
        raise ConfigError(
            f"k_reg (RAPS classes without penalty) must be an int >= 0; got {k_reg!r}."
        )


def _uniforms(n: int, randomized: bool, rng: Any) -> np.ndarray:
    if not randomized:
        return np.ones(n)
    return np.random.default_rng(rng).uniform(size=n)


def conformal_quantile(scores: Any, alpha: float) -> float:
    """Return the finite-sample conformal quantile of calibration scores.

    Parameters
    ----------
    scores : array-like, shape (n,)
        Non-conformity scores of the calibration rows' true classes.
    alpha : float
        Miscoverage rate in (0, 1).

    Returns
    -------
    float
        The ``⌈(n + 1)(1 − α)⌉``-th smallest score, or ``inf`` when that rank exceeds ``n``
        (too few calibration rows for this ``α``: every class goes in every set).
    """
    alpha = _check_alpha(alpha)
    s = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    if s.size == 0:
        raise DataError("Conformal calibration needs at least one scored row; got none.")
    if not np.all(np.isfinite(s)):
        raise DataError("Calibration scores contain NaN or infinite values; check the inputs.")
    # The small tolerance keeps (n + 1)(1 − α) = 90.00000000000001 from becoming rank 91.
    k = math.ceil((s.size + 1) * (1.0 - alpha) - 1e-9)
    return float("inf") if k > s.size else float(s[k - 1])


def class_scores(
    proba: Any,
    method: Method = "aps",
    *,
    randomized: bool = True,
    lam: float = 0.01,
    k_reg: int = 1,
    rng: Any = 0,
    u: Any = None,
) -> np.ndarray:
    """Return the non-conformity score of every class of every row.

    Parameters
    ----------
    proba : array-like, shape (N, C)
        Class probabilities (rows summing to 1).
    method : {"aps", "raps"}
        Score (see the module docstring); ``lam`` and ``k_reg`` only act for ``"raps"``.
    randomized : bool
        Draw ``u ~ U(0, 1)`` per row (exact coverage, possibly empty sets; the default) instead
        of ``u = 1`` (over-covers).
    lam : float
        RAPS penalty per class ranked beyond ``k_reg`` (≥ 0).
    k_reg : int
        Number of top-ranked classes RAPS leaves unpenalised (≥ 0).
    rng : int, numpy Generator or None
        Source of the ``u`` draws when ``randomized`` (default: seed 0, so a call repeats;
        None draws fresh entropy).
    u : array-like, shape (N,), optional
        The rows' ``u`` themselves (then ``randomized`` and ``rng`` are not read); see
        :func:`row_uniforms`.

    Returns
    -------
    ndarray, shape (N, C), float64
    """
    _check_method(method, lam, k_reg)
    p = check_scores(proba)
    n, n_classes = p.shape
    order = np.argsort(-p, axis=1, kind="stable")  # (N, C): classes by decreasing probability
    sorted_p = np.take_along_axis(p, order, axis=1)
    above = np.cumsum(sorted_p, axis=1) - sorted_p  # ρ: mass ranked strictly above, (N, C)
    u = (_uniforms(n, randomized, rng) if u is None else np.asarray(u, np.float64))[:, None]
    ranked = above + u * sorted_p
    if method == "raps":
        ranks = np.arange(1, n_classes + 1, dtype=np.float64)
        ranked = ranked + lam * np.maximum(0.0, ranks - k_reg)[None, :]
    scores = np.empty_like(ranked)
    np.put_along_axis(scores, order, ranked, axis=1)
    return scores


@dataclass(frozen=True)
class ConformalCalibration:
    """A calibrated split-conformal threshold and the settings that produced it (JSON-ready).

    Attributes
    ----------
    threshold : float
        ``q̂``: a class is in a row's set when its score is ≤ this (``inf``: every class).
    alpha : float
        Target miscoverage rate.
    method : {"aps", "raps"}
    randomized : bool
    lam, k_reg : float, int
        RAPS penalty settings (recorded for "aps" too, where they have no effect).
    n_calibration : int
        Number of calibration rows.
    """

    threshold: float
    alpha: float
    method: str
    randomized: bool
    lam: float
    k_reg: int
    n_calibration: int

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict (an infinite threshold becomes ``None``)."""
        out = asdict(self)
        out["threshold"] = None if math.isinf(self.threshold) else self.threshold
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConformalCalibration:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["threshold"] = float("inf") if data["threshold"] is None else data["threshold"]
        return cls(**data)


def calibration_scores(
    proba: Any,
    y: Any,
    method: Method = "aps",
    *,
    randomized: bool = True,
    lam: float = 0.01,
    k_reg: int = 1,
    rng: Any = 0,
    u: Any = None,
) -> np.ndarray:
    """Return each calibration row's score of its true class (what an estimator would store).

    Parameters
    ----------
    proba : array-like, shape (n, C)
        Probabilities of rows the model was not trained on.
    y : array-like, shape (n,)
        Their class indices in ``[0, C)``.
    method, randomized, lam, k_reg, rng, u
        See :func:`class_scores`.

    Returns
    -------
    ndarray, shape (n,), float64
        Feed to :func:`conformal_quantile` with any ``alpha`` to get the threshold.
    """
    p = check_scores(proba)
    labels = check_labels(y, p.shape[0], "y")
    check_label_range(labels, p.shape[1])
    scores = class_scores(p, method, randomized=randomized, lam=lam, k_reg=k_reg, rng=rng, u=u)
    return scores[np.arange(len(labels)), labels]


def calibrate(
    proba: Any,
    y: Any,
    alpha: float = 0.1,
    method: Method = "aps",
    *,
    randomized: bool = True,
    lam: float = 0.01,
    k_reg: int = 1,
    rng: Any = 0,
) -> ConformalCalibration:
    """Fit the split-conformal threshold on held-out calibration rows.

    Parameters
    ----------
    proba : array-like, shape (n, C)
        Probabilities of rows the model was not trained on.
    y : array-like, shape (n,)
        Their class indices in ``[0, C)``.
    alpha : float
        Miscoverage rate in (0, 1): sets aim to hold the label with probability ``1 − α``.
    method, randomized, lam, k_reg, rng
        See :func:`class_scores`.

    Returns
    -------
    ConformalCalibration
    """
    alpha = _check_alpha(alpha)
    true_scores = calibration_scores(
        proba, y, method, randomized=randomized, lam=lam, k_reg=k_reg, rng=rng
    )
    return ConformalCalibration(
        threshold=conformal_quantile(true_scores, alpha),
        alpha=alpha,
        method=method,
        randomized=bool(randomized),
        lam=float(lam),
        k_reg=int(k_reg),
        n_calibration=len(true_scores),
    )


def prediction_sets(
    proba: Any,
    calibration: ConformalCalibration,
    *,
    include_top: bool | None = None,
    rng: Any = 1,
) -> np.ndarray:
    """Return the conformal prediction set of every row as a boolean matrix.

    Parameters
    ----------
    proba : array-like, shape (N, C)
        Probabilities of new rows, from the same model as the calibration.
    calibration : ConformalCalibration
        From :func:`calibrate`.
    include_top : bool or None
        Always include each row's most likely class (no empty sets; coverage only rises). With
        ``False`` a randomised score may leave a set empty, which keeps coverage near exact.
        None (default): ``False`` for a randomised calibration, ``True`` otherwise.
    rng : int, numpy Generator or None
        Source of the per-row ``u`` when the calibration is randomised (default: seed 1, a
        stream apart from :func:`calibrate`'s seed 0).

    Returns
    -------
    ndarray, shape (N, C), bool
        ``sets[i, c]`` is True when class ``c`` is in row ``i``'s set.
    """
    c = calibration
    scores = class_scores(
        proba, c.method, randomized=c.randomized, lam=c.lam, k_reg=c.k_reg, rng=rng
    )
    sets = scores <= c.threshold
    if include_top is None:
        include_top = not c.randomized
    if include_top and len(sets):
        sets[np.arange(len(sets)), np.argmax(check_scores(proba), axis=1)] = True
    return sets


def set_coverage(sets: Any, y: Any) -> float:
    """Fraction of rows whose set holds the true class; ``sets`` (N, C) bool, ``y`` (N,)."""
    s = np.asarray(sets, dtype=bool)
    labels = check_labels(y, s.shape[0], "y")
    check_label_range(labels, s.shape[1])
    return float(np.mean(s[np.arange(len(labels)), labels]))


def mean_set_size(sets: Any) -> float:
    """Mean number of classes per set; ``sets`` (N, C) bool."""
    return float(np.asarray(sets, dtype=bool).sum(axis=1).mean())
