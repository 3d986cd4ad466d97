import pytest
import torch

from headkit import functional as F
from headkit.exceptions import DataError


def test_masked_probabilities_are_zero_and_rest_is_softmax_of_allowed():
    torch.manual_seed(0)
    z = torch.randn(4, 5)
    mask = torch.tensor([[1, 1, 0, 0, 1], [0, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 1, 0]]).bool()
    p = F.softmax(F.mask_logits(z, mask))
    assert (p[~mask] == 0).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(4))
    for i in range(4):  # naive: softmax over the allowed entries only
        allowed = z[i][mask[i]]
        torch.testing.assert_close(p[i][mask[i]], torch.exp(allowed) / torch.exp(allowed).sum())


def test_gradient_of_masked_class_rows_is_exactly_zero():
    torch.manual_seed(0)
    head = torch.nn.Linear(3, 5)
    x = torch.randn(8, 3)
    y = torch.randint(0, 2, (8,))
    mask = torch.tensor([True, True, False, True, False])
    F.cross_entropy(F.mask_logits(head(x), mask), y).backward()
    assert (head.weight.grad[~mask] == 0).all() and (head.bias.grad[~mask] == 0).all()
    assert (head.weight.grad[mask].abs().sum(-1) > 0).all()


def test_no_mask_or_an_all_true_mask_leaves_the_logits_unchanged():
    z = torch.randn(6, 4)
    assert F.mask_logits(z, None) is z
    assert torch.equal(F.mask_logits(z, torch.ones(4, dtype=torch.bool)), z)


def test_present_classes_and_errors():
    assert F.present_classes(torch.tensor([2, 0, 2]), 4).tolist() == [True, False, True, False]
    with pytest.raises(DataError, match="no allowed class"):
        F.mask_logits(torch.randn(2, 3), torch.tensor([[True, False, False], [False] * 3]))
    with pytest.raises(DataError, match="boolean"):
        F.mask_logits(torch.randn(2, 3), torch.tensor([1, 1, 0]))
