import pytest
import torch

from headkit import functional as F


def test_cutmix_lambda_is_the_exact_kept_fraction_and_segment_is_contiguous():
    g = torch.Generator().manual_seed(0)
    x = torch.arange(4 * 50, dtype=torch.float32).reshape(4, 50)  # no value shared by rows
    perm = torch.tensor([1, 2, 3, 0])  # every row gets a different partner
    for _ in range(100):
        lam = F.sample_mixing(4, 1.0, generator=g)[0]
        mixed, exact = F.cutmix(x, lam, perm, generator=g)
        own = mixed == x
        assert torch.equal(own, own[:1].expand_as(own))  # the same segment in every row
        assert exact == pytest.approx(float(own[0].float().mean()))
        pasted = torch.nonzero(~own[0]).flatten()
        if len(pasted):
            assert int(pasted[-1] - pasted[0] + 1) == len(pasted)  # contiguous
            assert torch.equal(mixed[:, pasted], x[perm][:, pasted])
        assert exact >= lam - 1 / 50  # clipping only shortens the pasted segment


def test_cutmix_lambda_one_leaves_input_unchanged():
    x = torch.randn(6, 10)
    perm = torch.randperm(6)
    mixed, lam = F.cutmix(x, 1.0, perm)
    assert lam == 1.0 and torch.equal(mixed, x)


def test_mixup_formula_and_soft_targets_sum_to_one():
    x = torch.randn(5, 3)
    y = torch.tensor([0, 1, 2, 1, 0])
    perm = torch.tensor([4, 3, 2, 1, 0])
    torch.testing.assert_close(F.mixup(x, 0.3, perm), 0.3 * x + 0.7 * x[perm])
    soft = F.mix_targets(y, perm, 0.3, 3)
    torch.testing.assert_close(soft.sum(-1), torch.ones(5))


def test_mixed_loss_equals_soft_target_cross_entropy():
    torch.manual_seed(0)
    z = torch.randn(8, 4, dtype=torch.float64)
    y = torch.randint(0, 4, (8,))
    perm = torch.randperm(8)
    lam = 0.37
    mixed = F.mixed_loss(lambda t: F.cross_entropy(z, t), y, perm, lam)
    soft = F.mix_targets(y, perm, lam, 4).double()
    naive = -(soft * torch.log_softmax(z, -1)).sum(-1).mean()
    torch.testing.assert_close(mixed, naive)


def test_sample_mixing_lambda_follows_beta():
    g = torch.Generator().manual_seed(1)
    lams = torch.tensor([F.sample_mixing(3, 0.4, generator=g)[0] for _ in range(4000)])
    # Beta(0.4, 0.4): mean 1/2, variance 1/(4·(2α+1)) = 1/7.2
    assert float(lams.mean()) == pytest.approx(0.5, abs=0.02)
    assert float(lams.var()) == pytest.approx(1 / 7.2, rel=0.08)
