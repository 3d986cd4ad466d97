import numpy as np
import pytest
import torch

from headkit.evaluation import depth_width_report
from headkit.nn import HeadNet


def test_report_matches_a_naive_forward_and_the_aspect_ratio():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(32, 16, 16), norm="batch")
    X = np.random.default_rng(0).normal(size=(50, 6)).astype(np.float32)
    report = depth_width_report(net, X)
    net.eval()
    h = torch.as_tensor(X)
    expected = []
    with torch.no_grad():
        for block in net.trunk.blocks:  # standardisation is the identity here
            z = block.linear(h)
            expected.append(float(z.double().pow(2).mean()))
            h = block(h)
    assert report["depth"] == 3 and report["widths"] == [32, 16, 16]
    assert report["aspect_ratio"] == pytest.approx(1 / 32 + 2 / 16)
    np.testing.assert_allclose(report["preactivation_second_moments"], expected, rtol=1e-6)
    assert report["signal_ratio"] == pytest.approx(expected[-1] / expected[0])


def test_default_init_vanishes_and_critical_init_keeps_the_signal_in_a_deep_relu_trunk():
    X = np.random.default_rng(0).normal(size=(256, 128)).astype(np.float32)
    torch.manual_seed(0)
    default = HeadNet(n_features=128, n_classes=3, hidden_sizes=(128,) * 20, dropout=0.0)
    torch.manual_seed(0)
    critical = HeadNet(
        n_features=128, n_classes=3, hidden_sizes=(128,) * 20, dropout=0.0, init="critical"
    )
    # PyTorch's default: weight and bias variance 1/(3·fan_in), C_W = 1/3, C_b = 1/384. The
    # recursion K ← C_b + C_W·K/2 forgets the input and settles at C_b / (1 − C_W/2).
    c_w, c_b = 1 / 3, 1 / (3 * 128)
    k_first = c_b + c_w * float((X**2).mean())
    expected = (c_b / (1 - c_w / 2)) / k_first
    assert depth_width_report(default, X)["signal_ratio"] == pytest.approx(expected, rel=0.3)
    assert expected < 0.01
    assert 0.2 < depth_width_report(critical, X)["signal_ratio"] < 5
