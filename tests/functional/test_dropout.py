import math

import numpy as np
import pytest
import torch
from scipy import stats

from headkit import functional as F


def seeded(fn, seed=0):
    torch.manual_seed(seed)
    return fn()


# --- inverted dropout -------------------------------------------------------------------------


def test_dropout_matches_explicit_mask_and_its_gradient():
    x = torch.randn(5, 7, requires_grad=True)
    mask = (torch.rand(5, 7) > 0.3).float()
    y = F.dropout(x, 0.3, mask=mask)
    expected = torch.where(mask.bool(), x / 0.7, torch.zeros_like(x))
    torch.testing.assert_close(y, expected)
    y.sum().backward()
    torch.testing.assert_close(x.grad, mask / 0.7)


def test_dropout_statistics():
    torch.manual_seed(0)
    n, p = 200_000, 0.3
    y = F.dropout(torch.ones(n), p)
    zeros = (y == 0).float().mean().item()
    assert abs(zeros - p) < 4 * math.sqrt(p * (1 - p) / n)
    assert abs(y.mean().item() - 1.0) < 4 * math.sqrt(p / (1 - p) / n)


def test_dropout_identity_in_eval_and_at_zero_rate():
    x = torch.randn(4, 3)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_rate(p):
    with pytest.raises(ValueError, match="dropout rate"):
        F.dropout(torch.ones(2), p)


def test_dropout_seed_determinism_and_bfloat16_uses_same_mask():
    x = torch.randn(64, 32)
    a = seeded(lambda: F.dropout(x, 0.4))
    b = seeded(lambda: F.dropout(x, 0.4))
    c = seeded(lambda: F.dropout(x.bfloat16(), 0.4))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert c.dtype == torch.bfloat16
    assert torch.equal(a == 0, c == 0)
    torch.testing.assert_close(c.float(), a, rtol=1e-2, atol=1e-2)
    gen = torch.Generator().manual_seed(3)
    d = F.dropout(x, 0.4, generator=gen)
    assert not torch.equal(a, d)


# --- multi-sample dropout ---------------------------------------------------------------------


def test_multi_sample_equals_stack_of_dropouts_under_the_same_masks():
    x = torch.randn(6, 5)
    masks = (torch.rand(3, 6, 5) > 0.5).float()
    y = F.multi_sample_dropout(x, 3, 0.5, masks=masks)
    expected = torch.stack([F.dropout(x, 0.5, mask=masks[j]) for j in range(3)])
    torch.testing.assert_close(y, expected)


def test_multi_sample_k1_is_ordinary_dropout_under_a_seed():
    x = torch.randn(16, 8)
    a = seeded(lambda: F.multi_sample_dropout(x, 1, 0.3))
    b = seeded(lambda: F.dropout(x, 0.3))
    assert a.shape == (1, 16, 8)
    torch.testing.assert_close(a[0], b, rtol=0, atol=0)


def test_multi_sample_masks_differ_and_eval_has_no_sample_dim():
    torch.manual_seed(0)
    x = torch.randn(32, 16)
    y = F.multi_sample_dropout(x, 4, 0.5)
    assert y.shape == (4, 32, 16)
    assert not torch.equal(y[0] == 0, y[1] == 0)
    assert F.multi_sample_dropout(x, 4, 0.5, training=False) is x
    same = F.multi_sample_dropout(x, 3, 0.0)
    assert all(torch.equal(same[j], x) for j in range(3))
    with pytest.raises(ValueError, match="k >= 1"):
        F.multi_sample_dropout(x, 0, 0.5)


# --- Gaussian dropout -------------------------------------------------------------------------


def test_gaussian_dropout_matches_bernoulli_first_two_moments():
    torch.manual_seed(0)
    n = 400_000
    for p in (0.1, 0.3, 0.5):
        g = F.gaussian_dropout(torch.ones(n), p)
        b = F.dropout(torch.ones(n), p)
        var = p / (1 - p)
        assert abs(g.mean().item() - 1) < 5 * math.sqrt(var / n)
        assert abs(b.mean().item() - 1) < 5 * math.sqrt(var / n)
        # sample variance: relative standard error sqrt(2/n) for the Gaussian
        assert g.var().item() == pytest.approx(var, rel=0.02)
        assert b.var().item() == pytest.approx(var, rel=0.02)


def test_gaussian_dropout_explicit_noise_gradcheck_and_eval():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(4, 3, dtype=torch.float64)
    y = F.gaussian_dropout(x, 0.2, noise=noise)
    torch.testing.assert_close(y, x * (1 + 0.5 * noise))
    assert torch.autograd.gradcheck(lambda t: F.gaussian_dropout(t, 0.2, noise=noise), (x,))
    assert F.gaussian_dropout(x, 0.2, training=False) is x
    assert seeded(lambda: F.gaussian_dropout(x.bfloat16(), 0.2)).dtype == torch.bfloat16


def test_gradcheck_dropout_and_multisample_float64():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(3, 4) > 0.5).double()
    masks = (torch.rand(2, 3, 4) > 0.5).double()
    assert torch.autograd.gradcheck(lambda t: F.dropout(t, 0.5, mask=mask), (x,))
    assert torch.autograd.gradcheck(lambda t: F.multi_sample_dropout(t, 2, 0.5, masks=masks), (x,))


# --- DropConnect ------------------------------------------------------------------------------


def naive_dropconnect(x, w, b, mask, p):
    out = torch.zeros(x.shape[0], w.shape[0], dtype=x.dtype)
    for n in range(x.shape[0]):
        m = mask[n] if mask.dim() == 3 else mask
        for o in range(w.shape[0]):
            out[n, o] = sum(w[o, i] * m[o, i] * x[n, i] for i in range(w.shape[1])) / (1 - p) + b[o]
    return out


@pytest.mark.parametrize("per_sample", [False, True])
def test_linear_dropconnect_matches_naive_loops(per_sample):
    torch.manual_seed(0)
    x, w, b = torch.randn(4, 5), torch.randn(3, 5), torch.randn(3)
    shape = (4, 3, 5) if per_sample else (3, 5)
    mask = (torch.rand(shape) > 0.4).float()
    y = F.linear_dropconnect(x, w, b, 0.4, per_sample=per_sample, mask=mask)
    torch.testing.assert_close(y, naive_dropconnect(x, w, b, mask, 0.4), rtol=1e-5, atol=1e-5)


def test_linear_dropconnect_per_sample_uses_distinct_masks_and_keeps_leading_dims():
    torch.manual_seed(0)
    x = torch.ones(2, 8, 6)
    w = torch.ones(4, 6)
    shared = F.linear_dropconnect(x, w, None, 0.5)
    per = F.linear_dropconnect(x, w, None, 0.5, per_sample=True)
    assert per.shape == shared.shape == (2, 8, 4)
    rows = shared.reshape(-1, 4)
    assert torch.equal(rows, rows[:1].expand_as(rows))  # one mask for the batch
    assert not torch.equal(per.reshape(-1, 4), per.reshape(-1, 4)[:1].expand(16, 4))


def test_dropconnect_expectation_is_the_dense_layer():
    torch.manual_seed(0)
    x, w, b = torch.randn(1, 20), torch.randn(3, 20), torch.randn(3)
    p, draws = 0.5, 20_000
    xs = x.expand(draws, 20)
    y = F.linear_dropconnect(xs, w, b, p, per_sample=True)
    dense = torch.nn.functional.linear(x, w, b)[0]
    std = (p / (1 - p) * (x**2) @ (w**2).T).sqrt()[0]
    assert torch.all((y.mean(0) - dense).abs() < 5 * std / math.sqrt(draws))
    # the variance is the one the moment-matching rule uses
    torch.testing.assert_close(y.var(0), std**2, rtol=0.05, atol=0)
    zeros = (F.drop_connect(torch.ones(400, 500), p) == 0).float().mean().item()
    assert abs(zeros - p) < 0.005


def test_dropconnect_inference_rules():
    torch.manual_seed(0)
    x, w, b = torch.randn(1, 20), torch.randn(3, 20), torch.randn(3)
    dense = torch.nn.functional.linear(x, w, b)
    mean = F.linear_dropconnect(x, w, b, 0.5, training=False)
    torch.testing.assert_close(mean, dense)
    xs = x.expand(20_000, 20)
    moment = F.linear_dropconnect(xs, w, b, 0.5, training=False, inference="moment")
    sampled = F.linear_dropconnect(xs, w, b, 0.5, per_sample=True)
    torch.testing.assert_close(moment.mean(0), sampled.mean(0), rtol=0, atol=0.15)
    torch.testing.assert_close(moment.var(0), sampled.var(0), rtol=0.06, atol=0)
    with pytest.raises(ValueError, match="inference"):
        F.linear_dropconnect(x, w, b, 0.5, inference="sample")


def test_dropconnect_gradcheck_float64():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(3, 2, 4) > 0.5).double()
    fn = lambda x, w, b: F.linear_dropconnect(x, w, b, 0.5, per_sample=True, mask=mask)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w, b))


def test_dropconnect_bfloat16():
    x, w = torch.randn(4, 5).bfloat16(), torch.randn(3, 5).bfloat16()
    for per_sample in (False, True):
        y = seeded(
            lambda per_sample=per_sample: F.linear_dropconnect(
                x, w, None, 0.3, per_sample=per_sample
            )
        )
        assert y.dtype == torch.bfloat16 and torch.isfinite(y).all()


# --- nested dropout ---------------------------------------------------------------------------


def expected_cut_probs(width, distribution, scale):
    """The law of the cut b from the definitions, through scipy.stats (not the sampler's code).

    geometric (Rippel et al. 2014): an untruncated geometric G on {1, 2, ...} with mean
    scale·width, and b = min(G, width) (draws past the width keep every unit);
    gaussian: the half-normal exp(-(b/σ)²) = N(0, σ²/2) density, σ = scale·width, restricted to
    {1, ..., width}; uniform: 1/width.
    """
    b = np.arange(1, width + 1)
    if distribution == "geometric":
        g = stats.geom(1 / (scale * width))
        return np.append(g.pmf(b[:-1]), g.sf(width - 1))
    if distribution == "gaussian":
        density = stats.halfnorm(scale=scale * width / np.sqrt(2)).pdf(b)
        return density / density.sum()
    return np.full(width, 1 / width)


@pytest.mark.parametrize("distribution", ["geometric", "gaussian", "uniform"])
def test_nested_cut_histogram_matches_the_law(distribution):
    gen = torch.Generator().manual_seed(0)
    width, n = 12, 60_000
    cuts = F.sample_nested_cut(n, width, distribution, 0.4, generator=gen)
    assert cuts.min() >= 1 and cuts.max() <= width
    counts = torch.bincount(cuts - 1, minlength=width).numpy()
    probs = expected_cut_probs(width, distribution, 0.4)
    keep = probs * n >= 5
    rest = counts[~keep].sum(), probs[~keep].sum() * n
    observed = [*counts[keep], rest[0]] if (~keep).any() else counts
    expected = [*(probs[keep] * n), rest[1]] if (~keep).any() else probs * n
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_nested_units_after_cut_are_zero_per_sample():
    torch.manual_seed(0)
    x = torch.randn(500, 16)
    y = F.nested_dropout(x, distribution="uniform")
    kept = (y != 0).sum(1)
    for row in range(500):
        b = kept[row].item()
        assert b >= 1
        assert torch.equal(y[row, :b], x[row, :b])  # prefix unchanged, no rescaling
        assert torch.all(y[row, b:] == 0)
    assert len(set(kept.tolist())) > 8  # one cut per sample


def test_nested_explicit_cut_dim_and_eval():
    x = torch.randn(3, 6, 4)
    y = F.nested_dropout(x, training=False, cut=2, dim=1)
    torch.testing.assert_close(y[:, :2], x[:, :2])
    assert torch.all(y[:, 2:] == 0)
    cut = torch.tensor([[1, 2, 3, 4]] * 3)
    y = F.nested_dropout(x, cut=cut, dim=1)
    for i in range(3):
        for j in range(4):
            assert torch.all(y[i, cut[i, j] :, j] == 0) and torch.equal(
                y[i, : cut[i, j], j], x[i, : cut[i, j], j]
            )
    assert F.nested_dropout(x, training=False) is x
    mask = F.nested_dropout_mask(torch.tensor([0, 2, 5]), 4)
    torch.testing.assert_close(mask, torch.tensor([[0.0] * 4, [1, 1, 0, 0], [1.0] * 4]))


def test_nested_options_change_result_and_seed_determinism():
    x = torch.ones(2000, 32)
    geo = seeded(lambda: F.nested_dropout(x, scale=0.2)).sum(1).mean()
    wide = seeded(lambda: F.nested_dropout(x, scale=0.8)).sum(1).mean()
    gauss = seeded(lambda: F.nested_dropout(x, distribution="gaussian", scale=0.2)).sum(1).mean()
    assert geo < wide and geo != gauss
    torch.testing.assert_close(
        seeded(lambda: F.nested_dropout(x.bfloat16())).float(), seeded(lambda: F.nested_dropout(x))
    )
    with pytest.raises(ValueError, match="distribution"):
        F.sample_nested_cut(3, 4, "poisson")
    with pytest.raises(ValueError, match="scale"):
        F.sample_nested_cut(3, 4, scale=0.0)


def test_nested_gradcheck_float64():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    cut = torch.tensor([1, 3, 5, 2])
    assert torch.autograd.gradcheck(lambda t: F.nested_dropout(t, cut=cut), (x,))
