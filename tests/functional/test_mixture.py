"""Mixture-of-experts gating and load balancing (catalogue A14): naive references, gradcheck."""

import pytest
import torch

from headkit.functional.mixture import (
    load_balancing_loss,
    moe_linear,
    sample_gumbel,
    top_k_gates,
)


def _naive_top_k(logits, k):
    gates = torch.zeros_like(logits)
    for n, row in enumerate(logits):
        chosen = sorted(range(len(row)), key=lambda e: -row[e].item())[:k]
        z = torch.stack([row[e].exp() for e in chosen]).sum()
        for e in chosen:
            gates[n, e] = row[e].exp() / z
    return gates


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_exactly_k_gates_per_row_summing_to_one(k):
    torch.manual_seed(0)
    logits = torch.randn(7, 5, dtype=torch.float64)
    gates, probs = top_k_gates(logits, k)
    assert ((gates > 0).sum(1) == k).all()
    torch.testing.assert_close(gates.sum(1), torch.ones(7, dtype=torch.float64))
    torch.testing.assert_close(gates, _naive_top_k(logits, k))
    torch.testing.assert_close(probs, torch.softmax(logits, 1))
    if k == 5:  # k = E: dense softmax gating
        torch.testing.assert_close(gates, probs)


def test_temperature_and_gumbel_noise_enter_the_scores():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    noise = torch.tensor([[3.0, 0.0, 0.0]])
    gates, _ = top_k_gates(logits, 1, tau=2.0, gumbel=noise)
    assert gates.argmax().item() == 0  # the noise flipped the choice
    _, probs = top_k_gates(logits, 3, tau=2.0)
    torch.testing.assert_close(probs, torch.softmax(logits / 2.0, 1))
    torch.manual_seed(0)
    g = sample_gumbel((200000,), torch.zeros(1, dtype=torch.float64))
    assert abs(g.mean().item() - 0.5772) < 0.01  # Euler–Mascheroni: the Gumbel mean
    with pytest.raises(ValueError, match="k must be"):
        top_k_gates(logits, 4)


def test_balance_loss_matches_the_formula_by_hand():
    # 4 rows, 2 experts; rows 0-2 routed to expert 0, row 3 to expert 1: f = (3/4, 1/4)
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.2, 0.8]])
    gates, _ = top_k_gates(probs.log(), 1)
    # P = (0.6, 0.4); E·Σ f·P = 2·(0.75·0.6 + 0.25·0.4) = 1.1
    assert load_balancing_loss(gates, probs).item() == pytest.approx(1.1)


def test_balance_loss_is_one_for_uniform_routing_and_e_for_collapse():
    n_experts = 4
    probs = torch.full((8, n_experts), 1.0 / n_experts)
    gates = torch.eye(n_experts).repeat(2, 1)  # each expert gets 2 of the 8 rows
    assert load_balancing_loss(gates, probs).item() == pytest.approx(1.0)
    collapsed = torch.zeros(8, n_experts)
    collapsed[:, 0] = 1.0
    assert load_balancing_loss(collapsed, collapsed).item() == pytest.approx(n_experts)
    torch.manual_seed(0)
    for _ in range(20):  # f = P: E·Σ P² ≥ 1 (Cauchy–Schwarz), the minimum at uniform
        p = torch.softmax(torch.randn(n_experts) * 2, 0)
        value = n_experts * (p * p).sum()
        assert value >= 1.0 - 1e-6


def test_moe_linear_equals_the_dense_mixture():
    torch.manual_seed(0)
    x = torch.randn(9, 6, dtype=torch.float64)
    w = torch.randn(4, 3, 6, dtype=torch.float64)
    b = torch.randn(4, 3, dtype=torch.float64)
    gates, _ = top_k_gates(torch.randn(9, 4, dtype=torch.float64), 2)
    dense = torch.einsum("ne,neo->no", gates, torch.einsum("ni,eoi->neo", x, w) + b)
    torch.testing.assert_close(moe_linear(x, w, b, gates), dense)
    torch.testing.assert_close(moe_linear(x, w, b, gates, dense=True), dense)


def test_unselected_experts_get_exactly_zero_gradient():
    torch.manual_seed(0)
    x = torch.randn(5, 6)
    w = torch.randn(4, 3, 6, requires_grad=True)
    b = torch.randn(4, 3, requires_grad=True)
    logits = torch.tensor([[5.0, 4.0, -1.0, -2.0]]).repeat(5, 1).requires_grad_()
    gates, _ = top_k_gates(logits, 2)
    moe_linear(x, w, b, gates).pow(2).sum().backward()
    assert (w.grad[2:] == 0).all() and (b.grad[2:] == 0).all()
    assert (logits.grad[:, 2:] == 0).all()
    assert (w.grad[:2] != 0).any() and (logits.grad[:, :2] != 0).any()


def test_gradcheck_through_gates_and_experts():
    torch.manual_seed(0)
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    wg = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)

    def layer(x, w, b, wg):
        gates, probs = top_k_gates(x @ wg.T, 2)
        return moe_linear(x, w, b, gates), load_balancing_loss(gates, probs)

    assert torch.autograd.gradcheck(layer, (x, w, b, wg))
