"""Layer dropout with a shared early-exit head (B7): accuracy and prediction time vs threshold.

Per data set (MNIST-1D, digits) and seed, two networks of six residual Dense blocks of width 128
(``HeadClassifier(hidden_sizes=(128,) * 6, residual=True)``, defaults otherwise):

* ``plain`` — trained without layer dropout, predicted at full depth;
* ``layerskip`` — ``layer_drop="layerskip:p_max=0.2"`` (whole blocks skipped in training with
  rates rising to 0.2, the shared head trained at every block), predicted at full depth and with
  early exit at each threshold: a row stops at the first block whose largest probability
  reaches the threshold.

Accuracy is on the test split; the time is the forward pass of the whole test split (tiled to
``ROWS`` rows so that it is long enough to time), best of ``REPEATS``, one torch thread,
``torch.no_grad``, the rows timed round-robin; "depth" is the mean number of blocks a row ran
(6 = full). Mean and min over seeds.

    python benchmarks/early_exit.py            # seeds 0-2, writes results/early_exit.md
    python benchmarks/early_exit.py --quick    # seed 0, few epochs, prints only
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.nn.layer_drop import early_exit_predict
from speed_probes import cpu_model

RESULTS = Path(__file__).parent / "results" / "early_exit.md"
THRESHOLDS = (0.99, 0.95, 0.9, 0.8, 0.6)
BLOCKS = (128,) * 6
ROWS = 8192
REPEATS = 15
EPOCHS = {"mnist1d": 60, "digits": 40}


def best_times(fns: dict) -> dict[str, float]:
    """Best wall time of each ``fn()`` over REPEATS rounds, in milliseconds.

    The calls go round-robin, so a burst of load on the shared machine hits every row alike.
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(REPEATS):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn()
            best[name] = min(best[name], 1000 * (time.perf_counter() - started))
    return best


def measure(data, seed: int, epochs: int) -> dict[str, tuple[float, float, float]]:
    """Return row name → (test accuracy, mean depth, milliseconds for ROWS rows)."""
    scores, fns = {}, {}
    tiled = np.resize(data.X_test, (ROWS, data.X_test.shape[1])).astype(np.float32)
    x_test, x_tiled = torch.as_tensor(data.X_test), torch.as_tensor(tiled)
    for name, options in (("plain", {}), ("layerskip", {"layer_drop": "layerskip:p_max=0.2"})):
        clf = HeadClassifier(hidden_sizes=BLOCKS, residual=True, epochs=epochs, random_state=seed,
                             threads=1, **options).fit(data.X_train, data.y_train)  # fmt: skip
        net = clf.model_.eval()
        row = f"{name}, full depth"
        scores[row] = (clf.score(data.X_test, data.y_test), float(len(BLOCKS)))
        fns[row] = lambda net=net: net.probabilities(net(x_tiled).double())
        if name == "plain":
            continue
        with torch.no_grad():
            for t in THRESHOLDS:
                proba, depth = early_exit_predict(net, x_test, t)
                acc = float((clf.classes_[proba.argmax(1).numpy()] == data.y_test).mean())
                row = f"{name}, exit at {t}"
                scores[row] = (acc, float(depth.float().mean()))
                fns[row] = lambda net=net, t=t: early_exit_predict(net, x_tiled, t)
    with torch.no_grad():
        times = best_times(fns)
    return {row: (*scores[row], times[row]) for row in scores}


def table(name: str, runs: list[dict[str, tuple[float, float, float]]]) -> list[str]:
    full = np.array([r["layerskip, full depth"][2] for r in runs])
    lines = [f"### {name}", "",
             "| network, prediction | test accuracy mean (min) | mean depth | ms per "
             f"{ROWS} rows mean (min) | time / layerskip full depth |",
             "|---|---|---|---|---|"]  # fmt: skip
    for row in runs[0]:
        acc, depth, ms = (np.array([r[row][i] for r in runs]) for i in range(3))
        lines.append(
            f"| {row} | {acc.mean():.4f} ({acc.min():.4f}) | {depth.mean():.2f} | "
            f"{ms.mean():.1f} ({ms.min():.1f}) | {(ms / full).mean():.2f} |"
        )
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = (0,) if args.quick else (0, 1, 2)
    started = time.perf_counter()
    load_before = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = [
        "# Layer dropout + shared early-exit head (B7): accuracy and time vs threshold",
        "",
        f"Command: `python benchmarks/early_exit.py{' --quick' if args.quick else ''}`; "
        f"hidden_sizes={BLOCKS}, residual=True, seeds {list(seeds)}, one torch thread, "
        f"CPU: {cpu_model()}. Time: the test split tiled to {ROWS} rows, best of {REPEATS}.",
        "",
    ]
    for name in ("mnist1d", "digits"):
        data = load_dataset(name)
        epochs = 5 if args.quick else EPOCHS[name]
        runs = [measure(data, seed, epochs) for seed in seeds]
        lines += table(f"{name} ({epochs} epochs)", runs)
        print("\n".join(lines[-len(runs[0]) - 5 :]), flush=True)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines.append(
        f"Run time {time.perf_counter() - started:.0f} s; load average (1, 5, 15 min) at the "
        f"start {load_before}, at the end {load} (a shared 2-core machine)."
    )
    if not args.quick:
        RESULTS.write_text("\n".join(lines) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
