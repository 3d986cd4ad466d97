"""The generated-data cache: same arrays as generating, no pickle, atomic, ignorable."""

import numpy as np
import pytest

from headkit.data import load_dataset
from headkit.data.cache import cache_dir, cached_arrays


def _make(calls):
    def make():
        calls.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([1, 0])}

    return make


def test_second_call_reads_what_the_first_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADKIT_CACHE_DIR", str(tmp_path))
    calls = []
    first = cached_arrays("k", _make(calls))
    second = cached_arrays("k", _make(calls))
    assert len(calls) == 1
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
        assert first[name].dtype == second[name].dtype
    assert [p.name for p in tmp_path.iterdir()] == ["k.npz"]  # no temporary file left behind


def test_an_unreadable_cache_file_is_regenerated(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADKIT_CACHE_DIR", str(tmp_path))
    (tmp_path / "k.npz").write_bytes(b"not an npz file")
    calls = []
    assert cached_arrays("k", _make(calls))["y"].tolist() == [1, 0]
    assert len(calls) == 1
    assert cached_arrays("k", _make(calls))["y"].tolist() == [1, 0] and len(calls) == 1


@pytest.mark.parametrize("value", ["off", "0", ""])
def test_caching_can_be_turned_off(tmp_path, monkeypatch, value):
    monkeypatch.setenv("HEADKIT_CACHE_DIR", value)
    assert cache_dir() is None
    calls = []
    cached_arrays("k", _make(calls))
    cached_arrays("k", _make(calls))
    assert len(calls) == 2


def test_an_unwritable_cache_only_costs_the_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("HEADKIT_CACHE_DIR", str(blocker / "sub"))
    assert cached_arrays("k", _make([]))["x"].shape == (2, 3)


def test_cached_mnist1d_equals_a_freshly_generated_one(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADKIT_CACHE_DIR", "off")
    fresh = load_dataset("mnist1d")
    monkeypatch.setenv("HEADKIT_CACHE_DIR", str(tmp_path))
    load_dataset("mnist1d")  # stores
    cached = load_dataset("mnist1d")  # reads
    for name in ("X_train", "y_train", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(cached, name))
        assert getattr(fresh, name).dtype == getattr(cached, name).dtype
