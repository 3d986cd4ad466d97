"""LayerSkip's rates, exit scales and exit rule (catalogue B7), against values by hand."""

import math

import pytest
import torch

from headkit.functional.layer_drop import (
    early_exit_weights,
    first_confident_exit,
    layer_drop_rates,
)


@pytest.mark.parametrize("profile", ["exp", "linear", "constant"])
def test_rates_rise_with_depth_to_p_max(profile):
    rates = layer_drop_rates(5, 0.3, profile)
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.3)
    assert layer_drop_rates(5, 0.0, profile) == [0.0] * 5  # p_max = 0: the plain network
    if profile == "exp":  # p_l = p_max·(2^{l/(L−1)} − 1)
        assert rates[0] == 0.0
        assert rates[2] == pytest.approx(0.3 * (math.sqrt(2.0) - 1.0))
    with pytest.raises(ValueError, match="p_max"):
        layer_drop_rates(3, 1.0, profile)


def test_exit_weights_rise_sum_to_one_and_favour_the_last():
    weights = early_exit_weights([0, 1, 2, 3], 4, 1.0)
    assert weights == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert early_exit_weights([1, 3], 4, 0.0) == [0.0, 1.0]
    assert sum(early_exit_weights([0, 2, 5], 6, 0.4)) == pytest.approx(1.0)


def test_first_confident_exit_by_hand():
    probs = torch.tensor(
        [
            [[0.95, 0.05], [0.6, 0.4], [0.5, 0.5]],  # exit 0
            [[0.9, 0.1], [0.92, 0.08], [0.55, 0.45]],  # exit 1
            [[0.8, 0.2], [0.99, 0.01], [0.6, 0.4]],  # exit 2 (the full network)
        ]
    )
    chosen, index = first_confident_exit(probs, 0.9)
    assert index.tolist() == [0, 1, 2]
    torch.testing.assert_close(chosen, torch.stack([probs[0, 0], probs[1, 1], probs[2, 2]]))
    _, never = first_confident_exit(probs, 1.5)
    assert never.tolist() == [2, 2, 2]
