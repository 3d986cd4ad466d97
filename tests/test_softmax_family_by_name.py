"""Every output map, head and loss, by the registries' own names, from the estimator and CLI.

A new entry is trained, saved and loaded here without editing a list.
"""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.nn import HEADS, OUTPUTS
from headkit.nn.losses import LOSSES

# Names that need more than the shared settings below; the extra settings are stated here.
NEEDS = {
    ("head", "knn"): {"hidden_sizes": ()},  # passes no gradient: it classifies fixed features
    ("loss", "deep_supervision"): {"hidden_sizes": (16, 16)},  # a companion per hidden block
}
CASES = [
    {family: name, **NEEDS.get((family, name), {})}
    for family, registry in (("output", OUTPUTS), ("head", HEADS), ("loss", LOSSES))
    for name in registry.names()
] + [{"output": "entmax15", "head": "arcface:s=30,m=0.5", "loss": "label_smoothing:0.1"}]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_estimator_trains_saves_and_loads_by_name(spec, blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    # calibrate=False: the plain path these few epochs were sized for (small data now gets the
    # honest recipe, docs/tables.md)
    settings = {"epochs": 8, "batch_size": 32, "hidden_sizes": (16,), "random_state": 0,
                "calibrate": False, **spec}  # fmt: skip
    model = HeadClassifier(**settings)
    model.fit(X, y)
    proba = model.predict_proba(X_test)
    assert np.isfinite(proba).all() and (proba >= 0).all()
    if spec.get("output") not in ("sigmoid", "softmax1"):  # rows need not sum to 1
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert model.score(X_test, y_test) > 0.6
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X_test), proba, atol=1e-6)
    for key, value in spec.items():
        assert getattr(loaded, key) == value


def test_sparse_outputs_give_exact_zeros(blobs_data):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(
        epochs=8,
        batch_size=32,
        hidden_sizes=(16,),
        output="sparsemax",
        random_state=0,
        calibrate=False,  # a temperature would change which probabilities are exactly 0
    )
    assert (model.fit(X, y).predict_proba(X_test) == 0).mean() > 0.3


def test_cli_train_and_predict_with_output_head_loss(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "3"]
    args += ["--hidden-sizes", "32", "--quiet", "--output", "entmax15"]
    args += ["--head", "arcface:s=30,m=0.5", "--loss", "label_smoothing:0.1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = (out / "config.json").read_text()
    assert "entmax15" in config and "arcface:s=30,m=0.5" in config
    assert "label_smoothing:0.1" in config
    from headkit.data import load_dataset

    digits = load_dataset("digits")
    data = tmp_path / "x.csv"
    pd.DataFrame(digits.X_test[:20], columns=digits.feature_names).to_csv(data, index=False)
    info = runner.invoke(app, ["info", str(out)])
    assert info.exit_code == 0, info.output
    preds = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(out), str(data), "-o", str(preds)])
    assert result.exit_code == 0, result.output
    proba = pd.read_csv(preds).filter(like="proba_").to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert (proba == 0).any()  # entmax15 is sparse


def test_cli_rejects_an_unknown_name_with_a_suggestion(tmp_path):
    result = CliRunner().invoke(
        app, ["train", "--dataset", "digits", "--out", str(tmp_path / "r"), "--output", "entmax"]
    )
    assert result.exit_code == 2
    assert "entmax15" in result.output
