"""An on-disk cache for generated data sets (MNIST-1D: 2.3 s to import and generate on 2 cores).

Arrays are stored with ``numpy.savez`` and read with ``allow_pickle=False`` (no pickle), written
to a temporary file and renamed into place, so concurrent runs never read a half-written file.
The cache lives in ``$HEADKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/headkit``, else
``~/.cache/headkit``; a cache that cannot be read or written is ignored (the data set is generated
as if there were none), and ``HEADKIT_CACHE_DIR=off`` disables it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np


def cache_dir() -> Path | None:
    """The cache directory, or None when caching is off."""
    chosen = os.environ.get("HEADKIT_CACHE_DIR")
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "off", "0", "none") else Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "headkit"


def cached_arrays(key: str, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Return the arrays stored under ``key``, or ``make()``'s (stored for next time).

    Parameters
    ----------
    key : str
        File-name-safe identity of the arrays (include every input that changes them).
    make : callable
        Builds the arrays when they are not cached (or the cached file is unreadable).
    """
    folder = cache_dir()
    path = None if folder is None else folder / f"{key}.npz"
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                return {name: stored[name] for name in stored.files}
        except (OSError, ValueError, KeyError):
            pass  # unreadable or stale: regenerate and overwrite below
    arrays = make()
    if path is not None:
        _store(path, arrays)
    return arrays


def _store(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from headkit.io import atomic_write

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:  # a file, not a path: savez would append ".npz"
            np.savez(handle, **arrays)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError:
        pass  # no cache here; the caller has its arrays
