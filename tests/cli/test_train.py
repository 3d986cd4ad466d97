"""`headkit train`'s help, its notices, its resume, and the metrics it prints (issue 25)."""

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit.cli.app import app

runner = CliRunner()


def invoke(*args, **env):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "80", **env})


def test_help_gives_every_flag_its_text_in_panels_at_80_columns():
    result = invoke("train", "--help")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "…" not in text  # nothing cut off
    assert all(len(line) <= 80 for line in text.splitlines())
    for panel in ("Data", "Network", "Training", "Output"):
        assert re.search(rf"╭─ {panel} ─", text), panel
    helps = {  # these flags showed no help at all: their Annotated help was lost
        "--dataset": "Built-in data",
        "--data ": "Training file",
        "--target": "Label column",
        "--out ": "Run directory to write",
        "--overwrite": "Replace an existing",
        "--quiet": "No progress bar",
        "--report": "Also write the HTML report",
        "--resume": "Finish the interrupted run",
        "--class-weight": "Weight of each",
    }
    lines = text.splitlines()
    for flag, words in helps.items():
        line = next(line for line in lines if f"│ {flag}" in line + " ")
        assert words in line, (flag, line)
    # the description is wrapped to the terminal, not broken at the source's line ends
    assert "The run is checkpointed every epoch" in " ".join(lines)


def test_minus_q_is_quiet(tmp_path):
    result = invoke("train", "--dataset", "blobs:n_samples=200", "--epochs", "2", "--hidden-sizes",
                    "8", "--out", tmp_path / "r", "-q")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output == ""


def _memorisable_noise_csv(path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 250)
    X = rng.normal(size=(250, 40))
    X[:, 0] += 3.0 * y
    frame = pd.DataFrame(X, columns=[f"c{i}" for i in range(40)])
    frame["y"] = np.where(rng.random(250) < 0.1, 1 - y, y)
    frame.to_csv(path, index=False)
    return path


# plain cross-entropy: the small preset's label smoothing bounds the logits (no collapse)
COLLAPSING = ["--hidden-sizes", "256", "--epochs", "15", "--validation-fraction", "0.2",
              "--dropout", "0", "--weight-decay", "0", "--lr", "0.1", "--schedule", "constant",
              "--loss", "cross_entropy"]  # fmt: skip


@pytest.mark.parametrize("quiet", [False, True])
def test_a_hurting_collapse_is_one_clean_line_and_silent_with_quiet(tmp_path, quiet):
    data = _memorisable_noise_csv(tmp_path / "d.csv")
    args = ["train", "--data", data, "--target", "y", "--out", tmp_path / "r", *COLLAPSING]
    result = invoke(*args, *(["--quiet"] if quiet else []))
    assert result.exit_code == 0, result.output
    assert "SoftmaxCollapseWarning" not in result.output and ".py:" not in result.output
    lines = [line for line in result.output.splitlines() if "Softmax Collapse" in line]
    if quiet:
        assert lines == []
    else:
        (line,) = lines
        assert line.startswith("warning: Softmax Collapse from epoch ")
        assert "--weight-decay 0 --lr 0.1" in line


def test_three_classes_get_no_top_k_column(tmp_path):
    result = invoke("train", "--dataset", "blobs:n_classes=3,n_samples=200", "--epochs", "2",
                    "--hidden-sizes", "8", "--out", tmp_path / "r")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "top3_accuracy" not in result.output


def test_resume_refuses_flags_it_cannot_honour_and_says_where_it_goes_on(tmp_path):
    """`train --resume RUN --epochs 50` went on with the saved epochs, silently (issue 25)."""
    from headkit.runs import RunInterrupted, TrainRequest, train_run
    from tests.interrupts import InterruptAt

    out = tmp_path / "run"
    params = {"epochs": 4, "hidden_sizes": (8,), "random_state": 0, "verbose": 0}
    with pytest.raises(RunInterrupted):
        train_run(TrainRequest(dataset="blobs:n_samples=200", out=out, params=params),
                  callbacks=(InterruptAt(3),))  # fmt: skip
    refused = invoke("train", "--resume", out, "--epochs", "50", "--dropout", "0.1")
    assert refused.exit_code == 2
    assert "--epochs 50 (the run has 4)" in refused.output
    assert "--dropout 0.1 (the run has 0.3)" in refused.output
    resumed = invoke("train", "--resume", out, "--epochs", "4")  # the saved value: harmless
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming {out} from epoch 2 of 4" in resumed.output


def test_predict_names_an_empty_file(tmp_path):
    """A 0-byte CSV gave pandas' "No columns to parse from file" without its name (issue 25)."""
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0] * 10, "y": ["p", "q", "p", "q"] * 10})
    rows.to_csv(tmp_path / "d.csv", index=False)
    trained = invoke("train", "--data", tmp_path / "d.csv", "--target", "y", "--epochs", "1",
                     "--hidden-sizes", "4", "--out", tmp_path / "r", "-q")  # fmt: skip
    assert trained.exit_code == 0, trained.output
    (tmp_path / "empty.csv").write_bytes(b"")
    result = invoke("predict", tmp_path / "r", tmp_path / "empty.csv")
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and str(tmp_path / "empty.csv") in result.output


@pytest.mark.parametrize(
    ("flags", "resolved"),
    [
        (  # a table: the honest recipe, three members
            (),
            {"calibrate": True, "monitor": "val_calibrated_loss", "patience": 16, "members": 3},
        ),
        (
            ("--no-calibrate", "--patience", "none"),
            {"calibrate": False, "monitor": "val_accuracy", "patience": None, "members": 1},
        ),
        (
            ("--calibrate", "--patience", "3", "--members", "2"),
            {"calibrate": True, "monitor": "val_calibrated_loss", "patience": 3, "members": 2},
        ),
    ],
)
def test_calibrate_and_patience_flags_and_their_auto(tmp_path, flags, resolved):
    import json

    rng = np.random.default_rng(0)
    rows = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    rows["y"] = (rows["a"] > 0).astype(int)
    rows.to_csv(tmp_path / "d.csv", index=False)
    result = invoke("train", "--data", tmp_path / "d.csv", "--target", "y", "--epochs", "2",
                    "--hidden-sizes", "4", "--out", tmp_path / "r", "-q", *flags)  # fmt: skip
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "r" / "config.json").read_text())["metadata"]
    assert meta["resolved"] == {
        **resolved,
        "epochs": 2,
        "precision": "float32",
    }  # --epochs 2 stands
    given = {"--no-calibrate": False, "--calibrate": True}
    assert meta["training"]["calibrate"] == next((given[f] for f in flags if f in given), "auto")
    assert invoke("train", "--data", tmp_path / "d.csv", "--target", "y", "--patience",
                  "soon").exit_code == 2  # fmt: skip
