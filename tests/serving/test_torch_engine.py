"""The server's torch forward: predict_arrays' numbers at the thread count fixed at start."""

import numpy as np
import torch

from headkit.inference.forward import predict_arrays
from headkit.inference.saved_model import SavedModel
from headkit.serving.model import load_model
from headkit.serving.torch_engine import TorchNet


def test_torch_net_gives_predict_arrays_probabilities_in_float64(small_run):
    saved = SavedModel.load(small_run, engine="torch")
    rows = np.random.default_rng(3).normal(size=(300, 4)).astype(np.float32)
    expected = predict_arrays(saved.network, rows).proba.numpy()
    got = TorchNet(saved.network).predict_proba(rows)
    assert got.dtype == np.float64 and got.shape == (300, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_served_torch_calls_skip_the_thread_policy(small_run, monkeypatch):
    import headkit.threads

    served = load_model(small_run, "torch")
    assert served.engine == "torch" and isinstance(served.network, TorchNet)
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr(headkit.threads, "resolve_threads", lambda *a: calls.append(a) or 1)
    served.predict_proba(np.zeros((5000, 4), dtype=np.float32))
    assert calls == []  # predict_arrays would ask the policy (and may read the machine's load)
    assert served.torch_network() is served.network.net  # MC dropout / OOD get the HeadNet
