import pytest
import torch

from headkit.training.gradient_noise import (
    GradientNoise,
    add_gradient_noise,
    gradient_noise_variance,
)


def zero_grad_param(n=200_000, dtype=torch.float32):
    param = torch.zeros(n, dtype=dtype, requires_grad=True)
    param.grad = torch.zeros_like(param)
    return param


def test_variance_formula():
    assert gradient_noise_variance(0, 0.3) == pytest.approx(0.3)
    assert gradient_noise_variance(9, 1.0, 0.55) == pytest.approx(10**-0.55)
    assert gradient_noise_variance(99, 0.01, 1.0) == pytest.approx(1e-4)


def test_empirical_variance_follows_the_schedule():
    torch.manual_seed(0)
    noise = GradientNoise(eta=0.3, gamma=0.55)
    param = zero_grad_param()
    for t in range(301):
        param.grad.zero_()
        std = noise([param])
        if t in (0, 10, 100, 300):
            expected = 0.3 / (1 + t) ** 0.55
            assert std**2 == pytest.approx(expected)
            # relative standard error of a sample variance is sqrt(2/n) ≈ 0.3 %
            assert param.grad.var().item() == pytest.approx(expected, rel=0.02)
            assert abs(param.grad.mean().item()) < 5 * (expected / param.numel()) ** 0.5
    assert noise.step == 301


def test_zero_eta_leaves_gradients_untouched_and_missing_grads_are_skipped():
    param = torch.ones(5, requires_grad=True)
    param.grad = torch.full((5,), 2.0)
    bare = torch.ones(3, requires_grad=True)
    assert add_gradient_noise([param, bare], 0, 0.0) == 0.0
    assert torch.equal(param.grad, torch.full((5,), 2.0))
    add_gradient_noise([param, bare], 0, 1.0)
    assert bare.grad is None and not torch.equal(param.grad, torch.full((5,), 2.0))
    assert not GradientNoise(0.0).enabled


def test_seeded_noise_reproduces_and_works_in_bfloat16():
    grads = []
    for _ in range(2):
        param = zero_grad_param(100)
        GradientNoise(1.0, generator=torch.Generator().manual_seed(3))([param])
        grads.append(param.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)
    low = zero_grad_param(1000, torch.bfloat16)
    add_gradient_noise([low], 0, 1.0)
    assert low.grad.dtype == torch.bfloat16 and low.grad.float().std() > 0.5


@pytest.mark.parametrize(("eta", "gamma"), [(-1.0, 0.55), (0.3, -0.1)])
def test_bad_parameters(eta, gamma):
    with pytest.raises(ValueError):
        GradientNoise(eta, gamma)


def test_sparse_gradient_gets_noise_on_its_stored_rows_only():
    param = torch.nn.Parameter(torch.zeros(6, 3))
    rows = torch.tensor([[1, 1, 4]])  # row 1 twice: must be coalesced, not noised twice
    param.grad = torch.sparse_coo_tensor(rows, torch.ones(3, 3), (6, 3), check_invariants=True)
    add_gradient_noise(
        [param], step=0, eta=1.0, gamma=0.55, generator=torch.Generator().manual_seed(0)
    )
    grad = param.grad
    assert grad.is_sparse and grad.is_coalesced()
    assert grad.indices().tolist() == [[1, 4]]
    dense = grad.to_dense()
    assert torch.all(dense[[0, 2, 3, 5]] == 0)
    expected = torch.tensor([[2.0] * 3, [1.0] * 3]) + torch.randn(
        2, 3, generator=torch.Generator().manual_seed(0)
    )
    assert torch.allclose(dense[[1, 4]], expected)
