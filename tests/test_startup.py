"""Start-up cost: what the CLI imports (timings live in benchmarks, not here)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd

from headkit import HeadClassifier

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
        "from headkit.cli import app\n"
        "try:\n    app(['--help'], prog_name='headkit')\nexcept SystemExit:\n    pass"
    )
    assert not loaded_after(code) & set(HEAVY)


def test_predict_imports_neither_scikit_learn_nor_torch_dynamo(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    HeadClassifier(hidden_sizes=(4,), epochs=1).fit(X, y).save(tmp_path / "run")
    pd.DataFrame(X[:50], columns=["x0", "x1", "x2"]).to_csv(tmp_path / "rows.csv", index=False)
    out = tmp_path / "pred.csv"
    code = (
        "from headkit.cli import app\n"
        f"try:\n    app(['predict', {str(tmp_path / 'run')!r}, {str(tmp_path / 'rows.csv')!r}, "
        f"'-o', {str(out)!r}], prog_name='headkit')\n"
        "except SystemExit as e:\n    assert not e.code, e.code"
    )
    loaded = loaded_after(code)
    assert "torch" in loaded  # it did predict
    assert len(pd.read_csv(out)) == 50
    assert not loaded & {"sklearn", "scipy", "matplotlib", "torch._dynamo"}
