"""NumPy twins of activations and output maps: defaults, names and naive references."""

import math
import warnings

import numpy as np
import pytest

from headkit.inference import numpy_ops
from headkit.nn.activations import ACTIVATIONS as TORCH_ACTIVATIONS
from headkit.nn.outputs import OUTPUTS as TORCH_OUTPUTS


@pytest.mark.parametrize("name", list(numpy_ops.ACTIVATIONS))
def test_activation_options_and_defaults_are_the_registrys(name):
    assert numpy_ops.ACTIVATIONS[name][0] == TORCH_ACTIVATIONS.defaults(name)


@pytest.mark.parametrize("name", list(numpy_ops.OUTPUTS))
def test_output_options_and_defaults_are_the_registrys(name):
    assert numpy_ops.OUTPUTS[name][0] == TORCH_OUTPUTS.defaults(name, ("n_classes",))


def test_every_registered_activation_has_a_numpy_twin():
    assert set(numpy_ops.ACTIVATIONS) == set(TORCH_ACTIVATIONS.names())


def test_gelu_is_x_times_the_normal_cdf():
    x = np.linspace(-6, 6, 101, dtype=np.float32)
    expected = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)]
    np.testing.assert_allclose(numpy_ops.gelu(x), expected, rtol=1e-6, atol=1e-7)
    assert numpy_ops.gelu(x).dtype == np.float32


def test_softplus_is_the_identity_past_the_threshold_and_log1p_exp_before():
    x = np.array([-30.0, -1.0, 0.0, 5.0, 9.9, 10.1, 50.0], dtype=np.float32)
    got = numpy_ops.softplus(x, beta=2.0)
    naive = [math.log1p(math.exp(2 * v)) / 2 if 2 * v <= 20 else v for v in x.astype(float)]
    np.testing.assert_allclose(got, naive, rtol=1e-6)


def test_sigmoid_saturates_without_overflow_warnings():
    x = np.array([-1000.0, -5.0, 0.0, 5.0, 1000.0], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail
        got = numpy_ops.sigmoid(x)
    np.testing.assert_allclose(got, [1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in x])


def test_sparsemax_is_the_euclidean_projection_onto_the_simplex():
    """Against a bisection on τ of Σ max(z − τ, 0) = 1 (another algorithm)."""
    z = np.random.default_rng(0).normal(size=(20, 7)) * 3
    got = numpy_ops.sparsemax(z)
    for row, p in zip(z, got, strict=True):
        lo, hi = row.max() - 1, row.max()
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if np.maximum(row - mid, 0).sum() >= 1 else (lo, mid)
        np.testing.assert_allclose(p, np.maximum(row - lo, 0), atol=1e-9)


def test_entmax15_solves_its_threshold_equation():
    """p = [z/2 − τ]²₊ with Σ p = 1, τ found by bisection."""
    z = np.random.default_rng(1).normal(size=(20, 6)) * 3
    got = numpy_ops.entmax15(z)
    for row, p in zip(z / 2, got, strict=True):
        lo, hi = row.max() - 1, row.max()
        for _ in range(100):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if (np.maximum(row - mid, 0) ** 2).sum() >= 1 else (lo, mid)
        np.testing.assert_allclose(p, np.maximum(row - lo, 0) ** 2, atol=1e-9)


def test_norms_follow_their_formulas():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4))
    w = {"weight": rng.normal(size=4), "bias": rng.normal(size=4)}
    mean, var = rng.normal(size=4), rng.random(4) + 0.1
    expected = (x - mean) / np.sqrt(var + 1e-5) * w["weight"] + w["bias"]
    got = numpy_ops.batch_norm(x, {**w, "running_mean": mean, "running_var": var})
    np.testing.assert_allclose(got, expected)
    rows = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(numpy_ops.layer_norm(x, w), rows * w["weight"] + w["bias"])
