import numpy as np
import torch

from headkit import HeadClassifier
from headkit.nn import HEADS


def test_random_feature_weights_are_frozen_buffers_bit_identical_after_training(blobs_data):
    X, y, *_ = blobs_data
    model = HeadClassifier(
        hidden_sizes=(), head="random_features:width=64", epochs=3, random_state=0
    ).fit(X, y)
    head = model.model_.head
    assert not any("features" in name for name, _ in head.named_parameters())
    before = head.features.weight.clone(), head.features.bias.clone()
    readout = head.readout.weight.clone()
    model.partial_fit(X, y)
    assert torch.equal(head.features.weight, before[0])
    assert torch.equal(head.features.bias, before[1])
    assert not torch.equal(head.readout.weight, readout)


def test_ridge_solver_matches_sklearn_ridge_on_the_random_features(blobs_data, tmp_path):
    from sklearn.linear_model import Ridge

    X, y, X_test, _ = blobs_data
    model = HeadClassifier(
        hidden_sizes=(),
        head="random_features:width=128,law=bandlimited",
        solver="ridge:alpha=0.01",
        standardize=False,
        validation_fraction=0.0,
        random_state=0,
    ).fit(X, y)
    head = model.model_.head
    with torch.no_grad():
        phi = head.embed(torch.as_tensor(X, dtype=torch.float32)).double().numpy()
    targets = np.eye(3)[np.searchsorted(model.classes_, y)]
    ref = Ridge(alpha=0.01).fit(phi, targets)
    np.testing.assert_allclose(head.readout.weight.detach().numpy(), ref.coef_, atol=1e-4)
    model.save(tmp_path / "rf")
    loaded = HeadClassifier.load(tmp_path / "rf")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))


def test_head_registry_builds_with_options():
    head = HEADS.build(
        "random_features:width=32,law=bandlimited,scale=0.1", in_features=4, n_classes=2
    )
    assert head.features.weight.shape == (32, 4)
    assert float(head.features.weight.abs().max()) <= 0.1
