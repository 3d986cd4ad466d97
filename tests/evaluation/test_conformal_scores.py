"""Stored conformal scores (what predict_set, the CLI and the server read): rules and coverage."""

import numpy as np
import pytest
from tests.conformal_reference import naive_quantile, softmax

from headkit.evaluation.conformal import class_scores, mean_set_size, set_coverage
from headkit.evaluation.conformal_scores import SET_METHODS, ConformalScores, row_uniforms
from headkit.exceptions import ConfigError


def _table(seed, n, n_features=3, n_classes=6):
    """Rows, a model's probabilities of them and labels drawn from those probabilities."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, n_features))
    proba = softmax(rng.normal(size=(n, n_classes)) * 2)
    y = (proba.cumsum(axis=1) > rng.uniform(size=(n, 1))).argmax(axis=1)
    return rows, proba, y


def test_stored_scores_give_sets_by_the_naive_rule_and_cover_one_minus_alpha(tmp_path):
    features, proba, y = _table(5, 2000)
    stored = ConformalScores.fit(proba[:500], y[:500], features[:500])
    assert set(stored.scores) == set(SET_METHODS)
    (tmp_path / "c.safetensors").write_bytes(stored.to_bytes())
    back = ConformalScores.load(tmp_path / "c.safetensors")
    u_cal, u_new = row_uniforms(features[:500]), row_uniforms(features[500:])
    for method in ("aps", "raps"):
        true_scores = class_scores(proba[:500], method, u=u_cal)[np.arange(500), y[:500]]
        for alpha in (0.05, 0.1, 0.3):
            threshold = naive_quantile(true_scores.tolist(), alpha)
            naive = class_scores(proba[500:], method, u=u_new) <= threshold
            sets = back.sets(proba[500:], features[500:], alpha, method)
            np.testing.assert_array_equal(sets, naive)
    fixed = class_scores(proba[:500], "aps", randomized=False)[np.arange(500), y[:500]]
    threshold = naive_quantile(fixed.tolist(), 0.1)
    naive = class_scores(proba[500:], "aps", randomized=False) <= threshold
    naive[np.arange(1500), proba[500:].argmax(axis=1)] = True  # the top class always in
    np.testing.assert_array_equal(back.sets(proba[500:], features[500:], 0.1, "aps-det"), naive)
    for alpha in (0.1, 0.2):  # randomised scores: coverage close to exactly 1 − α
        sets = back.sets(proba[500:], features[500:], alpha)
        assert abs(set_coverage(sets, y[500:]) - (1 - alpha)) < 0.03
    assert ConformalScores.load(tmp_path / "missing.safetensors") is None


def test_default_sets_cover_one_minus_alpha_on_average_over_many_seeds():
    # 200 calibration rows (what a fit holds out), 300 new rows, 300 seeds: the marginal
    # coverage of the default averages 1 − α (SE ≈ 0.0015); "aps-det" over-covers.
    coverage = {m: [] for m in SET_METHODS}
    sizes = {m: [] for m in SET_METHODS}
    for seed in range(300):
        rows, proba, y = _table(seed, 500)
        stored = ConformalScores.fit(proba[:200], y[:200], rows[:200])
        for method in SET_METHODS:
            sets = stored.sets(proba[200:], rows[200:], 0.1, method)
            coverage[method].append(set_coverage(sets, y[200:]))
            sizes[method].append(mean_set_size(sets))
        default = stored.sets(proba[200:], rows[200:])
        np.testing.assert_array_equal(default, stored.sets(proba[200:], rows[200:], 0.1, "aps"))
    assert abs(np.mean(coverage["aps"]) - 0.9) < 0.01
    assert abs(np.mean(coverage["raps"]) - 0.9) < 0.01
    assert np.mean(coverage["aps-det"]) > 0.92
    assert np.mean(sizes["aps"]) < np.mean(sizes["aps-det"])


def test_scores_saved_before_aps_det_say_so_and_unknown_methods_are_refused():
    rows, proba, y = _table(1, 50)
    stored = ConformalScores.fit(proba, y, rows)
    old = ConformalScores({m: stored.scores[m] for m in ("aps", "raps")})
    assert old.sets(proba, rows).shape == (50, 6)
    with pytest.raises(ConfigError, match="predate method 'aps-det'.*refit"):
        old.sets(proba, rows, 0.1, "aps-det")
    with pytest.raises(ConfigError, match="method must be one of"):
        stored.sets(proba, rows, 0.1, "lac")


def test_a_rows_u_does_not_depend_on_its_batch():
    proba = softmax(np.random.default_rng(0).normal(size=(50, 4)))
    u = row_uniforms(proba)
    assert ((u >= 0) & (u < 1)).all() and len(set(u.tolist())) == 50
    np.testing.assert_array_equal(row_uniforms(proba[[7, 3]]), u[[7, 3]])
    assert abs(u.mean() - 0.5) < 0.15
