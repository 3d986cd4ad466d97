"""Measures of one representation matrix: spectrum, effective rank, entropy, probes.

- **Effective rank** (Roy & Vetterli 2007), used to spot degenerate features and the softmax
  bottleneck (Godey et al. 2024): ``exp(H(σ/Σσ))`` of the singular values σ. It is ≈ d for
  isotropic d-dimensional data and 1 for rank-1 data.
- **Anisotropy**: mean pairwise cosine between rows (0 for isotropic, 1 when all rows point the
  same way).
- **Matrix entropy** (Skean et al. 2025, "Layer by Layer"): ``S(Z) = −Σ_i λ_i log λ_i`` of the
  eigenvalues λ of the trace-normalised Gram matrix ZZᵀ/tr(ZZᵀ); 0 for rank-1 Z, log n for
  n orthonormal rows.
- **Softmax bottleneck**: a d-dimensional head cannot give more than d + 2 independent
  log-probability directions (d + 1 without bias), so d < K (classes) limits what it can express.
- **Output entropy**: the mean entropy of the softmax, a saturation proxy (layer-wise gradient
  diagnostics).
- **Probe accuracy**: held-out accuracy of a logistic-regression probe on the representation.
- **Invariance**: mean cosine between the representations of the same rows with and without a
  perturbation ("Layer by Layer").

Every function takes NumPy arrays or torch tensors and returns floats or NumPy arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from headkit.evaluation._arrays import check_array, check_labels, to_numpy
from headkit.exceptions import DataError


def _matrix(x: Any, name: str = "matrix") -> np.ndarray:
    return check_array(x, 2, name, "(n_samples, n_features)")


def singular_values(x: Any, center: bool = True) -> np.ndarray:
    """Singular values of a matrix (columns centred first when ``center``), descending.

    Parameters
    ----------
    x : array-like, shape (N, D)
    center : bool
        Subtract the column means (the spectrum of the feature covariance).

    Returns
    -------
    ndarray, shape (min(N, D),)
    """
    a = _matrix(x)
    if center:
        a = a - a.mean(axis=0)
    return np.linalg.svd(a, compute_uv=False)


def effective_rank(x: Any, center: bool = True, is_spectrum: bool = False) -> float:
    """Effective rank ``exp(−Σ_i q_i log q_i)`` with ``q = σ/Σσ``, in [1, min(N, D)].

    Parameters
    ----------
    x : array-like, shape (N, D), or (R,) singular values with ``is_spectrum``
    center : bool
        Centre the columns first (ignored for a spectrum).
    is_spectrum : bool
        ``x`` already holds singular values.

    Returns
    -------
    float
        0 for an all-zero matrix.
    """
    s = to_numpy(x).ravel() if is_spectrum else singular_values(x, center)
    total = s.sum()
    if total <= 0:
        return 0.0
    q = s[s > 0] / total
    return float(np.exp(-(q * np.log(q)).sum()))


def anisotropy(x: Any) -> float:
    """Mean cosine between distinct rows, in [−1, 1] (zero rows are left out)."""
    a = _matrix(x)
    norms = np.linalg.norm(a, axis=1)
    a = a[norms > 0] / norms[norms > 0, None]
    n = len(a)
    if n < 2:
        return float("nan")
    total = a.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def mean_cosine(a: Any, b: Any) -> float:
    """Mean row-wise cosine between two representations of the same rows (invariance).

    Two zero rows count as cosine 1, one zero row as 0.
    """
    x, z = _matrix(a, "a"), _matrix(b, "b")
    if x.shape != z.shape:
        raise DataError(f"Representations must have the same shape; got {x.shape} and {z.shape}.")
    nx, nz = np.linalg.norm(x, axis=1), np.linalg.norm(z, axis=1)
    cos = (x * z).sum(axis=1) / np.maximum(nx * nz, 1e-300)
    cos = np.where((nx == 0) & (nz == 0), 1.0, cos)
    return float(cos.mean()) if len(cos) else float("nan")


def matrix_entropy(x: Any) -> float:
    """Von Neumann entropy ``−Σ λ log λ`` of the trace-normalised Gram matrix ZZᵀ (nats).

    The eigenvalues of ZZᵀ are the squared singular values of Z, so this costs one SVD of Z.

    Parameters
    ----------
    x : array-like, shape (N, D)
        Rows are samples; not centred (centre beforehand if wanted).
    """
    s2 = np.linalg.svd(_matrix(x), compute_uv=False) ** 2
    total = s2.sum()
    if total <= 0:
        return 0.0
    lam = s2[s2 > total * 1e-15] / total
    return float(-(lam * np.log(lam)).sum())


def numerical_rank(x: Any, rtol: float = 1e-8) -> int:
    """Number of singular values above ``rtol·σ_max`` (no centring)."""
    s = np.linalg.svd(_matrix(x), compute_uv=False)
    return int((s > rtol * s.max()).sum()) if s.size and s.max() > 0 else 0


def softmax_bottleneck(width: int, n_classes: int) -> bool:
    """True when a head of input width d < K classes (its log-probabilities are rank-limited)."""
    return int(width) < int(n_classes)


def output_entropy(logits: Any) -> float:
    """Mean entropy of ``softmax(logits)`` over rows (nats); near 0 means saturated outputs."""
    z = _matrix(logits, "logits")
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-(np.exp(log_p) * log_p).sum(axis=1).mean())


def probe_accuracy(
    x: Any, y: Any, test_fraction: float = 0.5, seed: int = 0, max_iter: int = 500
) -> float:
    """Held-out accuracy of a linear probe (standardised features, logistic regression).

    Parameters
    ----------
    x : array-like, shape (N, D)
    y : array-like, shape (N,) class indices
    test_fraction : float
        Share of rows scored (stratified when every class has two rows).
    seed : int
        Seed of the split.
    max_iter : int
        L-BFGS iterations of :class:`sklearn.linear_model.LogisticRegression`.

    Returns
    -------
    float
        Accuracy on the held-out rows (NaN when the training part has a single class).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    a = _matrix(x)
    labels = check_labels(y, len(a), "y")
    counts = np.unique(labels, return_counts=True)[1]
    stratify = labels if counts.min() >= 2 else None
    a_fit, a_test, y_fit, y_test = train_test_split(
        a, labels, test_size=test_fraction, random_state=seed, stratify=stratify
    )
    if len(np.unique(y_fit)) < 2:
        return float("nan")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    return float(probe.fit(a_fit, y_fit).score(a_test, y_test))
