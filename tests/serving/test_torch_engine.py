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


def test_the_traced_forward_answers_as_the_eager_one_at_every_batch_size(small_run):
    saved = SavedModel.load(small_run, engine="torch")
    eager, traced = TorchNet(saved.network), TorchNet(saved.network)
    rng = np.random.default_rng(4)
    assert traced.trace(rng.normal(size=(9, 4)).astype(np.float32))
    assert traced.script is not None and eager.script is None
    for n in (1, 2, 130, 1000):
        rows = rng.normal(size=(n, 4)).astype(np.float32)
        got = traced.predict_proba(rows)
        assert got.dtype == np.float64 and got.shape == (n, 2)
        # oneDNN's matmul sums in another order than nn.Linear's: float32 rounding apart
        np.testing.assert_allclose(got, eager.predict_proba(rows), rtol=1e-5, atol=1e-7)


class Branching(torch.nn.Module):
    """A forward with a data-dependent branch: a trace records only the branch it saw."""

    config = metadata = None

    def forward(self, x):
        return x[:, :2] * 2 if bool(x.sum() > 0) else x[:, :2] * 3

    def probabilities(self, z):
        return torch.softmax(z, dim=1)


def test_a_trace_that_answers_otherwise_is_dropped():
    net = TorchNet(Branching())
    rows = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]], dtype=np.float32)  # sum > 0; row 0 > 0
    assert net.trace(rows)  # both checks take the branch the trace saw
    negative = TorchNet(Branching())
    rows = np.array([[-1.0, -2.0, 0.0], [9.0, 0.5, 0.0]], dtype=np.float32)  # sum > 0; row 0 < 0
    assert not negative.trace(rows) and negative.script is None
    np.testing.assert_allclose(
        negative.predict_proba(rows[:1]), torch.softmax(torch.tensor(rows[:1, :2]) * 3, 1)
    )


def test_auto_serves_large_calls_through_the_traced_forward(small_run):
    served = load_model(small_run)
    assert served.large.network.script is not None
