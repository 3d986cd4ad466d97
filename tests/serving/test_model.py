"""The server's engine: the rule `headkit predict` follows, and each engine's answers agree."""

import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from headkit.inference.saved_model import SavedModel
from headkit.serving.model import SPLIT_ROWS, load_model

X = np.random.default_rng(1).normal(size=(7, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def margin_run(tmp_path_factory):
    """A run with a cosine head, which the NumPy engine does not cover."""
    run = tmp_path_factory.mktemp("margin") / "run"
    rng = np.random.default_rng(0)
    features = rng.normal(size=(80, 4)).astype(np.float32)
    labels = (features[:, 0] > 0).astype(int)
    model = HeadClassifier(hidden_sizes=(8,), head="cosine", epochs=2, random_state=0)
    model.fit(features, labels).save(run)
    return run


def test_auto_picks_the_engine_predict_picks_plus_torch_for_large_calls(small_run, margin_run):
    assert SavedModel.load(small_run, engine="auto").engine == "numpy"
    assert SavedModel.load(margin_run, engine="auto").engine == "torch"
    assert load_model(small_run).engine == "numpy+torch"
    assert load_model(margin_run).engine == "torch"


def test_the_split_model_answers_small_and_large_calls_alike(small_run):
    served, torch_model = load_model(small_run), load_model(small_run, "torch")
    many = np.random.default_rng(2).normal(size=(SPLIT_ROWS + 9, 4)).astype(np.float32)
    for rows in (many[:1], many[:SPLIT_ROWS], many):
        expected = torch_model.predict_proba(rows)
        np.testing.assert_allclose(served.predict_proba(rows), expected, rtol=1e-5, atol=1e-7)


def test_numpy_serving_agrees_with_torch_one_row_at_a_time_and_in_batches(small_run):
    served, torch_model = load_model(small_run, "numpy"), load_model(small_run, "torch")
    expected = torch_model.predict_proba(X)
    np.testing.assert_allclose(served.predict_proba(X), expected, rtol=1e-5, atol=1e-7)
    one_by_one = np.concatenate([served.predict_proba(X[i : i + 1]) for i in range(len(X))])
    np.testing.assert_allclose(one_by_one, expected, rtol=1e-5, atol=1e-7)


def test_numpy_is_refused_for_a_network_it_does_not_cover(margin_run):
    with pytest.raises(ConfigError, match="engine='torch'"):
        load_model(margin_run, engine="numpy")


@pytest.mark.slow
def test_the_onnx_engine_agrees_with_torch(small_run):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    served = load_model(small_run, engine="onnx")
    assert served.engine == "onnx"
    expected = load_model(small_run, "torch").predict_proba(X)
    np.testing.assert_allclose(served.predict_proba(X), expected, rtol=1e-5, atol=1e-6)


def test_a_server_process_hands_the_gil_back_soon_and_keeps_freed_memory(small_run, monkeypatch):
    import platform
    import sys

    from headkit.serving import server
    from headkit.serving.options import ServeOptions

    kept = []
    monkeypatch.setattr(server, "_keep_freed_memory", kept.append)
    before = sys.getswitchinterval()
    try:
        app = server.build_app(small_run, ServeOptions())
        assert sys.getswitchinterval() == pytest.approx(server.SWITCH_INTERVAL_S)
        assert server.SWITCH_INTERVAL_S < before and app.model.engine == "numpy+torch"
    finally:
        sys.setswitchinterval(before)
    assert kept == [server.KEEP_FREED_BYTES]
    monkeypatch.undo()
    if platform.libc_ver()[0] == "glibc":
        assert server._keep_freed_memory(server.KEEP_FREED_BYTES)
