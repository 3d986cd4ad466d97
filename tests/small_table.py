"""A small mixed table for tests of table fits: one numeric and one text column, two classes."""

import numpy as np
import pandas as pd


def xor_table(n_rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n_rows`` rows of ``a`` (normal) and ``b`` (x/y/z); class = (a > 0) XOR (b == "x")."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"a": rng.normal(size=n_rows), "b": rng.choice(list("xyz"), n_rows)})
    y = ((frame["a"] > 0) ^ (frame["b"] == "x")).to_numpy().astype(int)
    return frame, y
