import pytest
import torch

from headkit.exceptions import DataError
from headkit.nn.losses import LOSSES
from headkit.nn.masking import masked_probabilities
from headkit.nn.outputs import OUTPUTS


def build(n_classes=5):
    return LOSSES.build("masked", n_classes=n_classes, output=None)


def naive_masked_ce(z, y, allowed):
    """Mean over rows of -log(exp z_y / sum of exp z_k over the allowed k), with loops."""
    rows = []
    for zi, yi, ai in zip(z, y, allowed, strict=True):
        rows.append(-(zi[yi] - torch.log(torch.exp(zi[ai]).sum())))
    return torch.stack(rows).mean()


def test_without_a_mask_only_the_classes_in_the_batch_compete():
    torch.manual_seed(0)
    z = torch.randn(6, 5, dtype=torch.float64)
    y = torch.tensor([0, 3, 3, 0, 1, 1])
    present = torch.tensor([True, True, False, True, False])
    expected = naive_masked_ce(z, y, [present] * 6)
    torch.testing.assert_close(build()(z, y), expected)
    # multi-sample logits (k, N, C): the mean of the k masked losses
    stacked = torch.stack([z, 2 * z])
    twice = naive_masked_ce(2 * z, y, [present] * 6)
    torch.testing.assert_close(build()(stacked, y), (expected + twice) / 2)


def test_an_explicit_row_mask_is_used_and_must_allow_each_target():
    torch.manual_seed(1)
    z = torch.randn(3, 4, dtype=torch.float64)
    y = torch.tensor([0, 2, 3])
    mask = torch.tensor([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 0, 1]]).bool()
    torch.testing.assert_close(build(4)(z, y, mask=mask), naive_masked_ce(z, y, mask))
    with pytest.raises(DataError, match="target class is masked out"):
        build(4)(z, torch.tensor([2, 2, 3]), mask=mask)


@pytest.mark.parametrize("name", OUTPUTS.names())
def test_every_output_map_gives_masked_classes_probability_zero(name):
    torch.manual_seed(2)
    output = OUTPUTS.build(name, n_classes=5).eval()
    z = torch.randn(4, 5) * 3
    mask = torch.tensor([True, False, True, True, False])
    p = masked_probabilities(output, z, mask)
    assert (p[:, ~mask] == 0).all() and torch.isfinite(p).all()
    if name not in ("sigmoid", "softmax1"):  # per-class probabilities; softmax1 keeps a "none" mass
        torch.testing.assert_close(p.sum(-1), torch.ones(4))
    elif name == "softmax1":
        assert (p.sum(-1) <= 1 + 1e-6).all()
