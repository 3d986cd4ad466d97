import os

import numpy as np
import pytest
import torch

# Under pytest-xdist each worker gets one thread, so two workers do not oversubscribe two cores.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture
def blobs_data():
    """A small, easy 3-class problem: (X_train, y_train, X_test, y_test)."""
    from headkit.data import load_dataset

    d = load_dataset("blobs:n_classes=3,n_features=5,n_samples=300,seed=1")
    return d.X_train, d.y_train, d.X_test, d.y_test


@pytest.fixture(scope="session")
def mnist1d():
    from headkit.data import load_dataset

    return load_dataset("mnist1d")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
