"""Every init, residual skip, readout solver and batch augmentation by the registries' own names:
estimator, CLI and saved runs. A new entry is trained here without editing a list."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.nn import INITS, RESIDUALS
from headkit.training import AUGMENTS, SOLVERS
from tests.cli_predict import assert_reloads_by_name
from tests.plain import PLAIN

FAMILIES = {"init": INITS, "residual": RESIDUALS, "solver": SOLVERS, "augment": AUGMENTS}
# Each family's default: every other test in the suite already trains with it.
DEFAULTS = {("init", "default"), ("residual", "none"), ("solver", "adamw"), ("augment", "none")}
# Settings some names need: skips join blocks of equal width; the readout solvers fit the head
# on fixed features (ridge: of random features).
NEEDS = {
    "init": {"hidden_sizes": (16, 16)},
    "residual": {"hidden_sizes": (16, 16, 16)},
    ("solver", "lbfgs"): {"hidden_sizes": ()},
    ("solver", "ridge"): {"head": "random_features:width=64", "hidden_sizes": ()},
}
SPECS = [
    {family: name, **NEEDS.get(family, {}), **NEEDS.get((family, name), {})}
    for family, registry in FAMILIES.items()
    for name in registry.names()
    if (family, name) not in DEFAULTS
] + [  # options survive the save and load too
    {"solver": "ridge:alpha=0.01", **NEEDS[("solver", "ridge")]},
    {"augment": "mixup:alpha=0.4"},
]


@pytest.mark.parametrize("params", SPECS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
def test_estimator_trains_saves_and_loads_each_name(params, blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(**PLAIN, epochs=15, random_state=0, **params).fit(X, y)
    assert model.score(X_test, y_test) > 0.6
    assert_reloads_by_name(model, params, X_test, model.predict_proba(X_test), tmp_path / "run")


def test_predict_with_a_class_mask(blobs_data):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(**PLAIN, epochs=10, random_state=0).fit(X, y)
    mask = np.ones((len(X_test), 3), dtype=bool)
    mask[:, 0] = False
    proba = model.predict_proba(X_test, class_mask=mask)
    assert (proba[:, 0] == 0).all()
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    logits = model.logits(X_test)[:, 1:]
    expected = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(proba[:, 1:], expected / expected.sum(1, keepdims=True), atol=1e-6)
    assert set(model.predict(X_test, class_mask=np.array([False, True, True]))) <= {1, 2}
    from headkit.exceptions import DataError

    with pytest.raises(DataError, match="class_mask"):
        model.predict_proba(X_test, class_mask=np.ones(4, dtype=bool))


def test_cli_train_accepts_the_new_flags(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--dataset",
            "blobs:n_classes=3",
            "--out",
            str(out),
            "--quiet",
            "--epochs",
            "3",
            "--hidden-sizes",
            "16,16,16",
            "--residual",
            "scaled",
            "--init",
            "critical",
            "--augment",
            "cutmix:alpha=1",
            "--output",
            "stablemax",
        ],
    )
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    text = json.dumps(config)
    for value in ("scaled", "critical", "cutmix:alpha=1", "stablemax"):
        assert value in text
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--dataset",
            "blobs:n_classes=3",
            "--out",
            str(tmp_path / "probe"),
            "--quiet",
            "--hidden-sizes",
            "none",
            "--solver",
            "lbfgs:C=2",
        ],
    )
    assert result.exit_code == 0, result.output
    info = CliRunner().invoke(app, ["info", str(out)])
    assert info.exit_code == 0 and "depth/width ratio" in info.output and "0.1875" in info.output
    bad = CliRunner().invoke(app, ["train", "--out", str(tmp_path / "x"), "--solver", "newton"])
    assert bad.exit_code == 2 and "solver" in bad.output
