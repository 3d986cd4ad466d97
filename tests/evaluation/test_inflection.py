"""Inflection-layer flag (catalogue J3): low output entropy plus a steep gradient fall."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.evaluation.inflection import inflection_layers, normalised_entropy
from headkit.evaluation.layer_diagnostics import gradient_norms
from headkit.nn import HeadNet
from headkit.training.diagnostics_tracking import diagnostics_row


def test_flags_by_hand():
    names = ["block 1", "block 2", "block 3", "logits"]
    out = inflection_layers(names, [0.01, 0.5, 0.6, 0.8], [0.2, 0.3, 0.9, 0.4])
    np.testing.assert_allclose(out["decay"], [0.02, 0.5 / 0.6, 0.75])
    assert out["inflection"] == ["block 1"]  # block 2: no steep fall; block 3: high entropy
    out = inflection_layers(names, [0.1, 0.01, 0.1, 0.0], [0.1, 0.1, 0.1, 0.1])
    assert out["inflection"] == ["block 2"] and np.isnan(out["decay"][2])
    with pytest.raises(ValueError, match="same length"):
        inflection_layers(names, [1.0], [1.0])


def test_normalised_entropy_of_uniform_and_one_hot():
    assert normalised_entropy(torch.zeros(3, 8)) == pytest.approx(1.0)
    assert normalised_entropy(torch.eye(8) * 1e4) == pytest.approx(0.0, abs=1e-9)


def test_softmax_ce_logit_gradient_vanishes_as_outputs_saturate():
    """‖∂L/∂z‖ = ‖p − y‖ → 0 as p → y (the catalogue's saturation property)."""
    y = torch.tensor([2])
    norms = []
    for scale in (0.1, 1.0, 5.0, 20.0):
        z = (torch.eye(4)[2] * scale).unsqueeze(0).requires_grad_()
        torch.nn.functional.cross_entropy(z, y).backward()
        p = torch.softmax(z.detach(), -1)
        torch.testing.assert_close(z.grad.norm(), (p - torch.eye(4)[2]).norm())
        norms.append(float(z.grad.norm()))
    assert norms == sorted(norms, reverse=True) and norms[-1] < 1e-7


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.randn(200, 6, generator=g), torch.randint(0, 3, (200,), generator=g)


def test_a_saturated_block_that_suppresses_the_gradient_is_flagged():
    torch.manual_seed(0)
    X, y = _data()
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(16, 16), dropout=0.0).eval()
    assert gradient_norms(net, X, y)["inflection"]["inflection"] == []  # a fresh network
    with torch.no_grad():
        net.trunk.blocks[0].linear.weight.mul_(60.0)  # block 1 outputs: a few huge units
        net.trunk.blocks[1].linear.weight.mul_(0.01)  # block 2 passes back 1 % of the gradient
    out = gradient_norms(net, X, y)
    assert out["inflection"]["inflection"] == ["block 1"]
    assert diagnostics_row(net, X.numpy(), y.numpy())["inflection_layer"] == 1.0


def test_track_diagnostics_records_the_flag_per_epoch(blobs_data):
    X, y, _, _ = blobs_data
    model = HeadClassifier(hidden_sizes=(8, 8), epochs=2, track_diagnostics=True, random_state=0)
    model.fit(X, y)
    column = [row["inflection_layer"] for row in model.history_]
    assert len(column) == 2 and all(v in (0.0, 1.0, 2.0) for v in column)
