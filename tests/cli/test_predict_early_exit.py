"""``headkit predict RUN DATA --early-exit T`` (catalogue B7): the estimator's early exit, by file."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.data import load_dataset
from tests.plain import PLAIN_ARGS


def test_early_exit_writes_the_estimators_probabilities_and_depths(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "4", "--quiet"]
    args += [*PLAIN_ARGS, "--hidden-sizes", "32,32,32", "--residual", "scaled"]
    args += ["--layer-drop", "layerskip:p_max=0.2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    d = load_dataset("digits")
    rows = tmp_path / "x.csv"
    frame = pd.DataFrame(d.X_test[:200], columns=d.feature_names)
    frame.to_csv(rows, index=False)
    preds = tmp_path / "p.csv"
    command = ["predict", str(out), str(rows), "-o", str(preds), "--early-exit", "0.6"]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(preds)
    expected = HeadClassifier.load(out).predict_early_exit(frame, threshold=0.6)
    np.testing.assert_array_equal(table["exit_depth"].to_numpy(), expected.depth)
    assert 1 <= expected.depth.min() and expected.depth.max() <= 3 and expected.depth.mean() < 3
    proba = table.filter(like="proba_").to_numpy()
    np.testing.assert_allclose(proba, expected.proba, atol=1e-5)
    np.testing.assert_array_equal(table["label"].to_numpy(), expected.labels)
    # above 1 every row runs the whole network: the plain prediction
    full = tmp_path / "full.csv"
    command = ["predict", str(out), str(rows), "-o", str(full), "--early-exit", "1.5"]
    assert runner.invoke(app, command).exit_code == 0
    plain = tmp_path / "plain.csv"
    assert runner.invoke(app, ["predict", str(out), str(rows), "-o", str(plain)]).exit_code == 0
    deep = pd.read_csv(full)
    assert (deep["exit_depth"] == 3).all()
    np.testing.assert_allclose(
        deep.filter(like="proba_").to_numpy(), pd.read_csv(plain).filter(like="proba_").to_numpy()
    )


def test_early_exit_is_refused_in_one_sentence_where_it_cannot_apply(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "1", "--quiet"]
    assert runner.invoke(app, [*args, *PLAIN_ARGS, "--hidden-sizes", "8"]).exit_code == 0
    rows = tmp_path / "x.csv"
    d = load_dataset("digits")
    pd.DataFrame(d.X_test[:5], columns=d.feature_names).to_csv(rows, index=False)
    result = runner.invoke(app, ["predict", str(out), str(rows), "--early-exit", "0.9"])
    assert result.exit_code != 0 and "layer_drop='layerskip'" in result.output
    both = ["predict", str(out), str(rows), "--early-exit", "0.9", "--mc-samples", "5"]
    result = runner.invoke(app, both)
    assert result.exit_code != 0 and "cannot be combined" in result.output
    result = runner.invoke(app, ["predict", str(out), str(rows), "--early-exit", "0"])
    assert result.exit_code != 0 and "number > 0" in result.output
