"""One trained run and its report, built through the CLI once per session and shared by the tests.

Digits 0–4 are the classes the model learns; digits 5–9 are the out-of-distribution rows.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits
from typer.testing import CliRunner

from headkit.cli.app import app

FEATURES = [f"px{i}" for i in range(64)]
ALL_PICTURES = {
    "training_curves.png",
    "confusion_matrix.png",
    "reliability.png",
    "confidence.png",
    "ood_histograms.png",
    "ood_roc.png",
    "collapse.png",
    "cka.png",
    "redundancy.png",
    "layer_quality.png",
    "spectrum.png",
    "gradients.png",
    "diagnostics_history.png",
}


@dataclass
class ReportRun:
    run: Path
    report: Path  # index.html written by `headkit report RUN --data … --ood …`
    train_report: Path  # index.html written by `headkit train … --report`
    test_csv: Path
    ood_csv: Path
    features: tuple[str, ...] = tuple(FEATURES)
    pictures: frozenset[str] = frozenset(ALL_PICTURES)


def cli(*args: object) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    root = tmp_path_factory.mktemp("report")
    digits = load_digits()
    order = np.random.default_rng(0).permutation(len(digits.target))
    X, y = digits.data[order], digits.target[order]
    seen = y < 5
    frame = pd.DataFrame(X[seen], columns=FEATURES).assign(digit=y[seen])
    train_csv, test_csv, ood_csv = root / "train.csv", root / "test.csv", root / "ood.csv"
    frame.iloc[:600].to_csv(train_csv, index=False)
    frame.iloc[600:].to_csv(test_csv, index=False)
    pd.DataFrame(X[~seen][:300], columns=FEATURES).to_csv(ood_csv, index=False)
    run = root / "run"
    cli("train", "--data", train_csv, "--target", "digit", "--out", run, "--epochs", 12,
        "--hidden-sizes", "32,32", "--calibrate", "--track-collapse", "--track-diagnostics", "--report", "--quiet")  # fmt: skip
    train_report = run / "report" / "index.html"
    out = root / "full"
    output = cli("report", run, "--data", test_csv, "--ood", ood_csv, "--out", out)
    assert "report written to" in output
    return ReportRun(run, out / "index.html", train_report, test_csv, ood_csv)
