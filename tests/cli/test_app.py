import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit.cli.app import app
from headkit.estimator.presets import preset_values

runner = CliRunner()
QUICK = ["--epochs", "3", "--hidden-sizes", "16", "--quiet"]


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def labelled_csv(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = np.where(X[:, 0] > 0, "yes", "no")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"]).assign(answer=y)
    path = tmp_path / "train.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def run_dir(tmp_path, labelled_csv):
    out = tmp_path / "run"
    result = invoke(
        "train",
        "--data",
        labelled_csv,
        "--target",
        "answer",
        "--out",
        out,
        "--epochs",
        "60",
        "--hidden-sizes",
        "16",
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    return out


def test_train_builtin_dataset_writes_a_run(tmp_path):
    out = tmp_path / "run"
    result = invoke(
        "train", "--dataset", "digits", "--out", out, "--epochs", "3", "--hidden-sizes", "32"
    )
    assert result.exit_code == 0, result.output
    files = {p.name for p in out.iterdir()}
    assert files >= {
        "model.safetensors",
        "config.json",
        "metrics.json",
        "history.csv",
        "mahalanobis.safetensors",  # OOD statistics of the training split
    }
    # digits has constant pixels, which the table preprocessing drops (and names in `info`);
    # a held-out split leaves its conformal scores
    assert files - {
        "model.safetensors",
        "config.json",
        "metrics.json",
        "history.csv",
        "mahalanobis.safetensors",
    } <= {"preprocessing.json", "conformal.safetensors"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["splits"]) == {"train", "test"}
    assert len(pd.read_csv(out / "history.csv")) == metrics["epochs_run"] == 3
    assert "accuracy" in result.output and "run written to" in result.output


def test_train_from_file_then_predict_restores_label_names(tmp_path, run_dir, labelled_csv):
    preds = tmp_path / "preds.csv"
    result = invoke("predict", run_dir, labelled_csv, "-o", preds)
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(preds)
    assert list(frame.columns) == ["label", "proba_no", "proba_yes"]
    assert set(frame["label"]) <= {"yes", "no"}
    np.testing.assert_allclose(frame[["proba_no", "proba_yes"]].sum(axis=1), 1.0, rtol=1e-5)
    truth = pd.read_csv(labelled_csv)["answer"]
    assert (frame["label"] == truth).mean() > 0.8


def test_evaluate_reports_unseen_labels_instead_of_crashing(tmp_path, run_dir, labelled_csv):
    frame = pd.read_csv(labelled_csv)
    frame.loc[:9, "answer"] = "maybe"
    path = tmp_path / "eval.csv"
    frame.to_csv(path, index=False)
    result = invoke("evaluate", run_dir, path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{") :])
    assert report["unseen_label_rows"] == 10 and report["unseen_labels"] == ["maybe"]
    assert report["n_samples"] == 110


def test_info_and_evaluate_on_builtin_name(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", "--dataset", "digits", "--out", out, *QUICK).exit_code == 0
    result = invoke("info", out)
    assert result.exit_code == 0 and "hidden_sizes" in result.output and "classes" in result.output
    result = invoke("evaluate", out, "digits")
    assert result.exit_code == 0 and "accuracy" in result.output


def bad_table(tmp_path, **columns):
    path = tmp_path / "bad.csv"
    pd.DataFrame(columns).to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["train", "--data", t / "missing.csv", "--target", "y"], "No file at"),
        (
            lambda t: ["train", "--data", bad_table(t, a=[1, 2], y=[0, 1]), "--target", "label"],
            "Column 'label' is not in",
        ),
        (
            lambda t: [
                "train",
                "--data",
                bad_table(t, a=[1.0, 2.0, 3.0], y=[0, 0, 0]),
                "--target",
                "y",
            ],
            "only one class",
        ),
        (lambda t: ["train", "--data", bad_table(t, a=[1.0], y=[0])], "--target"),
        (lambda t: ["train", "--target", "y"], "--target only applies with --data"),
        (lambda t: ["train", "--dropout", "standrd", "--out", t / "r"], "Did you mean"),
        (lambda t: ["train", "--hidden-sizes", "a,b", "--out", t / "r"], "--hidden-sizes"),
        (lambda t: ["train", "--out", t], "already exists; pass --overwrite"),
        (lambda t: ["evaluate", t / "nowhere", "digits"], "No model at"),
        (lambda t: ["predict", t, "digits", "-o", t / "p.csv"], "no config.json"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(tmp_path, make_args, message):
    args = make_args(tmp_path)
    result = invoke(*args, *(QUICK[:2] if args[0] == "train" else []))
    assert result.exit_code == 2, result.output
    assert message in result.output.replace("\n", " ")
    assert "Traceback" not in result.output


def test_overwrite_replaces_an_existing_run(tmp_path):
    out = tmp_path / "run"
    assert invoke("train", "--dataset", "digits", "--out", out, *QUICK).exit_code == 0
    assert (
        invoke("train", "--dataset", "digits", "--out", out, "--overwrite", *QUICK).exit_code == 0
    )


def _headkit(*args):
    return subprocess.run(
        [sys.executable, "-m", "headkit", *map(str, args)], capture_output=True, text=True
    )


def test_debug_shows_the_traceback(tmp_path):
    missing = tmp_path / "nowhere"
    plain = _headkit("evaluate", missing, "digits")
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr and "No model at" in plain.stderr
    debug = _headkit("--debug", "evaluate", missing, "digits")
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "headkit.exceptions.ModelFileError: No model at" in debug.stderr


def test_every_fit_setting_is_a_flag_with_the_estimators_default():
    import inspect

    from headkit import HeadClassifier
    from headkit.cli.settings import dropout_value, estimator_params, parse_sizes
    from headkit.estimator.presets import apply_preset

    train = next(c.callback for c in app.registered_commands if c.name == "train")
    flags = inspect.signature(train).parameters
    estimator = inspect.signature(HeadClassifier).parameters
    settings = [name for name in estimator if name != "verbose"]
    assert set(settings) <= set(flags)
    parsed = estimator_params({name: flags[name].default for name in settings})
    # a setting a preset may change defaults to "auto" in both; resolved, they are the library's
    resolved = apply_preset(None, {name: estimator[name].default for name in settings})
    for name in settings:
        assert apply_preset(None, parsed)[name] == resolved[name], name
    import typer

    options = typer.main.get_command(app).commands["train"].params
    opts = {o for param in options for o in param.opts}
    assert {"--gradient-noise-gamma", "--track-collapse", "--random-state", "--seed"} <= opts
    helps = {param.name: param.help for param in options}
    assert helps["standardize"].startswith("Scale features by the training mean")
    assert parse_sizes("none") == () and dropout_value("multisample:k=8") == "multisample:k=8"


@pytest.mark.parametrize("command", [[], ["train"], ["evaluate"], ["predict"], ["info"]])
def test_help_everywhere(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage" in result.output


def test_help_does_not_import_torch():
    code = "import sys; from headkit.cli.app import app; sys.argv=['headkit','--help']\ntry:\n app()\nexcept SystemExit: pass\nprint('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().endswith("False")


@pytest.mark.parametrize("suffix", [".tsv", ".parquet"])
def test_predict_drops_the_label_column_of_tsv_and_parquet(tmp_path, suffix):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    frame = pd.DataFrame(X, columns=["a", "b", "c"]).assign(
        answer=np.where(X[:, 0] > 0, "yes", "no")
    )
    data = tmp_path / f"train{suffix}"
    if suffix == ".tsv":
        frame.to_csv(data, sep="\t", index=False)
    else:
        frame.to_parquet(data)
    run = tmp_path / "run"
    assert (
        invoke("train", "--data", data, "--target", "answer", "--out", run, *QUICK).exit_code == 0
    )
    result = invoke("predict", run, data, "-o", tmp_path / "preds.csv")
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert len(preds) == 120 and set(preds["label"]) <= {"yes", "no"}


def test_train_with_a_preset_and_threads_and_info_shows_them(tmp_path):
    out = tmp_path / "run"
    args = ["--dataset", "digits", "--out", out, "--preset", "accurate:epochs=1"]
    result = invoke("train", *args, "--threads", "1", "--quiet")
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["network"]["hidden_sizes"] == list(preset_values("accurate")["hidden_sizes"])
    assert config["metadata"]["training"]["preset"] == "accurate:epochs=1"
    assert config["metadata"]["training"]["threads"] == 1
    assert config["metadata"]["threads"] == 1
    shown = invoke("info", out).output
    assert "accurate:epochs=1" in shown
    assert "threads (this fit)" in shown
