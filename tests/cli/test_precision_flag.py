"""``headkit train --precision``: the flag, its check, the saved value and ``headkit info``."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from headkit.cli.app import app

QUICK = ["--epochs", "2", "--hidden-sizes", "16", "--preset", "none", "--quiet"]  # fused loss


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_train_with_bfloat16_saves_it_and_info_shows_it(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--dataset", "digits", "--out", out, *QUICK, "--precision", "bfloat16")
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "config.json").read_text())["metadata"]
    assert meta["training"]["precision"] == "bfloat16"
    assert meta["resolved"]["precision"] == "bfloat16"
    shown = invoke("info", out).output
    assert "precision" in shown and "bfloat16" in shown


def test_a_bad_precision_flag_is_refused(tmp_path):
    args = ("train", "--dataset", "digits", "--out", tmp_path / "run", *QUICK)
    result = invoke(*args, "--precision", "half")
    assert result.exit_code != 0 and "'precision' parameter of HeadClassifier" in result.output
