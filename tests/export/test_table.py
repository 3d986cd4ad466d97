import numpy as np
import pytest
import torch

from headkit import io
from headkit.exceptions import ExportError
from headkit.export.onnx import export_onnx
from headkit.io import PREPROCESSING as PREPROCESSING_FILE
from headkit.nn import HeadNet

ort = pytest.importorskip("onnxruntime")
STATE = {
    "format_version": 1,
    "max_onehot": 16,
    "hash_buckets": 32,
    "columns": [
        {
            "name": "bill",
            "role": "numeric",
            "median": 41.0,
            "mean": 42.5,
            "scale": 5.0,
            "indicator": True,
        },
        {"name": "island", "role": "onehot", "categories": ["Biscoe", "Dream", "Torgersen"]},
        {
            "name": "mass",
            "role": "numeric",
            "median": 4000.0,
            "mean": 4100.0,
            "scale": 700.0,
            "indicator": False,
        },
    ],
}


def naive_encoding(bill, island, mass):
    """The encoding written out by hand: impute, scale, flag; one-hot with an unknown slot."""
    rows = []
    for b, i, m in zip(bill, island, mass, strict=True):
        filled = 41.0 if np.isnan(b) else b
        onehot = [float(i == c) for c in ("Biscoe", "Dream", "Torgersen")]
        onehot.append(1.0 - sum(onehot))
        rows.append([(filled - 42.5) / 5.0, float(np.isnan(b)), *onehot, (m - 4100.0) / 700.0])
    return np.array(rows, dtype=np.float32)


def table_run(path, state, n_features=7):
    torch.manual_seed(0)
    net = HeadNet(n_features=n_features, n_classes=3, hidden_sizes=(8,), output="sparsemax").eval()
    meta = {
        "classes": [10, 20, 30],
        "classes_dtype": "<i8",
        "feature_names": ["bill", "island", "mass"],
    }
    io.save(
        net, path, metadata=meta, extra_files={PREPROCESSING_FILE: __import__("json").dumps(state)}
    )
    return path, net


def test_table_columns_become_graph_inputs_with_the_encoding_in_the_graph(tmp_path):
    run, net = table_run(tmp_path / "run", STATE)
    session = ort.InferenceSession(str(export_onnx(run, tmp_path / "m.onnx")))
    assert [(i.name, i.type) for i in session.get_inputs()] == [
        ("bill", "tensor(float)"),
        ("island", "tensor(string)"),
        ("mass", "tensor(float)"),
    ]
    bill = np.array([40.0, np.nan, 55.0, 38.0], dtype=np.float32)
    island = np.array(["Dream", "Biscoe", "", "Mars"], dtype=object)  # "" missing, Mars unseen
    mass = np.array([3500.0, 4200.0, 5000.0, 3900.0], dtype=np.float32)
    feeds = {"bill": bill[:, None], "island": island[:, None], "mass": mass[:, None]}
    proba, label = session.run(None, feeds)
    with torch.no_grad():
        expected = net.predict_proba(torch.from_numpy(naive_encoding(bill, island, mass))).numpy()
    assert np.abs(proba - expected).max() <= 1e-5
    assert label.tolist() == np.array([10, 20, 30])[expected.argmax(axis=1)].tolist()


def test_hashed_columns_refuse_to_export(tmp_path):
    state = {
        **STATE,
        "columns": [
            *STATE["columns"][:2],
            {"name": "mass", "role": "hash", "buckets": 3, "n_seen": 40},
        ],
    }
    run, _ = table_run(tmp_path / "run", state)
    with pytest.raises(ExportError, match="Column 'mass' is hashed"):
        export_onnx(run, tmp_path / "m.onnx")


def test_boolean_date_identifier_and_constant_columns_export_like_the_preprocessor(tmp_path):
    """Each role's ONNX nodes against TablePreprocessor.transform on the same rows."""
    import json

    import pandas as pd

    from headkit.data.preprocessing import TablePreprocessor

    rng = np.random.default_rng(0)
    n = 300
    stamps = pd.Timestamp("1960-02-29") + pd.to_timedelta(rng.integers(0, 80 * 365 * 86400, n),
                                                          unit="s")  # fmt: skip
    frame = pd.DataFrame(
        {
            "id": [f"row-{i}" for i in range(n)],
            "member": rng.choice(["Yes", "no", "?"], n),
            "when": stamps.strftime("%Y-%m-%d %H:%M:%S"),
            "size": rng.normal(size=n),
            "kind": rng.choice(["a", "b"], n),
            "same": "x",
        }
    )
    frame.loc[3, "when"] = "?"
    pre = TablePreprocessor().fit(frame)
    assert [e["role"] for e in pre.columns_] == [
        "identifier", "boolean", "datetime", "numeric", "onehot", "constant",
    ]  # fmt: skip
    state = json.loads(json.dumps(pre.to_dict()))
    torch.manual_seed(0)
    net = HeadNet(n_features=len(pre.output_names), n_classes=2, hidden_sizes=(8,)).eval()
    meta = {"classes": ["p", "q"], "feature_names": list(frame.columns)}
    io.save(net, tmp_path / "run", metadata=meta,
            extra_files={PREPROCESSING_FILE: json.dumps(state)})  # fmt: skip
    session = ort.InferenceSession(str(export_onnx(tmp_path / "run", tmp_path / "m.onnx")))
    names = [i.name for i in session.get_inputs()]
    assert names == ["member", "when", "size", "kind"]  # no input for the id and the constant
    when = pd.to_datetime(frame["when"], errors="coerce")
    seconds = (when - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()
    feeds = {
        "member": frame["member"].to_numpy(dtype=object)[:, None],
        "when": seconds[:, None],
        "size": frame["size"].to_numpy(np.float32)[:, None],
        "kind": frame["kind"].to_numpy(dtype=object)[:, None],
    }
    proba = session.run(None, feeds)[0]
    with torch.no_grad():
        expected = net.predict_proba(torch.from_numpy(pre.transform(frame))).numpy()
    assert np.abs(proba - expected).max() <= 1e-5


def test_a_hashed_column_is_named_in_the_export_error(tmp_path):
    state = {**STATE, "columns": [{"name": "city", "role": "hash", "buckets": 4, "n_seen": 40}]}
    torch.manual_seed(0)
    net = HeadNet(n_features=5, n_classes=2, hidden_sizes=(4,)).eval()
    io.save(net, tmp_path / "run", metadata={"classes": [0, 1], "feature_names": ["city"]},
            extra_files={PREPROCESSING_FILE: __import__("json").dumps(state)})  # fmt: skip
    with pytest.raises(ExportError, match="Column 'city' is hashed"):
        export_onnx(tmp_path / "run", tmp_path / "m.onnx")


def test_smoothly_clipped_numeric_columns_export_with_the_clip_in_the_graph(tmp_path):
    columns = [dict(c) for c in STATE["columns"]]
    columns[2]["clip"] = True  # mass: robust_clip scaling
    run, net = table_run(tmp_path / "run", {**STATE, "columns": columns})
    session = ort.InferenceSession(str(export_onnx(run, tmp_path / "m.onnx")))
    bill = np.array([40.0, np.nan, 55.0], dtype=np.float32)
    island = np.array(["Dream", "Biscoe", ""], dtype=object)
    mass = np.array([3500.0, 4200.0, 50000.0], dtype=np.float32)  # the last far out
    proba, _ = session.run(None, {"bill": bill[:, None], "island": island[:, None],
                                  "mass": mass[:, None]})  # fmt: skip
    encoded = naive_encoding(bill, island, mass)
    encoded[:, -1] = encoded[:, -1] / np.sqrt(1 + (encoded[:, -1] / 3) ** 2)  # by hand
    with torch.no_grad():
        expected = net.predict_proba(torch.from_numpy(encoded)).numpy()
    assert np.abs(proba - expected).max() <= 1e-5


def test_piecewise_linear_bins_export_with_the_bins_in_the_graph(tmp_path):
    columns = [dict(c) for c in STATE["columns"]]
    columns[2]["edges"] = [3000.0, 4000.0, 4500.0, 6000.0]  # mass: 3 bins after its value
    run, net = table_run(tmp_path / "run", {**STATE, "columns": columns}, n_features=10)
    session = ort.InferenceSession(str(export_onnx(run, tmp_path / "m.onnx")))
    bill = np.array([40.0, np.nan, 55.0, 41.0], dtype=np.float32)
    island = np.array(["Dream", "Biscoe", "", "Torgersen"], dtype=object)
    mass = np.array([3500.0, 4200.0, 50000.0, 100.0], dtype=np.float32)
    proba, _ = session.run(None, {"bill": bill[:, None], "island": island[:, None],
                                  "mass": mass[:, None]})  # fmt: skip
    bins = np.array([[0.5, 0, 0], [1, 0.4, 0], [1, 1, 1], [0, 0, 0]], dtype=np.float32)
    encoded = np.hstack([naive_encoding(bill, island, mass), bins])  # by hand
    with torch.no_grad():
        expected = net.predict_proba(torch.from_numpy(encoded)).numpy()
    assert np.abs(proba - expected).max() <= 1e-5
