"""The dropout family on every available device, and nested dropout's graceful truncation."""

import numpy as np
import pytest
import torch

from headkit import functional as F
from headkit.nn import DROPOUTS, HeadNet
from headkit.nn.losses import CrossEntropyLoss

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]
# Every registered kind plus non-default options.
SPECS = [*DROPOUTS.names(), "multisample:k=3", "dropconnect:per_sample=true"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_variants_train_and_eval_on_the_input_device_and_dtype(device, spec, dtype):
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=4, hidden_sizes=(16, 12), dropout=spec)
    net = net.to(device=device, dtype=dtype)
    x = torch.randn(10, 6, device=device, dtype=dtype)
    y = torch.randint(0, 4, (10,), device=device)
    loss = net.training_loss(x, y, CrossEntropyLoss())
    loss.backward()
    assert loss.device.type == device and torch.isfinite(loss)
    assert all(q.grad.device.type == device and q.grad.dtype == dtype for q in net.parameters())
    net.eval()
    out = net(x)
    assert out.shape == (10, 4) and out.device.type == device and out.dtype == dtype
    if spec != "dropconnect:per_sample=true":
        assert torch.equal(out, net(x))  # eval is deterministic


@pytest.mark.parametrize("device", DEVICES)
def test_functional_variants_follow_the_device_and_a_seeded_generator(device):
    x = torch.randn(8, 5, device=device)
    w = torch.randn(3, 5, device=device)

    def run(seed):
        gen = torch.Generator(device=device).manual_seed(seed)
        return [
            F.dropout(x, 0.3, generator=gen),
            F.multi_sample_dropout(x, 4, 0.3, generator=gen),
            F.gaussian_dropout(x, 0.3, generator=gen),
            F.linear_dropconnect(x, w, None, 0.3, generator=gen),
            F.nested_dropout(x, generator=gen),
        ]

    a, b, c = run(0), run(0), run(1)
    for u, v, other in zip(a, b, c, strict=True):
        assert u.device.type == device
        assert torch.equal(u, v) and not torch.equal(u, other)


def test_nested_truncation_degrades_gracefully_unlike_standard_dropout():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor((digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-6)).float()
    y = torch.tensor(digits.target)

    def fit(spec):
        torch.manual_seed(0)
        net = HeadNet(n_features=64, n_classes=10, hidden_sizes=(64,), dropout=spec)
        opt = torch.optim.Adam(net.parameters(), lr=5e-3)
        criterion = CrossEntropyLoss()
        for _ in range(100):
            opt.zero_grad()
            net.training_loss(x, y, criterion).backward()
            opt.step()
        return net.eval()

    def acc(net):
        with torch.no_grad():
            return (net(x).argmax(1) == y).float().mean().item()

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matmuls: one thread is fastest, and immune to oversubscription
    try:
        nested, plain = fit("nested:p=0"), fit("standard:p=0.2")
    finally:
        torch.set_num_threads(threads)
    full = [acc(nested), acc(plain)]
    small = np.array([[acc(nested.truncate(k)), acc(plain.truncate(k))] for k in (2, 4, 8)])
    assert min(full) > 0.95
    # Nested keeps most of its accuracy with a few units; plain dropout's prefix collapses.
    assert (small[:, 0] > small[:, 1]).all() and (small[1:, 0] > small[1:, 1] + 0.2).all(), small
    assert small[-1, 0] > 0.8, small
