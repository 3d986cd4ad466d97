"""DeepFool: exact in one step on an affine classifier (closed form and a constrained solver)."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from headkit.evaluation.robustness import deepfool_robustness
from headkit.functional.robustness import PUSH, deepfool
from headkit.nn import HeadNet


def _affine(seed=0, n=40, f=6, c=5):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(c, f, generator=g, dtype=torch.float64)
    b = torch.randn(c, generator=g, dtype=torch.float64)
    x = torch.randn(n, f, generator=g, dtype=torch.float64) * 2
    return w, b, x


def _closed_form(w: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """min over k ≠ ŷ of |f_k − f_ŷ| / ‖w_k − w_ŷ‖, written as a loop."""
    out = []
    for row in x:
        z = w @ row + b
        top = int(np.argmax(z))
        out.append(
            min(
                abs(z[k] - z[top]) / np.linalg.norm(w[k] - w[top])
                for k in range(len(z))
                if k != top
            )
        )
    return np.array(out)


@pytest.mark.parametrize("overshoot", [0.0, 0.02])
def test_one_step_gives_the_exact_distance_on_an_affine_classifier(overshoot):
    w, b, x = _affine()
    result = deepfool(lambda t: t @ w.T + b, x, overshoot=overshoot)
    distance = result.perturbation.norm(dim=1).numpy() / (1 + overshoot) / (1 + PUSH)
    np.testing.assert_allclose(distance, _closed_form(w.numpy(), b.numpy(), x.numpy()), rtol=1e-9)
    assert (result.iterations == 1).all() and result.flipped.all()


def test_distance_equals_a_constrained_solver():
    w, b, x = _affine(seed=1, n=5, f=3, c=4)
    w, b = w.numpy(), b.numpy()
    result = deepfool(
        lambda t: t @ torch.from_numpy(w).T + torch.from_numpy(b), torch.from_numpy(x.numpy()), 0.0
    )
    for row, r in zip(x.numpy(), result.perturbation.numpy(), strict=True):
        top = int(np.argmax(w @ row + b))
        best = np.inf
        for k in range(4):  # smallest ‖δ‖ with f_k(x + δ) ≥ f_top(x + δ), by SLSQP
            if k == top:
                continue
            normal, offset = w[k] - w[top], (w[k] - w[top]) @ row + b[k] - b[top]
            cons = {"type": "ineq", "fun": lambda d, n=normal, o=offset: n @ d + o}
            sol = minimize(
                lambda d: d @ d, np.ones(3), constraints=[cons], method="SLSQP", tol=1e-14
            )
            best = min(best, np.sqrt(sol.fun))
        assert np.linalg.norm(r) / (1 + PUSH) == pytest.approx(best, rel=1e-6)


def test_nonlinear_network_label_flips_with_a_small_step():
    torch.manual_seed(0)
    net = HeadNet(n_features=5, n_classes=3, hidden_sizes=(16, 16), dropout=0.0).double().eval()
    x = torch.randn(20, 5, dtype=torch.float64)
    result = deepfool(net, x)
    assert result.flipped.all()
    with torch.no_grad():
        assert (net(x + result.perturbation).argmax(1) != net(x).argmax(1)).all()
    stats = deepfool_robustness(net, x.numpy())
    norms = result.perturbation.norm(dim=1) / x.norm(dim=1)
    assert stats["flipped"] == 1.0
    assert stats["rho"] == pytest.approx(norms.mean().item(), rel=1e-4)


def test_a_classifier_without_gradient_is_left_unflipped():
    x = torch.randn(6, 3, dtype=torch.float64)
    result = deepfool(lambda t: torch.ones(len(t), 4, dtype=t.dtype) * torch.arange(4.0), x)
    assert not result.flipped.any() and (result.perturbation == 0).all()
