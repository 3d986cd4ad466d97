"""The dropout family through HeadClassifier: names, MC-dropout prediction, gradient noise."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit.exceptions import ConfigError
from headkit.nn import (
    DropConnectLinear,
    Dropout,
    GaussianDropout,
    MultiSampleDropout,
    NestedDropout,
)

FAST = dict(epochs=6, hidden_sizes=(24,), random_state=0)


@pytest.mark.parametrize(
    ("spec", "module"),
    [
        ("multisample:k=8,p=0.5", MultiSampleDropout),
        ("gaussian", GaussianDropout),
        ("dropconnect", DropConnectLinear),
        ("nested", NestedDropout),
    ],
)
def test_each_variant_trains_by_name(blobs_data, spec, module):
    X, y, X_test, y_test = blobs_data
    model = HeadClassifier(**{**FAST, "epochs": 25}, dropout=spec).fit(X, y)
    assert any(isinstance(m, module) for m in model.model_.modules())
    assert model.score(X_test, y_test) > 0.85
    if spec.startswith("multisample"):
        ms = next(m for m in model.model_.modules() if isinstance(m, MultiSampleDropout))
        assert (ms.k, ms.p) == (8, 0.5)
    proba = model.predict_proba(X_test)  # eval mode: one deterministic pass, no sample dim
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)


def naive_mc(model, X, T, seed):
    """T explicit passes with only the dropout modules in training mode."""
    net = model.model_
    x = torch.as_tensor(X, dtype=torch.float32)
    probs = []
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        net.eval()
        for m in net.modules():
            if isinstance(m, Dropout):
                m.train()
        for _ in range(T):
            probs.append(net.predict_proba(x))
        net.eval()
    p = torch.stack(probs).double()
    mean = p.mean(0)
    entropy = -(mean * mean.log()).sum(1)
    expected = -(p * p.log()).sum(2).mean(0)
    return mean.numpy(), entropy.numpy(), (entropy - expected).numpy()


def test_predict_proba_mc_samples_is_the_mean_of_stochastic_passes(blobs_data):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(**FAST, dropout=0.5).fit(X, y)
    deterministic = model.predict_proba(X_test)
    np.testing.assert_array_equal(model.predict_proba(X_test, mc_samples=1), deterministic)
    mc = model.predict_proba(X_test, mc_samples=7)
    assert not np.allclose(mc, deterministic)
    np.testing.assert_allclose(mc.sum(1), 1.0, rtol=1e-5)
    mean, entropy, mi = naive_mc(model, X_test, 7, seed=model.seed_)
    np.testing.assert_allclose(mc, mean, rtol=1e-5, atol=1e-6)
    unc = model.predict_uncertainty(X_test, mc_samples=7)
    np.testing.assert_array_equal(unc["proba"], mc)
    np.testing.assert_allclose(unc["entropy"], entropy, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(unc["mutual_information"], np.clip(mi, 0, None), atol=1e-5)
    np.testing.assert_allclose(unc["entropy"] - unc["expected_entropy"], unc["mutual_information"])
    assert (unc["mutual_information"] >= 0).all() and unc["mutual_information"].max() > 0


def test_mc_prediction_is_seeded_and_leaves_global_rng_alone(blobs_data):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(**FAST, dropout="multisample:k=3,p=0.4").fit(X, y)
    torch.manual_seed(5)
    expected = torch.rand(2)
    torch.manual_seed(5)
    a = model.predict_proba(X_test, mc_samples=4)
    assert torch.equal(torch.rand(2), expected)
    np.testing.assert_array_equal(model.predict_proba(X_test, mc_samples=4), a)
    model.seed_ += 1  # the fit's seed, not the random_state param, seeds MC dropout
    assert not np.array_equal(model.predict_proba(X_test, mc_samples=4), a)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "3"])
def test_bad_mc_samples_raise_config_error(blobs_data, bad):
    X, y, X_test, _ = blobs_data
    model = HeadClassifier(**{**FAST, "epochs": 1}).fit(X, y)
    with pytest.raises(ConfigError, match="mc_samples"):
        model.predict_proba(X_test, mc_samples=bad)


def test_gradient_noise_option_changes_training_and_is_seeded(blobs_data):
    X, y, X_test, y_test = blobs_data

    def weights(**options):
        model = HeadClassifier(**{**FAST, "epochs": 25}, **options).fit(X, y)
        return model, model.model_.state_dict()

    _, plain = weights()
    noisy_model, noisy = weights(gradient_noise=0.01)
    _, again = weights(gradient_noise=0.01)
    assert all(torch.equal(noisy[k], again[k]) for k in noisy)
    assert not all(torch.equal(noisy[k], plain[k]) for k in noisy)
    assert noisy_model.score(X_test, y_test) > 0.85
    _, zero = weights(gradient_noise=0.0)
    assert all(torch.equal(zero[k], plain[k]) for k in plain)


def test_gradient_noise_follows_the_schedule_in_the_trainer(blobs_data, monkeypatch):
    from headkit.training import gradient_noise

    seen = []
    original = gradient_noise.add_gradient_noise

    def spy(parameters, step, eta, gamma=0.55, **kw):
        seen.append((step, eta, gamma))
        return original(parameters, step, eta, gamma, **kw)

    monkeypatch.setattr(gradient_noise, "add_gradient_noise", spy)
    X, y, _, _ = blobs_data
    model = HeadClassifier(**{**FAST, "epochs": 2}, gradient_noise=0.3).fit(X, y)
    steps = len(seen)
    assert steps >= 2 and model.n_iter_ == 2
    assert [s for s, _, _ in seen] == list(range(steps))
    assert {(eta, gamma) for _, eta, gamma in seen} == {(0.3, 0.55)}
