"""Options of the online softmax, PReLU, SELU with batch norm and Partial FC: estimator, CLI, runs."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app

CASES = [
    {"output": "online_softmax:chunk_size=2"},
    {"activation": "prelu:init=0.1"},
    {"activation": "selu", "norm": "batch"},
    {"head": "partial_fc:sample_rate=0.5"},
]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_estimator_trains_saves_and_loads(spec, blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    # preset="none": the library-default training these 8 epochs were sized for (on 240 rows
    # preset=None would pick the "small" recipe, lr 3e-3 and weight decay 0.1)
    clf = HeadClassifier(
        epochs=8, batch_size=32, hidden_sizes=(16,), random_state=0, preset="none", **spec
    )
    proba = clf.fit(X, y).predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert clf.score(X_test, y_test) > 0.6
    clf.save(tmp_path / "m")
    back = HeadClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_proba(X_test), proba, atol=1e-6)
    for key, value in spec.items():
        assert getattr(back, key) == value


def test_online_softmax_model_matches_plain_softmax_probabilities(blobs_data):
    X, y, X_test, _ = blobs_data
    clf = HeadClassifier(epochs=3, hidden_sizes=(8,), output="online_softmax:chunk_size=2")
    clf.fit(X, y)
    logits = torch.as_tensor(clf.logits(X_test))
    np.testing.assert_allclose(  # the calibration temperature applies to both alike
        clf.predict_proba(X_test), torch.softmax(logits / clf.temperature_, 1).numpy(), rtol=1e-5
    )


def test_cli_takes_activation_and_output_specs(tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "3", "--quiet"]
    args += ["--hidden-sizes", "16", "--activation", "leaky_relu:slope=0.1"]
    args += ["--output", "online_softmax"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    network = json.loads((out / "config.json").read_text())
    assert "leaky_relu:slope=0.1" in json.dumps(network)
    bad = CliRunner().invoke(app, [*args[:4], str(tmp_path / "b"), "--activation", "mihs"])
    assert bad.exit_code == 2 and "mish" in bad.output
