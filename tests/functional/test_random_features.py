import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from headkit import functional as F
from headkit.exceptions import ConfigError


def _phi(n=60, d=5, m=40, seed=0, law="gaussian"):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    w, b = F.sample_random_weights(d, m, law, generator=g, dtype=torch.float64)
    y = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).double()
    return F.random_features(x, w, b), y, x, w, b


def test_random_features_formula():
    _, _, x, w, b = _phi()
    expected = torch.relu(x @ w.T + b) / np.sqrt(w.shape[0])
    torch.testing.assert_close(F.random_features(x, w, b), expected)
    torch.testing.assert_close(
        F.random_features(x, w, b, "cos"), torch.cos(x @ w.T + b) / np.sqrt(w.shape[0])
    )


@pytest.mark.parametrize("m", [20, 90])
def test_primal_equals_dual_equals_sklearn_ridge(m):
    phi, y, *_ = _phi(m=m)
    primal = F.ridge_solve(phi, y, 0.3, "primal")
    dual = F.ridge_solve(phi, y, 0.3, "dual")
    torch.testing.assert_close(primal[0], dual[0], atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(primal[1], dual[1], atol=1e-10, rtol=1e-8)
    ref = Ridge(alpha=0.3).fit(phi.numpy(), y.numpy())
    np.testing.assert_allclose(primal[0].T.numpy(), ref.coef_, atol=1e-8)
    np.testing.assert_allclose(primal[1].numpy(), ref.intercept_, atol=1e-8)


def test_ridge_equals_long_run_gradient_descent():
    phi, y, *_ = _phi(m=30)
    lam = 0.5
    theta, c = F.ridge_solve(phi, y, lam)
    # plain gradient descent on ½‖Φθ + c − Y‖² + ½λ‖θ‖², written out here
    t = torch.zeros(phi.shape[1], 3, dtype=torch.float64)
    b = torch.zeros(3, dtype=torch.float64)
    lr = 1.0 / (torch.linalg.matrix_norm(phi, 2) ** 2 + len(phi) + lam)
    for _ in range(20000):
        r = phi @ t + b - y
        t, b = t - lr * (phi.T @ r + lam * t), b - lr * r.sum(0)
    torch.testing.assert_close(t, theta, atol=1e-5, rtol=0)
    torch.testing.assert_close(b, c, atol=1e-5, rtol=0)


def test_interpolation_when_width_reaches_sample_count():
    phi, y, *_ = _phi(n=40, m=400)
    for lam in (0.0, 1e-10):
        theta, c = F.ridge_solve(phi, y, lam)
        mse = float((phi @ theta + c - y).pow(2).mean())
        assert mse < 1e-8
    theta, c = F.ridge_solve(phi, y, 1.0)
    assert float((phi @ theta + c - y).pow(2).mean()) > 1e-3


def test_bandlimited_weights_respect_the_bound():
    w, b = F.sample_random_weights(10, 5000, "bandlimited", scale=0.25)
    assert float(w.abs().max()) <= 0.25
    assert float(w.abs().max()) > 0.24  # and fill it (uniform)
    assert float(b.abs().max()) <= 0.25
    w, _ = F.sample_random_weights(10, 5000, "gaussian", mean=1.0)
    assert float(w.mean()) == pytest.approx(1.0, abs=0.01)


def test_bad_options_fail_with_a_sentence():
    with pytest.raises(ConfigError, match="law"):
        F.sample_random_weights(3, 4, "laplace")
    with pytest.raises(ConfigError, match="lam"):
        F.ridge_solve(torch.ones(3, 2), torch.ones(3, 1), -1.0)
