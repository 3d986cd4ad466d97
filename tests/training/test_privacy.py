"""DP-SGD through Opacus (catalogue F3): the privacy budget, training, saving, refusals."""

import json
import math
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from headkit.inference.saved_model import SavedModel
from headkit.training import PRIVACY

opacus = pytest.importorskip("opacus", reason="opacus is absent: pip install 'headkit[dp]'")
from opacus.accountants import RDPAccountant  # noqa: E402

SMALL = {"hidden_sizes": (16,), "standardize": False, "dropout": 0.0, "random_state": 0}


def _fit(blobs_data, epochs=2, noise=1.0, **params):
    X, y, _, _ = blobs_data
    spec = f"dp:noise={noise},clip=1.0,delta=1e-5"
    return HeadClassifier(**{**SMALL, **params}, epochs=epochs, privacy=spec).fit(X, y)


def test_epsilon_is_finite_grows_with_epochs_and_shrinks_with_noise(blobs_data):
    eps = {(e, s): _fit(blobs_data, e, s).epsilon_ for e in (2, 6) for s in (0.8, 2.0)}
    assert all(0 < v < math.inf for v in eps.values())
    assert eps[6, 0.8] > eps[2, 0.8] and eps[6, 2.0] > eps[2, 2.0]
    assert eps[2, 2.0] < eps[2, 0.8] and eps[6, 2.0] < eps[6, 0.8]


def test_epsilon_is_opacus_rdp_accountant_for_the_same_steps(blobs_data):
    model = _fit(blobs_data, epochs=3, noise=1.3)
    n, batch = len(blobs_data[1]), 32  # batch_size=None: n/8 clipped to [32, 512]
    steps_per_epoch = math.ceil(n / max(32, math.ceil(n / 8)))
    record = model.privacy_
    assert record["sample_rate"] == pytest.approx(1 / steps_per_epoch)
    assert record["steps"] == 3 * steps_per_epoch and batch <= n
    accountant = RDPAccountant()
    accountant.history = [(1.3, record["sample_rate"], record["steps"])]
    assert model.epsilon_ == pytest.approx(accountant.get_epsilon(1e-5), rel=1e-12)
    assert [row["epsilon"] for row in model.history_] == sorted(
        r["epsilon"] for r in model.history_
    )
    assert model.history_[-1]["epsilon"] == model.epsilon_
    again = _fit(blobs_data, epochs=3, noise=1.3)  # seeded: the same batches and the same noise
    X_test = blobs_data[2]
    np.testing.assert_array_equal(again.predict_proba(X_test), model.predict_proba(X_test))


def test_digits_train_to_good_accuracy_with_moderate_noise_and_round_trip(tmp_path):
    from headkit.data import load_dataset

    d = load_dataset("digits")
    model = HeadClassifier(
        hidden_sizes=(128,), epochs=20, dropout=0.0, standardize=False,
        privacy="dp:noise=1.0,clip=1.0,delta=1e-5", random_state=0,
    ).fit(d.X_train, d.y_train)  # fmt: skip
    assert model.score(d.X_test, d.y_test) > 0.85
    assert 1 < model.epsilon_ < 50
    assert not hasattr(model.model_.head.weight, "grad_sample")  # Opacus's hooks are gone
    assert model.ood_detector_ is None  # the training class means would not be private
    model.save(tmp_path / "dp")
    loaded = HeadClassifier.load(tmp_path / "dp")
    assert loaded.epsilon_ == model.epsilon_ and loaded.privacy_ == model.privacy_
    expected = model.predict_proba(d.X_test)
    np.testing.assert_array_equal(loaded.predict_proba(d.X_test), expected)
    saved = SavedModel.load(tmp_path / "dp", engine="numpy")
    np.testing.assert_allclose(saved.predict_proba(d.X_test), expected, rtol=1e-5, atol=1e-6)


def test_the_cli_prints_epsilon_and_writes_it_to_metrics(tmp_path):
    from headkit.cli.app import app

    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["train", "--dataset", "digits", "--out", str(out), "--epochs", "2",
         "--hidden-sizes", "16", "--no-standardize", "--tabular", "false",
         "--privacy", "dp:noise=1.0"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["privacy"]["epsilon"] > 0 and metrics["privacy"]["steps"] == 16
    assert f"ε = {metrics['privacy']['epsilon']:.3g} at δ = 1e-05" in result.output


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"norm": "batch"}, "Opacus says .*BatchNorm"),
        ({"standardize": True}, "standardize stores the training rows' mean"),
        ({"augment": "mixup:alpha=0.2"}, "augment mixes rows"),
        ({"prune": "erk:density=0.5"}, "pruning masks"),
        ({"solver": "lbfgs"}, "fits without the loop"),
        ({"head": "sphereface2"}, "Opacus cannot compute its per-row gradients"),
        ({"dropout": "dropconnect"}, "Opacus cannot compute its per-row gradients"),
    ],
)
def test_what_dp_sgd_cannot_cover_is_refused_in_one_sentence(blobs_data, params, message):
    with pytest.raises(ConfigError, match=f"privacy='dp' cannot .*{message}"):
        _fit(blobs_data, **params)


def test_partial_fit_weights_and_a_missing_opacus_are_refused(blobs_data, monkeypatch):
    X, y, _, _ = blobs_data
    model = HeadClassifier(**SMALL, privacy="dp")
    with pytest.raises(ConfigError, match="use fit, not partial_fit"):
        model.partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ConfigError, match="drop sample_weight"):
        HeadClassifier(**SMALL, epochs=1, privacy="dp").fit(
            X, y, sample_weight=np.arange(len(y)) % 3 + 1.0
        )
    with pytest.raises(ConfigError, match="noise > 0"):
        PRIVACY.build("dp:noise=0")
    monkeypatch.setitem(sys.modules, "opacus", None)  # import opacus → ImportError
    with pytest.raises(ConfigError, match=r"install it with pip install 'headkit\[dp\]'"):
        HeadClassifier(**SMALL, epochs=1, privacy="dp").fit(X, y)


def test_a_private_fit_holds_no_rows_out_on_its_own(blobs_data):
    # on small data the default calibrates on held-out rows, which ε would not cover
    model = _fit(blobs_data)
    assert model.calibrate_ is False and model.temperature_ == 1.0
    asked = _fit(blobs_data, validation_fraction=0.2)
    assert asked.calibrate_ is True
