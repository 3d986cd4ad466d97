"""Layer diagnostics (gradients, spectra, probes), per-epoch tracking and gradient leakage."""

import itertools

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from headkit import HeadClassifier
from headkit.evaluation.layer_diagnostics import gradient_norms, layer_quality, spectra
from headkit.evaluation.leakage import last_layer_leakage
from headkit.nn import HeadNet
from headkit.training.diagnostics_tracking import diagnostics_row


def _net(hidden=(8,), n_features=5, n_classes=4, seed=0):
    torch.manual_seed(seed)
    return HeadNet(
        n_features=n_features, n_classes=n_classes, hidden_sizes=hidden, dropout=0.0
    ).double()


def test_gradient_norms_match_the_chain_rule_by_hand():
    net = _net()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 5)), rng.integers(0, 4, size=30)
    w1 = net.trunk.blocks[0].linear.weight.detach().numpy()
    b1 = net.trunk.blocks[0].linear.bias.detach().numpy()
    w2, b2 = net.head.weight.detach().numpy(), net.head.bias.detach().numpy()
    a = x @ w1.T + b1
    h = np.maximum(a, 0)
    z = h @ w2.T + b2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    err = p - np.eye(4)[y]  # per-sample ∂ℓ/∂z
    dh = err @ w2  # per-sample ∂ℓ/∂h
    da = dh * (a > 0)
    got = gradient_norms(net, x, y)
    assert got["layers"] == ["block 1", "logits"] and got["weight_layers"] == ["block 1", "head"]
    np.testing.assert_allclose(
        got["activation"],
        [np.linalg.norm(dh, axis=1).mean(), np.linalg.norm(err, axis=1).mean()],
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        got["weight"], [np.linalg.norm(da.T @ x) / 30, np.linalg.norm(err.T @ h) / 30], rtol=1e-6
    )
    entropy = -(p * np.log(p)).sum(1).mean()
    assert got["output_entropy"] == pytest.approx(entropy, rel=1e-9)
    assert all(p.grad is None for p in net.parameters())  # .grad untouched


def test_logit_gradient_norm_and_entropy_vanish_as_outputs_saturate():
    net = _net(hidden=())
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 5))
    y = (net(torch.from_numpy(x)).argmax(1)).numpy()  # labels = predictions: scaling saturates
    values = []
    for scale in (1, 4, 16, 64, 256):
        scaled = _net(hidden=())
        scaled.load_state_dict(net.state_dict())
        with torch.no_grad():
            scaled.head.weight.mul_(scale)
            scaled.head.bias.mul_(scale)
        g = gradient_norms(scaled, x, y)
        values.append((g["activation"][-1], g["output_entropy"]))
    grads, entropies = zip(*values, strict=True)
    assert all(a > b for a, b in itertools.pairwise(grads)) and grads[-1] < 0.05
    assert all(a > b for a, b in itertools.pairwise(entropies)) and entropies[-1] < 0.05


def test_spectra_and_bottleneck_flag():
    net = _net(hidden=(3,), n_classes=6)
    x = np.random.default_rng(2).normal(size=(50, 5))
    got = spectra(net, x)
    with torch.no_grad():
        feats = net.features(torch.from_numpy(x)).numpy()
    s = np.linalg.svd(feats - feats.mean(0), compute_uv=False)
    np.testing.assert_allclose(got["feature_singular_values"], s, atol=1e-10)
    q = s[s > 0] / s.sum()
    assert got["feature_effective_rank"] == pytest.approx(np.exp(-(q * np.log(q)).sum()))
    assert got["bottleneck"] and got["width"] == 3 and got["n_classes"] == 6
    np.testing.assert_allclose(
        got["head_singular_values"],
        np.linalg.svd(net.head.weight.detach().numpy(), compute_uv=False),
    )


def test_probe_on_an_identity_layer_equals_the_input_probe():
    x, y = load_digits(return_X_y=True)  # pixels ≥ 0, so ReLU(I·x) = x
    net = _net(hidden=(64,), n_features=64, n_classes=10)
    with torch.no_grad():
        net.trunk.blocks[0].linear.weight.copy_(torch.eye(64))
        net.trunk.blocks[0].linear.bias.zero_()
    got = layer_quality(net, x[:500], y[:500])
    assert got["layers"] == ["input", "block 1"]
    assert got["probe_accuracy"][0] == got["probe_accuracy"][1] > 0.8
    assert got["knn_accuracy"][0] == got["knn_accuracy"][1]
    assert got["matrix_entropy"][0] == pytest.approx(got["matrix_entropy"][1])
    # shifted far from 0 the noisy copy stays positive too, so ReLU(I·x) is the identity on both
    shifted = layer_quality(net, x[:500] + 100.0, y[:500])
    assert shifted["invariance"][0] == pytest.approx(shifted["invariance"][1], rel=1e-12)
    assert shifted["invariance"][0] < 1.0
    assert (layer_quality(net, x[:100], y[:100], noise=0.0)["invariance"] == 1.0).all()


def test_tracking_adds_columns_without_changing_training():
    x, y = load_digits(return_X_y=True)
    params = dict(hidden_sizes=(16, 16), epochs=3, random_state=0, validation_fraction=0.0)
    plain = HeadClassifier(**params).fit(x[:300], y[:300])
    tracked = HeadClassifier(**params, track_diagnostics=True).fit(x[:300], y[:300])
    for a, b in zip(
        plain.model_.state_dict().values(), tracked.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)
    last = tracked.history_[-1]
    expected = diagnostics_row(tracked.model_, x[:300].astype(np.float32), y[:300])
    for key, value in expected.items():
        assert last[key] == pytest.approx(value, rel=1e-6), key
    assert {"output_entropy", "grad_block1", "grad_head", "erank_features", "probe_block2"} <= set(
        last
    )
    assert all(len(r) == len(last) for r in tracked.history_)


def test_leakage_recovers_the_penultimate_features_and_label():
    net = _net(hidden=(6,))
    x = np.random.default_rng(3).normal(size=5)
    got = last_layer_leakage(net, x, 2)
    assert got["feature_cosine"] == pytest.approx(1.0, abs=1e-9) and got["feature_error"] < 1e-9
    assert got["recovered_label"] == 2
    np.testing.assert_allclose(got["recovered_target"], np.eye(4)[2], atol=1e-9)
    smooth = np.full(4, 0.05) + 0.8 * np.eye(4)[1]
    np.testing.assert_allclose(
        last_layer_leakage(net, x, smooth)["recovered_target"], smooth, atol=1e-9
    )


def test_tracking_accepts_sparse_rows():
    from scipy.sparse import csr_matrix

    from headkit.training.diagnostics_tracking import DiagnosticsTracker

    x, y = load_digits(return_X_y=True)
    dense = DiagnosticsTracker(x[:1500], y[:1500], max_samples=200)
    sparse = DiagnosticsTracker(csr_matrix(x[:1500]), y[:1500], max_samples=200)
    np.testing.assert_array_equal(dense.X, sparse.X)
    np.testing.assert_array_equal(dense.y, sparse.y)
    assert dense.X.shape == (200, 64)
