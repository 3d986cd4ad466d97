"""Nested dropout end to end (catalogue B5): choose K on validation, deploy at width K."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.data import load_dataset
from headkit.exceptions import ConfigError
from headkit.inference.saved_model import SavedModel


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_fit_cuts_to_the_smallest_width_within_the_budget(digits, tmp_path):
    # calibrate=False: a temperature fitted after the cut would differ from the full network's
    settings = {"hidden_sizes": (48,), "dropout": "nested", "epochs": 12, "random_state": 0,
                "calibrate": False}  # fmt: skip
    model = HeadClassifier(nested_budget=0.02, **settings).fit(digits.X_train, digits.y_train)
    curve, k = model.nested_curve_, model.nested_width_
    acc = np.asarray(curve["accuracy"])
    assert curve["widths"][-1] == 48 and 1 <= k < 48
    assert acc[curve["widths"].index(k)] >= acc.max() - 0.02
    assert all(a < acc.max() - 0.02 for w, a in zip(curve["widths"], acc, strict=True) if w < k)
    assert model.model_.config.hidden_sizes == (k,)
    assert model.hidden_sizes == (48,)  # the parameter stays as given
    assert model.score(digits.X_test, digits.y_test) > 0.85
    # the deployed network is the full one truncated (same seed and split, no cut)
    from headkit.estimator.inputs import validation_share

    share = validation_share(None, None, True, len(digits.y_train))  # the automatic hold-out
    full = HeadClassifier(validation_fraction=share, **settings).fit(digits.X_train, digits.y_train)
    x = torch.as_tensor(digits.X_test)
    with torch.no_grad():
        deployed = model.model_.eval().predict_proba(x).numpy()
        cut = full.model_.truncate(k).eval().predict_proba(x).numpy()
    np.testing.assert_allclose(deployed, cut, atol=1e-6)
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.hidden_sizes == (48,) and loaded.nested_budget == 0.02
    assert loaded.nested_width_ == k and loaded.nested_curve_ == curve
    assert loaded.model_.config.hidden_sizes == (k,)
    np.testing.assert_allclose(
        loaded.predict_proba(digits.X_test), model.predict_proba(digits.X_test)
    )
    with pytest.raises(ConfigError, match="nested_budget"):
        model.partial_fit(digits.X_train[:10], digits.y_train[:10])


def test_budget_needs_nested_dropout(digits):
    model = HeadClassifier(hidden_sizes=(8,), epochs=1, nested_budget=0.01)
    with pytest.raises(ConfigError, match="dropout='nested'"):
        model.fit(digits.X_train, digits.y_train)


def test_cli_trains_predicts_reports_and_exports_at_width_k(digits, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "mnist1d", "--out", str(out), "--epochs", "4", "--quiet"]
    args += ["--hidden-sizes", "32", "--dropout", "nested", "--nested-budget", "0.05", "--report"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    k = config["metadata"]["nested"]["width"]
    assert config["network"]["hidden_sizes"] == [k] and k <= 32
    page = (out / "report" / "index.html").read_text()
    assert "Nested dropout: width" in page and (out / "report" / "nested_width.png").is_file()
    mnist = load_dataset("mnist1d")
    rows = tmp_path / "x.csv"
    pd.DataFrame(mnist.X_test[:25], columns=mnist.feature_names).to_csv(rows, index=False)
    preds = tmp_path / "p.csv"
    assert runner.invoke(app, ["predict", str(out), str(rows), "-o", str(preds)]).exit_code == 0
    proba = pd.read_csv(preds).filter(like="proba_").to_numpy()
    saved = SavedModel.load(out)
    assert saved.network.config.hidden_sizes == (k,)
    np.testing.assert_allclose(proba, saved.predict_proba(mnist.X_test[:25]), atol=1e-5)
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    onnx_file = tmp_path / "m.onnx"
    result = runner.invoke(app, ["export", str(out), "-o", str(onnx_file)])
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    exported = session.run(["probabilities"], {"features": mnist.X_test[:25].astype(np.float32)})[0]
    np.testing.assert_allclose(exported, proba, atol=1e-5)
