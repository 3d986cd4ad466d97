"""Robust scaling with smooth clipping of numeric columns (RealMLP's numeric preprocessing).

Holzmüller et al. (2024, "Better by default") centre each numeric column on its median, divide
by its inter-quartile range (half the range where the IQR is 0, and leave a constant column at
0), then squash with ``x / sqrt(1 + (x/3)²)``: the bulk of a column keeps its linear scale while
heavy tails and outliers (incomes, counts, durations) are bounded by ±3 instead of dominating
the first layer. :class:`headkit.data.preprocessing.TablePreprocessor` applies it to numeric
columns with ``numeric="robust_clip"``; these are the pure NumPy pieces, with row weights.

``numeric="ple"`` adds the piecewise-linear encoding of Gorishniy et al. (2022, "On embeddings
for numerical features in tabular deep learning"): a column's training quantiles cut it into up
to 16 bins and each bin gives one input in [0, 1], so the first Dense layer learns a
piecewise-linear function of the column instead of a single slope. The default
(``numeric="auto"``, :func:`resolve_numeric`) uses it on tables with enough rows per class.
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


PLE_BINS = 16  # most bins of a piecewise-linear encoding
# numeric="auto" encodes bins when the training rows per class reach this: below it (MASS
# biopsy, 262 per class; leaf_id_flavia, 45) the bins overfit (6 splits of the development suite).
PLE_ROWS_PER_CLASS = 400


def resolve_numeric(spec: str, n_rows: int, n_classes: int) -> str:
    """Return the numeric encoding ``numeric=spec`` gives a table of ``n_rows`` training rows.

    ``"auto"`` is ``"ple"`` when ``n_rows / n_classes >= PLE_ROWS_PER_CLASS``, else
    ``"robust_clip"``; any other spec stands.
    """
    if spec != "auto":
        return spec
    return "ple" if n_rows >= PLE_ROWS_PER_CLASS * max(n_classes, 1) else "robust_clip"


def quantile_edges(values: np.ndarray, weights: np.ndarray, bins: int = PLE_BINS) -> list[float]:
    """Return the distinct quantile edges of a column's bins for :func:`piecewise_linear`.

    ``bins + 1`` weighted quantiles (0, 1/bins, ..., 1) of the seen values, each moved to the
    nearest value seen and repeats removed, so a column with k distinct values gets at most
    k - 1 bins; an empty list when fewer than 3 edges remain (a column with at most two values
    gains nothing from bins).

    Parameters
    ----------
    values, weights : ndarray, shape (N,)
        NaN marks a gap (ignored); weights positive.
    bins : int
        Most bins (>= 1).
    """
    seen = ~np.isnan(values)
    if seen.sum() == 0:
        return []
    v, w = values[seen], np.asarray(weights, float)[seen]
    order = np.argsort(v, kind="stable")  # one sort for every quantile (as weighted_quantile)
    v, w = v[order], w[order] / w[order].mean()
    position = np.cumsum(w) - (w + 1) / 2
    quantiles = np.interp(np.linspace(0.0, 1.0, bins + 1) * (len(v) - 1), position, v)
    distinct = np.unique(v)
    position = np.clip(np.searchsorted(distinct, quantiles), 1, len(distinct) - 1)
    below, above = distinct[position - 1], distinct[position]
    edges = np.unique(np.where(quantiles - below <= above - quantiles, below, above))
    return [float(e) for e in edges] if len(edges) >= 3 else []


def piecewise_linear(x: np.ndarray, edges: list[float]) -> np.ndarray:
    """Piecewise-linear encoding (Gorishniy et al. 2022): (N,) → (N, len(edges) - 1) in [0, 1].

    Bin t holds ``clip((x - e_t) / (e_{t+1} - e_t), 0, 1)``: 0 below the bin, 1 above it,
    linear inside, so a Dense layer on it is a learned piecewise-linear function of x.
    """
    e = np.asarray(edges, dtype=np.float64)
    low, width = e[:-1], np.diff(e)
    return np.clip((np.asarray(x, np.float64)[:, None] - low) / width, 0.0, 1.0)
