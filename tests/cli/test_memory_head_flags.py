"""Memory heads (ncm, knn), multi-label losses and the norm loss by name: CLI and saved runs."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app


@pytest.fixture
def csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    path = tmp_path / "train.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(label=y).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("flags", [
    ["--head", "ncm", "--hidden-sizes", "none", "--dropout", "0"],
    ["--head", "knn:k=3", "--hidden-sizes", "none", "--dropout", "0"],
    ["--loss", "decoupled_softmax", "--hidden-sizes", "8"],
    ["--loss", "soft_top_k:k=1,tau=0.5", "--hidden-sizes", "8"],
    ["--loss", "norm_loss:lam=0.05", "--hidden-sizes", "8"],
])  # fmt: skip
def test_train_by_name_saves_a_run_that_reloads(csv, tmp_path, flags):
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "--data", str(csv), "--target", "label", "--out",
                                      str(out), "--epochs", "30", "--quiet", *flags])  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert flags[1] in json.dumps(config)
    model = HeadClassifier.load(out)
    X = pd.read_csv(csv)[list("abcd")]
    assert model.predict(X).shape == (200,)
    accuracy = json.loads((out / "metrics.json").read_text())["splits"]["test"]["accuracy"]
    assert accuracy > 0.5  # three classes from two thresholds: well above chance


def test_unknown_head_option_is_one_line_and_exit_2(csv, tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(csv), "--target", "label", "--out",
                                      str(tmp_path / "r"), "--head", "knn:kk=3", "--quiet"])  # fmt: skip
    assert result.exit_code == 2 and "Did you mean 'k'" in result.output
