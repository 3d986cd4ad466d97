"""``precision``: what "auto" resolves to, and the fused-kind check."""

from __future__ import annotations

import pytest
import torch

from headkit.config import NetworkConfig
from headkit.estimator.classifier import HeadClassifier
from headkit.training import precision as prec

CPU, BIG = torch.device("cpu"), prec.AUTO_MIN_MACS


def test_block_macs_counts_each_hidden_product():
    assert prec.block_macs(500, 40, (256, 256)) == 500 * (40 * 256 + 256 * 256)
    assert prec.block_macs(10, 5, ()) == 0


@pytest.mark.parametrize("given", ["float32", "bfloat16"])
def test_an_explicit_precision_is_kept(given, monkeypatch):
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)
    assert prec.resolve_precision(given, CPU, 1, fused=True) == given
    assert prec.resolve_precision(given, CPU, 1, fused=False) == "float32"  # the per-node path


def test_auto_is_float32_while_auto_bfloat16_is_off(monkeypatch):
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert not prec.AUTO_BFLOAT16  # it missed the MNIST-1D accuracy bar (module docstring)
    assert prec.resolve_precision("auto", CPU, 100 * BIG, fused=True) == "float32"


def test_auto_takes_bfloat16_only_on_a_bf16_cpu_for_large_fused_steps(monkeypatch):
    monkeypatch.setattr(prec, "AUTO_BFLOAT16", True)
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: True)
    assert prec.resolve_precision("auto", CPU, BIG, fused=True) == "bfloat16"
    assert prec.resolve_precision("auto", CPU, BIG - 1, fused=True) == "float32"  # tiny steps
    assert prec.resolve_precision("auto", CPU, BIG, fused=False) == "float32"  # other networks
    assert prec.resolve_precision("auto", torch.device("cuda"), BIG, fused=True) == "float32"
    monkeypatch.setattr(prec, "cpu_has_bf16", lambda: False)  # no native bfloat16: emulated
    assert prec.resolve_precision("auto", CPU, BIG, fused=True) == "float32"


def test_cpu_has_bf16_reads_the_flags_once():
    assert isinstance(prec.cpu_has_bf16(), bool)
    assert prec.cpu_has_bf16.cache_info().currsize == 1


def _params(**changes):
    return {**HeadClassifier().resolved_params(), **changes}


def test_fused_kind_is_the_default_network_with_plain_cross_entropy():
    plain = NetworkConfig(n_features=4, n_classes=3, hidden_sizes=(8,), dropout=0.2)
    assert prec.fused_kind(plain, _params(), weighted=False)
    assert not prec.fused_kind(plain, _params(), weighted=True)
    for net in ({"activation": "gelu"}, {"norm": "batch"}, {"head": "cosine"},
                {"dropout": "multisample:k=2"}, {"residual": True}):  # fmt: skip
        assert not prec.fused_kind(plain.replace(**net), _params(), weighted=False)
    for fit in ({"loss": "label_smoothing:0.1"}, {"augment": "mixup:alpha=0.2"},
                {"class_weight": "balanced"}, {"teacher": "run"}, {"members": 2}):  # fmt: skip
        assert not prec.fused_kind(plain, _params(**fit), weighted=False)
