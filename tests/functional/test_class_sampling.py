"""Partial FC class sampling (catalogue G1): exact |S|, no replacement, L_sampled ≤ L_full."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from headkit.functional.class_sampling import sample_classes
from headkit.nn import PartialFC


@pytest.mark.parametrize(
    ("n_classes", "rate", "batch"),
    [(50, 0.3, 8), (1000, 0.07, 64), (10, 0.1, 40), (300_000, 0.01, 128), (300_000, 0.4, 16)],
)
def test_set_is_exact_unique_and_holds_every_positive(n_classes, rate, batch):
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        y = torch.randint(0, n_classes, (batch,), generator=g)
        s = sample_classes(y, n_classes, rate, generator=g)
        n_pos = y.unique().numel()
        # the catalogue's |S| = max(#pos, ⌈r·C⌉), r·C computed exactly with fractions
        expected = max(n_pos, math.ceil(round(rate * n_classes * 1000) / 1000))
        assert s.numel() == min(n_classes, expected)
        assert torch.all(s[1:] > s[:-1])  # sorted, no duplicates
        assert torch.isin(y, s).all()
        assert s.min() >= 0 and s.max() < n_classes


def test_rate_one_takes_every_class():
    y = torch.tensor([3, 1])
    assert torch.equal(sample_classes(y, 7, 1.0), torch.arange(7))


@pytest.mark.parametrize(("n_classes", "rate"), [(60, 0.25), (200_000, 0.002)])
def test_negatives_are_uniform_over_the_other_classes(n_classes, rate):
    """Each non-positive class is included with probability n_neg / (C − #pos)."""
    g = torch.Generator().manual_seed(1)
    y = torch.arange(5)
    trials = 3000 if n_classes < 1000 else 400
    counts = np.zeros(n_classes)
    for _ in range(trials):
        counts[sample_classes(y, n_classes, rate, generator=g).numpy()] += 1
    assert (counts[:5] == trials).all()
    rest = counts[5:]
    if n_classes > 1000:  # too sparse per class: compare 20 equal bins of classes
        rest = rest[: len(rest) // 20 * 20].reshape(20, -1).sum(1)
    # inclusion indicators are negatively correlated, which only makes this test conservative
    assert chisquare(rest).pvalue > 1e-3


@pytest.mark.parametrize("scale", [None, 10.0])
def test_sampled_loss_never_exceeds_the_full_loss(scale):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    head = PartialFC(8, 500, sample_rate=0.1, s=scale).double()
    w = head.weight.detach()
    for _ in range(10):
        x = torch.randn(32, 8, generator=g, dtype=torch.float64)
        y = torch.randint(0, 500, (32,), generator=g)
        if scale is None:
            logits = x @ w.T
        else:
            logits = (
                scale
                * torch.nn.functional.normalize(x, dim=1)
                @ torch.nn.functional.normalize(w, dim=1).T
            )
        full = torch.nn.functional.cross_entropy(logits, y)  # the full softmax, by torch
        sampled = head.training_loss(x, y).detach()
        assert sampled.item() <= full.item() + 1e-12
        assert sampled.item() < full.item()  # 90 % of the normaliser's terms are left out
