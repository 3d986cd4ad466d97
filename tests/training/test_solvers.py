import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headkit import HeadClassifier
from headkit.exceptions import ConfigError


def _data(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(240, 6))
    y = (X @ rng.normal(size=(6, n_classes)) + rng.normal(scale=1.5, size=(240, n_classes))).argmax(
        1
    )
    return X.astype(np.float32), y


def _probe(C):
    return HeadClassifier(
        hidden_sizes=(),
        dropout=0.0,
        solver=f"lbfgs:C={C}",
        standardize=False,
        validation_fraction=0.0,
        random_state=0,
    )


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("C", [0.05, 1.0])
def test_lbfgs_probe_matches_sklearn_logistic_regression(n_classes, C):
    X, y = _data(n_classes)
    ours = _probe(C).fit(X, y)
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=10000).fit(X.astype(np.float64), y)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-4)
    W = ours.model_.head.weight.detach().double().numpy()
    if n_classes == 2:
        np.testing.assert_allclose(W[1] - W[0], ref.coef_[0], atol=1e-4)
    else:
        np.testing.assert_allclose(W - W.mean(0), ref.coef_ - ref.coef_.mean(0), atol=1e-4)


def _objective_gradient(coef, intercept, X, y, C):
    """Largest entry of the gradient of mean CE + ½‖W‖²/(C·n), a naive NumPy formula."""
    z = X @ coef.T + intercept
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    residual = (p - np.eye(coef.shape[0])[y]) / len(y)
    grad_w = residual.T @ X + coef / (C * len(y))
    return max(np.abs(grad_w).max(), np.abs(residual.sum(0)).max())


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_lbfgs_probe_matches_sklearn_on_digits(C):
    # float32 pixels, as a user passes them; the reference fits the same values in float64
    # (sklearn's lbfgs on float32 input stops early: 5e-4 from the optimum at C=1).
    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    # 156 iterations at C=1 (benchmarks/results/linear_probe.md); many more when torch's L-BFGS
    # drops its curvature pairs near the optimum, which max_iter=300 turns into a warning.
    ours = HeadClassifier(
        hidden_sizes=(), solver=f"lbfgs:C={C},max_iter=300", validation_fraction=0.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ours.fit(X, y)
    scaled = StandardScaler().fit_transform(X.astype(np.float64))
    ref = LogisticRegression(C=C, tol=1e-12, max_iter=100000).fit(scaled, y)
    assert _objective_gradient(ref.coef_, ref.intercept_, scaled, y, C) < 1e-7
    assert ours.history_[0]["gradient_max"] < 1e-8
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(scaled), atol=1e-4)


def test_lbfgs_warns_when_max_iter_stops_it():
    X, y = _data(4)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        HeadClassifier(hidden_sizes=(), solver="lbfgs:C=1,max_iter=3").fit(X, y)


def test_lbfgs_reaches_the_same_optimum_from_two_inits():
    X, y = _data(3)
    a = _probe(0.5).fit(X, y)
    b = _probe(0.5).set_params(random_state=7).fit(X, y)
    torch.testing.assert_close(a.model_.head.weight, b.model_.head.weight, atol=1e-5, rtol=0)
    assert a.history_[0]["train_loss"] == pytest.approx(b.history_[0]["train_loss"], abs=1e-6)


def test_lbfgs_leaves_a_frozen_trunk_untouched():
    from headkit.config import TrainingConfig
    from headkit.nn import HeadNet
    from headkit.training import Trainer

    X, y = _data(3)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(16, 16), norm="batch")
    trunk = {k: v.clone() for k, v in net.trunk.state_dict().items()}
    head = net.head.weight.detach().clone()
    Trainer(net, TrainingConfig(solver="lbfgs", device="cpu"), 3).fit(
        torch.as_tensor(X), torch.as_tensor(y)
    )
    for key, value in net.trunk.state_dict().items():
        assert torch.equal(value, trunk[key]), key
    assert not torch.equal(net.head.weight, head)


def test_solver_needs_a_linear_readout():
    X, y = _data(3)
    with pytest.raises(ConfigError, match="readout"):
        HeadClassifier(head="cosine", solver="lbfgs", epochs=1).fit(X, y)


def test_solver_and_augment_refuse_sample_weights():
    X, y = _data(3)
    w = np.linspace(0.5, 1.5, len(y))  # uneven: equal weights take the unweighted path
    with pytest.raises(ConfigError, match="sample weights"):
        _probe(1.0).fit(X, y, sample_weight=w)
    with pytest.raises(ConfigError, match="augment"):
        HeadClassifier(augment="mixup", epochs=1).fit(X, y, sample_weight=w)
