"""Low-rank Dense layer with ordered dropout over its rank (catalogue A13)."""

import numpy as np
import pytest
import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet, LowRankLinear, truncate_rank


def test_forward_at_b_is_the_truncated_product_and_b_r_the_full_one():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 6, generator=g, dtype=torch.float64)
    u = torch.randn(4, 3, generator=g, dtype=torch.float64)
    v = torch.randn(6, 3, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    for k in (1, 2, 3):
        torch.testing.assert_close(
            F.low_rank_linear(x, u, v, b, rank=k), x @ v[:, :k] @ u[:, :k].T + b
        )
    torch.testing.assert_close(F.low_rank_linear(x, u, v, b), x @ (u @ v.T).T + b)
    per_row = torch.tensor([1, 3, 2, 2, 1])
    out = F.low_rank_linear(x, u, v, b, rank=per_row)
    for i, k in enumerate(per_row.tolist()):
        torch.testing.assert_close(out[i], x[i] @ v[:, :k] @ u[:, :k].T + b)
    assert torch.autograd.gradcheck(
        lambda a, c: F.low_rank_linear(x, a, c, b, rank=2), (u.requires_grad_(), v.requires_grad_())
    )


def test_training_draws_a_prefix_of_ranks_per_row():
    torch.manual_seed(0)
    layer = LowRankLinear(6, 5, rank=4).train()
    x = torch.randn(2000, 6)
    out = layer(x)
    h = x @ layer.v
    candidates = torch.stack(
        [h[:, :k] @ layer.u[:, :k].T + layer.bias for k in range(1, 5)], 1
    )  # (N, 4, out)
    match = (candidates - out[:, None]).abs().amax(-1) < 1e-5
    assert match.any(1).all()  # every row is one of the four truncations
    counts = match.float().argmax(1).bincount(minlength=4)
    assert (counts > 350).all()  # uniform prior: about 500 each


def test_truncations_approach_eckart_young_on_isotropic_regression():
    """y = A x with isotropic x: E‖(A − W)x‖² = ‖A − W‖²_F, minimised at rank b by the SVD."""
    torch.manual_seed(0)
    d, r = 8, 8
    s = torch.tensor([4.0, 3.0, 2.5, 2.0, 1.5, 1.0, 0.6, 0.3])
    q1, _ = torch.linalg.qr(torch.randn(d, d))
    q2, _ = torch.linalg.qr(torch.randn(d, d))
    a = q1 @ torch.diag(s) @ q2.T
    layer = LowRankLinear(d, d, rank=r)
    with torch.no_grad():
        layer.bias.zero_()
    layer.bias.requires_grad_(False)
    opt = torch.optim.Adam([layer.u, layer.v], lr=0.02)
    layer.train()
    for _ in range(1500):
        x = torch.randn(512, d)
        loss = (layer(x) - x @ a.T).pow(2).sum(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for k in (1, 2, 4, 6, 8):
        w = (layer.u[:, :k] @ layer.v[:, :k].T).detach()
        error = float((a - w).pow(2).sum())
        optimum = float(s[k:].pow(2).sum())
        assert error <= 1.15 * optimum + 0.05, (k, error, optimum)


def test_network_truncation_equals_keep_and_saves_small(tmp_path):
    torch.manual_seed(0)
    net = HeadNet(n_features=6, n_classes=3, hidden_sizes=(10, 8), block="lowrank:rank=5").eval()
    x = torch.randn(20, 6)
    small = truncate_rank(net, 2)
    assert small.config.block == "lowrank:rank=2"
    for layer in net.trunk.blocks:
        layer.linear.keep = 2
    torch.testing.assert_close(small(x), net(x))
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in net.parameters())
    with pytest.raises(ConfigError, match="lowrank"):
        truncate_rank(HeadNet(n_features=6, n_classes=3, hidden_sizes=(4,)), 2)
    with pytest.raises(ConfigError, match="init"):
        HeadNet(n_features=6, n_classes=3, hidden_sizes=(4,), block="lowrank", init="critical")


@pytest.mark.parametrize("data", ["digits", "mnist1d"])
def test_estimator_trains_saves_and_loads_by_name(data, tmp_path):
    from headkit.data import load_dataset

    d = load_dataset(data)
    model = HeadClassifier(
        hidden_sizes=(64,), block="lowrank:rank=12", epochs=8, random_state=0, calibrate=False
    )
    model.fit(d.X_train, d.y_train)
    assert model.score(d.X_test, d.y_test) > {"digits": 0.85, "mnist1d": 0.25}[data]
    model.save(tmp_path / "m")
    loaded = HeadClassifier.load(tmp_path / "m")
    assert loaded.block == "lowrank:rank=12"
    np.testing.assert_allclose(loaded.predict_proba(d.X_test), model.predict_proba(d.X_test))
