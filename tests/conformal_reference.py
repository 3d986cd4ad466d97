"""Naive references the conformal tests check against (tests/evaluation/test_conformal*.py)."""

import math

import numpy as np


def naive_quantile(scores, alpha):
    """Smallest calibration score t with #{s_i <= t} >= (1 - alpha)(n + 1), else +inf."""
    n = len(scores)
    for t in sorted(scores):
        if sum(s <= t for s in scores) >= (1 - alpha) * (n + 1) - 1e-9:
            return t
    return math.inf


def softmax(z):
    """Row-wise softmax of a NumPy array (N, C)."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
