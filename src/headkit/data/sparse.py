"""Sparse feature matrices: kept sparse in memory, made dense one batch at a time."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor


class SparseRows:
    """Rows of a SciPy CSR matrix served as dense float32 tensors, one batch at a time.

    Indexing with a slice or an index tensor returns a dense (B, F) tensor on :attr:`device`;
    the whole matrix is never densified. The trainer and the estimator's batched forward passes
    index it exactly like a (N, F) tensor.

    Parameters
    ----------
    matrix : scipy.sparse.csr_matrix or csr_array, shape (N, F)
    device : torch.device or str
    """

    def __init__(self, matrix: Any, device: torch.device | str = "cpu") -> None:
        self.matrix = matrix.tocsr()
        self.device = torch.device(device)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __len__(self) -> int:
        return self.matrix.shape[0]

    def to(self, device: torch.device | str) -> SparseRows:
        """Return the same rows, served on ``device``."""
        return SparseRows(self.matrix, device)

    def __getitem__(self, index: slice | Tensor | np.ndarray) -> Tensor:
        if isinstance(index, Tensor):
            index = index.cpu().numpy()
        dense = np.asarray(self.matrix[index].toarray(), dtype=np.float32)
        return torch.from_numpy(dense).to(self.device)


def is_sparse(X: Any) -> bool:
    """True for SciPy sparse matrices and arrays."""
    import sys

    if "scipy.sparse" not in sys.modules:  # no sparse input can exist; keep predict's start-up lean
        return False
    import scipy.sparse

    return scipy.sparse.issparse(X)


def column_moments(X: Any, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column means and population standard deviations of a dense or sparse matrix.

    Parameters
    ----------
    X : ndarray or scipy sparse matrix, shape (N, F)
    weight : ndarray, shape (N,), optional
        Row weights (a row of weight 2 counts twice); ``None`` weighs rows equally.

    Returns
    -------
    mean, std : ndarray, shape (F,), float64
    """
    w = np.ones(X.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    total = w.sum()
    if is_sparse(X):
        mean = np.asarray(X.T @ w).ravel() / total
        second = np.asarray(X.multiply(X).T @ w).ravel() / total
        return mean, np.sqrt(np.maximum(second - mean**2, 0.0))
    X64 = np.asarray(X, dtype=np.float64)
    mean = w @ X64 / total
    return mean, np.sqrt(w @ (X64 - mean) ** 2 / total)
