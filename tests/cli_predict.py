"""The command-line predict round trip the by-name tests share."""

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
