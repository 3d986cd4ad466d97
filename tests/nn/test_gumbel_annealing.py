"""Gumbel-softmax with τ annealed over training (catalogue C5): exponential schedule, floor."""

import itertools
import math

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.nn import OUTPUTS


def test_schedule_is_exponential_until_the_floor():
    ts = np.linspace(0, 1, 11)
    taus = [F.gumbel_temperature(t, tau=2.0, rate=3.0, tau_min=0.3) for t in ts]
    for t, tau in zip(ts, taus, strict=True):
        assert tau == pytest.approx(max(0.3, 2.0 * math.exp(-3.0 * t)))
    assert taus[0] == 2.0 and taus[-1] == pytest.approx(0.3)  # 2·e^-3 ≈ 0.0996 < floor
    assert all(a >= b for a, b in itertools.pairwise(taus))  # never rises
    assert F.gumbel_temperature(0.7, tau=0.2, rate=0.0, tau_min=0.5) == 0.2  # fixed: no floor
    with pytest.raises(ValueError, match="tau"):
        F.gumbel_temperature(0.5, tau=1.0, rate=-1.0)


def test_module_follows_set_progress_and_samples_sharpen():
    out = OUTPUTS.build("gumbel:tau=5,anneal=4,tau_min=0.1").train()
    torch.manual_seed(0)
    z = torch.randn(2000, 6)
    out.set_progress(0.0)
    assert out.tau == 5.0
    soft_max = out(z).max(-1).values.mean()
    out.set_progress(1.0)
    assert out.tau == pytest.approx(max(0.1, 5 * math.exp(-4)))
    sharp_max = out(z).max(-1).values.mean()
    assert sharp_max > soft_max + 0.3  # as τ falls the largest entry → 1
    assert (out.eval()(z) - torch.softmax(z, -1)).abs().max() < 1e-6  # eval: softmax(z)
    fixed = OUTPUTS.build("gumbel:tau=0.7")
    fixed.set_progress(0.9)
    assert fixed.tau == 0.7


def test_estimator_anneals_over_the_fit(blobs_data):
    X, y, X_test, y_test = blobs_data
    spec = "gumbel:tau=2,anneal=2,tau_min=0.5"
    model = HeadClassifier(
        hidden_sizes=(16,), output=spec, epochs=5, random_state=0, calibrate=False
    ).fit(X, y)
    # the last epoch ran at t = 4/5 of the fit
    assert model.model_.output.tau == pytest.approx(max(0.5, 2 * math.exp(-2 * 0.8)))
    assert model.score(X_test, y_test) > 0.6
