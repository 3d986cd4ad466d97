"""CFCD's adaptive scale and margin for CosFace / ArcFace (catalogue D3).

Defining properties: with the batch's adapted (s, m) the median row's target probability is
exactly ρ; s grows with the median target cosine; adapted s and m rise over training.
"""

import math

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.functional.adaptive_margin import SCALE_ANCHOR
from headkit.nn import HEADS
from headkit.training.callbacks import Callback


def _batch(seed=0, n=33, c=7, pull=0.5):
    g = torch.Generator().manual_seed(seed)
    cosine = torch.rand(n, c, generator=g, dtype=torch.float64) * 0.6 - 0.3
    target = torch.randint(0, c, (n,), generator=g)
    cosine[torch.arange(n), target] += pull * torch.rand(n, generator=g, dtype=torch.float64)
    return cosine.clamp(-1, 1), target


def _median_row(cosine, target):
    t = cosine[torch.arange(len(target)), target]
    return int(t.median(0).indices)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rho", [0.05, 0.3])
def test_cosface_margin_puts_the_median_row_at_probability_rho(seed, rho):
    cosine, target = _batch(seed)
    s, m = F.adaptive_scale_margin(cosine, target, rho=rho, s_min=1.0)
    assert m > 0
    i = _median_row(cosine, target)
    logits = F.cosface_logits(cosine, target, s, m)
    p = torch.softmax(logits[i], -1)[target[i]]
    assert float(p) == pytest.approx(rho, rel=1e-9)
    c_med = float(cosine[i, target[i]])
    assert s == pytest.approx(math.log(SCALE_ANCHOR * (1 - rho) / rho) / (1 - c_med))


def test_arcface_margin_puts_the_median_row_at_probability_rho():
    cosine, target = _batch(3)
    s, m = F.adaptive_scale_margin(cosine, target, rho=0.02, s_min=1.0, kind="arcface")
    i = _median_row(cosine, target)
    p = torch.softmax(F.arcface_logits(cosine, target, s, m)[i], -1)[target[i]]
    assert m > 0 and float(p) == pytest.approx(0.02, rel=1e-7)
    # a batch already below ρ without a margin gets m = 0 (never a negative margin)
    assert F.adaptive_scale_margin(cosine, target, rho=0.2, s_min=1.0, kind="arcface")[1] == 0


def test_scale_rises_with_the_target_cosine_and_respects_the_floor():
    scales = []
    for pull in (0.0, 0.4, 0.8, 1.2):
        cosine, target = _batch(5, pull=pull)
        scales.append(F.adaptive_scale_margin(cosine, target, 0.1, s_min=1.0)[0])
    assert scales == sorted(scales) and scales[-1] > scales[0]
    cosine, target = _batch(5)
    assert F.adaptive_scale_margin(cosine, target, 0.1, s_min=500.0)[0] == 500.0
    with pytest.raises(ValueError, match="rho"):
        F.adaptive_scale_margin(cosine, target, rho=1.5)


def test_fixed_heads_are_unchanged_and_adaptive_heads_store_the_last_values():
    torch.manual_seed(0)
    x, y = torch.randn(16, 8), torch.randint(0, 4, (16,))
    fixed = HEADS.build("cosface", in_features=8, n_classes=4).train()
    assert "adapted_scale" not in fixed.state_dict()  # saved runs of the fixed head still load
    adaptive = HEADS.build("cosface:adaptive=true,rho=0.2", in_features=8, n_classes=4).train()
    adaptive.load_state_dict(fixed.state_dict(), strict=False)
    adaptive(x, y)
    s, m = F.adaptive_scale_margin(adaptive.cosine(x), y, 0.2, 30.0)
    assert float(adaptive.adapted_scale) == pytest.approx(s)
    assert float(adaptive.adapted_margin) == pytest.approx(m)
    torch.testing.assert_close(adaptive.eval()(x), 30.0 * adaptive.cosine(x))  # eval: the floor


class _Record(Callback):
    def __init__(self):
        self.values = []

    def on_epoch_end(self, trainer, record):
        head = trainer.model.head
        self.values.append((float(head.adapted_scale), float(head.adapted_margin)))


@pytest.mark.parametrize("head", ["cosface:adaptive=true", "arcface:adaptive=true"])
def test_adapted_scale_and_margin_rise_over_training_on_digits(head):
    from headkit.data import load_dataset

    d = load_dataset("digits")
    record = _Record()
    model = HeadClassifier(
        hidden_sizes=(32,), head=head, epochs=12, random_state=0, calibrate=False
    )
    model.fit(d.X_train, d.y_train, callbacks=[record])
    s = np.array([v[0] for v in record.values])
    m = np.array([v[1] for v in record.values])
    assert s[-3:].mean() > s[:3].mean() and m[-3:].mean() > m[:3].mean()
    assert model.score(d.X_test, d.y_test) > 0.85
