"""Input-feature gates (A17), mixture-of-experts blocks (A14) and layer dropout with early exit
(B7) by name on real data (digits, MNIST-1D): each trains, saves, loads and predicts from the
estimator, and from the CLI (``train`` then ``predict``, on the torch engine, which the NumPy
engine leaves these networks to)."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app
from headkit.data import load_dataset
from tests.cli_predict import assert_cli_predict_matches_estimator, assert_reloads_by_name
from tests.plain import PLAIN, PLAIN_ARGS

SPECS = [
    {"input_gates": "optfs"},
    {"input_gates": "stg:lam=0.5,sigma=0.5"},
    {"block": "moe:experts=4,k=1"},
    {"block": "moe:experts=4,k=2,gumbel=true,tau=0.5"},
    {"layer_drop": "layerskip:p_max=0.2", "residual": "scaled"},
    {"layer_drop": "layerskip:p_max=0.3,profile=linear,exit_scale=0.5", "residual": "true"},
]
# Layer dropout skips residual blocks: three blocks of one width.
SIZES = {"layer_drop": (64, 64, 64)}
# Above chance (0.1) after 8 epochs of a (64,) network, as in test_noise_margin_gate_by_name.
FLOOR = {"digits": 0.85, "mnist1d": 0.25}


def _ids(spec):
    return ",".join(f"{k}={v}" for k, v in spec.items())


@pytest.fixture(scope="module")
def datasets():
    return {name: load_dataset(name) for name in FLOOR}


@pytest.mark.parametrize("data", list(FLOOR))
@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_trains_saves_loads_and_predicts_by_name(spec, data, datasets, tmp_path):
    d = datasets[data]
    sizes = SIZES.get(next(iter(spec)), (64,))
    options = {k: (v == "true" if v in ("true", "false") else v) for k, v in spec.items()}
    model = HeadClassifier(**PLAIN, hidden_sizes=sizes, epochs=8, random_state=0, **options)
    model.fit(d.X_train, d.y_train)
    proba = model.predict_proba(d.X_test)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
    assert model.score(d.X_test, d.y_test) > FLOOR[data]
    loaded = assert_reloads_by_name(model, options, d.X_test, proba, tmp_path / "run")
    if "layer_drop" in spec:
        early = loaded.predict_early_exit(d.X_test, threshold=0.5)
        assert early.depth.min() >= 1 and early.depth.max() <= 3 and early.depth.mean() < 3
        assert (early.labels == d.y_test).mean() > FLOOR[data]
        np.testing.assert_array_equal(loaded.predict_early_exit(d.X_test, 1.5).proba, proba)
    if "input_gates" in spec:
        assert loaded.input_gates_ == model.input_gates_
        assert len(model.input_gates_) == d.X_train.shape[1]


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_cli_train_and_predict(spec, datasets, tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "3", *PLAIN_ARGS]
    args += ["--hidden-sizes", "32,32,32" if "layer_drop" in spec else "32"]
    for key, value in spec.items():
        args += [f"--{key.replace('_', '-')}", value]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    if "input_gates" in spec:
        gates = json.loads((out / "metrics.json").read_text())["input_gates"]
        assert len(gates) == 64 and all(0.0 <= g <= 1.0 for g in gates.values())
        assert f"input gates keep {sum(g > 0 for g in gates.values())} of 64" in result.output
    d = datasets["digits"]
    assert_cli_predict_matches_estimator(out, d.X_test, d.feature_names, tmp_path)
    from headkit.inference.saved_model import SavedModel

    assert SavedModel.load(out, engine="auto").engine == "torch"
