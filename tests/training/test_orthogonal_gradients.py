"""⊥Grad (catalogue F1): the projected gradient is orthogonal to the weights."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.training.callbacks import Callback


@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
def test_projection_is_orthogonal_idempotent_and_keeps_orthogonal_gradients(shape):
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(shape, generator=g, dtype=torch.float64)
    grad = torch.randn(shape, generator=g, dtype=torch.float64)
    perp = F.orthogonal_gradient(grad, theta)
    assert abs(float((perp * theta).sum())) < 1e-7 * float(grad.norm() * theta.norm())
    torch.testing.assert_close(F.orthogonal_gradient(perp, theta), perp)
    torch.testing.assert_close(F.orthogonal_gradient(perp, theta), perp)
    # naive reference on the flattened vectors
    a, b = grad.flatten(), theta.flatten()
    torch.testing.assert_close(perp.flatten(), a - (a @ b) / (b @ b) * b)
    # a gradient along θ vanishes; a zero θ leaves the gradient alone
    assert F.orthogonal_gradient(3.0 * theta, theta).abs().max() < 1e-12
    assert F.orthogonal_gradient(grad, torch.zeros(shape, dtype=torch.float64)) is grad


def test_float32_projection_is_orthogonal_to_1e_7():
    theta, grad = torch.randn(256, 40), torch.randn(256, 40)
    perp = F.orthogonal_gradient(grad, theta)
    cosine = float((perp.double() * theta.double()).sum() / (perp.norm() * theta.norm()))
    assert abs(cosine) < 1e-7


class _Check(Callback):
    """Runs after ⊥Grad (user callbacks come after the built-in ones): records ⟨g, θ⟩ / norms."""

    def __init__(self):
        self.cosines = []

    def on_after_backward(self, trainer):
        for p in trainer.model.parameters():
            if p.grad is not None and p.norm() > 0:
                c = (p.grad.double() * p.double()).sum() / (p.grad.norm() * p.norm() + 1e-30)
                self.cosines.append(abs(float(c)))


def test_estimator_projects_every_step_and_saves_the_setting(blobs_data, tmp_path):
    X, y, X_test, y_test = blobs_data
    check = _Check()
    model = HeadClassifier(  # calibrate=False: the plain path these 3 epochs were sized for
        hidden_sizes=(16,), epochs=3, orthogonal_gradients=True, calibrate=False
    )
    model.fit(X, y, callbacks=[check])
    assert check.cosines and max(check.cosines) < 1e-5
    assert model.score(X_test, y_test) > 0.6
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.orthogonal_gradients is True
    np.testing.assert_allclose(loaded.predict_proba(X_test), model.predict_proba(X_test))
    plain = _Check()
    HeadClassifier(hidden_sizes=(16,), epochs=1).fit(X, y, callbacks=[plain])
    assert max(plain.cosines) > 1e-3  # without ⊥Grad gradients do have a component along θ
