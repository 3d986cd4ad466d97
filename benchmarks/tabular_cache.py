"""The result cache of ``tabular_suite.py``: keys, reading and writing, and entries of older code.

A key is the JSON list ``[table, split, contestant, settings, code version, threads, quick]``;
the code version of headkit's contestants is a hash of the imported ``headkit`` source tree, so
any change under ``src/`` makes the suite refit them. The report should still show what was
fitted: :func:`find_entry` returns the exact entry when there is one and otherwise the latest
entry for the same table, split, contestant, settings, threads and ``--quick`` fitted by other
code, marked ``"stale": True`` with the ``"code"`` version (and ``"commit"``, recorded since
this module exists) it was fitted at.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
from pathlib import Path
from typing import Any


def load_caches(paths: list[str]) -> dict[str, dict]:
    """Merge the caches at ``paths`` (later ones win); missing files are skipped."""
    merged: dict[str, dict] = {}
    for path in paths:
        if Path(path).exists():
            merged.update(json.loads(Path(path).read_text()))
    return merged


def save_cache(path: str, key: str, entry: dict) -> None:
    """Add ``entry`` under ``key`` to the cache file at ``path`` (read, update, atomic write)."""
    from headkit.io import atomic_write_text

    current = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    current[key] = entry
    atomic_write_text(path, json.dumps(current, indent=0, sort_keys=True))


@functools.cache
def git_commit() -> str:
    """The commit the imported headkit was checked out at (``+dirty`` when src/ differs).

    ``BENCH_COMMIT`` overrides it (for a run from a copy of the source outside git).
    """
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"]
    import headkit

    root = str(Path(headkit.__file__).parent)

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else "?"

    head = git("rev-parse", "--short", "HEAD")
    return head + ("+dirty" if git("status", "--porcelain", "--", ".") not in ("", "?") else "")


def _index(cache: dict[str, dict]) -> dict[str, list[tuple[str, dict]]]:
    """Cache entries by their key without the code version: [(version, entry), ...]."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for key, entry in cache.items():
        parts = json.loads(key)
        version = parts.pop(4)
        out.setdefault(json.dumps(parts), []).append((version, entry))
    return out


def _suffix(version: str) -> str:
    """The format tag ending a version (``-sets2``): entries of another format never stand in."""
    return version.rsplit("-", 1)[-1] if "-sets" in version else ""


def find_entry(cache: dict[str, dict], key: str, index: dict | None = None) -> dict | None:
    """The entry under ``key``, else the latest one of other code for the same fit (stale).

    ``index`` is :func:`_index` of ``cache`` (built once by the caller for speed). Only entries
    with results (``acc``, or conformal ``aps``) stand in; the latest is the one with the largest
    ``fitted_at`` (entries from before that field count as oldest).
    """
    if key in cache:
        return cache[key]
    parts = json.loads(key)
    suffix = _suffix(parts.pop(4))
    candidates = (index if index is not None else _index(cache)).get(json.dumps(parts), [])
    found = [
        (entry.get("fitted_at", ""), version, entry)
        for version, entry in candidates
        if ("acc" in entry or "aps" in entry) and _suffix(version) == suffix
    ]
    if not found:
        return None
    _, version, entry = max(found, key=lambda f: f[0])
    return {**entry, "stale": True, "code": entry.get("code", version)}


def lookup(cache: dict[str, dict], key_of: Any) -> Any:
    """``lookup(table, split, contestant)`` → :func:`find_entry` of ``key_of(...)``."""
    index = _index(cache)
    return lambda table, split, contestant: find_entry(
        cache, key_of(table, split, contestant), index
    )
