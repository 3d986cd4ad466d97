"""The save/load and command-line predict round trips the by-name tests share."""

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app


def assert_cli_predict_matches_estimator(run, X, names, tmp_path, rows=30):
    """``headkit predict`` on ``rows`` rows of X gives the loaded estimator's probabilities."""
    frame = pd.DataFrame(X[:rows], columns=names)
    frame.to_csv(tmp_path / "x.csv", index=False)
    preds = tmp_path / "p.csv"
    args = ["predict", str(run), str(tmp_path / "x.csv"), "-o", str(preds)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    proba = pd.read_csv(preds).filter(like="proba_").to_numpy()
    np.testing.assert_allclose(proba, HeadClassifier.load(run).predict_proba(frame), atol=1e-5)


def assert_reloads_by_name(model, options, X, proba, path):
    """Saved to ``path`` and loaded, ``model`` keeps ``options`` and ``proba`` on X; return it."""
    model.save(path)
    loaded = HeadClassifier.load(path)
    for key, value in options.items():
        assert getattr(loaded, key) == value, key
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)
    return loaded
