"""Memory budgets of the chunked kernels: how many rows or classes one block may hold."""

from __future__ import annotations

MIN_ROWS = 128
_AUTO_BUDGET = (32 * 2**20, 2**30)


def auto_memory_budget(n_classes: int, n_features: int) -> int:
    """Default logit-block budget: about the size of the float32 C×D weight gradient.

    ``C · 4 · max(D, 128)`` bytes clamped to [32 MiB, 1 GiB]: row blocks then hold about
    ``max(D, 128)`` full logit rows, so the working memory stays near the C×D gradient the
    caller allocates anyway.
    """
    low, high = _AUTO_BUDGET
    return int(min(high, max(low, n_classes * 4 * max(n_features, MIN_ROWS))))


def rows_within_budget(n: int, c: int, budget: int, n_buffers: int, min_rows: int) -> int:
    """Return how many rows (or classes) of length ``c`` fit ``budget`` bytes, at most ``n``."""
    fit = budget // max(1, c * 4 * n_buffers)
    return int(min(n, fit)) if fit >= min(n, min_rows) else 0
