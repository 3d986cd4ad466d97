import numpy as np
import pandas as pd
import pytest

from headkit import HeadClassifier

NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A saved run: 4 named numeric columns, classes "no"/"yes", target column "answer"."""
    run = tmp_path_factory.mktemp("small") / "run"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = np.array(["no", "yes"])[(X[:, 0] + X[:, 1] > 0).astype(int)]
    model = HeadClassifier(hidden_sizes=(8,), epochs=5, random_state=0)
    model.fit(pd.DataFrame(X, columns=NAMES), y).save(run, extra_metadata={"target": "answer"})
    return run
