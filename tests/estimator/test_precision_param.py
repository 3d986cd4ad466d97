"""HeadClassifier(precision=...): validated, resolved to ``precision_``, saved and loaded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sklearn.utils._param_validation import InvalidParameterError

from headkit.estimator.classifier import HeadClassifier
from headkit.training import precision as prec

FAST = {"epochs": 2, "hidden_sizes": (16, 16), "calibrate": False}


def _rows(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def test_a_bad_precision_is_refused_in_one_sentence():
    X, y = _rows()
    with pytest.raises(InvalidParameterError, match="'precision' parameter of HeadClassifier"):
        HeadClassifier(precision="float16", **FAST).fit(X, y)


def test_auto_is_float32_for_a_tiny_fit_even_on_a_bf16_cpu(monkeypatch):
    monkeypatch.setattr(prec, "AUTO_BFLOAT16", True)
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    model = HeadClassifier(**FAST).fit(*_rows())
    assert model.precision_ == "float32" and model.model_.matmul_dtype is None
    assert model.get_params()["precision"] == "auto"


def test_auto_follows_the_cpu_on_a_large_fit(monkeypatch):
    X, y = _rows(64)
    big = {**FAST, "hidden_sizes": (2048, 2048), "epochs": 1, "batch_size": 64}
    assert prec.block_macs(64, 6, (2048, 2048)) >= prec.AUTO_MIN_MACS
    monkeypatch.setattr(prec, "AUTO_BFLOAT16", True)
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)
    assert HeadClassifier(**big).fit(X, y).precision_ == "float32"
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert HeadClassifier(**big).fit(X, y).precision_ == "bfloat16"


def test_bfloat16_trains_saves_and_loads(tmp_path):
    X, y = _rows()
    model = HeadClassifier(precision="bfloat16", random_state=0, **{**FAST, "epochs": 20})
    model.fit(X, y)
    assert model.precision_ == "bfloat16" and model.model_.matmul_dtype == torch.bfloat16
    assert next(model.model_.parameters()).dtype == torch.float32  # master weights stay float32
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert model.score(X, y) > 0.95  # float32: 0.99 at 20 epochs
    model.save(tmp_path / "run")
    meta = json.loads((tmp_path / "run" / "config.json").read_text())["metadata"]
    assert meta["resolved"]["precision"] == "bfloat16"
    back = HeadClassifier.load(tmp_path / "run")
    assert back.precision_ == "bfloat16" and back.model_.matmul_dtype == torch.bfloat16
    np.testing.assert_allclose(back.predict_proba(X), proba, atol=1e-6)


def test_float32_is_the_plain_fit():
    X, y = _rows()
    plain = HeadClassifier(precision="float32", random_state=0, **FAST).fit(X, y)
    low = HeadClassifier(precision="bfloat16", random_state=0, **FAST).fit(X, y)
    assert plain.precision_ == "float32" and plain.model_.matmul_dtype is None
    assert not np.array_equal(plain.predict_proba(X), low.predict_proba(X))


def test_bfloat16_on_a_network_without_the_fused_loss_reports_float32():
    X, y = _rows()
    model = HeadClassifier(precision="bfloat16", loss="label_smoothing:0.1", **FAST).fit(X, y)
    assert model.precision_ == "float32" and model.model_.matmul_dtype is None
