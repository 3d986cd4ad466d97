import itertools

import pytest
import torch

from headkit.exceptions import ConfigError
from headkit.functional import linear_cross_entropy

IGNORE = -100
SCHEDULES = {
    "rows": {"memory_budget": 10**8},
    "rows_small_blocks": {"memory_budget": 7 * 1003 * 4 * 2},
    "chunks": {"chunk_size": 128},
}


def naive(x, w, t, b, reduction, eps, z_loss, cap):
    """Reference written with explicit masks and a dense one-hot target, no F.cross_entropy."""
    z = x @ w.T
    if b is not None:
        z = z + b
    if cap is not None:
        z = cap * torch.tanh(z / cap)
    keep = t != IGNORE
    safe_t = torch.where(keep, t, torch.zeros_like(t))
    c = w.shape[0]
    onehot = torch.zeros_like(z).scatter_(1, safe_t[:, None], 1.0)
    q = (1 - eps) * onehot + eps / c
    lse = torch.log(torch.exp(z - z.max(1, keepdim=True).values).sum(1)) + z.max(1).values
    rows = -(q * (z - lse[:, None])).sum(1) + z_loss * lse**2
    rows = rows * keep
    if reduction == "none":
        return rows
    if reduction == "sum":
        return rows.sum()
    return rows.sum() / keep.sum()


def _problem(n=37, d=16, c=1003, bias=True, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(c, d, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(c, generator=g, dtype=dtype).requires_grad_() if bias else None
    t = torch.randint(0, c, (n,), generator=g)
    t[::5] = IGNORE
    return x, w, b, t


def _grads(loss, params, reduction, n):
    gout = torch.linspace(-1, 2, n) if reduction == "none" else torch.tensor(1.7)
    return torch.autograd.grad(loss, params, gout.to(loss.dtype))


GRID = list(
    itertools.product(
        ["mean", "sum", "none"], [0.0, 0.1], [0.0, 1e-2], [None, 5.0], [False, True], SCHEDULES
    )
)


@pytest.mark.parametrize(("reduction", "eps", "z_loss", "cap", "bias", "schedule"), GRID)
def test_matches_naive_loss_and_grads(reduction, eps, z_loss, cap, bias, schedule, monkeypatch):
    # allow row blocks of 7 rows so that several row blocks are visited
    monkeypatch.setattr("headkit.functional.linear_ce._MIN_ROWS", 4)
    if schedule == "rows":  # the slab pipeline (softcap: per-block kernels)
        monkeypatch.setattr("headkit.functional.linear_ce._PIPELINE_FLOPS", 0)
    if schedule == "rows_small_blocks":  # exp pass in class slabs of 16 (C=1003: 63, one partial)
        monkeypatch.setattr("headkit.functional._ce_blocks.slab_bytes", lambda: 1)
    x, w, b, t = _problem(bias=bias)
    params = [x, w] + ([b] if bias else [])
    opts = {"label_smoothing": eps, "z_loss": z_loss, "softcap": cap}
    got = linear_cross_entropy(x, w, t, b, reduction=reduction, **opts, **SCHEDULES[schedule])
    ref = naive(x, w, t, b, reduction, eps, z_loss, cap)
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(
        _grads(got, params, reduction, 37), _grads(ref, params, reduction, 37), strict=True
    ):
        scale = max(1.0, r.abs().max().item())
        assert (a - r).abs().max().item() <= 1e-5 * scale


def test_tiny_budget_falls_back_to_class_chunks():
    x, w, b, t = _problem()
    got = linear_cross_entropy(x, w, t, b, memory_budget=1000, label_smoothing=0.1)
    ref = naive(x, w, t, b, "mean", 0.1, 0.0, None)
    torch.testing.assert_close(got, ref)
    for a, r in zip(
        torch.autograd.grad(got, [x, w, b]), torch.autograd.grad(ref, [x, w, b]), strict=True
    ):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-6)


def test_ignored_rows_have_zero_loss_and_grad():
    x, w, b, t = _problem()
    per_row = linear_cross_entropy(x, w, t, b, reduction="none")
    assert torch.all(per_row[t == IGNORE] == 0)
    (gx,) = torch.autograd.grad(per_row.sum(), [x])
    assert torch.all(gx[t == IGNORE] == 0)
    assert torch.all(gx[t != IGNORE].abs().sum(1) > 0)


def test_custom_ignore_index_and_leading_dims():
    x, w, b, t = _problem(n=24)
    t = torch.where(t == IGNORE, torch.full_like(t, 7), t)
    got = linear_cross_entropy(x.reshape(4, 6, -1), w, t.reshape(4, 6), b, ignore_index=7)
    keep = t != 7
    ref = torch.nn.functional.cross_entropy((x @ w.T + b)[keep], t[keep])
    torch.testing.assert_close(got, ref)


def test_each_option_changes_the_result():
    x, w, b, t = _problem()
    base = linear_cross_entropy(x, w, t, b)
    for opts in ({"label_smoothing": 0.2}, {"z_loss": 1e-3}, {"softcap": 3.0}):
        assert not torch.allclose(base, linear_cross_entropy(x, w, t, b, **opts))
    assert not torch.allclose(base, linear_cross_entropy(x, w, t))


@pytest.mark.parametrize("pipeline_flops", [0, 2**30])  # slab pipeline on / off
def test_gradcheck_float64_both_schedules(pipeline_flops, monkeypatch):
    monkeypatch.setattr("headkit.functional.linear_ce._PIPELINE_FLOPS", pipeline_flops)
    x, w, b, t = _problem(n=6, d=3, c=11, dtype=torch.float64)
    for opts in ({}, {"chunk_size": 4}):
        for extra in ({}, {"softcap": 2.0, "label_smoothing": 0.1, "z_loss": 0.05}):

            def f(x, w, b, extra=extra, opts=opts):
                return linear_cross_entropy(x, w, t, b, **extra, **opts)

            assert torch.autograd.gradcheck(f, (x, w, b))


def test_bfloat16_inputs_accumulate_in_float32():
    x, w, b, t = _problem(c=300)
    xb, wb, bb = (p.detach().bfloat16().requires_grad_() for p in (x, w, b))
    got = linear_cross_entropy(xb, wb, t, bb)
    assert got.dtype == torch.float32
    got.backward()
    assert xb.grad.dtype == torch.bfloat16 and wb.grad.dtype == torch.bfloat16
    x32, w32, b32 = (p.detach().float() for p in (xb, wb, bb))
    ref = naive(x32, w32, t, b32, "mean", 0, 0, None)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_all_ignored_gives_nan_mean_like_torch():
    x, w, b, t = _problem()
    t[:] = IGNORE
    got = linear_cross_entropy(x, w, t, b)
    ref = torch.nn.functional.cross_entropy(x @ w.T + b, t)
    assert torch.isnan(got) and torch.isnan(ref)


def test_no_grad_path_matches():
    x, w, b, t = _problem()
    with torch.no_grad():
        got = linear_cross_entropy(x, w, t, b)
    torch.testing.assert_close(got, naive(x, w, t, b, "mean", 0, 0, None).detach())


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"reduction": "avg"}, "reduction"),
        ({"label_smoothing": 1.5}, "label_smoothing"),
        ({"z_loss": -1.0}, "z_loss"),
        ({"softcap": 0.0}, "softcap"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"memory_budget": 0}, "memory_budget"),
    ],
)
def test_bad_options_raise_config_error(kwargs, word):
    x, w, b, t = _problem()
    with pytest.raises(ConfigError, match=word):
        linear_cross_entropy(x, w, t, b, **kwargs)


def test_bad_shapes_and_labels_raise():
    x, w, _, t = _problem()
    with pytest.raises(ConfigError, match="share D"):
        linear_cross_entropy(x, w[:, :3], t)
    with pytest.raises(ConfigError, match="target"):
        linear_cross_entropy(x, w, t[:3])
    with pytest.raises(ConfigError, match="outside"):
        linear_cross_entropy(x, w, torch.full_like(t, w.shape[0]))


def test_schedule_choice(monkeypatch):
    from headkit.functional import linear_ce

    calls = []
    monkeypatch.setattr(linear_ce, "_MIN_ROWS", 4)
    real = linear_ce._row_blocks

    def spy(*args):
        calls.append(args[7])
        return real(*args)

    monkeypatch.setattr(linear_ce, "_row_blocks", spy)
    x, w, b, t = _problem()
    linear_cross_entropy(x, w, t, b, memory_budget=7 * 1003 * 4)
    linear_cross_entropy(x, w, t, b, reduction="none")
    linear_cross_entropy(x, w, t, b, chunk_size=100)
    assert calls == [7]


@pytest.mark.parametrize(
    ("case", "rows_done", "recomputed"),
    [("normal", 29, 0), ("large_later_rows", 7, 4), ("large_all", 0, 5), ("very_negative", 0, 5)],
)
def test_unshifted_exp_falls_back_to_the_row_max_shift(case, rows_done, recomputed, monkeypatch):
    # row blocks of 7 kept rows (x's 37 rows less every 5th, ignored): block 0 holds rows 1-9;
    # "large_later_rows" scales rows 14+ so that exp(z) overflows from block 1 on,
    # "very_negative" makes every exp(z) underflow. The slab pipeline stops before the first
    # block out of range and the shifted per-block kernels finish the rest.
    from headkit.functional import linear_ce

    monkeypatch.setattr(linear_ce, "_MIN_ROWS", 4)
    monkeypatch.setattr(linear_ce, "_PIPELINE_FLOPS", 0)
    calls, done = [], []
    real, real_pipe = linear_ce.block_logits, linear_ce.pipeline_row_blocks
    monkeypatch.setattr(linear_ce, "block_logits", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(
        linear_ce, "pipeline_row_blocks", lambda *a: done.append(real_pipe(*a)) or done[-1]
    )
    x, w, b, t = _problem(bias=True)
    with torch.no_grad():
        if case == "large_later_rows":
            x[14:] *= 30
        elif case == "large_all":
            x *= 30
        elif case == "very_negative":
            b -= 200
    got = linear_cross_entropy(x, w, t, b, memory_budget=7 * 1003 * 4, label_smoothing=0.1)
    ref = naive(x, w, t, b, "mean", 0.1, 0.0, None)
    assert done == [rows_done]  # 29 kept rows in 5 blocks
    assert len(calls) == recomputed
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(
        torch.autograd.grad(got, [x, w, b]), torch.autograd.grad(ref, [x, w, b]), strict=True
    ):
        scale = max(1.0, r.abs().max().item())
        assert (a - r).abs().max().item() <= 1e-5 * scale


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize(
    ("reduction", "z_loss", "bias"), [("mean", 0.0, True), ("sum", 1e-2, False)]
)
def test_slab_pipeline_threads_match_naive(threads, reduction, z_loss, bias, monkeypatch):
    # slabs of 16 classes (C = 1003: 63 slabs, one partial) shared by 1-3 workers; the torch
    # thread count is restored afterwards
    from headkit.functional import _ce_pipeline

    monkeypatch.setattr("headkit.functional.linear_ce._MIN_ROWS", 4)
    monkeypatch.setattr("headkit.functional.linear_ce._PIPELINE_FLOPS", 0)
    monkeypatch.setattr(_ce_pipeline, "slab_classes", lambda *a: 16)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x, w, b, t = _problem(bias=bias)
        params = [x, w] + ([b] if bias else [])
        opts = {"reduction": reduction, "z_loss": z_loss, "label_smoothing": 0.1}
        got = linear_cross_entropy(x, w, t, b, memory_budget=7 * 1003 * 4, **opts)
        assert torch.get_num_threads() == threads
        grads = torch.autograd.grad(got, params)
    finally:
        torch.set_num_threads(before)
    ref = naive(x, w, t, b, reduction, 0.1, z_loss, None)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, r in zip(grads, torch.autograd.grad(ref, params), strict=True):
        assert (a - r).abs().max().item() <= 1e-5 * max(1.0, r.abs().max().item())


def test_slab_classes_fill_the_l2(monkeypatch):
    from headkit.functional import _ce_pipeline

    monkeypatch.setattr(_ce_pipeline, "cache_bytes", lambda: {2: 2**20})
    assert _ce_pipeline.slab_classes(256, 4) == 1024  # 1 MiB of float32 (K, 256) slab
    assert _ce_pipeline.slab_classes(100, 4) == 2608  # 2,621 rounded down to a multiple of 16
    monkeypatch.setattr(_ce_pipeline, "cache_bytes", lambda: {2: 1024})
    assert _ce_pipeline.slab_classes(256, 4) == 16


@pytest.mark.parametrize("mode", ["inference_mode", "no_grad"])
def test_slab_pipeline_threads_under_inference_mode(mode, monkeypatch):
    # pool threads must take the caller's inference mode to write into its buffers
    from headkit.functional import _ce_pipeline

    monkeypatch.setattr("headkit.functional.linear_ce._PIPELINE_FLOPS", 0)
    monkeypatch.setattr(_ce_pipeline, "slab_classes", lambda *a: 16)
    x, w, b, t = _problem()
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with getattr(torch, mode)():
            got = linear_cross_entropy(x, w, t, b)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(got, naive(x, w, t, b, "mean", 0, 0, None).detach())
