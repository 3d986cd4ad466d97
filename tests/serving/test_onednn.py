"""The oneDNN copy of a network: which layers move, same probabilities, a clean fallback."""

import numpy as np
import pytest
import torch

from headkit.config import NetworkConfig
from headkit.inference.saved_model import SavedModel
from headkit.nn.network import HeadNet
from headkit.serving import onednn
from headkit.serving.onednn import OneDnnLinear, onednn_copy
from headkit.serving.torch_engine import TorchNet

pytestmark = pytest.mark.skipif(
    not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN"
)


def _net(**settings) -> HeadNet:
    torch.manual_seed(0)
    config = NetworkConfig(n_features=6, n_classes=3, hidden_sizes=(16, 16), **settings)
    net = HeadNet(config).eval()
    with torch.no_grad():  # a non-trivial input standardisation and bias
        net.feature_mean.normal_()
        net.feature_scale.uniform_(0.5, 2.0)
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


def _proba(net, rows):
    with torch.inference_mode():
        return net.probabilities(net(torch.from_numpy(rows)).double()).numpy()


@pytest.mark.parametrize(
    ("settings", "fused"),
    [({}, True), ({"activation": "gelu"}, False), ({"norm": "layer"}, False)],
)
def test_linear_layers_move_to_onednn_and_answer_alike(settings, fused):
    net = _net(**settings)
    copy = onednn_copy(net)
    moved = [m for m in copy.modules() if isinstance(m, OneDnnLinear)]
    assert len(moved) == 3 and moved[-1] is copy.head and moved[-1].attr == "none"
    assert all(m.attr == ("relu" if fused else "none") for m in moved[:-1])
    assert not any(isinstance(m, torch.nn.Linear) for m in copy.modules())
    assert any(type(m) is torch.nn.Linear for m in net.modules())  # the original is untouched
    rng = np.random.default_rng(1)
    for n in (1, 7, 129, 3000):
        rows = rng.normal(size=(n, 6)).astype(np.float32) * 3
        np.testing.assert_allclose(_proba(copy, rows), _proba(net, rows), rtol=1e-5, atol=1e-7)


def test_a_network_without_plain_linear_layers_gets_no_copy():
    assert onednn_copy(torch.nn.Sequential(torch.nn.ReLU())) is None


def test_missing_onednn_ops_leave_the_plain_trace(small_run, monkeypatch):
    def missing(*args):
        raise RuntimeError("No such operator mkldnn::_reorder_linear_weight")

    saved = SavedModel.load(small_run, engine="torch")
    rows = np.random.default_rng(2).normal(size=(9, 4)).astype(np.float32)
    with_onednn, without = TorchNet(saved.network), TorchNet(saved.network)
    assert with_onednn.trace(rows)
    assert "mkldnn::_linear_pointwise" in str(with_onednn.script.inlined_graph)
    monkeypatch.setattr(onednn.torch.ops.mkldnn, "_reorder_linear_weight", missing)
    assert onednn_copy(saved.network) is None
    assert without.trace(rows)
    assert "mkldnn::_linear_pointwise" not in str(without.script.inlined_graph)
    np.testing.assert_allclose(
        with_onednn.predict_proba(rows), without.predict_proba(rows), rtol=1e-5, atol=1e-7
    )
