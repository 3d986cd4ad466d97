"""Block sizes from the host's caches and a one-off GEMM probe."""

from __future__ import annotations

import torch

from headkit.functional import _blocking
from headkit.functional import linear_ce as lce
from headkit.functional.linear_ce import linear_cross_entropy


def _fake_cache(root, entries):
    for i, (level, kind, size) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir()
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")


def test_cache_bytes_reads_sysfs_data_and_unified_levels(tmp_path, monkeypatch):
    _fake_cache(
        tmp_path,
        [
            (1, "Data", "32K"),
            (1, "Instruction", "64K"),
            (2, "Unified", "512K"),
            (3, "Unified", "8M"),
        ],
    )
    monkeypatch.setattr(_blocking, "_SYS_CACHE", tmp_path)
    _blocking.cache_bytes.cache_clear()
    try:
        assert _blocking.cache_bytes() == {1: 32 * 1024, 2: 512 * 1024, 3: 8 * 1024**2}
        assert _blocking.slab_bytes() == 256 * 1024
    finally:
        _blocking.cache_bytes.cache_clear()


def test_cache_bytes_falls_back_without_sysfs(tmp_path, monkeypatch):
    monkeypatch.setattr(_blocking, "_SYS_CACHE", tmp_path / "missing")
    monkeypatch.setattr(_blocking.os, "sysconf_names", {})
    _blocking.cache_bytes.cache_clear()
    try:
        assert _blocking.cache_bytes()[2] == _blocking._DEFAULT_L2
    finally:
        _blocking.cache_bytes.cache_clear()


def test_row_block_takes_largest_fitting_candidate_near_the_best_rate(monkeypatch):
    rates = {128: 100.0, 256: 96.0, 512: 80.0}
    monkeypatch.setattr(_blocking, "_probe_rates", lambda d, dt, th: tuple(rates.values()))
    assert _blocking.row_block(4096, 64) == 256  # 512 is below 85 % of the best, 256 is not
    assert _blocking.row_block(300, 64) == 256
    assert _blocking.row_block(200, 64) == 128  # only 128 fits the budget
    assert _blocking.row_block(100, 64) == 100  # below every candidate: the budget's rows
    rates.update({128: 50.0, 512: 100.0})
    assert _blocking.row_block(4096, 64) == 512  # every fitting size near the best: the largest
    assert _blocking.row_block(300, 64) == 256  # 512 does not fit the budget


def test_probe_measures_positive_rates_once_per_width():
    _blocking._probe_rates.cache_clear()
    rates = _blocking._probe_rates(16, torch.float32, 1)
    assert len(rates) == len(_blocking._ROW_CANDIDATES) and min(rates) > 0
    assert _blocking._probe_rates(16, torch.float32, 1) is rates  # cached per process


def test_probed_row_blocks_match_naive(monkeypatch):
    monkeypatch.setattr(lce, "_PROBE_FLOPS", 0)  # every call probes
    monkeypatch.setattr(lce, "_MIN_ROWS", 4)
    monkeypatch.setattr(_blocking, "_ROW_CANDIDATES", (4, 8, 16))
    monkeypatch.setattr(_blocking, "_probe_rates", lambda d, dt, th: (1.0, 1.0, 1.0))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 8, generator=g, requires_grad=True)
    w = torch.randn(50, 8, generator=g, requires_grad=True)
    t = torch.randint(0, 50, (37,), generator=g)
    got = linear_cross_entropy(x, w, t)
    ref = torch.nn.functional.cross_entropy(x @ w.T, t)
    torch.testing.assert_close(got, ref)
    gx, gw = torch.autograd.grad(got, (x, w))
    rx, rw = torch.autograd.grad(ref, (x, w))
    torch.testing.assert_close(gx, rx)
    torch.testing.assert_close(gw, rw)


def _spy_rows(monkeypatch):
    rows = []
    real = lce._row_blocks

    def spy(*args):
        rows.append(args[7])
        return real(*args)

    monkeypatch.setattr(lce, "_row_blocks", spy)
    return rows


def test_probed_rows_respect_the_memory_budget(monkeypatch):
    # the probe prefers the largest block, but the budget only holds 9 rows of C=50 classes
    monkeypatch.setattr(lce, "_PROBE_FLOPS", 0)
    monkeypatch.setattr(lce, "_MIN_ROWS", 4)
    monkeypatch.setattr(_blocking, "_ROW_CANDIDATES", (4, 8, 16))
    monkeypatch.setattr(_blocking, "_probe_rates", lambda d, dt, th: (1.0, 2.0, 4.0))
    rows = _spy_rows(monkeypatch)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(37, 8, generator=g, requires_grad=True)
    w = torch.randn(50, 8, generator=g, requires_grad=True)
    t = torch.randint(0, 50, (37,), generator=g)
    got = linear_cross_entropy(x, w, t, memory_budget=9 * 50 * 4)
    assert rows == [8]  # 16 would need 16 full logit rows, over the budget
    torch.testing.assert_close(got, torch.nn.functional.cross_entropy(x @ w.T, t))


def test_kernel_runs_on_the_fallback_sizes_without_cache_info(tmp_path, monkeypatch):
    monkeypatch.setattr(_blocking, "_SYS_CACHE", tmp_path / "missing")
    monkeypatch.setattr(_blocking.os, "sysconf_names", {})
    monkeypatch.setattr(lce, "_MIN_ROWS", 4)
    _blocking.cache_bytes.cache_clear()
    try:
        assert _blocking.slab_bytes() == _blocking._DEFAULT_L2 // 2
        g = torch.Generator().manual_seed(2)
        x = torch.randn(64, 16, generator=g, requires_grad=True)
        w = torch.randn(3000, 16, generator=g, requires_grad=True)  # 16 rows: 2 slabs (2,048 + 952)
        t = torch.randint(0, 3000, (64,), generator=g)
        got = linear_cross_entropy(x, w, t, memory_budget=16 * 3000 * 4)
        ref = torch.nn.functional.cross_entropy(x @ w.T, t)
        torch.testing.assert_close(got, ref)
        for a, r in zip(
            torch.autograd.grad(got, (x, w)), torch.autograd.grad(ref, (x, w)), strict=True
        ):
            torch.testing.assert_close(a, r)
    finally:
        _blocking.cache_bytes.cache_clear()
