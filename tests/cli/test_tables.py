import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit.cli.app import app
from tests.penguins import penguins

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def penguin_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("penguins")
    frame = penguins()
    frame.to_csv(folder / "penguins.csv", index=False)
    # Only the epochs are shortened (for test time); no preprocessing flag is needed.
    result = invoke(
        "train", "--data", folder / "penguins.csv", "--target", "species",
        "--out", folder / "run", "--epochs", "30", "--quiet",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder, frame


def test_train_on_text_and_gaps_then_info_shows_column_roles(penguin_run):
    folder, _ = penguin_run
    metrics = json.loads((folder / "run" / "metrics.json").read_text())
    assert metrics["splits"]["test"]["accuracy"] > 0.9
    result = invoke("info", folder / "run")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "column island │ one-hot (3 + unknown)" in text
    assert "column bill_length_mm │ numeric + missing flag" in text
    assert "column year │ numeric" in text


def test_evaluate_and_predict_rows_with_gaps_keeping_an_id_column(penguin_run):
    folder, frame = penguin_run
    result = invoke("evaluate", folder / "run", folder / "penguins.csv", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["n_samples"] == len(frame)
    new = frame.drop(columns="species").head(12).copy()
    new.insert(0, "order_id", [f"A-{i:03d}" for i in range(12)])
    new.loc[0, ["bill_length_mm", "bill_depth_mm", "sex", "island"]] = [None, None, None, None]
    new.loc[1, "island"] = "Atlantis"
    new.to_csv(folder / "new.csv", index=False)
    out = folder / "predictions.csv"
    result = invoke(
        "predict", folder / "run", folder / "new.csv", "--id-column", "order_id", "-o", out
    )
    assert result.exit_code == 0, result.output
    predictions = pd.read_csv(out)
    assert list(predictions.columns[:2]) == ["order_id", "label"]
    assert predictions["order_id"].tolist() == new["order_id"].tolist()
    proba = predictions[[f"proba_{s}" for s in ("Adelie", "Chinstrap", "Gentoo")]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(predictions["label"]) <= {"Adelie", "Chinstrap", "Gentoo"}


def test_unknown_id_column_is_one_clear_line(penguin_run):
    folder, _ = penguin_run
    result = invoke(
        "predict",
        folder / "run",
        folder / "penguins.csv",
        "--id-column",
        "nope",
        "-o",
        folder / "p.csv",
    )
    assert result.exit_code == 2
    assert "--id-column 'nope' is not a column" in result.output


def test_report_on_a_table_run(penguin_run):
    folder, _ = penguin_run
    out = folder / "report"
    result = invoke("report", folder / "run", "--data", folder / "penguins.csv", "--out", out)
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
