import json

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from headkit import io
from headkit.cli.app import app
from headkit.exceptions import ExportError
from headkit.export.onnx import UNSUPPORTED, export_onnx
from headkit.inference.saved_model import SavedModel
from headkit.nn import DROPOUTS, HEADS, OUTPUTS, HeadNet
from headkit.nn.activations import ACTIVATIONS

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
runner = CliRunner()
CLASSES = ["ant", "bee", "cow", "dog"]
NAMES = [f"f{i}" for i in range(6)]


def saved_run(path, **network):
    """A network with non-trivial buffers (scaling, temperature, norm statistics), saved as a run."""
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=4, hidden_sizes=(12,), **network)
    net.set_standardization(torch.randn(6), torch.rand(6) + 0.5)
    net.temperature.fill_(1.7)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_()
            module.running_var.uniform_(0.5, 2.0)
    meta = {"classes": CLASSES, "classes_dtype": "<U3", "feature_names": NAMES}
    io.save(net.eval(), path, metadata=meta)
    return path


def onnx_outputs(model_path, X):
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return session.run(["probabilities", "label"], {"features": X.astype(np.float32)})


def check_export_matches(tmp_path, **network):
    run = saved_run(tmp_path / "run", **network)
    X = np.random.default_rng(1).normal(scale=3.0, size=(33, 6)).astype(np.float32)
    expected = SavedModel.load(run).predict_proba(X)
    proba, label = onnx_outputs(export_onnx(run, tmp_path / "model.onnx"), X)
    assert np.abs(proba - expected).max() <= 1e-5
    assert label.tolist() == np.array(CLASSES)[expected.argmax(axis=1)].tolist()
    one_row = onnx_outputs(tmp_path / "model.onnx", X[:1])[0]
    assert np.abs(one_row - expected[:1]).max() <= 1e-5


@pytest.mark.parametrize("output", sorted(OUTPUTS))
def test_every_output_map_exports_or_says_why_not(tmp_path, output):
    if output in UNSUPPORTED["output"]:
        with pytest.raises(ExportError, match=f"output map '{output}' cannot be exported"):
            export_onnx(saved_run(tmp_path / "run", output=output), tmp_path / "m.onnx")
        assert not (tmp_path / "m.onnx").exists()
        return
    check_export_matches(tmp_path, output=output)


@pytest.mark.parametrize("head", sorted(HEADS))
def test_every_head_exports_or_says_why_not(tmp_path, head):
    if head in UNSUPPORTED["head"]:
        with pytest.raises(ExportError, match=f"head '{head}' cannot be exported"):
            export_onnx(saved_run(tmp_path / "run", head=head), tmp_path / "m.onnx")
        assert not (tmp_path / "m.onnx").exists()
        return
    check_export_matches(tmp_path, head=head)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_exports(tmp_path, activation):
    check_export_matches(tmp_path, activation=activation)


@pytest.mark.parametrize("dropout", DROPOUTS.names())
def test_every_dropout_kind_exports_as_its_eval_mode(tmp_path, dropout):
    check_export_matches(tmp_path, dropout=dropout)


def test_norms_and_residual_blocks_export(tmp_path):
    run = saved_run(tmp_path / "run", norm="batch", residual=True)
    X = np.random.default_rng(2).normal(size=(9, 6)).astype(np.float32)
    proba, _ = onnx_outputs(export_onnx(run, tmp_path / "m.onnx"), X)
    assert np.abs(proba - SavedModel.load(run).predict_proba(X)).max() <= 1e-5


def test_metadata_holds_labels_features_and_standardisation(tmp_path):
    run = saved_run(tmp_path / "run")
    model = onnx.load(str(export_onnx(run, tmp_path / "m.onnx")))
    props = {p.key: p.value for p in model.metadata_props}
    assert json.loads(props["headkit.classes"]) == CLASSES
    assert json.loads(props["headkit.feature_names"]) == NAMES
    scaling = json.loads(props["headkit.preprocessing"])["standardization"]
    net = SavedModel.load(run).network
    np.testing.assert_allclose(scaling["mean"], net.feature_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(scaling["scale"], net.feature_scale.numpy(), rtol=1e-6)
    assert json.loads(props["headkit.network"])["hidden_sizes"] == [12]
    assert [i.name for i in model.graph.input] == ["features"]


def test_cli_export_matches_cli_predict_on_the_test_split(tmp_path, mnist1d):
    run = tmp_path / "run"
    trained = runner.invoke(
        app, ["train", "--out", str(run), "--epochs", "2", "--hidden-sizes", "32", "--quiet"]
    )
    assert trained.exit_code == 0, trained.output
    exported = runner.invoke(
        app, ["export", str(run), "--format", "onnx", "-o", str(tmp_path / "m.onnx")]
    )
    assert exported.exit_code == 0, exported.output
    predicted = runner.invoke(app, ["predict", str(run), "mnist1d", "-o", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    table = pd.read_csv(tmp_path / "p.csv")
    proba, label = onnx_outputs(tmp_path / "m.onnx", mnist1d.X_test)
    assert np.abs(proba - table.filter(like="proba_").to_numpy()).max() <= 1e-5
    assert label.tolist() == table["label"].tolist()


@pytest.mark.parametrize(
    ("network", "args", "message"),
    [
        ({"output": "entmax_bisect"}, [], "output map 'entmax_bisect' cannot be exported"),
        ({}, ["--format", "tflite"], "Unknown export format 'tflite'"),
    ],
)
def test_cli_refusals_are_one_line_with_exit_status_2(tmp_path, network, args, message):
    run = saved_run(tmp_path / "run", **network)
    result = runner.invoke(app, ["export", str(run), "-o", str(tmp_path / "m.onnx"), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_export_refuses_to_overwrite_without_overwrite(tmp_path):
    """`export -o` replaced an existing file while `predict -o` refused (issue 25)."""
    run = saved_run(tmp_path / "run")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"precious")
    refused = runner.invoke(app, ["export", str(run), "-o", str(target)])
    assert refused.exit_code == 2 and "already exists; pass --overwrite" in refused.output
    assert target.read_bytes() == b"precious"
    replaced = runner.invoke(app, ["export", str(run), "-o", str(target), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert target.read_bytes() != b"precious"


def test_a_multi_label_model_exports_an_indicator_label(tmp_path):
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=4, hidden_sizes=(12,), output="sigmoid").eval()
    meta = {
        "classes": [0, 1, 2, 3],
        "classes_dtype": "<i8",
        "feature_names": NAMES,
        "multilabel": True,
    }
    io.save(net, tmp_path / "run", metadata=meta)
    X = np.random.default_rng(3).normal(scale=2.0, size=(20, 6)).astype(np.float32)
    proba, label = onnx_outputs(export_onnx(tmp_path / "run", tmp_path / "m.onnx"), X)
    expected = SavedModel.load(tmp_path / "run").predict_proba(X)
    assert np.abs(proba - expected).max() <= 1e-5
    np.testing.assert_array_equal(label, (expected > 0.5).astype(np.int64))


@pytest.mark.parametrize(
    "network",
    [{"block": "moe:experts=3,k=2"}, {"block": "moe:gumbel=true"}, {"input_gates": "stg"}],
    ids=["moe", "moe-gumbel", "stg-gates"],
)
def test_experts_and_input_gates_export(tmp_path, network):
    check_export_matches(tmp_path, **network)  # MoE: the dense form under export (no gathers)
