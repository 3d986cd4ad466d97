"""The dropout family from the command line: --dropout by name, --gradient-noise, --mc-samples."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.nn import DROPOUTS, MultiSampleDropout, NestedDropout

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def labelled_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    y = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    path = tmp_path / "train.csv"
    pd.DataFrame(X, columns=list("abcd")).assign(answer=y).to_csv(path, index=False)
    return path


def train(tmp_path, csv, name, *extra):
    out = tmp_path / name
    result = invoke(
        "train", "--data", csv, "--target", "answer", "--out", out,
        "--epochs", "30", "--hidden-sizes", "16", "--quiet", "--no-calibrate", *extra,
    )  # fmt: skip  (--no-calibrate: every row trains, the path these 30 epochs were sized for)
    assert result.exit_code == 0, result.output
    return out


# Non-default options for some kinds, and the module they must produce with them; every other
# registered kind is trained by its bare name.
WITH_OPTIONS = {
    "nested": ("nested", NestedDropout, lambda m: m.distribution == "geometric"),
    "multisample": ("multisample:k=8,p=0.5", MultiSampleDropout, lambda m: (m.k, m.p) == (8, 0.5)),
}


@pytest.mark.parametrize("name", DROPOUTS.names())
def test_train_dropout_by_name(tmp_path, labelled_csv, name):
    spec, module, check = WITH_OPTIONS.get(name, (name, None, None))
    out = train(tmp_path, labelled_csv, "run", "--dropout", spec)
    assert json.loads((out / "config.json").read_text())["network"]["dropout"] == spec
    model = HeadClassifier.load(out)
    assert model.get_params()["dropout"] == spec
    if module is not None:
        found = [m for m in model.model_.modules() if isinstance(m, module)]
        assert len(found) == 1 and check(found[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["splits"]["train"]["accuracy"] >= 0.75  # chance is about 0.5


def test_train_gradient_noise_changes_the_weights(tmp_path, labelled_csv):
    plain = HeadClassifier.load(train(tmp_path, labelled_csv, "plain")).model_.state_dict()
    noisy_dir = train(tmp_path, labelled_csv, "noisy", "--gradient-noise", "0.01")
    noisy = HeadClassifier.load(noisy_dir).model_.state_dict()
    assert (
        json.loads((noisy_dir / "config.json").read_text())["metadata"]["training"][
            "gradient_noise"
        ]
        == 0.01
    )
    assert any(not np.array_equal(plain[k].numpy(), noisy[k].numpy()) for k in plain)


def test_predict_with_mc_samples_adds_uncertainty_columns(tmp_path, labelled_csv):
    out = train(tmp_path, labelled_csv, "run", "--dropout", "0.5")
    plain, mc = tmp_path / "plain.csv", tmp_path / "mc.csv"
    assert invoke("predict", out, labelled_csv, "-o", plain).exit_code == 0
    result = invoke("predict", out, labelled_csv, "-o", mc, "--mc-samples", "10")
    assert result.exit_code == 0, result.output
    a, b = pd.read_csv(plain), pd.read_csv(mc)
    extra = ["entropy", "mutual_information", "least_confidence", "margin"]
    assert list(b.columns) == [*a.columns, *extra]
    np.testing.assert_allclose(b[["proba_no", "proba_yes"]].sum(axis=1), 1.0, rtol=1e-5)
    assert not np.allclose(a["proba_yes"], b["proba_yes"])
    assert (b["mutual_information"] >= 0).all() and (b["entropy"] <= np.log(2) + 1e-6).all()
    assert (a["label"] == b["label"]).mean() > 0.9
    bad = invoke("predict", out, labelled_csv, "-o", mc, "--mc-samples", "0")
    assert bad.exit_code != 0 and "mc_samples" in bad.output
