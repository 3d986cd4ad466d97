"""HeadClassifier.save / load: parameters, seeds and predictions survive; old runs still load."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from headkit import HeadClassifier
from headkit.exceptions import ModelFileError

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3.0, size=(3, 5))
    y = rng.integers(0, 3, size=300)
    X = (centres[y] + rng.normal(size=(300, 5))).astype(np.float32)
    return X, y


@pytest.mark.parametrize("random_state", [0, 7, None])
def test_get_params_and_mc_dropout_round_trip_through_save_and_load(tmp_path, blobs, random_state):
    X, y = blobs
    model = HeadClassifier(
        dropout=0.3, epochs=10, hidden_sizes=(32,), random_state=random_state, batch_size=64,
        calibrate=True, gradient_noise_gamma=0.6, standardize=False,
    ).fit(X, y)  # fmt: skip
    before = model.predict_proba(X, mc_samples=8)
    model.save(tmp_path / "m")
    back = HeadClassifier.load(tmp_path / "m")
    assert back.get_params() == model.get_params()
    assert back.random_state == random_state  # as given, not the derived seed
    assert back.seed_ == model.seed_
    np.testing.assert_array_equal(back.predict_proba(X, mc_samples=8), before)
    np.testing.assert_array_equal(back.predict_proba(X), model.predict_proba(X))


def test_a_fixed_random_state_derives_the_same_seed_and_weights(blobs):
    X, y = blobs
    a = HeadClassifier(epochs=2, hidden_sizes=(8,), batch_size=32, random_state=3).fit(X, y)
    b = HeadClassifier(epochs=2, hidden_sizes=(8,), batch_size=32, random_state=3).fit(X, y)
    assert a.seed_ == b.seed_ == np.random.RandomState(3).randint(0, 2**31 - 1)
    np.testing.assert_array_equal(a.logits(X), b.logits(X))


def test_a_run_saved_by_the_previous_layout_loads_and_predicts_the_same(tmp_path):
    # Saved before the fit settings moved into TrainingConfig (standardize, calibrate under
    # "params"; the derived seed as random_state) and with Partial FC's former option names.
    run = FIXTURES / "legacy_v1_run"
    rows = np.load(FIXTURES / "legacy_v1_run.rows.npy")
    model = HeadClassifier.load(run)
    np.testing.assert_allclose(
        model.predict_proba(rows), np.load(FIXTURES / "legacy_v1_run.proba.npy"), atol=1e-6
    )
    head = model.model_.head
    assert (head.sample_rate, head.s, head.m) == (1.0, 8.0, 0.1)
    assert model.calibrate is True and model.standardize is True
    assert model.seed_ == 209652396
    assert model.ood_score(rows, "mahalanobis").shape == (10,)
    # and it saves again in the current layout
    model.save(tmp_path / "again")
    again = HeadClassifier.load(tmp_path / "again")
    assert again.get_params() == model.get_params()


def test_a_newer_format_version_fails_naming_the_version(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "legacy_v1_run", run)
    config = json.loads((run / "config.json").read_text())
    config["format_version"] = 99
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFileError, match="format version 99"):
        HeadClassifier.load(run)


def test_run_time_plumbing_is_not_saved_and_a_loaded_model_refits(tmp_path, blobs):
    """A run's checkpoint path and verbose=1 came back with the model: a refit "finished" from
    the old checkpoint and cross_val_score(clone(loaded)) failed (issue 25)."""
    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score

    X, y = blobs
    params = dict(epochs=3, hidden_sizes=(8,), random_state=0)
    model = HeadClassifier(**params, checkpoint_dir=tmp_path / "ck", verbose=1).fit(X, y)
    model.save(tmp_path / "m")
    saved = (tmp_path / "m" / "config.json").read_text()
    assert str(tmp_path / "ck") not in saved
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.checkpoint_dir is None and loaded.verbose == 0
    assert loaded.get_params() == {**model.get_params(), "checkpoint_dir": None, "verbose": 0}
    loaded.fit(X, y)
    assert loaded.n_iter_ == 3 and len(loaded.history_) == 3  # trained, not "resumed"
    assert cross_val_score(clone(loaded), X, y, cv=2).min() > 0.5


def test_a_run_saved_with_plumbing_loads_without_it(tmp_path, blobs):
    X, y = blobs
    HeadClassifier(epochs=1, hidden_sizes=(8,)).fit(X, y).save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    config["metadata"]["training"]["checkpoint_dir"] = "runs/.old.partial/checkpoint"
    config["metadata"]["params"] = {"verbose": 1}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.checkpoint_dir is None and loaded.verbose == 0
    assert loaded.model_.metadata["training"]["checkpoint_dir"] is None  # /metadata shows it
