import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from headkit.evaluation import (
    MahalanobisDetector,
    energy_score,
    fpr_at_tpr,
    logit_score,
    max_logit_score,
    misclassification_metrics,
    msp_score,
    ood_metrics,
)
from headkit.exceptions import DataError, NotFittedError


@pytest.fixture
def logits_pair():
    rng = np.random.default_rng(0)
    z_in = rng.normal(size=(300, 5)) + 3 * np.eye(5)[rng.integers(0, 5, 300)]
    z_out = rng.normal(size=(200, 5))
    return z_in, z_out


def test_scores_match_formulas(logits_pair):
    z, _ = logits_pair
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(msp_score(z), p.max(1))
    np.testing.assert_allclose(max_logit_score(torch.as_tensor(z)), z.max(1))
    for t in (1.0, 2.5):
        ref = t * np.log(np.sum(np.exp(z / t), axis=1))
        np.testing.assert_allclose(energy_score(z, temperature=t), ref)
    np.testing.assert_allclose(logit_score(z, "energy"), energy_score(z))
    with pytest.raises(DataError, match="Unknown OOD score"):
        logit_score(z, "entropyy")


@pytest.mark.parametrize("method", ["msp", "energy", "max_logit"])
def test_auroc_equals_sklearn(logits_pair, method):
    z_in, z_out = logits_pair
    s_in, s_out = logit_score(z_in, method), logit_score(z_out, method)
    y = np.r_[np.ones(len(s_in)), np.zeros(len(s_out))]
    res = ood_metrics(s_in, s_out)
    assert res["auroc"] == pytest.approx(roc_auc_score(y, np.r_[s_in, s_out]))
    # brute-force Mann–Whitney U
    u = np.mean((s_in[:, None] > s_out[None, :]) + 0.5 * (s_in[:, None] == s_out[None, :]))
    assert res["auroc"] == pytest.approx(u)
    assert res["auroc"] > 0.8


def test_fpr95_hand_case():
    s_in = np.arange(1, 21, dtype=float)  # 20 in-distribution scores 1..20
    # keep 95 % = 19 of 20 → threshold 2; OOD scores ≥ 2: {2, 5} of 4
    assert fpr_at_tpr(s_in, [0.0, 1.5, 2.0, 5.0]) == pytest.approx(0.5)
    assert fpr_at_tpr(s_in, [0.0, 1.0]) == 0.0
    assert ood_metrics(s_in, [100.0, 200.0])["fpr95"] == 1.0
    perfect = ood_metrics([5.0, 6.0], [1.0, 2.0])
    assert perfect["auroc"] == 1.0 and perfect["aupr"] == 1.0 and perfect["fpr95"] == 0.0


def test_misclassification_metrics_positive_is_correct():
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    res = misclassification_metrics(y, proba, proba.max(1))
    # correct: .9, .8; wrong: .6, .55 → perfect separation
    assert res["auroc"] == 1.0 and res["n_in"] == 2 and res["n_out"] == 2
    assert np.isnan(misclassification_metrics([0], [[1.0, 0.0]], [1.0])["auroc"])


def _naive_mahalanobis(train, y, test):
    classes = sorted(set(y.tolist()))
    means = [train[y == c].mean(0) for c in classes]
    cov = sum(
        np.outer(train[i] - means[classes.index(y[i])], train[i] - means[classes.index(y[i])])
        for i in range(len(train))
    ) / len(train)
    prec = np.linalg.inv(cov)
    return np.array([-min((f - m) @ prec @ (f - m) for m in means) for f in test])


def test_mahalanobis_matches_naive_formula():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    train = rng.normal(size=(120, 4)) @ a + np.repeat(np.eye(4) * 3, 30, axis=0)
    y = np.repeat(np.arange(4), 30)
    test = rng.normal(size=(25, 4)) * 2
    det = MahalanobisDetector().fit(torch.as_tensor(train), y)
    np.testing.assert_allclose(det.score(test), _naive_mahalanobis(train, y, test), rtol=1e-8)
    assert det.score(det.means_).max() == pytest.approx(0.0, abs=1e-9)


def test_mahalanobis_identity_cov_is_nearest_mean_and_reg_changes_result():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(60, 3))
    y = np.repeat([0, 1, 2], 20)
    det = MahalanobisDetector().fit(train, y)
    det.precision_ = np.eye(3)
    test = rng.normal(size=(10, 3))
    euclid = -np.min(((test[:, None] - det.means_[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(det.score(test), euclid)
    reg = MahalanobisDetector(reg=0.5).fit(train, y)
    assert not np.allclose(reg.score(test), MahalanobisDetector().fit(train, y).score(test))
    with pytest.raises(NotFittedError):
        MahalanobisDetector().score(test)


def test_network_msp_keeps_confident_rows_apart():
    """MSP is the top probability in float64: confident rows do not all tie at exactly 1."""
    from headkit.evaluation.ood import network_ood_score
    from headkit.inference.forward import predict_arrays
    from headkit.nn import HeadNet

    torch.manual_seed(0)
    net = HeadNet(n_features=4, n_classes=3, hidden_sizes=(), dropout=0.0)
    with torch.no_grad():
        net.head.weight.copy_(4 * torch.eye(3, 4))
    # logit gaps 4a for a in [0, 8]: past 17 float32's top probability is exactly 1, below 36
    # float64's is not
    X = np.zeros((50, 4), dtype=np.float32)
    X[:, 0] = np.linspace(0, 8, 50)
    msp = network_ood_score(net, X, "msp")
    logits = predict_arrays(net, X).logits.double().numpy()
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(msp, (p / p.sum(1, keepdims=True)).max(1), rtol=0, atol=1e-12)
    top32 = torch.softmax(torch.as_tensor(logits, dtype=torch.float32), 1).max(1).values
    assert (top32 == 1).sum() >= 20  # float32 would tie these rows
    assert (msp < 1).all()
