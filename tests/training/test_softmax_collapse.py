import warnings

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.training import SoftmaxCollapseDetector, SoftmaxCollapseWarning
from tests.plain import PLAIN


def _separable(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 4)) + 6.0 * y[:, None]
    return X.astype(np.float32), y


def _memorisable_noise(n=200, d=40, seed=0, flip=0.1):
    """One informative column among ``d``; a tenth of the labels flipped (memorised, not learnt)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, d))
    X[:, 0] += 3.0 * y
    return X.astype(np.float32), np.where(rng.random(n) < flip, 1 - y, y)


# no regularisation, a large constant learning rate: logits grow without bound
# plain cross-entropy: the small preset's label smoothing bounds the logits (no collapse)
COLLAPSING = dict(dropout=0.0, weight_decay=0.0, lr=0.1, schedule="constant",
                  loss="cross_entropy", random_state=0)  # fmt: skip


def test_a_collapse_that_does_not_hurt_is_recorded_but_not_warned_about():
    """Every training row right and collapsed: the fit converged; nothing to advise (issue 25)."""
    X, y = _separable()
    model = HeadClassifier(hidden_sizes=(64,), epochs=60, validation_fraction=0.0, **COLLAPSING)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SoftmaxCollapseWarning)
        model.fit(X, y)
    assert model.history_[-1]["softmax_collapse"] >= 0.9
    assert model.score(X, y) == 1.0


def test_detector_warns_when_the_validation_loss_climbs_during_collapse():
    X, y = _memorisable_noise()
    model = HeadClassifier(hidden_sizes=(256,), epochs=15, validation_fraction=0.2, **COLLAPSING)
    with pytest.warns(SoftmaxCollapseWarning) as caught:
        model.fit(X, y)
    (warning,) = [w.message for w in caught if isinstance(w.message, SoftmaxCollapseWarning)]
    assert warning.fraction >= 0.9 and "validation loss rose" in warning.symptom
    assert warning.settings == {"weight_decay": 0.0, "lr": 0.1}  # the settings now, named
    assert "weight_decay=0 and lr=0.1" in str(warning)
    row = model.history_[warning.epoch - 1]
    best = min(r["val_loss"] for r in model.history_[: warning.epoch - 1])
    assert row["softmax_collapse"] >= 0.9 and row["val_loss"] >= 1.5 * best


def _detector(errors, patience=10):
    detector = SoftmaxCollapseDetector(torch.zeros(4, 2), torch.zeros(4, dtype=torch.int64))
    detector.patience, detector.errors = patience, list(errors)
    return detector


@pytest.mark.parametrize(
    ("errors", "val_losses", "hurts"),
    [
        ([0.5] * 5 + [0.08] * 11, [], "training stalled"),  # flat for 11 epochs at 8 % wrong
        ([0.5] * 5 + [0.08] * 10, [], None),  # flat for only 10 epochs: the window's first fell
        ([0.5] * 5 + [0.08] * 10 + [0.07], [], None),  # still falling
        ([0.5] * 5 + [0.01] * 11, [], None),  # below min_error: the fit is done, not stalled
        ([0.5] * 3, [0.5, 0.4, 0.61], "validation loss rose from 0.4 to 0.61"),
        ([0.5] * 3, [0.5, 0.4, 0.59], None),  # below 1.5 × the best
        ([0.5] * 3, [0.02, 0.01, 0.04], None),  # 4 × the best, but only by 0.03
    ],
)
def test_collapse_hurts_only_when_training_stalls_or_validation_degrades(errors, val_losses, hurts):
    symptom = _detector(errors).symptom(val_losses)
    assert symptom is None if hurts is None else hurts in symptom


def test_detector_stays_silent_on_a_normal_run(blobs_data):
    X, y, *_ = blobs_data
    with warnings.catch_warnings():
        warnings.simplefilter("error", SoftmaxCollapseWarning)
        model = HeadClassifier(**PLAIN, epochs=30, random_state=0).fit(X, y)
    # On these easy blobs many rows reach p = 1 in float32 late in training; the share is
    # recorded after every epoch, and the filter above fails the fit if the detector speaks.
    shares = [row["softmax_collapse"] for row in model.history_]
    assert len(shares) == 30 and 0 < max(shares)


def test_stablemax_output_is_not_watched_and_trains(blobs_data):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(output="stablemax", epochs=30, random_state=0).fit(X, y)
    assert "softmax_collapse" not in model.history_[0]
    assert model.score(X_test, y_test) > 0.8


def test_shares_are_those_of_the_naive_expressions():
    from headkit.training.softmax_collapse import _collapsed_and_wrong

    logits = torch.tensor([[30.0, 0.0], [0.0, 1.0], [0.0, 40.0], [2.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1, 1])
    loss = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    fraction, error = _collapsed_and_wrong(logits, y)
    assert fraction == pytest.approx(float((loss == 0).float().mean())) and fraction == 2 / 5
    assert error == pytest.approx(float((logits.argmax(-1) != y).float().mean()))
    assert _collapsed_and_wrong(torch.zeros(0, 2), torch.zeros(0, dtype=torch.int64)) == (0.0, 0.0)


def test_detector_scores_a_fixed_sample_of_128_rows():
    X, y = torch.randn(1000, 3), torch.randint(0, 2, (1000,))
    first, second = SoftmaxCollapseDetector(X, y), SoftmaxCollapseDetector(X, y)
    assert first.X.shape == (128, 3) and torch.equal(first.X, second.X)
    assert SoftmaxCollapseDetector(X[:50], y[:50]).X.shape == (50, 3)
