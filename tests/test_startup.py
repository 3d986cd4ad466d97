"""Start-up cost: what the CLI imports (timings live in benchmarks, not here)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from headkit import HeadClassifier
from tests.penguins import penguins

HEAVY = ("torch", "sklearn", "scipy", "matplotlib", "pandas")


def loaded_after(code: str) -> set[str]:
    """Top-level packages (and torch._dynamo) imported by running ``code`` in a fresh interpreter."""
    script = (
        "import sys\n"
        f"{code}\n"
        "import json\n"
        "mods = sorted({m.split('.')[0] for m in sys.modules} | "
        "({'torch._dynamo'} & set(sys.modules)))\n"
        "print('MODULES=' + json.dumps(mods))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def test_importing_the_cli_imports_nothing_heavy():
    assert not loaded_after("import headkit.cli") & set(HEAVY)


def test_help_imports_nothing_heavy():
    code = (
        "from headkit.cli.app import app\n"
        "try:\n    app(['--help'], prog_name='headkit')\nexcept SystemExit:\n    pass"
    )
    assert not loaded_after(code) & set(HEAVY)


def predict_in_a_fresh_process(run, rows, out) -> set[str]:
    code = (
        "from headkit.cli.app import app\n"
        f"try:\n    app(['predict', {str(run)!r}, {str(rows)!r}, '-o', {str(out)!r}], "
        "prog_name='headkit')\n"
        "except SystemExit as e:\n    assert not e.code, e.code"
    )
    return loaded_after(code)


def test_predict_of_a_plain_network_imports_neither_torch_nor_scikit_learn(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    model = HeadClassifier(hidden_sizes=(4,), epochs=1).fit(X, y)
    model.save(tmp_path / "run")
    pd.DataFrame(X[:50], columns=["x0", "x1", "x2"]).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "pred.csv"
    loaded = predict_in_a_fresh_process(tmp_path / "run", tmp_path / "rows.csv", out)
    assert not loaded & {"torch", "sklearn", "scipy", "matplotlib"}
    written = pd.read_csv(out)
    np.testing.assert_allclose(
        written[["proba_0", "proba_1"]].to_numpy(), model.predict_proba(X[:50]), atol=1e-6
    )


def test_predict_of_another_network_uses_torch_without_scikit_learn(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    HeadClassifier(hidden_sizes=(4,), head="cosine", epochs=1).fit(X, y).save(tmp_path / "run")
    pd.DataFrame(X[:50], columns=["x0", "x1", "x2"]).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "pred.csv"
    loaded = predict_in_a_fresh_process(tmp_path / "run", tmp_path / "rows.csv", out)
    assert "torch" in loaded  # it did predict, on torch
    assert len(pd.read_csv(out)) == 50
    assert not loaded & {"sklearn", "scipy", "matplotlib", "torch._dynamo"}


def test_predict_of_a_table_run_imports_no_torch_and_matches_the_estimator(tmp_path):

    table = penguins(120)
    features = table.drop(columns=["species"])
    model = HeadClassifier(hidden_sizes=(8,), epochs=2).fit(features, table["species"])
    model.save(tmp_path / "run")
    features.to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "pred.csv"
    loaded = predict_in_a_fresh_process(tmp_path / "run", tmp_path / "rows.csv", out)
    assert not loaded & {"torch", "sklearn"}
    columns = [f"proba_{c}" for c in model.classes_]
    expected = model.predict_proba(pd.read_csv(tmp_path / "rows.csv"))
    np.testing.assert_allclose(pd.read_csv(out)[columns].to_numpy(), expected, atol=1e-6)
