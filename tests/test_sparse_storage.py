"""Compact storage of pruned weights (catalogue K1/K2): bit-for-bit round trips, smaller files."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load as numpy_load
from safetensors.torch import load as torch_load
from safetensors.torch import save as torch_save

from headkit import HeadClassifier, io
from headkit import functional as F
from headkit.inference.saved_model import SavedModel
from headkit.sparse_storage import LAYOUT_KEY, header_metadata, pack, unpack
from tests.plain import PLAIN

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_v1_run"


def _sparse(shape, density, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(shape, generator=g, dtype=dtype)
    return torch.where(F.random_mask(shape, density, g) > 0, w, 0.0)  # exact count


def _naive_dense(mask_bytes, values, shape):
    """Reference decoder: walk the bits one by one."""
    out, k = np.zeros(int(np.prod(shape)), dtype=values.dtype), 0
    for i in range(out.size):
        if (int(mask_bytes[i // 8]) >> (i % 8)) & 1:
            out[i], k = values[k], k + 1
    assert k == len(values)
    return out.reshape(shape)


@pytest.mark.parametrize("shape", [(7, 13), (64, 40), (3, 5, 11)])
@pytest.mark.parametrize("density", [0.0, 0.05, 0.3, 0.45])
def test_pack_unpack_is_bit_for_bit_with_torch_and_numpy(shape, density):
    state = {"w": _sparse(shape, density), "b": torch.randn(shape[0])}
    tensors, header = pack(state)
    n = int(np.prod(shape))
    if n < 64:  # too small to pay: left dense
        assert header == {} and tensors.keys() == state.keys()
        return
    assert set(tensors) == {"b", "w:mask", "w:values"}
    assert json.loads(header[LAYOUT_KEY]) == {"w": {"shape": list(shape), "encoding": "bitmask"}}
    data = torch_save(tensors, metadata=header)
    assert header_metadata(data) == header
    back = unpack(torch_load(data), header_metadata(data))
    for name in state:  # the same bits, not only the same values
        assert torch.equal(back[name].view(torch.int32), state[name].view(torch.int32))
    from_numpy = unpack(numpy_load(data), header_metadata(data))
    np.testing.assert_array_equal(from_numpy["w"].view(np.int32), state["w"].numpy().view(np.int32))
    reference = _naive_dense(tensors["w:mask"].numpy(), tensors["w:values"].numpy(), shape)
    np.testing.assert_array_equal(reference, state["w"].numpy())


def test_dense_negative_zero_and_non_float_tensors_stay_as_they_are():
    dense = torch.randn(32, 32)
    negative_zero = _sparse((32, 32), 0.1)
    negative_zero[0, 0] = -0.0  # would come back as +0.0
    counts = torch.zeros(32, 32, dtype=torch.int64)
    half_full = _sparse((32, 32), 0.7)
    tensors, header = pack({"dense": dense, "nz": negative_zero, "int": counts, "half": half_full})
    assert header == {} and set(tensors) == {"dense", "nz", "int", "half"}
    f64 = _sparse((16, 16), 0.1, dtype=torch.float64)
    tensors, header = pack({"f64": f64})
    assert tensors["f64:values"].dtype == torch.float64
    assert torch.equal(unpack(tensors, header)["f64"], f64)


def test_a_corrupt_layout_is_a_model_file_error(tmp_path, blobs_data):
    X, y, _, _ = blobs_data
    model = HeadClassifier(hidden_sizes=(64,), epochs=3, prune="erk:density=0.1").fit(X, y)
    model.save(tmp_path / "m")
    weights = tmp_path / "m" / io.WEIGHTS
    tensors = torch_load(weights.read_bytes())
    meta = header_metadata(weights.read_bytes())
    name = next(k for k in tensors if k.endswith(":values"))
    tensors[name] = tensors[name][:-1]  # one value short
    weights.write_bytes(torch_save(tensors, metadata=meta))
    with pytest.raises(io.ModelFileError, match="corrupt"):
        HeadClassifier.load(tmp_path / "m")
    with pytest.raises(io.ModelFileError, match="corrupt"):
        SavedModel.load(tmp_path / "m", engine="numpy")


@pytest.mark.parametrize("prune", ["gmp:sparsity=0.9", "erk:density=0.1"])
def test_a_pruned_run_saves_smaller_and_loads_bit_for_bit(prune, blobs_data, tmp_path):
    X, y, X_test, _ = blobs_data
    params = {**PLAIN, "hidden_sizes": (128, 128), "epochs": 4, "random_state": 0}
    pruned = HeadClassifier(**params, prune=prune).fit(X, y)
    dense = HeadClassifier(**params).fit(X, y)
    pruned.save(tmp_path / "pruned")
    dense.save(tmp_path / "dense")
    size = {k: (tmp_path / k / io.WEIGHTS).stat().st_size for k in ("pruned", "dense")}
    # ~10 % of the weights + a 1/32 bitmask (+ the dense biases and the small first layer)
    assert size["pruned"] < 0.25 * size["dense"]
    assert io.read_config(tmp_path / "pruned")["format_version"] == 2
    assert io.read_config(tmp_path / "dense")["format_version"] == 1  # dense runs unchanged
    loaded = HeadClassifier.load(tmp_path / "pruned")
    before, after = pruned.model_.state_dict(), loaded.model_.state_dict()
    assert before.keys() == after.keys()
    for name in before:
        assert torch.equal(before[name].cpu(), after[name]), name
        if before[name].is_floating_point():  # bit for bit: signs of zeros included
            assert torch.equal(torch.signbit(before[name].cpu()), torch.signbit(after[name]))
    expected = pruned.predict_proba(X_test)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), expected)
    for engine in ("numpy", "torch"):
        saved = SavedModel.load(tmp_path / "pruned", engine=engine)
        assert saved.engine == engine
        np.testing.assert_allclose(saved.predict_proba(X_test), expected, atol=1e-6)


def test_runs_saved_before_compact_storage_still_load(tmp_path):
    run = shutil.copytree(FIXTURE, tmp_path / "run")
    assert io.read_config(run)["format_version"] == 1
    assert header_metadata((run / io.WEIGHTS).read_bytes()).get(LAYOUT_KEY) is None
    loaded = HeadClassifier.load(run)
    x = np.zeros((2, loaded.n_features_in_), dtype=np.float32)
    np.testing.assert_allclose(
        loaded.predict_proba(x), SavedModel.load(run, engine="auto").predict_proba(x), atol=1e-6
    )
