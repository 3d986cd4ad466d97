import numpy as np
import pytest
import torch

from headkit.evaluation.calibration import fit_temperature
from headkit.functional import best_temperature, confidence_temperature, temperature_nll
from headkit.nn import HeadNet
from headkit.training.calibration import fit_network_temperature


def _overconfident(n=400, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64)
    logits[torch.arange(n), target] += 1.0
    return logits * 6.0, target  # right often, far too sure


def test_temperature_nll_matches_the_naive_formula():
    logits, target = _overconfident(50)
    weight = torch.rand(50, dtype=torch.float64)
    p = torch.softmax(logits / 2.5, dim=-1).numpy()
    losses = -np.log(p[np.arange(50), target.numpy()])
    assert float(temperature_nll(logits, target, 2.5)) == pytest.approx(losses.mean(), rel=1e-10)
    expected = (losses * weight.numpy()).sum() / weight.numpy().sum()
    assert float(temperature_nll(logits, target, 2.5, weight)) == pytest.approx(expected, rel=1e-10)


def test_best_temperature_finds_the_grid_minimum_and_agrees_with_lbfgs():
    logits, target = _overconfident()
    t, nll = best_temperature(logits, target)
    grid = np.exp(np.linspace(np.log(0.05), np.log(20), 4001))
    values = [float(temperature_nll(logits, target, float(g))) for g in grid]
    assert t == pytest.approx(grid[int(np.argmin(values))], rel=2e-3)
    assert nll == pytest.approx(min(values), abs=1e-6)
    assert nll <= float(temperature_nll(logits, target, 1.0))
    assert t > 1.5  # overconfident logits are softened
    assert t == pytest.approx(fit_temperature(logits.numpy(), target.numpy()), rel=1e-3)


def test_best_temperature_stays_within_bounds():
    logits, target = _overconfident()
    t, _ = best_temperature(logits, target, bounds=(0.5, 1.2))
    assert t == pytest.approx(1.2, rel=1e-4)


def test_a_nearly_separable_split_cannot_sharpen_past_the_floor():
    from headkit.functional.temperature import MIN_TEMPERATURE

    logits, target = _overconfident()
    logits = logits / 60.0  # under-confident
    logits[torch.arange(len(target)), target] += 0.5  # and separable: the NLL falls as T → 0
    assert best_temperature(logits, target, bounds=(1e-3, 20))[0] < 0.01
    assert best_temperature(logits, target)[0] == pytest.approx(MIN_TEMPERATURE, rel=1e-4)


@pytest.mark.parametrize("scale", [0.3, 6.0])  # under- and overconfident logits
def test_confidence_temperature_hits_the_target_mean_top_probability(scale):
    logits, _ = _overconfident()
    logits = logits / 6.0 * scale
    grid = np.exp(np.linspace(np.log(0.5), np.log(20), 20001))
    tops = np.array([torch.softmax(logits / t, -1).amax(-1).mean().item() for t in grid])
    target = 0.5 * (tops.min() + tops.max())
    t = confidence_temperature(logits, target, bounds=(0.5, 20.0))
    assert float(torch.softmax(logits / t, -1).amax(-1).mean()) == pytest.approx(target, abs=1e-6)
    assert t == pytest.approx(grid[np.abs(tops - target).argmin()], rel=1e-3)


def test_confidence_temperature_returns_the_bound_out_of_reach():
    logits, _ = _overconfident()
    assert confidence_temperature(logits, 0.999999, bounds=(0.5, 20.0)) == 0.5
    assert confidence_temperature(logits, 0.25 + 1e-9, bounds=(0.5, 20.0)) == 20.0


@pytest.mark.parametrize("scale", [0.7, 30.0])
def test_a_network_right_on_every_held_out_row_gets_the_accuracys_lower_bound_as_confidence(scale):
    # The NLL has no minimiser then (it falls as T -> 0): T = 1 kept an underconfident
    # (label-smoothed) network underconfident, and T = 0.5 would sharpen an overconfident one.
    n, c = 190, 5
    target = torch.arange(n) % c
    logits = torch.randn(n, c, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    logits[torch.arange(n), target] += 6.0
    logits *= scale
    net = HeadNet(n_features=3, n_classes=c, hidden_sizes=(4,))
    t = fit_network_temperature(net, logits.numpy(), target.numpy())
    top = float(torch.softmax(logits / t, -1).amax(-1).mean())
    assert top == pytest.approx(0.05 ** (1 / n), abs=1e-6)  # 95 % bound after n of n right
