"""Robust scaling with smooth clipping of numeric columns (RealMLP's numeric preprocessing).

Holzmüller et al. (2024, "Better by default") centre each numeric column on its median, divide
by its inter-quartile range (half the range where the IQR is 0, and leave a constant column at
0), then squash with ``x / sqrt(1 + (x/3)²)``: the bulk of a column keeps its linear scale while
heavy tails and outliers (incomes, counts, durations) are bounded by ±3 instead of dominating
the first layer. :class:`headkit.data.preprocessing.TablePreprocessor` applies it to numeric
columns with ``numeric="robust_clip"``; these are the pure NumPy pieces, with row weights.
"""

from __future__ import annotations

import numpy as np

CLIP_BOUND = 3.0  # smooth_clip's asymptote


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Quantile ``q`` of ``values`` where row i counts ``weights[i]`` times (linear interpolation).

    With equal weights this is NumPy's default (``method="linear"``) quantile.

    Parameters
    ----------
    values, weights : ndarray, shape (N,)
        N >= 1; weights positive.
    q : float
        In [0, 1].
    """
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights[order].mean()
    # Row i sits at position (Σ_{j<i} w_j + (w_i - 1)/2) on NumPy's 0..N-1 scale for w == 1.
    position = np.cumsum(w) - (w + 1) / 2
    return float(np.interp(q * (len(v) - 1), position, v))


def robust_scale(values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Return (centre, factor) so that ``(x - centre) * factor`` is the robustly scaled column.

    centre is the median; factor is 1/IQR, or 2/(max - min) where the IQR is 0, or 0 for a
    constant column (which then maps to 0). Missing values (NaN) are ignored.

    Parameters
    ----------
    values : ndarray, shape (N,)
    weights : ndarray, shape (N,), optional
    """
    seen = ~np.isnan(values)
    v = values[seen]
    if len(v) == 0:
        return 0.0, 0.0
    w = np.ones(len(v)) if weights is None else np.asarray(weights, float)[seen]
    centre = weighted_quantile(v, w, 0.5)
    spread = weighted_quantile(v, w, 0.75) - weighted_quantile(v, w, 0.25)
    if spread <= 0:
        spread = 0.5 * (float(v.max()) - float(v.min()))
    return centre, (1.0 / spread if spread > 0 else 0.0)


def smooth_clip(x: np.ndarray, bound: float = CLIP_BOUND) -> np.ndarray:
    """Return ``x / sqrt(1 + (x / bound)²)``: ≈ x near 0, tends to ±bound; same shape as x."""
    return x / np.sqrt(1.0 + (x / bound) ** 2)
