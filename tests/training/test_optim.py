"""FusedAdamW: torch's fused AdamW step for step, without importing torch._dynamo."""

import copy
import subprocess
import sys

import pytest
import torch

from headkit.training.optim import FusedAdamW


def _problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    X, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    return model, X, y


def _groups(model, weight_decay=0.05):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}]


def _train(model, opt, X, y, steps, schedule=True):
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
        if schedule
        else None
    )
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        if sched is not None:
            sched.step()


def test_matches_torch_fused_adamw_bit_for_bit_under_a_one_cycle_schedule():
    ours, X, y = _problem()
    theirs, _, _ = _problem()
    _train(ours, FusedAdamW(_groups(ours), lr=0.01), X, y, 25)
    _train(theirs, torch.optim.AdamW(_groups(theirs), lr=0.01, fused=True), X, y, 25)
    for a, b in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert torch.equal(a, b)


def test_matches_the_textbook_update_in_float64():
    torch.manual_seed(1)
    p = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    opt = FusedAdamW([p], lr=0.1, weight_decay=0.2, betas=(0.8, 0.9), eps=1e-6)
    w, m, v = p.detach().clone(), torch.zeros_like(p), torch.zeros_like(p)
    for t in range(1, 6):
        g = torch.randn_like(p)
        p.grad = g.clone()
        opt.step()
        w = w * (1 - 0.1 * 0.2)  # decoupled decay first (Loshchilov & Hutter, Algorithm 2)
        m, v = 0.8 * m + 0.2 * g, 0.9 * v + 0.1 * g * g
        w = w - 0.1 * (m / (1 - 0.8**t)) / ((v / (1 - 0.9**t)).sqrt() + 1e-6)
        torch.testing.assert_close(p.detach(), w, rtol=1e-12, atol=1e-12)


def test_state_dict_is_interchangeable_with_torch_adamw():
    model, X, y = _problem()
    opt = FusedAdamW(_groups(model), lr=0.01)
    _train(model, opt, X, y, 5, schedule=False)
    twin, _, _ = _problem()
    twin.load_state_dict(model.state_dict())
    theirs = torch.optim.AdamW(_groups(twin), lr=0.01, fused=True)
    theirs.load_state_dict(copy.deepcopy(opt.state_dict()))  # torch loads without copying
    _train(model, opt, X, y, 5, schedule=False)
    _train(twin, theirs, X, y, 5, schedule=False)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_sparse_gradients_take_torchs_own_step():
    emb = torch.nn.Embedding(10, 4, sparse=True)
    twin = torch.nn.Embedding(10, 4, sparse=True)
    twin.load_state_dict(emb.state_dict())
    idx = torch.tensor([1, 3, 3])
    for module, opt in ((emb, FusedAdamW(emb.parameters(), lr=0.1, weight_decay=0.0)),
                        (twin, torch.optim.AdamW(twin.parameters(), lr=0.1, weight_decay=0.0))):  # fmt: skip
        with pytest.raises(RuntimeError, match="(?i)sparse"):
            module(idx).sum().backward()
            opt.step()


def test_training_does_not_import_torch_dynamo():
    code = (
        "import sys, torch\n"
        "from headkit.training.optim import FusedAdamW\n"
        "m = torch.nn.Linear(4, 2); opt = FusedAdamW(m.parameters(), lr=0.1)\n"
        "s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=4)\n"
        "for _ in range(3):\n"
        "    opt.zero_grad(); m(torch.randn(8, 4)).sum().backward(); opt.step(); s.step()\n"
        "opt.state_dict()\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_step_hooks_run_and_zero_grad_drops_or_zeroes_gradients():
    model, X, y = _problem()
    opt = FusedAdamW(_groups(model), lr=0.01)
    calls = []
    pre = opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    post = opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    torch.nn.functional.cross_entropy(model(X), y).backward()
    before = model[0].weight.detach().clone()
    opt.step()
    assert calls == ["pre", "post"] and not torch.equal(before, model[0].weight)
    pre.remove(), post.remove()
    opt.step()
    assert calls == ["pre", "post"]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
