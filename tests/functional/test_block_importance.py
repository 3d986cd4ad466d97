"""Block importance (catalogue J6): cosine, angular distance, L2 "void" criterion."""

import math

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.evaluation import block_importance, void_blocks
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet


def naive(h_in, h_out):
    """Row loops in Python floats: (1 − mean cos, mean angle/π, mean relative norm change)."""
    cosines, angles, changes = [], [], []
    for a, b in zip(h_in.tolist(), h_out.tolist(), strict=True):
        na = math.sqrt(sum(v * v for v in a))
        nb = math.sqrt(sum(v * v for v in b))
        c = 1.0 if na == nb == 0 else sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)
        c = max(-1.0, min(1.0, c))
        cosines.append(c)
        angles.append(math.acos(c) / math.pi)
        changes.append(0.0 if na == nb == 0 else abs(nb - na) / na)
    n = len(cosines)
    return 1 - sum(cosines) / n, sum(angles) / n, sum(changes) / n


def test_criteria_match_naive_formulas_and_distances_lie_in_unit_interval():
    g = torch.Generator().manual_seed(0)
    h_in = torch.randn(30, 5, generator=g, dtype=torch.float64)
    h_out = torch.randn(30, 5, generator=g, dtype=torch.float64)
    h_out[0] = -2 * h_in[0]  # opposite: distance 1
    h_out[1] = 3 * h_in[1]  # same direction: distance 0, norm change 2
    h_in[2] = h_out[2] = 0.0
    cos, ang, l2 = naive(h_in, h_out)
    assert F.cosine_importance(h_in, h_out).item() == pytest.approx(cos, rel=1e-12)
    assert F.angular_distance(h_in, h_out).item() == pytest.approx(ang, rel=1e-12)
    assert F.l2_norm_change(h_in, h_out).item() == pytest.approx(l2, rel=1e-12)
    for i, expected in ((0, 1.0), (1, 0.0), (2, 0.0)):
        got = F.angular_distance(h_in[i : i + 1], h_out[i : i + 1]).item()
        assert got == pytest.approx(expected, abs=1e-7)
    many = F.angular_distance(torch.randn(500, 3, generator=g), torch.randn(500, 3, generator=g))
    assert 0.0 <= many.item() <= 1.0


def _residual_net(zero_block: int) -> HeadNet:
    torch.manual_seed(0)
    net = HeadNet(n_features=8, n_classes=3, hidden_sizes=(8, 8, 8), residual=True, dropout=0.0)
    linear = net.trunk.blocks[zero_block].linear
    with torch.no_grad():
        linear.weight.zero_()
        linear.bias.zero_()
    return net.eval()


@pytest.mark.parametrize("criterion", ["cosine", "angular", "l2"])
def test_zero_branch_block_scores_zero_is_dropped_first_and_its_removal_is_exact(criterion):
    net = _residual_net(zero_block=1)
    x = torch.randn(64, 8, generator=torch.Generator().manual_seed(1))
    scores = block_importance(net, x.numpy(), criterion)
    assert scores[1] == 0.0 and (scores[[0, 2]] > 0).all()
    assert int(np.nanargmin(scores)) == 1
    smaller = net.drop_blocks([1]).eval()
    with torch.no_grad():
        assert torch.equal(smaller(x), net(x))  # bit-identical


def test_cosine_criterion_agrees_with_block_redundancy_and_voids_are_flagged():
    net = _residual_net(zero_block=2)
    x = torch.randn(50, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        redundancy = net.block_redundancy(x).numpy()
    np.testing.assert_allclose(block_importance(net, x.numpy(), "cosine"), redundancy, rtol=1e-5)
    assert void_blocks(net, x.numpy(), threshold=0.05).tolist() == [False, False, True]
    change = torch.tensor([0.5, float("nan"), 0.01, 0.2])
    assert F.void_mask(change, 0.1).tolist() == [False, False, True, False]


def test_criterion_by_name_on_a_saved_run(blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    clf = HeadClassifier(hidden_sizes=(16, 16), residual=True, epochs=3, random_state=0)
    clf.fit(X, y).save(tmp_path / "m")
    back = HeadClassifier.load(tmp_path / "m")
    for name in ("cosine", "angular", "l2"):
        a, b = block_importance(clf, X_test, name), block_importance(back, X_test, name)
        assert np.isnan(a[0]) and np.isfinite(a[1])  # 5 → 16 changes the width
        np.testing.assert_allclose(a, b)
    with pytest.raises(ConfigError, match="Did you mean 'angular'"):
        block_importance(clf, X_test, "angle")


def test_angular_distance_over_runs_of_n_blocks():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=2, hidden_sizes=(6,) * 4, residual=True, dropout=0.0)
    with torch.no_grad():
        for i in (1, 2):  # blocks 1 and 2 pass their input through unchanged
            net.trunk.blocks[i].linear.weight.zero_()
            net.trunk.blocks[i].linear.bias.zero_()
    net.eval()
    x = torch.randn(40, 6, generator=torch.Generator().manual_seed(3))
    runs = block_importance(net, x.numpy(), "angular:n=2")
    assert runs.shape == (3,) and int(np.argmin(runs)) == 1 and runs[1] == 0.0
    with torch.no_grad():
        acts = net.layer_outputs(x, include_input=True)
    for start in (0, 2):
        _, ang, _ = naive(acts[start].double(), acts[start + 2].double())
        assert runs[start] == pytest.approx(ang, rel=1e-6)
    smaller = net.drop_blocks([1, 2]).eval()
    with torch.no_grad():
        assert torch.equal(smaller(x), net(x))
