import os

import pytest
import torch
from torch import nn

from headkit import threads
from headkit.config import TrainingConfig
from headkit.exceptions import ConfigError
from headkit.nn import HeadNet
from headkit.threads import (
    FLOPS_PER_THREAD,
    MachineState,
    choose_threads,
    intra_op_threads,
    resolve_threads,
    step_flops,
)
from headkit.training import Trainer

BIG = 100 * FLOPS_PER_THREAD  # plenty of work for many threads


def machine(allowed=2, busy=0.0, env_limit=None, torch_threads=2):
    return MachineState(allowed, busy, env_limit, torch_threads)


@pytest.mark.parametrize(
    ("state", "flops", "expected"),
    [
        (machine(), BIG, 2),  # idle two-core machine, big steps: both cores
        (machine(busy=1.0), BIG, 1),  # one CPU-bound neighbour takes a core
        (machine(busy=0.4), BIG, 2),  # a passing blip does not
        (machine(busy=0.6), BIG, 1),
        (machine(busy=9.0), BIG, 1),  # never below one
        (machine(allowed=8, busy=3.0, torch_threads=8), BIG, 5),
        (machine(allowed=8, env_limit=1, torch_threads=8), BIG, 1),  # loky worker: OMP=1
        (machine(allowed=8, torch_threads=3), BIG, 3),  # the caller's set_num_threads
        (machine(allowed=1, torch_threads=4), BIG, 1),  # affinity mask of one core
        (machine(allowed=8, torch_threads=8), 3.5 * FLOPS_PER_THREAD, 3),  # work-limited
        (machine(), 0.5 * FLOPS_PER_THREAD, 1),  # logistic regression on 40 features
    ],
)
def test_choose_threads_takes_the_tightest_limit(state, flops, expected):
    assert choose_threads(flops, state) == expected


def test_step_flops_counts_every_weight_matrix():
    net = HeadNet(n_features=40, n_classes=10, hidden_sizes=(256, 256))
    macs = 40 * 256 + 256 * 256 + 256 * 10  # per row, by hand
    assert step_flops(net, 128, backward=False) == 2 * macs * 128
    assert step_flops(net, 128, backward=True) == 6 * macs * 128


def test_resolve_threads_explicit_value_wins_and_is_validated(monkeypatch):
    monkeypatch.setattr(threads, "read_machine", lambda: machine(busy=5.0))
    assert resolve_threads(2, BIG) == 2
    assert resolve_threads(None, BIG) == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ConfigError, match="threads must be a positive integer"):
            resolve_threads(bad, BIG)


def test_small_work_does_not_read_the_machine(monkeypatch):
    def fail():
        raise AssertionError("read_machine should not be called for tiny steps")

    monkeypatch.setattr(threads, "read_machine", fail)
    assert resolve_threads(None, FLOPS_PER_THREAD) == 1


def test_a_one_thread_limit_does_not_read_the_machine(monkeypatch):
    def fail():
        raise AssertionError("read_machine should not be called under a one-thread limit")

    monkeypatch.setattr(threads, "read_machine", fail)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert resolve_threads(None, BIG) == 1
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert resolve_threads(None, BIG) == 1


def test_busy_counts_other_processes_only(monkeypatch):
    monkeypatch.setattr(threads, "_procs_running", lambda: 4)
    monkeypatch.setattr(threads, "_own_running", lambda: 1)
    monkeypatch.setattr(threads, "_allowed_cores", lambda: os.cpu_count() or 1)
    monkeypatch.setattr(threads, "_SAMPLE_GAP_S", 0.0)
    assert threads._busy_elsewhere() == 3
    # pinned to 2 of 8 cores: a quarter of the system-wide queue is ours to share
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 8)
    monkeypatch.setattr(threads, "_allowed_cores", lambda: 2)
    assert threads._busy_elsewhere() == pytest.approx(0.75)
    monkeypatch.setattr(threads, "_procs_running", lambda: None)  # no /proc: assume idle
    assert threads._busy_elsewhere() == 0.0


def test_own_running_counts_this_process_threads():
    assert threads._own_running() >= 1  # the thread running this test is in state R


def test_env_limit_reads_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads._env_limit() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4,2")  # nested levels: the outer one
    assert threads._env_limit() == 4
    for junk in ("", "0", "lots"):
        monkeypatch.setenv("OMP_NUM_THREADS", junk)
        assert threads._env_limit() is None


@pytest.mark.parametrize(
    ("text", "cores"), [("max 100000", None), ("150000 100000", 2), ("50000 100000", 1)]
)
def test_cgroup_quota(tmp_path, text, cores):
    path = tmp_path / "cpu.max"
    path.write_text(text + "\n")
    assert threads._cgroup_quota(path) == cores
    assert threads._cgroup_quota(tmp_path / "missing") is None


def test_intra_op_threads_restores_even_after_an_error():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with pytest.raises(RuntimeError), intra_op_threads(other):
        assert torch.get_num_threads() == other
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_trainer_fit_uses_the_thread_count_and_restores_the_global_setting():
    X = torch.randn(64, 4)
    y = (X[:, 0] > 0).long()
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    seen = []

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = HeadNet(n_features=4, n_classes=2, hidden_sizes=(8,))

        def forward(self, x):
            return self.net(x)

        def training_loss(self, x, target, criterion):
            seen.append(torch.get_num_threads())
            return self.net.training_loss(x, target, criterion)

    trainer = Trainer(
        Probe(), TrainingConfig(epochs=2, batch_size=32, schedule="constant", threads=other), 2
    )
    trainer.fit(X, y)
    assert set(seen) == {other}
    assert trainer.threads == other
    assert torch.get_num_threads() == before


def test_the_load_reading_is_reused_for_a_second(monkeypatch):
    calls = []
    monkeypatch.setattr(threads, "_load_reading", (-float("inf"), 0.0))
    monkeypatch.setattr(threads, "_busy_elsewhere", lambda allowed=None: calls.append(1) or 1.0)
    assert threads.read_machine().busy == 1.0
    assert threads.read_machine().busy == 1.0
    assert len(calls) == 1  # back-to-back calls share one reading
    monkeypatch.setattr(threads, "_load_reading", (-float("inf"), 0.0))
    threads.read_machine()
    assert len(calls) == 2  # an old reading is taken again


def test_the_statistics_after_training_run_at_the_fits_thread_count(monkeypatch, blobs_data):
    from threadpoolctl import threadpool_info

    from headkit import HeadClassifier
    from headkit.evaluation import ood

    seen = []
    original = ood.MahalanobisDetector.fit

    def recording_fit(self, features, y):
        blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
        seen.append((torch.get_num_threads(), blas))
        return original(self, features, y)

    monkeypatch.setattr(ood.MahalanobisDetector, "fit", recording_fit)
    before = torch.get_num_threads()
    X, y, _, _ = blobs_data
    HeadClassifier(hidden_sizes=(8,), epochs=2, threads=1).fit(X, y)
    assert seen and seen[0][1], "no BLAS pool found: the check below would be empty"
    assert seen == [(1, [1] * len(seen[0][1]))]  # torch and every BLAS pool at one thread
    assert torch.get_num_threads() == before  # and put back afterwards
