"""The CLI's evaluation surface: `evaluate --ood`, `predict --ood-score`, `report`, `train --calibrate`."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app


def invoke(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_evaluate_ood_reports_every_score_against_sklearn(report_run):
    result = invoke("evaluate", report_run.run, report_run.test_csv, "--ood", report_run.ood_csv,
                    "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    ood = json.loads(result.stdout[result.stdout.index("{") :])["ood"]
    assert set(ood) == {"msp", "max_logit", "energy", "mahalanobis"}
    model = HeadClassifier.load(report_run.run)
    X_in = pd.read_csv(report_run.test_csv)[list(report_run.features)]
    X_out = pd.read_csv(report_run.ood_csv)[list(report_run.features)]
    for name, values in ood.items():
        s_in, s_out = model.ood_score(X_in, name), model.ood_score(X_out, name)
        y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
        assert values["auroc"] == pytest.approx(roc_auc_score(y, np.r_[s_in, s_out]))
        assert values["aupr"] == pytest.approx(average_precision_score(y, np.r_[s_in, s_out]))
        threshold = np.sort(s_in)[::-1][int(np.ceil(0.95 * len(s_in))) - 1]
        assert values["fpr95"] == pytest.approx(np.mean(s_out >= threshold))
        assert values["auroc"] > 0.7  # digits 5–9 are told apart from 0–4 by every score


def test_predict_ood_score_adds_a_column(report_run, tmp_path):
    out = tmp_path / "pred.csv"
    result = invoke("predict", report_run.run, report_run.ood_csv, "-o", out, "--ood-score",
                    "energy")  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    model = HeadClassifier.load(report_run.run)
    X = pd.read_csv(report_run.ood_csv)[list(report_run.features)]
    np.testing.assert_allclose(frame["ood_energy"], model.ood_score(X, "energy"), rtol=1e-5)
    bad = invoke("predict", report_run.run, report_run.ood_csv, "-o", out, "--ood-score", "odin")
    assert bad.exit_code == 2 and "Unknown OOD score" in bad.output


def test_train_calibrate_stores_temperature_and_report_without_data(report_run, tmp_path):
    model = HeadClassifier.load(report_run.run)
    assert model.calibrate and model.temperature_ != 1.0
    history = pd.read_csv(report_run.run / "history.csv")
    assert {"nc1", "nc2_equinorm", "nc2_equiangular", "nc3", "nc4"} <= set(history.columns)
    out = tmp_path / "bare"
    result = invoke("report", report_run.run, "--out", out)
    assert result.exit_code == 0, result.output
    assert "training curves only" in result.output
    history_pictures = {"training_curves.png", "collapse.png", "diagnostics_history.png"}
    assert {p.name for p in out.glob("*.png")} == history_pictures
