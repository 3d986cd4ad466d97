"""Activation registry (catalogue A5): derivatives, Mish's minimum, declared properties."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize_scalar

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from headkit.nn import ACTIVATIONS, DenseStack, HeadNet, activation_info, make_activation

NAMES = ["relu", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "mish", "softplus", "tanh",
         "sigmoid"]  # fmt: skip
# Every registered name (a new entry is tested without editing a list) plus non-default options.
SPECS = [*ACTIVATIONS.names(), "leaky_relu:slope=0.2", "elu:alpha=0.5", "softplus:beta=3",
         "prelu:init=0.1"]  # fmt: skip


def test_every_catalogue_activation_is_registered():
    assert set(NAMES) <= set(ACTIVATIONS.names())


@pytest.mark.parametrize("spec", SPECS)
def test_closed_form_derivative_matches_finite_differences(spec):
    act = make_activation(spec).double()
    x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    x = x[x.abs() > 1e-3]  # away from the kink at 0 of the piecewise functions
    h = 1e-6
    with torch.no_grad():
        fd = (act(x + h) - act(x - h)) / (2 * h)
        torch.testing.assert_close(act.derivative(x), fd, rtol=1e-6, atol=1e-7)
    # and autograd agrees with both (float64 gradcheck of the forward)
    assert torch.autograd.gradcheck(act, (x[::50].clone().requires_grad_(),))


def test_mish_minimum_and_limits():
    mish = make_activation("mish").double()

    def f(v: float) -> float:
        return mish(torch.tensor(v, dtype=torch.float64)).item()

    found = minimize_scalar(f, bracket=(-3.0, -1.0, 0.0), tol=1e-10)
    assert found.x == pytest.approx(-1.1924, abs=1e-4)  # Misra 2019
    assert found.fun == pytest.approx(-0.3088, abs=1e-4)
    grid = torch.linspace(-10, 10, 200_001, dtype=torch.float64)
    with torch.no_grad():
        values = mish(grid)
    assert grid[values.argmin()].item() == pytest.approx(-1.1924, abs=2e-4)
    assert f(0.0) == 0.0
    assert f(50.0) / 50.0 == pytest.approx(1.0, abs=1e-12)


def _values(spec):
    act = make_activation(spec).double()
    x = torch.linspace(-60, 60, 240_001, dtype=torch.float64)
    with torch.no_grad():
        return act, x, act(x)


@pytest.mark.parametrize("spec", SPECS)
def test_sampling_confirms_range_and_monotonicity(spec):
    act, _, y = _values(spec)
    info = act.info
    assert y.min().item() >= info.lower - 1e-12 and y.max().item() <= info.upper + 1e-12
    # the declared bounds are tight: approached (or reached) on the grid
    if math.isfinite(info.lower):
        assert y.min().item() == pytest.approx(info.lower, abs=1e-6)
    else:  # unbounded below: far out it keeps falling
        assert act(torch.tensor(-1e8, dtype=torch.float64)).item() < -1e5
    if math.isfinite(info.upper):
        assert y.max().item() == pytest.approx(info.upper, abs=1e-6)
    else:
        assert act(torch.tensor(1e8, dtype=torch.float64)).item() > 1e7
    steps = torch.diff(y)
    if info.monotone:
        assert steps.min().item() >= 0.0
    else:
        assert steps.min().item() < -1e-6  # a clear decrease, not rounding


@pytest.mark.parametrize("spec", SPECS)
def test_sampling_confirms_smoothness(spec):
    """Smooth ⇔ the one-sided first and second derivatives agree at the origin."""
    act = make_activation(spec).double()
    h = 1e-4
    f = lambda v: act(torch.tensor(v, dtype=torch.float64)).item()  # noqa: E731
    with torch.no_grad():
        right1, left1 = (f(h) - f(0)) / h, (f(0) - f(-h)) / h
        right2 = (f(2 * h) - 2 * f(h) + f(0)) / h**2
        left2 = (f(0) - 2 * f(-h) + f(-2 * h)) / h**2
    jump = max(abs(right1 - left1), abs(right2 - left2))
    if act.info.smooth:
        assert jump < 1e-2
    else:
        assert jump > 0.1


@pytest.mark.parametrize("spec", SPECS)
def test_sampling_confirms_zero_centring(spec):
    act = make_activation(spec).double()
    z = torch.randn(400_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with torch.no_grad():
        y = act(z)
    mean, stderr = y.mean().item(), y.std().item() / math.sqrt(len(z))
    if act.info.zero_centred:
        assert abs(mean) < 4 * stderr
    else:
        assert abs(mean) > 20 * stderr


def test_selu_keeps_standard_normal_moments():
    """SELU's fixed point: N(0, 1) in → mean 0, variance 1 out (Klambauer et al. 2017)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(200)
    y = make_activation("selu").double()(torch.tensor(nodes)).detach().numpy()
    w = weights / weights.sum()
    assert abs(float(w @ y)) < 3e-3  # quadrature across the kink is not exact
    assert float(w @ y**2) == pytest.approx(1.0, abs=3e-3)


def test_bad_options_and_names_fail_with_a_sentence():
    with pytest.raises(ConfigError, match="Did you mean 'mish'"):
        make_activation("mihs")
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        make_activation("elu:alpha=-1")
    assert activation_info("leaky_relu:slope=-0.5").monotone is False


def test_prelu_slope_is_learned_and_saved(tmp_path):
    import headkit

    torch.manual_seed(0)
    net = HeadNet(n_features=3, n_classes=2, hidden_sizes=(4,), activation="prelu:init=0.3")
    slope = net.trunk.blocks[0].activation.weight
    assert slope.requires_grad and slope.item() == pytest.approx(0.3)
    net.trunk.blocks[0].activation.weight.data.fill_(0.7)
    headkit.save(net, tmp_path / "m")
    loaded = headkit.load(tmp_path / "m")
    assert loaded.trunk.blocks[0].activation.weight.item() == pytest.approx(0.7)


@pytest.mark.parametrize("spec", SPECS)
def test_activation_spec_works_in_the_stack_and_the_estimator(spec, tmp_path):
    stack = DenseStack(3, (4,), activation=spec, dropout=0.0).double().eval()
    x = torch.randn(5, 3, dtype=torch.float64)
    block = stack.blocks[0]
    torch.testing.assert_close(stack(x), block.activation.fn(block.linear(x)))
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    clf = HeadClassifier(hidden_sizes=(4,), activation=spec, epochs=2, random_state=0).fit(X, y)
    clf.save(tmp_path / "run")
    back = HeadClassifier.load(tmp_path / "run")
    assert back.activation == spec
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=1e-6)
