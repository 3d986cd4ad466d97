"""``headkit explain RUN DATA`` (catalogue J13)."""

import json

from typer.testing import CliRunner

from headkit.cli.app import app


def test_explain_ranks_every_column(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "3", "--quiet"]
    assert runner.invoke(app, [*args, "--hidden-sizes", "16"]).exit_code == 0
    result = runner.invoke(app, ["explain", str(out), "digits", "--repeats", "2", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 64
    values = [r["permutation_importance"] for r in rows]
    assert values == sorted(values, reverse=True) and values[0] > 0
    table = runner.invoke(app, ["explain", str(out), "digits", "--repeats", "1", "--top", "3"])
    assert table.exit_code == 0 and "permutation importance" in table.output
    bad = runner.invoke(app, ["explain", str(out), "digits", "--scoring", "nope"])
    assert bad.exit_code == 2 and "scoring" in bad.output
