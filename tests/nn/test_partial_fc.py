import json
import math

import pytest
import torch
from torch.nn import functional as F

from headkit.exceptions import ConfigError
from headkit.nn import HEADS, HeadNet, PartialFC, RowSparseSGD
from headkit.nn.partial_fc import sample_classes


def _data(n=32, d=8, c=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(0, c, (n,), generator=g)


@pytest.mark.parametrize("scale", [None, 8.0])
def test_rate_one_equals_full_softmax_loss_and_grads(scale):
    torch.manual_seed(0)
    x, y = _data()
    head = PartialFC(8, 50, sample_rate=1.0, s=scale)
    xr = x.clone().requires_grad_()
    loss = head.training_loss(xr, y)
    loss.backward()
    gw = head.weight.grad.to_dense()
    w = head.weight.detach().clone().requires_grad_()
    xx = x.clone().requires_grad_()
    if scale is None:
        logits = xx @ w.T
    else:
        logits = scale * (xx / xx.norm(dim=1, keepdim=True)) @ (w / w.norm(dim=1, keepdim=True)).T
    ref = -torch.log_softmax(logits, 1)[torch.arange(32), y].mean()
    ref.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(xr.grad, xx.grad)
    torch.testing.assert_close(gw, w.grad)


def test_margin_matches_explicit_cosface_and_arcface():
    torch.manual_seed(0)
    x, y = _data()
    for kind in ("cosface", "arcface"):
        head = PartialFC(8, 50, sample_rate=1.0, s=10.0, m=0.3, margin_type=kind)
        cos = F.normalize(x, dim=1) @ F.normalize(head.weight.detach(), dim=1).T
        ct = cos[torch.arange(32), y]
        new = ct - 0.3 if kind == "cosface" else torch.cos(torch.acos(ct) + 0.3)
        logits = cos.clone()
        logits[torch.arange(32), y] = new
        ref = F.cross_entropy(10.0 * logits, y)
        torch.testing.assert_close(head.training_loss(x, y).detach(), ref, rtol=1e-5, atol=1e-5)
        head.eval()
        torch.testing.assert_close(head(x, y), 10.0 * cos)  # no margin in eval


def test_sampled_set_contains_positives_and_has_the_rate():
    g = torch.Generator().manual_seed(0)
    for seed in range(20):
        y = torch.randint(0, 10_000, (64,), generator=torch.Generator().manual_seed(seed))
        idx = sample_classes(y, 10_000, 0.05, generator=g)
        assert torch.isin(y, idx).all()
        assert torch.all(idx[1:] > idx[:-1])
        # negatives are drawn without replacement: |S| = max(#positives, ⌈0.05·10k⌉) exactly
        assert idx.numel() == 500


def test_untouched_rows_unchanged_after_a_step():
    torch.manual_seed(0)
    x, y = _data(c=1000)
    head = PartialFC(8, 1000, sample_rate=0.05)
    opt = head.configure_optimizer(lr=0.5, weight_decay=0.01)
    before = head.weight.detach().clone()
    head.training_loss(x, y).backward()
    grad = head.weight.grad
    assert grad.is_sparse
    touched = grad.coalesce().indices()[0]
    assert torch.isin(y, touched).all() and touched.numel() < 200
    opt.step()
    changed = (head.weight.detach() != before).any(1)
    mask = torch.zeros(1000, dtype=torch.bool)
    mask[touched] = True
    assert changed[mask].all()
    assert not changed[~mask].any()


def test_row_sparse_sgd_matches_dense_sgd_on_touched_rows():
    torch.manual_seed(0)
    w1 = torch.nn.Parameter(torch.randn(20, 3))
    w2 = torch.nn.Parameter(w1.detach().clone())
    o1 = RowSparseSGD([w1], lr=0.1, momentum=0.9, weight_decay=0.01)
    o2 = torch.optim.SGD([w2], lr=0.1, momentum=0.9, weight_decay=0.01)
    rows = torch.tensor([1, 4, 7])
    for _ in range(3):
        F.embedding(rows, w1, sparse=True).sum().backward()
        F.embedding(rows, w2).sum().backward()
        o1.step(), o2.step()
        o1.zero_grad(), o2.zero_grad()
    torch.testing.assert_close(w1[rows], w2[rows])
    assert not o1.state[w1]["momentum"][0].any()


def test_registry_spec_and_headnet_training_loss_uses_it():
    head = HEADS.build("partial_fc:sample_rate=0.2,s=16,m=0.2", in_features=8, n_classes=30)
    assert isinstance(head, PartialFC) and head.sample_rate == 0.2 and head.s == 16.0
    # The former option names (saved in older run directories) still build the same head.
    old = HEADS.build("partial_fc:r=0.2,scale=16,margin=0.2", in_features=8, n_classes=30)
    assert (old.sample_rate, old.s, old.m) == (0.2, 16.0, 0.2)
    net = HeadNet(n_features=5, n_classes=30, hidden_sizes=(8,), head="partial_fc:r=0.5")
    loss = net.training_loss(torch.randn(16, 5), torch.randint(0, 30, (16,)), criterion=None)
    loss.backward()
    assert net.head.weight.grad.is_sparse
    assert net.trunk.parameters().__next__().grad is not None


def test_bad_options_raise():
    with pytest.raises(ConfigError, match="sample_rate"):
        PartialFC(4, 10, sample_rate=0.0)
    with pytest.raises(ConfigError, match="set s"):
        PartialFC(4, 10, m=0.2)
    with pytest.raises(ConfigError, match="margin_type"):
        PartialFC(4, 10, s=2.0, margin_type="sphere")
    with pytest.raises(ConfigError, match="optimizer"):
        PartialFC(4, 10, optimizer="adamw")


def test_sparse_adam_option_and_eval_logits_in_chunks():
    torch.manual_seed(0)
    x, y = _data(c=40)
    head = PartialFC(8, 40, sample_rate=0.5, optimizer="sparse_adam")
    opt = head.configure_optimizer(lr=1e-2, weight_decay=0.0)
    assert isinstance(opt, torch.optim.SparseAdam)
    head.training_loss(x, y).backward()
    opt.step()
    head.eval()
    with torch.no_grad():
        torch.testing.assert_close(head(x), x @ head.weight.T)


def test_training_reduces_loss():
    torch.manual_seed(0)
    c, d = 200, 16
    centres = F.normalize(torch.randn(c, d), dim=1)
    y = torch.randint(0, c, (2048,))
    x = centres[y] + 0.1 * torch.randn(2048, d)
    head = PartialFC(d, c, sample_rate=0.1)
    opt = head.configure_optimizer(lr=30.0, weight_decay=0.0)
    first = head.training_loss(x, y).item()
    for i in range(60):
        sl = slice((i % 16) * 128, (i % 16 + 1) * 128)
        opt.zero_grad()
        head.training_loss(x[sl], y[sl]).backward()
        opt.step()
    with torch.no_grad():
        assert F.cross_entropy(x @ head.weight.T, y).item() < 0.5 * first


def test_cli_train_with_partial_fc_head_and_evaluate(tmp_path):
    from typer.testing import CliRunner

    from headkit.cli.app import app

    out = tmp_path / "run"
    args = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "8", "--no-calibrate"]
    args += ["--hidden-sizes", "32", "--head", "partial_fc:r=0.1", "--quiet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert '"partial_fc:r=0.1"' in (out / "config.json").read_text()
    result = CliRunner().invoke(app, ["evaluate", str(out), "digits", "--json"])
    assert result.exit_code == 0, result.output
    accuracy = json.loads(result.output)["accuracy"]
    assert accuracy > 0.8  # 10 digit classes: sampled softmax still learns them


def test_arcface_margin_falls_back_past_pi_minus_m():
    # Features pointing away from their class centre (θ_y near π): cos(θ + m) would rise again,
    # so ArcFace's target logit must be cos θ − m·sin m there (insightface's rule).
    torch.manual_seed(0)
    m, s = 0.5, 4.0
    head = PartialFC(8, 5, sample_rate=1.0, s=s, m=m, margin_type="arcface")
    y = torch.arange(5)
    x = -head.weight.detach().clone() + 0.01 * torch.randn(5, 8)
    cos = F.normalize(x, dim=1) @ F.normalize(head.weight.detach(), dim=1).T
    ct = cos[y, y]
    assert torch.all(torch.acos(ct) > math.pi - m)
    logits = cos.clone()
    logits[y, y] = ct - m * math.sin(m)
    ref = F.cross_entropy(s * logits, y)
    torch.testing.assert_close(head.training_loss(x, y).detach(), ref, rtol=1e-5, atol=1e-5)
