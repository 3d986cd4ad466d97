import pytest
import torch

from headkit.functional import dropout
from headkit.functional._masks import keep_mask, scaled_keep_mask, unit_keep_mask


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_keep_rate_matches_p(p):
    torch.manual_seed(0)
    mask, keep = keep_mask((400, 500), p, torch.device("cpu"))
    assert keep == pytest.approx(1 - p, abs=2**-16)
    # 200k Bernoulli draws: standard error <= 0.0012
    assert mask.float().mean().item() == pytest.approx(keep, abs=0.005)


def test_dropout_is_unbiased_and_deterministic_under_seed():
    x = torch.ones(1000, 1000)
    torch.manual_seed(3)
    a = dropout(x, 0.3)
    torch.manual_seed(3)
    b = dropout(x, 0.3)
    assert torch.equal(a, b)
    assert a.mean().item() == pytest.approx(1.0, abs=0.005)
    values = a.unique()
    assert (
        len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.7, rel=1e-4)
    )


def test_mask_lanes_are_independent():
    torch.manual_seed(0)
    mask, _ = keep_mask((300_000,), 0.5, torch.device("cpu"))
    m = mask.float()
    # neighbouring elements come from the same int64 word: their correlation must be ~0
    corr = torch.corrcoef(torch.stack([m[:-1], m[1:]]))[0, 1]
    assert abs(corr.item()) < 0.01


def test_dropout_gradient_uses_the_same_mask():
    torch.manual_seed(0)
    x = torch.randn(50, 60, dtype=torch.float64, requires_grad=True)
    y = dropout(x, 0.4)
    y.sum().backward()
    torch.testing.assert_close(x.grad, (y.detach() != 0).double() / (1 - 26214 / 65536))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_scaled_keep_mask_is_the_keep_mask_times_its_inverse_keep_probability(dtype):
    torch.manual_seed(5)
    mask, keep = keep_mask((300, 70), 0.3, torch.device("cpu"))
    torch.manual_seed(5)
    multiplier = scaled_keep_mask((300, 70), 0.3, torch.device("cpu"), dtype)
    assert multiplier.dtype == dtype and multiplier.shape == (300, 70)
    expected = mask.to(torch.float64) / keep
    torch.testing.assert_close(multiplier.double(), expected, rtol=2**-7, atol=0)


@pytest.mark.parametrize("shape", [(50, 64), (7, 3, 8), (33, 6), (5,)])
def test_a_shaped_draw_is_the_flat_draw_reshaped(shape):
    numel = int(torch.tensor(shape).prod())
    torch.manual_seed(11)
    shaped, keep = keep_mask(shape, 0.2, torch.device("cpu"))
    torch.manual_seed(11)
    flat, keep_flat = keep_mask((numel,), 0.2, torch.device("cpu"))
    assert shaped.shape == shape and keep == keep_flat
    assert torch.equal(shaped.reshape(-1), flat)


def test_default_block_mask_rate_and_scaling():
    torch.manual_seed(0)
    x = torch.ones(500, 256)
    out = dropout(x, 0.2)
    kept = out != 0
    # 128,000 Bernoulli(0.8) draws: standard error 0.0011
    assert kept.float().mean().item() == pytest.approx(0.8, abs=0.005)
    assert out[kept].unique().tolist() == pytest.approx([1 / (1 - 13107 / 65536)])
    assert out.mean().item() == pytest.approx(1.0, abs=0.007)


def _sfc64_words(key, count):
    """Naive SFC64 (Doty-Humphrey): state a, b, c, counter w = 1, 12 discarded seeding rounds."""
    mask64 = 2**64 - 1
    a, b, c = (k % 2**64 for k in key)
    w, words = 1, []
    for i in range(12 + count):
        out = (a + b + w) & mask64
        w += 1
        a = b ^ (b >> 11)
        b = (c + (c << 3)) & mask64
        c = (((c << 24) | (c >> 40)) + out) & mask64
        if i >= 12:
            words.append(out)
    return words


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_mask_is_sfc64_keyed_by_three_words_of_torchs_generator(p):
    torch.manual_seed(4)
    key = torch.empty(3, dtype=torch.int64).random_(-(2**63), None).tolist()
    torch.manual_seed(4)
    mask, keep = keep_mask((6, 8), p, torch.device("cpu"))
    dropped = round(p * 65536)
    lanes = [(word >> (16 * i)) & 0xFFFF for word in _sfc64_words(key, 12) for i in range(4)]
    # a lane is read as a signed int16 and kept from round(p·2^16) − 2^15 up
    signed = [lane - 65536 if lane >= 32768 else lane for lane in lanes]
    expected = torch.tensor([v >= dropped - 32768 for v in signed]).reshape(6, 8)
    assert torch.equal(mask, expected) and keep == 1 - dropped / 65536


def test_a_mask_advances_torchs_generator_by_three_words():
    torch.manual_seed(2)
    keep_mask((1000, 1000), 0.5, torch.device("cpu"))
    after_mask = torch.randint(0, 2**62, (4,))
    torch.manual_seed(2)
    torch.empty(3, dtype=torch.int64).random_(-(2**63), None)
    assert torch.equal(torch.randint(0, 2**62, (4,)), after_mask)


def test_successive_masks_differ_and_are_uncorrelated():
    torch.manual_seed(0)
    a, _ = keep_mask((200_000,), 0.5, torch.device("cpu"))
    b, _ = keep_mask((200_000,), 0.5, torch.device("cpu"))
    corr = torch.corrcoef(torch.stack([a.float(), b.float()]))[0, 1]
    assert abs(corr.item()) < 0.01


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64, torch.bfloat16])
def test_unit_mask_in_every_dtype_keeps_the_elements_of_the_boolean_mask(dtype):
    torch.manual_seed(9)
    mask, keep = keep_mask((123, 45), 0.3, torch.device("cpu"))
    torch.manual_seed(9)
    unit, keep_unit = unit_keep_mask((123, 45), 0.3, torch.device("cpu"), dtype)
    assert unit.dtype == dtype and keep_unit == keep
    assert torch.equal(unit, mask.to(dtype))


def test_a_rate_within_2_to_the_minus_17_of_one_keeps_one_lane_value_and_stays_finite():
    torch.manual_seed(0)
    mask, keep = keep_mask((1 << 20,), 1 - 2**-18, torch.device("cpu"))
    assert keep == 2**-16
    assert 0 < int(mask.sum()) < 64  # 16 expected of 2^20
    scaled = scaled_keep_mask((64, 64), 1 - 2**-18, torch.device("cpu"), torch.float32)
    assert torch.isfinite(scaled).all() and set(scaled.unique().tolist()) <= {0.0, 65536.0}
