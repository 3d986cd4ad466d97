import dataclasses

import pytest
from sklearn.base import clone

from headkit import HeadClassifier
from headkit.config import NetworkConfig, TrainingConfig
from headkit.estimator.presets import (
    PRESETS,
    PRESETTABLE,
    apply_preset,
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
    X, y, _, _ = blobs_data
    model = HeadClassifier(epochs=1, random_state=0).fit(X, y)
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
