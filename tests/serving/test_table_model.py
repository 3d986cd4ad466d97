"""A penguins-style table (text columns, gaps) trains, predicts, exports and serves from the CLI."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit.cli.app import app

from .test_server import request

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("uvicorn")
runner = CliRunner()


def penguins(n=240, seed=0):
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    bill = np.select([species == "Gentoo", species == "Adelie"], [47.0, 38.0], 49.0)
    mass = np.where(species == "Gentoo", 5000.0, 3700.0) + rng.normal(0, 300, n)
    island = np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen"], n))
    frame = pd.DataFrame(
        {
            "island": island,
            "bill_length_mm": bill + rng.normal(0, 2, n),
            "body_mass_g": mass,
            "sex": rng.choice(["male", "female"], n).astype(object),
            "species": species,
        }
    )
    frame.loc[rng.choice(n, 12, replace=False), "bill_length_mm"] = np.nan
    frame.loc[rng.choice(n, 8, replace=False), "sex"] = None
    return frame


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("penguins")
    penguins().to_csv(tmp / "train.csv", index=False)
    new = penguins(30, seed=1).drop(columns="species")
    new.loc[0, "island"] = "Atlantis"  # a category never seen in training
    new.loc[1, ["bill_length_mm", "sex"]] = [np.nan, None]
    new.to_csv(tmp / "new.csv", index=False)
    args = [
        "train",
        "--data",
        str(tmp / "train.csv"),
        "--target",
        "species",
        "--out",
        str(tmp / "run"),
    ]
    trained = runner.invoke(app, [*args, "--epochs", "15", "--hidden-sizes", "16", "--quiet"])
    assert trained.exit_code == 0, trained.output
    predicted = runner.invoke(
        app, ["predict", str(tmp / "run"), str(tmp / "new.csv"), "-o", str(tmp / "p.csv")]
    )
    assert predicted.exit_code == 0, predicted.output
    return tmp, new, pd.read_csv(tmp / "p.csv")


def test_the_exported_table_model_takes_raw_columns(table_run):
    tmp, new, expected = table_run
    exported = runner.invoke(app, ["export", str(tmp / "run"), "-o", str(tmp / "m.onnx")])
    assert exported.exit_code == 0, exported.output
    session = ort.InferenceSession(str(tmp / "m.onnx"))
    feeds = {}
    for spec in session.get_inputs():
        column = new[spec.name]
        if spec.type == "tensor(float)":
            feeds[spec.name] = column.to_numpy(np.float32)[:, None]
        else:
            feeds[spec.name] = np.array(
                ["" if pd.isna(v) else str(v) for v in column], dtype=object
            )[:, None]
    assert sorted(feeds) == sorted(new.columns)
    proba, label = session.run(None, feeds)
    assert np.abs(proba - expected.filter(like="proba_").to_numpy()).max() <= 1e-5
    assert label.tolist() == expected["label"].tolist()


def test_the_server_encodes_table_rows_like_predict(table_run):
    tmp, new, expected = table_run
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "headkit", "serve", str(tmp / "run"), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        port = int(server.stderr.readline().rsplit(":", 1)[1])
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                request(port, "GET", "/health")
                break
            except OSError:
                time.sleep(0.2)
        rows = json.loads(new.to_json(orient="records"))  # NaN/None → null
        status, answer = request(port, "POST", "/predict", {"rows": rows})
        assert status == 200, answer
        assert answer["labels"] == expected["label"].tolist()
        proba = np.array(answer["probabilities"])
        np.testing.assert_allclose(proba, expected.filter(like="proba_").to_numpy(), atol=1e-6)
        csv_answer = request(port, "POST", "/predict", new.to_csv(index=False), "text/csv")[1]
        assert csv_answer["labels"] == expected["label"].tolist()
        status, answer = request(port, "POST", "/predict", [{"island": "Dream"}])
        assert status == 422 and "bill_length_mm" in answer["error"]
        bad = [{**rows[2], "body_mass_g": "heavy"}]
        status, answer = request(port, "POST", "/predict", bad)
        assert status == 422 and "body_mass_g" in answer["error"]
        assert request(port, "GET", "/metadata")[1]["preprocessing"]["table"]["island"].startswith(
            "one-hot"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
