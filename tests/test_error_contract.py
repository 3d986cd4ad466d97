"""Every user mistake: the CLI exits 2 with one line; the estimator raises a headkit error.

The cases are data (CLI_CASES, ESTIMATOR_CASES) so that the closing table of bad inputs is
printed from the same list the tests check.
"""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.exceptions import HeadkitError

QUICK = ["--epochs", "2", "--hidden-sizes", "8", "--quiet"]


def _table(tmp, name="d.csv", n=60, **changes):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["y"] = np.where(frame["a"] > 0, "yes", "no")
    for column, value in changes.items():
        frame[column] = value(frame) if callable(value) else value
    path = tmp / name
    frame.to_csv(path, index=False)
    return path


def _nan_target(tmp):
    return _table(tmp, y=lambda f: f["y"].where(f.index != 4, None))


def _npy(tmp):
    path = tmp / "d.npy"
    rng = np.random.default_rng(0)
    np.save(path, np.column_stack([rng.normal(size=(40, 13)), np.arange(40) % 2]))
    return path


def _trained(tmp):
    out = tmp / "run"
    data = _table(tmp)
    result = CliRunner().invoke(
        app, ["train", "--data", str(data), "--target", "y", "--out", str(out), *QUICK]
    )
    assert result.exit_code == 0, result.output
    return out


def _unreadable(tmp, monkeypatch):
    out = _trained(tmp)
    real = type(out).read_bytes

    def read_bytes(path):
        if path.name == "model.safetensors":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(type(out), "read_bytes", read_bytes)  # root reads any file; simulate
    return out


def _renamed(tmp):
    path = _table(tmp, "x.csv")
    pd.read_csv(path).rename(columns={"b": "B"}).to_csv(path, index=False)
    return path


def _leave_interrupted(tmp):
    from headkit.runs.directory import RunDirectory

    claim = RunDirectory.claim(tmp / "r")
    claim.write_request({})
    claim.release()  # as a killed run leaves it
    return ["train", "--dataset", "digits"]


def _hold_claim(tmp):
    from headkit.runs.directory import RunDirectory

    RunDirectory.claim(tmp / "r").write_request({})  # a live run: its lock stays held
    return ["train", "--dataset", "digits"]


def _train(args):
    return lambda tmp, mp: ["train", *args(tmp), "--out", tmp / "r", *QUICK]


CLI_CASES = {
    "NaN in the target column": (
        _train(lambda t: ["--data", _nan_target(t), "--target", "y"]),
        "missing labels (NaN, row 5)",
    ),
    "class_weights of the wrong length": (
        _train(
            lambda t: [
                "--data",
                _table(t),
                "--target",
                "y",
                "--loss",
                "cross_entropy:class_weights=1/2/3",
            ]
        ),
        "gives 3 class weights but the data has 2 classes",
    ),
    "--hidden-sizes 100000,100000": (
        lambda t, mp: [
            "train",
            "--hidden-sizes",
            "100000,100000",
            "--epochs",
            "1",
            "--dataset",
            "digits",
            "--out",
            t / "r",
        ],
        "GB to train (weights, gradients and AdamW state)",
    ),
    ".npy with --target 99 of 14 columns": (
        _train(lambda t: ["--data", _npy(t), "--target", "99"]),
        "--target 99 is out of range",
    ),
    "unreadable model.safetensors": (
        lambda t, mp: ["predict", _unreadable(t, mp), _table(t), "-o", t / "p.csv"],
        "(permission denied)",
    ),
    "info on a CSV file": (lambda t, mp: ["info", _table(t)], "is a file, not a run directory"),
    "predict -o missing_dir/p.csv": (
        lambda t, mp: ["predict", _trained(t), _table(t), "-o", t / "missing_dir" / "p.csv"],
        "missing_dir does not exist",
    ),
    "predict -o an existing file": (
        lambda t, mp: ["predict", _trained(t), _table(t, "d2.csv"), "-o", _table(t, "p.csv")],
        "already exists; pass --overwrite",
    ),
    "feature columns renamed": (
        lambda t, mp: ["predict", _trained(t), _renamed(t), "-o", "-"],
        "unexpected columns B",
    ),
    "NaN and inf in features": (
        _train(
            lambda t: [
                "--data",
                _table(t, b=lambda f: f["b"].where(f.index != 2, np.inf)),
                "--target",
                "y",
            ]
        ),
        "NaN/infinity) in 'b' (inf in row 3)",
    ),
    "--lr 1e6 (divergence)": (
        _train(
            lambda t: [
                "--data",
                _table(t),
                "--target",
                "y",
                "--lr",
                "1e6",
                "--schedule",
                "constant",
                "--epochs",
                "5",
            ]
        ),
        "Training diverged",
    ),
    "--data together with --dataset": (
        _train(lambda t: ["--data", _table(t), "--target", "y", "--dataset", "digits"]),
        "not both",
    ),
    "a regression-like float target": (
        _train(
            lambda t: ["--data", _table(t, y=lambda f: np.round(f["b"] * 100)), "--target", "y"]
        ),
        "looks like a continuous (regression) target",
    ),
    "too few rows for the splits": (
        _train(
            lambda t: [
                "--data",
                _table(t, n=4, y=["u", "v", "u", "v"]),
                "--target",
                "y",
                "--validation-fraction",
                "0.1",
            ]
        ),
        "has 4 rows, too few",
    ),
    "a second run to the same --out": (
        lambda t, mp: [*_hold_claim(t), "--out", t / "r", *QUICK],
        "is being written by another headkit run (pid",
    ),
    "an interrupted run in --out": (
        lambda t, mp: [*_leave_interrupted(t), "--out", t / "r", *QUICK],
        "holds an interrupted run",
    ),
}


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_exits_2_with_one_line(tmp_path, monkeypatch, case):
    make, fragment = CLI_CASES[case]
    result = CliRunner().invoke(app, [str(a) for a in make(tmp_path, monkeypatch)])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


def test_reordered_columns_are_accepted_by_name(tmp_path):
    out = _trained(tmp_path)
    path = tmp_path / "reordered.csv"
    pd.read_csv(_table(tmp_path))[["c", "y", "a", "b"]].to_csv(path, index=False)
    result = CliRunner().invoke(app, ["predict", str(out), str(path), "-o", "-"])
    assert result.exit_code == 0, result.output
    expected = CliRunner().invoke(app, ["predict", str(out), str(_table(tmp_path)), "-o", "-"])
    assert result.stdout == expected.stdout  # the same predictions as in training order


def _xy(n=60, **changes):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    y = np.where(X["a"] > 0, "yes", "no")
    return X, changes.get("y", y)


def _fit(**params):
    params = {"epochs": 2, "hidden_sizes": (8,), "random_state": 0, **params}
    return lambda X, y: HeadClassifier(**params).fit(X, y)


def _with_inf(X):
    X = X.copy()
    X.loc[2, "b"] = np.inf
    X.loc[7, "c"] = np.nan
    return X


ESTIMATOR_CASES = {
    "NaN in the target": (
        lambda: (_xy()[0], np.where(np.arange(60) == 4, None, _xy()[1])),
        _fit(),
        "missing labels (NaN, row 5)",
    ),
    "class_weights of the wrong length": (
        _xy,
        _fit(loss="cross_entropy:class_weights=1/2/3"),
        "gives 3 class weights",
    ),
    "hidden_sizes=(100000, 100000)": (_xy, _fit(hidden_sizes=(100000, 100000)), "needs about"),
    "NaN and inf in an array": (
        lambda: (_with_inf(_xy()[0]).to_numpy(), _xy()[1]),
        _fit(),
        "column 1 (inf in row 3), column 2 (NaN in row 8)",
    ),
    "inf in a table (gaps are filled)": (
        lambda: (_with_inf(_xy()[0]), _xy()[1]),
        _fit(),
        "infinite values (infinity) in 'b' (inf in row 3)",
    ),
    "lr=1e6 (divergence)": (_xy, _fit(lr=1e6, schedule="constant", epochs=5), "Training diverged"),
    "a regression-like float target": (
        lambda: (_xy()[0], np.round(_xy()[0]["b"].to_numpy() * 100)),
        _fit(),
        "continuous (regression) target",
    ),
    "renamed feature columns at predict": (
        _xy,
        lambda X, y: _fit()(X, y).predict(X.rename(columns={"b": "B"})),
        "feature names should match",
    ),
}


@pytest.mark.parametrize("case", ESTIMATOR_CASES)
def test_estimator_raises_a_headkit_value_error(case):
    make, call, fragment = ESTIMATOR_CASES[case]
    with pytest.raises(HeadkitError) as info:
        call(*make())
    assert isinstance(info.value, (ValueError, TypeError))
    assert fragment in str(info.value)
