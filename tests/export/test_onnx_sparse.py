"""A pruned run (catalogue K1/K2) exports its sparse matrices as ONNX sparse initializers."""

import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.export.onnx import export_onnx
from headkit.inference.saved_model import SavedModel
from tests.plain import PLAIN

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


def _fit_and_export(tmp_path, name, **params):
    from headkit.data import load_dataset

    d = load_dataset("digits")
    model = HeadClassifier(**PLAIN, hidden_sizes=(128, 128), epochs=4, random_state=0, **params)
    model.fit(d.X_train, d.y_train).save(tmp_path / name)
    return d.X_test.astype(np.float32), export_onnx(tmp_path / name, tmp_path / f"{name}.onnx")


def test_pruned_export_is_smaller_and_predicts_as_torch(tmp_path):
    X, dense = _fit_and_export(tmp_path, "dense")
    X, pruned = _fit_and_export(tmp_path, "pruned", prune="gmp:sparsity=0.9")
    graph = onnx.load(str(pruned)).graph
    # both Dense layers and the head are sparse initializers; nothing moved in the dense export
    assert len(graph.sparse_initializer) == 3
    assert len(onnx.load(str(dense)).graph.sparse_initializer) == 0
    # 103 kB of float32 matrices become 0.1 × 12 bytes (value + int64 index) per entry: 31 kB
    weights = sum(
        t.dims[0] * t.dims[1] * 4
        for t in onnx.load(str(dense)).graph.initializer
        if len(t.dims) == 2
    )
    saved = dense.stat().st_size - pruned.stat().st_size
    assert saved == pytest.approx(weights * (1 - 0.1 * 3), rel=0.02)
    session = ort.InferenceSession(str(pruned), providers=["CPUExecutionProvider"])
    proba, label = session.run(["probabilities", "label"], {"features": X})
    saved = SavedModel.load(tmp_path / "pruned", engine="torch")
    expected = saved.predict_proba(X)
    assert np.abs(proba - expected).max() <= 1e-5
    assert (label == saved.classes[expected.argmax(1)]).mean() > 0.99  # ties may break apart
