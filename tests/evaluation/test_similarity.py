import numpy as np
import pytest
import torch

from headkit.evaluation import block_redundancy, cka_matrix, linear_cka
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet


def _naive_cka(x, y):
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, gram_y = x @ x.T, y @ y.T
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, gram_y) / np.sqrt(hsic(k, k) * hsic(gram_y, gram_y))


def test_cka_identity_rotation_scale():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 8))
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, 3.7 * x @ q) == pytest.approx(1.0)
    assert linear_cka(x, x + 5.0) == pytest.approx(1.0)  # centring
    # a non-isotropic scaling is not invariant
    assert linear_cka(x, x * np.arange(1, 9)) < 0.99


def test_cka_independent_is_small_and_matches_naive():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 5))
    assert linear_cka(x, y) < 0.02
    a, b = rng.normal(size=(30, 4)), rng.normal(size=(30, 6))
    assert linear_cka(a, b) == pytest.approx(_naive_cka(a, b))
    # the Gram path (D > N) equals the feature path
    wide_a, wide_b = rng.normal(size=(10, 40)), rng.normal(size=(10, 3))
    assert linear_cka(wide_a, wide_b) == pytest.approx(_naive_cka(wide_a, wide_b))


def test_cka_matrix_symmetric_unit_diagonal():
    rng = np.random.default_rng(2)
    reps = [rng.normal(size=(50, d)) for d in (3, 4, 5)]
    m = cka_matrix([torch.as_tensor(r) for r in reps])
    np.testing.assert_allclose(m, m.T)
    np.testing.assert_allclose(np.diag(m), 1.0)
    assert m[0, 1] == pytest.approx(linear_cka(reps[0], reps[1]))


def test_block_redundancy_function():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(20, 4))
    r = block_redundancy([a, a, a], [a, -a, rng.normal(size=(20, 3))])
    assert r[0] == pytest.approx(0.0) and r[1] == pytest.approx(2.0) and np.isnan(r[2])


def test_headnet_layer_outputs_and_redundancy():
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(8, 8, 8), dropout=0.0).eval()
    x = torch.randn(40, 6)
    outs = net.layer_outputs(x, include_input=True)
    assert [tuple(o.shape) for o in outs] == [(40, 6), (40, 8), (40, 8), (40, 8)]
    torch.testing.assert_close(outs[-1], net.features(x))
    with torch.no_grad():
        red = net.block_redundancy(x).numpy()
        ref = block_redundancy([o.numpy() for o in outs[:-1]], [o.numpy() for o in outs[1:]])
    assert np.isnan(red[0]) and np.isnan(ref[0])
    np.testing.assert_allclose(red[1:], ref[1:], rtol=1e-5)


def test_residual_block_with_zero_branch_is_redundant_and_drop_is_exact():
    torch.manual_seed(1)
    net = HeadNet(
        n_features=5, n_classes=3, hidden_sizes=(8, 8, 8), residual=True, dropout=0.0
    ).eval()
    with torch.no_grad():
        net.trunk.blocks[1].linear.weight.zero_()
        net.trunk.blocks[1].linear.bias.fill_(-1.0)  # ReLU(−1) = 0: branch is zero
        net.temperature.fill_(1.7)
        net.set_standardization(torch.randn(5), torch.rand(5) + 0.5)
        x = torch.randn(30, 5)
        red = net.block_redundancy(x)
        assert red[1].item() == pytest.approx(0.0, abs=1e-7)
        assert red[2].item() > 1e-4
        small = net.drop_blocks([1])
        assert small.config.hidden_sizes == (8, 8)
        torch.testing.assert_close(small(x), net(x), rtol=0, atol=0)
        torch.testing.assert_close(small.predict_proba(x), net.predict_proba(x))
        assert not torch.equal(net.drop_blocks([2])(x), net(x))


def test_drop_blocks_rejects_width_breaks():
    net = HeadNet(n_features=5, n_classes=3, hidden_sizes=(8, 4, 8))
    with pytest.raises(ConfigError, match="widths agree"):
        net.drop_blocks([0])
    with pytest.raises(ConfigError, match="widths agree"):
        net.drop_blocks([2])
    with pytest.raises(ConfigError, match="out of range"):
        net.drop_blocks([3])
    # 8 → 4 → 8: dropping both middle blocks keeps the chain
    assert net.drop_blocks([1, 2]).config.hidden_sizes == (8,)
