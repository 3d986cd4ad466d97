"""Interrupt a real `headkit train` process, resume it, and get the uninterrupted run's weights."""

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("slow_train.py")
EPOCHS = 6
ARGS = [
    "train",
    "--dataset",
    "blobs:n_classes=3,n_features=5,n_samples=300",
    "--epochs",
    str(EPOCHS),
    "--hidden-sizes",
    "16",
    "--gradient-noise",
    "0.01",  # draws random numbers every step: a resume must restore the RNG exactly
    "--quiet",
]


def headkit(pause, *args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), str(pause), *map(str, args)]
    return subprocess.Popen(cmd, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)


def finish(proc):
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("reference")
    code, err = finish(headkit(0, *ARGS, "--out", "run", cwd=cwd))
    assert code == 0, err
    return load_file(cwd / "run" / "model.safetensors")


def interrupt_at(cwd, sig, epoch):
    """Start a run, send ``sig`` while epoch ``epoch`` pauses; return (exit code, last line)."""
    proc = headkit(0.5, *ARGS, "--out", "run", cwd=cwd)
    for line in proc.stderr:
        if line.strip() == f"epoch-done {epoch}":
            proc.send_signal(sig)
            break
    code, rest = finish(proc)
    lines = rest.strip().splitlines()
    return code, lines[-1] if lines else ""


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)]
)
def test_interrupted_run_resumes_to_the_uninterrupted_weights(tmp_path, reference, sig, code):
    epoch = random.randint(1, EPOCHS - 1)
    got, last = interrupt_at(tmp_path, sig, epoch)
    assert got == code, (epoch, last)
    if sig != signal.SIGKILL:  # the checkpoint of the paused epoch was not written yet
        assert last == (
            f"interrupted at epoch {epoch - 1}/{EPOCHS}; resume with `headkit train --resume run`"
        )
    assert not (tmp_path / "run").exists() and (tmp_path / ".run.partial").is_dir()
    resumed, err = finish(headkit(0, "train", "--resume", "run", "--quiet", cwd=tmp_path))
    assert resumed == 0, err
    weights = load_file(tmp_path / "run" / "model.safetensors")
    assert weights.keys() == reference.keys()
    for name, tensor in reference.items():
        assert weights[name].equal(tensor), f"{name} differs after {sig!r} at epoch {epoch}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # the staging directory is gone
