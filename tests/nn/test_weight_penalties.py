"""norm_loss by name pulls every dense row towards unit norm during training."""

import numpy as np
from sklearn.datasets import load_digits

from headkit import HeadClassifier


def _row_norm_gap(clf):
    weights = [b.linear.weight for b in clf.model_.trunk.blocks] + [clf.model_.head.weight]
    return np.mean([np.abs(w.detach().norm(dim=1).numpy() - 1).mean() for w in weights])


def test_norm_loss_moves_row_norms_towards_one():
    x, y = load_digits(return_X_y=True)
    # a large learning rate and no weight decay let plain training grow the rows (gap ≈ 1.3)
    params = dict(hidden_sizes=(32,), epochs=30, lr=0.05, weight_decay=0.0, random_state=0)
    plain = HeadClassifier(**params).fit(x[:500], y[:500])
    normed = HeadClassifier(**params, loss="norm_loss:lam=0.1").fit(x[:500], y[:500])
    assert _row_norm_gap(normed) < 0.2 * _row_norm_gap(plain)
    assert normed.score(x[500:800], y[500:800]) > 0.8
