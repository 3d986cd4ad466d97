import torch

from headkit import functional as F


def _naive_stablemax(z):
    s = torch.tensor([[v + 1 if v >= 0 else 1 / (1 - v) for v in row] for row in z.tolist()])
    return s / s.sum(-1, keepdim=True)


def test_stablemax_matches_naive_formula_positive_and_sums_to_one():
    z = torch.randn(6, 5) * 4
    p = F.stablemax(z)
    torch.testing.assert_close(p, _naive_stablemax(z))
    assert (p > 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(6))
    torch.testing.assert_close(F.log_stablemax(z), torch.log(p))


def test_s_is_c1_at_zero():
    x = torch.tensor([-1e-6, 0.0, 1e-6], dtype=torch.float64, requires_grad=True)
    s = F.stablemax_s(x)
    assert float(s[1].detach()) == 1.0
    (grad,) = torch.autograd.grad(s.sum(), x)
    torch.testing.assert_close(grad, torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.autograd.gradcheck(
        lambda t: F.log_stablemax(t), torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    )


def test_not_shift_invariant_and_dim_honoured():
    z = torch.randn(3, 4)
    assert not torch.allclose(F.stablemax(z), F.stablemax(z + 3.0))
    torch.testing.assert_close(F.stablemax(z.T, dim=0), F.stablemax(z).T)


def test_margin_of_100_collapses_softmax_but_not_stablemax():
    z = torch.zeros(4, 10)
    z[:, 0] = 100.0
    y = torch.zeros(4, dtype=torch.long)
    assert float(torch.nn.functional.cross_entropy(z, y)) == 0.0
    assert F.softmax_collapse_fraction(z, y) == 1.0
    stable_ce = -F.log_stablemax(z)[:, 0]
    assert (stable_ce > 0).all()
    # a modest margin is not flagged
    z[:, 0] = 5.0
    assert F.softmax_collapse_fraction(z, y) == 0.0
