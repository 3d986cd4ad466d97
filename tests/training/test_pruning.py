"""Gradual magnitude pruning (catalogue K2) and static ERK random sparse training (K1)."""

import itertools

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.training import PRUNING, weight_sparsity
from headkit.training.callbacks import Callback
from headkit.training.pruning import prunable


def test_cubic_schedule_rises_to_the_target():
    ts = np.linspace(-0.2, 1.2, 29)
    s = [F.cubic_sparsity(t, 0.9, 0.1, 0.7) for t in ts]
    assert all(a <= b for a, b in itertools.pairwise(s))
    assert s[0] == 0 and F.cubic_sparsity(0.7, 0.9, 0.1, 0.7) == pytest.approx(0.9)
    assert F.cubic_sparsity(0.4, 0.9, 0.1, 0.7) == pytest.approx(0.9 * (1 - 0.5**3))
    with pytest.raises(ValueError):
        F.cubic_sparsity(0.5, 1.0)


def test_magnitude_mask_zeroes_exactly_the_smallest():
    w = torch.randn(30, 20, generator=torch.Generator().manual_seed(0))
    mask = F.magnitude_mask(w, 0.37)
    assert int((mask == 0).sum()) == round(0.37 * 600)
    assert w[mask == 0].abs().max() <= w[mask == 1].abs().min()


def test_erk_densities_hit_the_global_density_and_cap_at_one():
    shapes = [(256, 40), (256, 256), (10, 256), (4, 3)]
    for density in (0.05, 0.2, 0.5):
        d = F.erk_densities(shapes, density)
        sizes = [o * i for o, i in shapes]
        assert sum(a * b for a, b in zip(d, sizes, strict=True)) == pytest.approx(
            density * sum(sizes)
        )
        assert max(d) <= 1.0 and d[3] == 1.0  # the tiny layer is dense
        free = [j for j in range(3) if d[j] < 1]
        ratios = [d[j] / ((shapes[j][0] + shapes[j][1]) / sizes[j]) for j in free]
        assert max(ratios) == pytest.approx(min(ratios))  # ∝ (n_in + n_out)/(n_in·n_out)
    mask = F.random_mask((50, 40), 0.1234, torch.Generator().manual_seed(0))
    assert int(mask.sum()) == round(0.1234 * 2000)


class _Sparsity(Callback):
    def __init__(self):
        self.values = []

    def on_epoch_end(self, trainer, record):
        layers = prunable(trainer.model)
        zeros = sum(int((m.weight == 0).sum()) for m in layers)
        self.values.append(zeros / sum(m.weight.numel() for m in layers))


def test_gmp_follows_the_schedule_and_the_saved_model_is_sparse(blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    record = _Sparsity()
    model = HeadClassifier(  # calibrate=False: the plain path these 10 epochs were sized for
        hidden_sizes=(32, 32), epochs=10, prune="gmp:sparsity=0.8,end=0.6", calibrate=False
    )
    model.fit(X, y, callbacks=[record])
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(record.values))
    expected = [F.cubic_sparsity(e / 10, 0.8, 0.0, 0.6) for e in range(1, 11)]
    np.testing.assert_allclose(record.values, expected, atol=0.01)
    assert weight_sparsity(model.model_) == pytest.approx(0.8, abs=0.01)
    assert model.score(X_test, y_test) > 0.6
    assert "weight_orig" not in " ".join(model.model_.state_dict())
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.prune == "gmp:sparsity=0.8,end=0.6"
    assert weight_sparsity(loaded.model_) == pytest.approx(0.8, abs=0.01)
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test), atol=1e-6)


def test_erk_masks_stay_exactly_zero_through_adam(blobs_data):
    X, y, _, _ = blobs_data
    first = {}

    class Grab(Callback):
        def on_epoch_end(self, trainer, record):
            masks = [m.weight_mask.clone() for m in prunable(trainer.model)]
            first.setdefault("masks", masks)
            for m, mask in zip(prunable(trainer.model), first["masks"], strict=True):
                assert torch.equal(m.weight_mask, mask)  # static
                assert (m.weight[mask == 0] == 0).all()

    model = HeadClassifier(hidden_sizes=(64, 64), epochs=6, prune="erk:density=0.2")
    model.fit(X, y, callbacks=[Grab()])
    layers = prunable(model.model_)
    kept = sum(int((m.weight != 0).sum()) for m in layers)
    total = sum(m.weight.numel() for m in layers)
    shapes = [tuple(m.weight.shape) for m in layers]
    target = sum(
        round(d * o * i) for d, (o, i) in zip(F.erk_densities(shapes, 0.2), shapes, strict=True)
    )
    assert kept == target and abs(kept / total - 0.2) < 0.01
    assert PRUNING.names() == ["erk", "gmp", "none"]
