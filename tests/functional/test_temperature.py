import numpy as np
import pytest
import torch

from headkit.evaluation.calibration import fit_temperature
from headkit.functional import best_temperature, temperature_nll


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
