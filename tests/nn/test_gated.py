"""Gated Dense blocks GLU / SwiGLU / GeGLU (catalogue A6)."""

import pytest
import torch

from headkit import functional as F
from headkit.nn import BLOCKS, GatedLinear, HeadNet

REFERENCE = {
    "glu": lambda a, g: a * (1 / (1 + torch.exp(-g))),
    "swiglu": lambda a, g: a * g / (1 + torch.exp(-g)),
    "geglu": lambda a, g: a * 0.5 * g * (1 + torch.erf(g / 2**0.5)),
}


@pytest.mark.parametrize("gate", list(REFERENCE))
def test_gated_linear_matches_the_formula_and_gradcheck(gate):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    a, z = x @ w[:3].T + b[:3], x @ w[3:].T + b[3:]
    torch.testing.assert_close(F.gated_linear(x, w, b, gate), REFERENCE[gate](a, z))
    assert torch.autograd.gradcheck(lambda *t: F.gated_linear(*t, gate), (x, w, b))


def test_zero_gate_weights_halve_glu_and_silence_swiglu_and_geglu():
    torch.manual_seed(0)
    x = torch.randn(7, 4)
    for gate, factor in (("glu", 0.5), ("swiglu", 0.0), ("geglu", 0.0)):
        layer = GatedLinear(4, 3, gate)
        with torch.no_grad():
            layer.weight[3:].zero_()
            layer.bias[3:].zero_()
        value = x @ layer.weight[:3].T + layer.bias[:3]
        torch.testing.assert_close(layer(x), factor * value)


def test_errors():
    with pytest.raises(ValueError, match="gate"):
        F.gated_linear(torch.ones(1, 2), torch.ones(2, 2), gate="tanh")
    with pytest.raises(ValueError, match="even"):
        F.gated_linear(torch.ones(1, 2), torch.ones(3, 2))


def test_network_uses_gated_linear_layers_without_activation():
    net = HeadNet(n_features=5, n_classes=3, hidden_sizes=(8, 4), block="swiglu", dropout=0.0)
    for block in net.trunk.blocks:
        assert isinstance(block.linear, GatedLinear) and block.linear.gate == "swiglu"
        assert isinstance(block.activation, torch.nn.Identity)
    assert net(torch.randn(2, 5)).shape == (2, 3)
    assert {"dense", "geglu", "glu", "swiglu"} <= set(BLOCKS.names())
    with pytest.raises(ValueError, match="DropConnect"):
        HeadNet(n_features=5, n_classes=3, hidden_sizes=(8,), block="glu", dropout="dropconnect")
