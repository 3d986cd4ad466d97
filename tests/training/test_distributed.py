import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn import functional as F

from headkit.exceptions import ConfigError
from headkit.functional.sharded import class_shard, sharded_cross_entropy
from headkit.nn import CrossEntropyLoss, HeadNet
from headkit.nn.sharded import ShardedLinearHead
from headkit.training.distributed import (
    DistEnv,
    detect_env,
    gather_sharded,
    shard_arrays,
    shard_indices,
    wrap_ddp,
)

ROWS = [5, 7]  # unequal per-rank batch sizes for the sharded loss
D, C = 6, 11  # C is not divisible by the world size


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(sum(ROWS), D, generator=g)
    w = torch.randn(C, D, generator=g)
    t = torch.randint(0, C, (sum(ROWS),), generator=g)
    t[3] = -100
    inputs = torch.randn(8, 4, generator=g)
    labels = torch.randint(0, C, (8,), generator=g)
    head_w = torch.randn(C, 8, generator=g)
    return x, w, t, inputs, labels, head_w


def _net(head):
    torch.manual_seed(1)
    return HeadNet(n_features=4, n_classes=C, hidden_sizes=(8,), dropout=0.0, head=head)


def _worker(rank, world, port, outdir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    x, w, t, inputs, labels, head_w = _problem()
    out = {}
    # 1. the sharded loss: unequal rows, class shards of 6 and 5
    start = sum(ROWS[:rank])
    xl = x[start : start + ROWS[rank]].clone().requires_grad_()
    off, size = class_shard(C, rank, world)
    wl = w[off : off + size].clone().requires_grad_()
    loss = sharded_cross_entropy(xl, wl, t[start : start + ROWS[rank]], off)
    loss.backward()
    out.update(loss=loss.detach().numpy(), gx=xl.grad.numpy(), gw=wl.grad.numpy())
    # 2. DDP over a HeadNet with the class-sharded head; 3. DDP with a plain linear head
    env = detect_env()
    xs, ys = shard_arrays(inputs.numpy(), labels.numpy(), env=env)
    heads = (("sharded", "sharded_linear"), ("linear", "linear"), ("pfc", "partial_fc:r=1.0"))
    for tag, head in heads:
        net = _net(head)
        if tag == "sharded":
            with torch.no_grad():
                net.head.weight.copy_(head_w[off : off + size])
        model = wrap_ddp(net, CrossEntropyLoss())
        model(torch.from_numpy(xs), torch.from_numpy(ys)).backward()
        for name, p in net.named_parameters():
            out[f"{tag}.{name}"] = (p.grad.to_dense() if p.grad.is_sparse else p.grad).numpy()
        out[f"{tag}.eval"] = net.eval()(inputs).detach().numpy()
        if tag == "sharded":
            with torch.no_grad():
                net.head.weight.copy_(head_w[off : off + size])
            out["sharded.gathered"] = gather_sharded(net).head.weight.detach().numpy()
    np.savez(Path(outdir) / f"rank{rank}.npz", **out)
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    ctx = mp.start_processes(
        _worker, args=(2, _free_port(), str(out)), nprocs=2, join=False, start_method="spawn"
    )
    for _ in range(120):
        if ctx.join(timeout=1):
            break
    else:
        for p in ctx.processes:
            p.kill()
        pytest.fail("2-process gloo run did not finish within 120 s")
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


def test_sharded_loss_and_grads_equal_single_process(results):
    x, w, t, _, _, _ = _problem()
    x, w = x.clone().requires_grad_(), w.clone().requires_grad_()
    ref = F.cross_entropy(x @ w.T, t)
    ref.backward()
    for rank, r in enumerate(results):
        np.testing.assert_allclose(r["loss"], ref.item(), rtol=1e-6)
        start = sum(ROWS[:rank])
        np.testing.assert_allclose(r["gx"], x.grad[start : start + ROWS[rank]], atol=1e-6)
        off, size = class_shard(C, rank, 2)
        np.testing.assert_allclose(r["gw"], w.grad[off : off + size], atol=1e-6)


def test_ddp_with_sharded_head_equals_single_process(results):
    _, _, _, inputs, labels, head_w = _problem()
    net = _net("linear")
    with torch.no_grad():
        net.head.weight.copy_(head_w)
        net.head.bias.zero_()
    F.cross_entropy(net(inputs), labels).backward()
    for rank, r in enumerate(results):
        off, size = class_shard(C, rank, 2)
        np.testing.assert_allclose(
            r["sharded.head.weight"], net.head.weight.grad[off : off + size], atol=1e-6
        )
        for name, p in net.trunk.named_parameters():
            np.testing.assert_allclose(r[f"sharded.trunk.{name}"], p.grad, atol=1e-6)
        np.testing.assert_allclose(r["sharded.eval"], (net.eval()(inputs)).detach(), atol=1e-5)
        np.testing.assert_array_equal(r["sharded.gathered"], head_w)


def test_ddp_linear_head_equals_single_process(results):
    _, _, _, inputs, labels, _ = _problem()
    net = _net("linear")
    F.cross_entropy(net(inputs), labels).backward()
    for r in results:
        for name, p in net.named_parameters():
            np.testing.assert_allclose(r[f"linear.{name}"], p.grad, atol=1e-6)


def test_ddp_partial_fc_sparse_grads_are_averaged(results):
    _, _, _, inputs, labels, _ = _problem()
    net = _net("partial_fc:r=1.0")
    net.training_loss(inputs, labels, None).backward()
    for r in results:
        for name, p in net.named_parameters():
            grad = p.grad.to_dense() if p.grad.is_sparse else p.grad
            np.testing.assert_allclose(r[f"pfc.{name}"], grad, atol=1e-6)


def test_torchrun_cli_trains_and_only_rank0_writes(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    cmd += ["--master-port", str(_free_port()), "-m", "headkit", "train", "--dataset", "digits"]
    cmd += ["--epochs", "1", "--hidden-sizes", "16", "--head", "partial_fc:r=0.5"]
    cmd += ["--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("run written to") == 1
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "metrics.json"}


def test_shard_indices_cover_and_balance():
    parts = [shard_indices(10, r, 3, seed=0) for r in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    assert set(np.concatenate(parts)) == set(range(10))
    assert list(shard_indices(4, 1, 2)) == [1, 3]
    with pytest.raises(ConfigError):
        shard_indices(0, 0, 2)


def test_detect_env_and_single_process_fallbacks(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert detect_env() == DistEnv(1, 0, 0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ConfigError, match="RANK"):
        detect_env()
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    head = ShardedLinearHead(4, 9)
    assert head.weight.shape == (9, 4)
    x, y = torch.randn(5, 4), torch.randint(0, 9, (5,))
    torch.testing.assert_close(head.training_loss(x, y), F.cross_entropy(x @ head.weight.T, y))
    assert [class_shard(11, r, 3) for r in range(3)] == [(0, 4), (4, 4), (8, 3)]
