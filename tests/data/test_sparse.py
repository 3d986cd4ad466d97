import numpy as np
import pytest
import scipy.sparse as sp
import torch

from headkit import HeadClassifier
from headkit.data.sparse import SparseRows, column_moments


@pytest.fixture
def sparse_problem(rng):
    dense = rng.normal(size=(600, 30)) * (rng.random((600, 30)) < 0.1)
    y = (dense[:, :3].sum(axis=1) > 0).astype(int) + (dense[:, 3] > 0.1)
    return sp.csr_matrix(dense.astype(np.float32)), y


def test_sparse_rows_index_like_a_dense_tensor(sparse_problem):
    X, _ = sparse_problem
    rows = SparseRows(X)
    dense = torch.as_tensor(X.toarray())
    index = torch.tensor([5, 0, 599, 5])
    torch.testing.assert_close(rows[index], dense[index])
    torch.testing.assert_close(rows[10:20], dense[10:20])
    assert len(rows) == 600 and rows.shape == (600, 30)


@pytest.mark.parametrize("weighted", [False, True])
def test_column_moments_match_numpy(sparse_problem, rng, weighted):
    X, _ = sparse_problem
    w = rng.integers(1, 4, X.shape[0]) if weighted else np.ones(X.shape[0], dtype=int)
    repeated = np.repeat(X.toarray().astype(np.float64), w, axis=0)
    for matrix in (X, X.toarray()):
        mean, std = column_moments(matrix, w if weighted else None)
        np.testing.assert_allclose(mean, repeated.mean(axis=0), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(std, repeated.std(axis=0), rtol=1e-5, atol=1e-7)


def test_fit_on_csr_matches_dense_and_densifies_only_batches(sparse_problem, monkeypatch):
    X, y = sparse_problem
    densified = []
    original = SparseRows.__getitem__

    def spy(self, index):
        out = original(self, index)
        densified.append(len(out))
        return out

    monkeypatch.setattr(SparseRows, "__getitem__", spy)
    monkeypatch.setattr("headkit.inference.forward.PREDICT_BATCH", 128)
    params = dict(hidden_sizes=(16,), epochs=4, batch_size=64, random_state=0)
    sparse_model = HeadClassifier(**params).fit(X, y)
    proba_sparse = sparse_model.predict_proba(X)
    assert densified and max(densified) <= 128
    dense_model = HeadClassifier(**params).fit(X.toarray(), y)
    # Same data and seed; standardisation statistics come from float64 sparse sums instead of
    # float32 dense ones, so the two fits differ only by rounding.
    np.testing.assert_allclose(proba_sparse, dense_model.predict_proba(X.toarray()), atol=1e-4)
    np.testing.assert_allclose(sparse_model.predict_proba(X.tocsc()), proba_sparse)
