import dataclasses

import pytest
from sklearn.base import clone

from headkit import HeadClassifier
from headkit.config import NetworkConfig, TrainingConfig
from headkit.estimator.presets import (
    PRESETS,
    PRESETTABLE,
    apply_preset,
    automatic_settings,
    library_defaults,
    preset_values,
)
from headkit.exceptions import ConfigError

ACCURATE = preset_values("accurate")


def test_library_defaults_are_the_config_field_defaults():
    defaults = library_defaults()
    for cls in (NetworkConfig, TrainingConfig):
        for field in dataclasses.fields(cls):
            if field.default is not dataclasses.MISSING:
                assert defaults[field.name] == field.default
    assert "n_features" not in defaults  # required fields have no default


def test_preset_fills_only_parameters_left_at_auto():
    params = {**{name: "auto" for name in PRESETTABLE}, "epochs": 7, "activation": "tanh"}
    resolved = apply_preset("accurate", params)
    assert resolved["epochs"] == 7  # the caller's value wins
    assert resolved["activation"] == "tanh"
    assert resolved["hidden_sizes"] == ACCURATE["hidden_sizes"]
    assert resolved["dropout"] == ACCURATE["dropout"]
    assert params["hidden_sizes"] == "auto"  # input untouched


def test_preset_none_resolves_auto_to_the_defaults_and_options_override_the_recipe():
    params = library_defaults()
    assert apply_preset(None, params) == params
    assert apply_preset(None, {name: "auto" for name in PRESETTABLE}) == {
        name: params[name] for name in PRESETTABLE
    }
    assert preset_values("accurate:epochs=40")["epochs"] == 40
    assert preset_values("accurate")["epochs"] != 40


def test_an_explicit_value_equal_to_the_default_wins_over_the_preset():
    """HeadClassifier(preset="accurate", activation="relu") kept GELU (issue 25)."""
    defaults = library_defaults()
    params = {name: "auto" for name in PRESETTABLE}
    params.update(activation="relu", hidden_sizes=list(defaults["hidden_sizes"]))
    resolved = apply_preset("accurate", params)
    assert resolved["activation"] == "relu" and resolved["hidden_sizes"] == [256, 256, 256]
    assert resolved["dropout"] == ACCURATE["dropout"]  # still "auto": the preset's


def test_relu_with_the_accurate_preset_fits_relu_and_says_so(blobs_data):
    from sklearn.base import clone

    X, y, _, _ = blobs_data
    model = HeadClassifier(preset="accurate", activation="relu", epochs=1, random_state=0)
    assert model.get_params()["activation"] == "relu"
    assert model.get_params()["hidden_sizes"] == "auto"  # not set: the truth
    again = clone(model).fit(X, y)
    assert again.model_.config.activation == "relu"
    assert again.model_.config.hidden_sizes == ACCURATE["hidden_sizes"]


def test_defaults_are_unchanged_by_auto(blobs_data):
    X, y, _, _ = blobs_data  # 240 rows: preset="none", or the "small" preset would apply
    model = HeadClassifier(epochs=1, random_state=0, preset="none").fit(X, y)
    resolved = model.resolved_params()
    for name, value in library_defaults().items():
        if name in PRESETTABLE and name != "epochs":  # epochs=1 is set above
            assert resolved[name] == value, name
    assert model.model_.config.hidden_sizes == library_defaults()["hidden_sizes"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [("acurate", "Did you mean 'accurate'"), ("accurate:speed=2", "no option 'speed'")],
)
def test_unknown_preset_or_option_is_a_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        preset_values(spec)


def test_estimator_get_params_shows_the_preset_and_the_explicit_values():
    model = HeadClassifier(preset="accurate", epochs=12)
    params = model.get_params()
    assert params["preset"] == "accurate"
    assert params["epochs"] == 12
    assert params["hidden_sizes"] == "auto"  # as given, not resolved
    resolved = model.resolved_params()
    assert resolved["hidden_sizes"] == ACCURATE["hidden_sizes"]
    assert resolved["epochs"] == 12
    assert clone(model).resolved_params() == resolved


def test_fit_builds_the_preset_network_and_an_explicit_parameter_overrides_it(blobs_data):
    X, y, _, _ = blobs_data
    model = HeadClassifier(preset="accurate", epochs=2, random_state=0).fit(X, y)
    assert model.model_.config.hidden_sizes == ACCURATE["hidden_sizes"]
    assert model.model_.config.activation == ACCURATE["activation"]
    assert model._trainer.config.loss == ACCURATE["loss"]
    assert model._trainer.config.epochs == 2
    assert model.n_iter_ == 2
    small = HeadClassifier(preset="accurate", hidden_sizes=(8,), epochs=1, random_state=0)
    assert small.fit(X, y).model_.config.hidden_sizes == (8,)


def test_preset_survives_save_and_load(tmp_path, blobs_data):
    X, y, _, _ = blobs_data
    model = HeadClassifier(preset="accurate:epochs=1", random_state=0).fit(X, y)
    loaded = HeadClassifier.load(model.save(tmp_path / "m"))
    assert loaded.preset == "accurate:epochs=1"
    assert loaded.resolved_params()["hidden_sizes"] == ACCURATE["hidden_sizes"]


def test_every_registered_preset_sets_only_config_fields():
    for name in PRESETS.names():
        assert set(preset_values(name)) <= set(library_defaults())


def test_small_data_gets_the_small_preset_unless_a_preset_is_named(tmp_path, blobs_data):
    X, y, X_test, _ = blobs_data  # 240 rows: under SMALL_DATA_ROWS
    small = HeadClassifier(epochs=3, calibrate=True).fit(X, y)
    assert small.preset_ == "small"
    assert small.model_.config.hidden_sizes == preset_values("small")["hidden_sizes"]
    assert small.training_config().weight_decay == preset_values("small")["weight_decay"]
    assert small.training_config().loss == "label_smoothing:0.1"  # softened targets, then T
    assert small.temperature_ != 1.0
    plain = HeadClassifier(epochs=3, calibrate=True, preset="none").fit(X, y)
    assert plain.preset_ == "none" and plain.model_.config.hidden_sizes == (256, 256, 256)
    explicit = HeadClassifier(epochs=3, calibrate=True, hidden_sizes=(16,)).fit(X, y)
    assert HeadClassifier(epochs=3, calibrate=False).fit(X, y).preset_ is None  # no recipe
    assert HeadClassifier(epochs=3).fit(X, y).preset_ == "small"  # calibrate="auto": on
    assert explicit.model_.config.hidden_sizes == (16,)  # a value set by the caller wins
    small.save(tmp_path / "run")
    back = HeadClassifier.load(tmp_path / "run")
    assert back.preset_ == "small" and back.get_params() == small.get_params()
    assert (back.predict_proba(X_test) == small.predict_proba(X_test)).all()


def test_automatic_preset_by_rows():
    from headkit.estimator.presets import SMALL_DATA_ROWS, automatic_preset

    assert automatic_preset(None, SMALL_DATA_ROWS - 1) == "small"
    assert automatic_preset(None, SMALL_DATA_ROWS) is None
    assert automatic_preset("accurate", 10) == "accurate"
    assert automatic_preset(None, 10, calibrate=False) is None
    assert automatic_preset(None, 10 * SMALL_DATA_ROWS, table=True) == "small"  # any table


def _rows(n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    return X, (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)


def test_auto_calibrates_tables_and_small_data_but_not_large_arrays(tmp_path):
    import json

    import pandas as pd

    from headkit.estimator.presets import HONEST_PATIENCE, SMALL_DATA_ROWS

    X, y = _rows(SMALL_DATA_ROWS)
    fast = {"epochs": 2, "hidden_sizes": (8,)}
    array = HeadClassifier(**fast).fit(X, y)  # a large numeric array: every row trains
    assert (array.calibrate_, array.monitor_, array.preset_) == (False, "val_accuracy", None)
    assert array.patience_ is None and array.n_iter_ == 2
    assert array.temperature_ == 1.0 and array.history_[0]["val_loss"] is None
    frame = pd.DataFrame(X, columns=list("abcd"))  # the same rows as a table: the honest recipe
    table = HeadClassifier(**fast).fit(frame, y)
    assert (table.calibrate_, table.monitor_, table.preset_) == (
        True,
        "val_calibrated_loss",
        "small",
    )
    assert table.patience_ == HONEST_PATIENCE
    assert table.temperature_ != 1.0 and table.calibration_["n_samples"] == 200
    small = HeadClassifier(**fast).fit(X[:300], y[:300])  # small data: honest too, at any type
    assert (small.calibrate_, small.monitor_, small.preset_) == (
        True,
        "val_calibrated_loss",
        "small",
    )
    assert table.get_params()["calibrate"] == "auto" and table.get_params()["monitor"] == "auto"
    assert table.training_config().calibrate is True
    assert table.training_config(resolved=False).monitor == "auto"
    table.save(tmp_path / "run")
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["metadata"]
    assert saved["resolved"] == {
        "calibrate": True, "monitor": "val_calibrated_loss", "patience": HONEST_PATIENCE,
        "epochs": 2, "members": 3, "precision": "float32",
    }  # fmt: skip
    back = HeadClassifier.load(tmp_path / "run")
    found = (back.calibrate_, back.monitor_, back.patience_, back.epochs_, back.members_,
             back.precision_)  # fmt: skip
    assert found == tuple(saved["resolved"].values())
    assert back.training_config().patience == HONEST_PATIENCE
    assert back.get_params() == table.get_params()


HONEST, PLAIN = (True, "val_calibrated_loss", 16), (False, "val_accuracy", None)


@pytest.mark.parametrize(
    ("params", "small", "large"),
    [
        ({}, HONEST, PLAIN),
        ({"validation_fraction": 0.0}, PLAIN, PLAIN),  # every row asked for training
        ({"calibrate": False}, PLAIN, PLAIN),
        ({"monitor": "val_loss"}, (True, "val_loss", None), (False, "val_loss", None)),  # set wins
        ({"calibrate": True}, HONEST, (True, "val_accuracy", None)),
        ({"validation_fraction": 0.1}, HONEST, (True, "val_accuracy", None)),  # held out anyway
        ({"patience": 5}, (*HONEST[:2], 5), (True, "val_accuracy", 5)),
        ({"patience": None}, (*HONEST[:2], None), PLAIN),  # the whole schedule, as asked
    ],
)
def test_auto_follows_what_the_caller_set(params, small, large):
    from headkit.estimator.presets import automatic_settings

    given = {"calibrate": "auto", "monitor": "auto", "preset": None, "patience": "auto",
             "validation_fraction": None, **params}  # fmt: skip
    for n_rows, expected in ((300, small), (5000, large)):
        found = automatic_settings(given, table=False, n_rows=n_rows)
        assert (found["calibrate_"], found["monitor_"], found["patience_"]) == expected, n_rows
    assert automatic_settings(given, table=True, n_rows=5000)["monitor_"] == small[1]


def test_large_tables_get_fewer_epochs_under_the_honest_recipe():
    from headkit.estimator.presets import HONEST_MIN_EPOCHS, HONEST_STEPS, honest_epochs

    auto = {name: "auto" for name in PRESETTABLE}
    assert honest_epochs(auto, "small", 5000) == 80  # 10 steps of 512 rows per epoch: all 80
    # the 190,990 training rows of AER Fertility: 374 steps of 512 per epoch
    assert honest_epochs(auto, "small", 190_990) == -(-HONEST_STEPS // 374) == 9
    assert honest_epochs(auto, None, 10**8) == HONEST_MIN_EPOCHS
    assert honest_epochs({**auto, "epochs": 30}, "small", 190_990) == 30  # set: it stands
    assert honest_epochs(auto, "accurate", 190_990) == ACCURATE["epochs"]  # the preset's
    given = {"calibrate": "auto", "monitor": "auto", "preset": None, "patience": "auto",
             "validation_fraction": None, **auto}  # fmt: skip
    assert automatic_settings(given, table=True, n_rows=190_990)["epochs_"] == 9
    assert automatic_settings(given, table=False, n_rows=190_990)["epochs_"] == 80  # plain


def test_small_preset_smooths_labels_unless_a_class_is_rare():
    import numpy as np

    from headkit.estimator.presets import SMOOTHING_BALANCE, automatic_preset, class_balance

    assert class_balance(np.array([0, 1, 0, 1])) == 1.0
    assert class_balance(np.array(["a"] * 9 + ["b"])) == pytest.approx(0.2)  # 2 × 1/10
    assert class_balance(np.zeros((4, 3))) == 1.0  # multi-label: no single rarest class
    assert preset_values("small")["loss"] == "label_smoothing:0.1"
    assert "loss" not in preset_values("small:smoothing=0")  # plain cross-entropy
    assert automatic_preset(None, 100, balance=SMOOTHING_BALANCE) == "small"
    assert automatic_preset(None, 100, balance=0.2) == "small:smoothing=0"
    assert automatic_preset("accurate", 100, balance=0.01) == "accurate"
    with pytest.raises(ConfigError, match="smoothing"):
        preset_values("small:smoothing=1")
    X, y = _rows(300)
    rare = np.where(np.arange(300) < 15, 1, 0)  # 5 % positives: 2 × 0.05 = 0.1 < 0.25
    fit = HeadClassifier(epochs=2, hidden_sizes=(8,)).fit(X, rare)
    assert fit.preset_ == "small:smoothing=0"
    assert fit.training_config().loss == "cross_entropy"
    assert fit.model_.config.hidden_sizes == (8,)  # the caller's value still wins
    even = HeadClassifier(epochs=2).fit(X, y)
    assert even.preset_ == "small" and even.training_config().loss == "label_smoothing:0.1"
