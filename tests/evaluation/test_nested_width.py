"""Choosing and deploying the nested-dropout width K (catalogue B5)."""

import pytest
import torch

from headkit.evaluation.nested import choose_width, width_curve, width_grid
from headkit.nn import HeadNet


def test_choose_width_is_the_smallest_within_the_budget():
    widths, acc = [1, 2, 4, 8, 16], [0.3, 0.6, 0.88, 0.9, 0.91]
    assert choose_width(widths, acc, 0.0) == 16
    assert choose_width(widths, acc, 0.01) == 8
    assert choose_width(widths, acc, 0.05) == 4
    assert choose_width(widths[::-1], acc[::-1], 0.05) == 4  # order does not matter
    assert choose_width(widths, acc, 1.0) == 1
    with pytest.raises(ValueError):
        choose_width(widths, acc, -0.1)


def test_grid():
    assert width_grid(5) == [1, 2, 3, 4, 5]
    grid = width_grid(256)
    assert grid[0] == 1 and grid[-1] == 256 and len(grid) <= 33 and grid == sorted(set(grid))


def test_curve_equals_the_full_network_with_the_cut_units_zeroed():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=4, hidden_sizes=(12, 10), dropout="nested").eval()
    X = torch.randn(300, 6)
    y = net.predict_proba(X).argmax(-1).numpy()  # the full network is right everywhere
    curve = width_curve(net, X.numpy(), y, widths=[2, 5, 10])
    assert curve["accuracy"][-1] == 1.0
    for k, acc in zip(curve["widths"], curve["accuracy"], strict=True):
        with torch.no_grad():
            feats = net.features(X)
            feats[:, k:] = 0
            pred = net.probabilities(net.head(feats)).argmax(-1).numpy()
        assert acc == pytest.approx(float((pred == y).mean()))
