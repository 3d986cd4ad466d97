"""OptFS and stochastic input gates (catalogue A17): step limit, exact zeros, L0 relaxation."""

import pytest
import torch

from headkit import functional as F


def test_optfs_gate_tends_to_the_step_as_beta_grows():
    s = torch.tensor([-2.0, -0.3, -0.01, 0.01, 0.3, 2.0], dtype=torch.float64)
    step = (s > 0).double()
    errors = [(F.optfs_gates(s, beta) - step).abs().max().item() for beta in (1, 10, 100, 1e4)]
    assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-10
    assert torch.equal(F.optfs_gates(s, 3.0, training=False), step)  # the prediction gate


def test_optfs_beta_schedule_runs_from_one_to_beta_max():
    assert F.optfs_beta(0.0, 200.0) == 1.0
    assert F.optfs_beta(1.0, 200.0) == pytest.approx(200.0)
    assert F.optfs_beta(0.5, 100.0) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="beta_max"):
        F.optfs_beta(0.5, 0.5)


def test_stochastic_gates_clamp_and_are_deterministic_at_prediction():
    mu = torch.tensor([-1.0, -0.5, 0.0, 0.3, 0.8])
    torch.testing.assert_close(
        F.stochastic_gates(mu, 0.5, training=False), torch.tensor([0.0, 0.0, 0.5, 0.8, 1.0])
    )
    noise = torch.tensor([1.0, 2.0, 0.0, -1.0, -4.0])
    expected = (mu + 0.5 * noise + 0.5).clamp(0, 1)
    torch.testing.assert_close(F.stochastic_gates(mu, 0.5, noise=noise), expected)


def test_open_probability_is_the_share_of_open_stochastic_gates():
    torch.manual_seed(0)
    mu = torch.tensor([-1.0, -0.5, -0.2, 0.0, 0.4])
    draws = torch.stack([F.stochastic_gates(mu, 0.5) for _ in range(20000)])
    empirical = (draws > 0).double().mean(0)
    torch.testing.assert_close(
        empirical, F.stochastic_gate_open_probability(mu, 0.5).double(), atol=0.015, rtol=0
    )


def test_gates_and_penalty_pass_gradcheck():
    torch.manual_seed(0)
    s = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: F.optfs_gates(t, 3.0), (s,))
    mu = (torch.rand(6, dtype=torch.float64) * 0.6 - 0.3).requires_grad_()
    noise = torch.randn(6, dtype=torch.float64) * 0.1  # inside (0, 1): no kink at the clamp
    assert torch.autograd.gradcheck(lambda t: F.stochastic_gates(t, 0.5, noise=noise), (mu,))
    assert torch.autograd.gradcheck(
        lambda t: F.gate_penalty(F.stochastic_gate_open_probability(t, 0.5), 0.3), (mu,)
    )
    assert F.gate_penalty(torch.ones(4), 0.2).item() == pytest.approx(0.2)
