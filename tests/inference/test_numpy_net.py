"""The NumPy forward of plain saved networks against the torch path (HeadNet.predict_proba)."""

import numpy as np
import pytest
import torch

from headkit import io
from headkit.exceptions import ConfigError
from headkit.inference.forward import predict_arrays
from headkit.inference.numpy_net import NumpyHeadNet, unsupported_reason
from headkit.inference.numpy_ops import ACTIVATIONS, OUTPUTS
from headkit.inference.saved_model import SavedModel
from headkit.nn import HeadNet

CLASSES = ["a", "b", "c", "d", "e"]


def save_network(path, **options):
    """A HeadNet with random weights, statistics, standardisation and temperature, saved.

    Logits reach about ±10, as a trained network's do; float32 rounding then moves the
    probabilities by well under 1e-6 (their error grows with the logits' size).
    """
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=len(CLASSES), hidden_sizes=(16, 12), **options)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.randn(tensor.shape, generator=generator)
            if name.endswith(("running_var", "feature_scale", "temperature")):
                values = values.abs() + 0.5
            tensor.copy_(values * 0.3 if "weight" in name else values)
    io.save(net.eval(), path, metadata={"classes": CLASSES, "classes_dtype": "<U1"})
    return path


def both_engines(path, n_rows=300):
    rows = np.random.default_rng(2).normal(size=(n_rows, 6)).astype(np.float32) * 2
    numpy_model = SavedModel.load(path, engine="numpy")
    torch_model = SavedModel.load(path, engine="torch")
    assert (numpy_model.engine, torch_model.engine) == ("numpy", "torch")
    return numpy_model.predict_proba(rows), torch_model.predict_proba(rows)


ACTIVATION_SPECS = [*ACTIVATIONS, "leaky_relu:slope=0.2", "elu:alpha=0.5", "softplus:beta=2"]


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("activation", ACTIVATION_SPECS)
def test_every_activation_and_norm_matches_torch(tmp_path, activation, norm):
    got, expected = both_engines(save_network(tmp_path / "m", activation=activation, norm=norm))
    assert np.abs(got - expected).max() <= 1e-6


OUTPUT_SPECS = [*OUTPUTS, "softmax:temperature=2", "power:p=2,eps=0.01", "gumbel:tau=0.5"]


@pytest.mark.parametrize("output", OUTPUT_SPECS)
def test_every_output_map_matches_torch(tmp_path, output):
    got, expected = both_engines(save_network(tmp_path / "m", output=output))
    assert np.abs(got - expected).max() <= 1e-6
    if output in ("sparsemax", "entmax15"):
        assert ((got == 0) == (expected == 0)).all()  # the same exact zeros


@pytest.mark.parametrize("dropout", [0.0, 0.5, "none", "multisample:k=4", "gaussian:0.3", "nested"])
def test_dropout_kinds_that_are_the_identity_in_eval(tmp_path, dropout):
    got, expected = both_engines(save_network(tmp_path / "m", dropout=dropout))
    assert np.abs(got - expected).max() <= 1e-6


@pytest.mark.parametrize("n_rows", [0, 1, 5, 127, 129])
def test_small_batches_match_torch_and_the_large_batch(tmp_path, n_rows):
    path = save_network(tmp_path / "m")
    got, expected = both_engines(path, n_rows)
    assert got.shape == expected.shape == (n_rows, len(CLASSES))
    if n_rows:
        assert np.abs(got - expected).max() <= 1e-6
        large, _ = both_engines(path)  # the same rows first: a row's result is batch-independent
        np.testing.assert_array_equal(got, large[:n_rows])


UNSUPPORTED = [
    {"head": "cosine"},
    {"head": "arcface"},
    {"output": "entmax_bisect"},
    {"output": "online_softmax"},
    {"dropout": "dropconnect"},
    {"residual": True},
    {"residual": "learnable"},
]


@pytest.mark.parametrize("options", UNSUPPORTED, ids=lambda o: f"{o}")
def test_unsupported_networks_take_the_torch_path(tmp_path, options):
    net = HeadNet(n_features=6, n_classes=5, hidden_sizes=(8, 8), **options)
    assert unsupported_reason(net.config) is not None
    path = tmp_path / "m"
    io.save(net.eval(), path, metadata={"classes": CLASSES})
    auto = SavedModel.load(path, engine="auto")
    assert auto.engine == "torch"
    rows = np.random.default_rng(0).normal(size=(4, 6))
    np.testing.assert_array_equal(  # the saved network, loaded by torch
        auto.predict_proba(rows), predict_arrays(net, rows.astype(np.float32)).proba.numpy()
    )
    with pytest.raises(ConfigError, match="no NumPy forward"):
        SavedModel.load(path, engine="numpy")


def test_weights_beyond_the_config_are_not_ignored(tmp_path):
    """A saved part the config does not describe goes to the torch loader, which refuses it."""
    from safetensors.numpy import load_file, save_file

    from headkit.exceptions import ModelFileError

    path = save_network(tmp_path / "m")
    weights = load_file(str(path / "model.safetensors"))
    weights["trunk.blocks.0.extra"] = np.ones(3, dtype=np.float32)
    save_file(weights, str(path / "model.safetensors"))
    shapes = {k: tuple(v.shape) for k, v in weights.items()}
    assert "not those of a plain network" in unsupported_reason(_config(path), shapes)
    with pytest.raises(ModelFileError, match="does not match its config"):
        SavedModel.load(path, engine="auto")
    with pytest.raises(ConfigError, match="not those of a plain network"):
        SavedModel.load(path, engine="numpy")


def test_auto_uses_numpy_only_on_the_cpu(tmp_path):
    path = save_network(tmp_path / "m")
    assert SavedModel.load(path, engine="auto").engine == "numpy"
    assert SavedModel.load(path).engine == "torch"  # the library default stays torch
    with pytest.raises(ConfigError, match="engine must be one of"):
        SavedModel.load(path, engine="jax")


def test_corrupt_weights_are_a_model_file_error(tmp_path):
    from headkit.exceptions import ModelFileError

    path = save_network(tmp_path / "m")
    (path / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        NumpyHeadNet.load(path, _config(path))


def _config(path):
    from headkit.config import NetworkConfig

    return NetworkConfig.from_dict(io.read_config(path)["network"])


def test_float64_weights_are_computed_in_float32_as_the_torch_loader_does(tmp_path):
    from safetensors.numpy import load_file, save_file

    path = save_network(tmp_path / "m", activation="tanh")
    narrow, _ = both_engines(path)
    weights = load_file(str(path / "model.safetensors"))
    wide = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in weights.items()}
    save_file(wide, str(path / "model.safetensors"))
    got, expected = both_engines(path)
    np.testing.assert_array_equal(got, narrow)  # float32 → float64 → float32 is exact
    assert np.abs(got - expected).max() <= 1e-6
