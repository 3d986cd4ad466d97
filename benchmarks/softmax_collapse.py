"""Softmax Collapse made to happen: the detector fires with softmax; StableMax (C8) and ⊥Grad (F1).

Prieto et al. (*Grokking at the Edge of Numerical Stability*, 2025) show that training past 100 %
training accuracy without regularisation scales the logits until float32 softmax rounds the
target's probability to exactly 1: the row's loss and its gradient on the target logit are then
exactly 0 (Softmax Collapse), and learning stops. The quickest of their set-ups on a CPU is the
large-initialisation one (MNIST with scaled-up weights, after Omnigrok), here on MNIST-1D:

* 1,000 training rows, ``hidden_sizes=(256, 256)``, ReLU, no dropout, no weight decay, AdamW
  at a constant lr 1e-3, batch 200, float32;
* ``init="critical:c_w=2000"``: trunk weights N(0, 2000/fan_in), √1000 ≈ 32× the critical
  scale, so the logits start in the thousands.

Runs: that set-up with ``output="softmax"`` (the detector watches it and warns), the same with
``output="stablemax"``, the softmax set-up with ``orthogonal_gradients=True`` (⊥Grad, the
paper's other remedy), and the softmax set-up at the default initialisation (a control that
memorises the rows without collapsing). Every 25 epochs a probe records, on all 1,000 training
rows, the share whose float32 probability of the target under the run's own output map is
exactly 1 (zero float32 loss: collapsed), the same share under softmax of the same logits, and
training and test accuracy.

    python benchmarks/softmax_collapse.py            # 500 epochs, writes results
    python benchmarks/softmax_collapse.py --quick    # 150 epochs, prints only
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import torch

from headkit import HeadClassifier
from headkit import functional as F
from headkit.data import load_dataset
from headkit.training import Callback, SoftmaxCollapseWarning

RESULTS = Path(__file__).parent / "results" / "softmax_collapse.md"
SET_UP = {
    "hidden_sizes": (256, 256),
    "dropout": 0.0,
    "weight_decay": 0.0,
    "lr": 1e-3,
    "schedule": "constant",
    "batch_size": 200,
    "validation_fraction": 0.0,
    "init": "critical:c_w=2000",
}
RUNS = {
    "softmax, large init": {},
    "stablemax, large init": {"output": "stablemax"},
    "softmax + ⊥Grad, large init": {"orthogonal_gradients": True},
    "softmax, default init (control)": {"init": "default"},
}


class CollapseProbe(Callback):
    """Every ``every`` epochs: collapsed shares (own output, softmax) and accuracies."""

    def __init__(self, output: str, train, test, every: int = 25) -> None:
        self.output, self.every = output, every
        self.X, self.y = (torch.as_tensor(a) for a in train)
        self.X_test, self.y_test = (torch.as_tensor(a) for a in test)
        self.rows: list[tuple[int, float, float, float, float]] = []

    def on_epoch_end(self, trainer, record) -> None:
        if record.epoch % self.every:
            return
        model = trainer.model
        model.eval()
        with torch.no_grad():
            logits, test_logits = model(self.X).float(), model(self.X_test)
        model.train()
        own = F.stablemax(logits) if self.output == "stablemax" else torch.softmax(logits, -1)
        collapsed = float((own.gather(1, self.y[:, None]) == 1.0).float().mean())
        under_softmax = F.softmax_collapse_fraction(logits, self.y)
        train_acc = float((logits.argmax(1) == self.y).float().mean())
        test_acc = float((test_logits.argmax(1) == self.y_test).float().mean())
        self.rows.append((record.epoch, collapsed, under_softmax, train_acc, test_acc))


def run(params: dict, epochs: int, train, test) -> dict:
    """Fit one run; return its probe rows, warning epoch, detector share and timings."""
    probe = CollapseProbe(params.get("output", "softmax"), train, test)
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SoftmaxCollapseWarning)
        model = HeadClassifier(**{**SET_UP, **params}, epochs=epochs, random_state=0)
        model.fit(*train, callbacks=[probe])
    fired = [w for w in caught if issubclass(w.category, SoftmaxCollapseWarning)]
    watched = [row["softmax_collapse"] for row in model.history_ if "softmax_collapse" in row]
    first = next(
        (row["epoch"] for row in model.history_ if row.get("softmax_collapse", 0) >= 0.9), None
    )
    return {
        "probe": probe.rows,
        "warning": str(fired[0].message).split(":")[0] if fired else "none",
        "first": first,
        "detector_max": max(watched) if watched else None,
        "loss": model.history_[-1]["train_loss"],
        "seconds": time.perf_counter() - started,
    }


def summary_row(name: str, result: dict) -> str:
    last = result["probe"][-1]
    detector = "not watched" if result["detector_max"] is None else f"{result['detector_max']:.2f}"
    return (
        f"| {name} | {result['warning']} | {result['first'] or '—'} | {detector} | "
        f"{last[1]:.3f} | {last[2]:.3f} | {result['loss']:.1e} | {last[3]:.3f} | {last[4]:.3f} | "
        f"{result['seconds']:.0f} |"
    )


def trajectory(results: dict) -> list[str]:
    names = list(results)[:3]
    header = " | ".join(f"{n}: collapsed / train / test" for n in names)
    lines = [f"| epoch | {header} |", "|---|" + "---|" * len(names)]
    for rows in zip(*(results[n]["probe"] for n in names), strict=True):
        cells = " | ".join(f"{r[1]:.3f} / {r[3]:.3f} / {r[4]:.3f}" for r in rows)
        lines.append(f"| {rows[0][0]} | {cells} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist1d")
    train = (data.X_train[:1000], data.y_train[:1000])
    test = (data.X_test, data.y_test)
    epochs = 150 if args.quick else 500
    results = {name: run(params, epochs, train, test) for name, params in RUNS.items()}
    lines = [
        "# Softmax Collapse made to happen, detected, and avoided by StableMax (C8) or ⊥Grad (F1)",
        "",
        f"Command: `OMP_NUM_THREADS=1 python benchmarks/softmax_collapse.py"
        f"{' --quick' if args.quick else ''}`; {epochs} epochs of 5 batches on 1,000 MNIST-1D "
        "rows, 2 × 256 ReLU, AdamW lr 1e-3 constant, no weight decay, no dropout, float32; "
        'large init = `init="critical:c_w=2000"`.',
        "",
        "| run | warning | first epoch with detector ≥ 90 % | detector's max share | "
        "collapsed share, own output (end) | collapsed share under softmax (end) | "
        "final train loss | train acc | test acc | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(summary_row(name, result) for name, result in results.items()),
        "",
        "Collapsed: the float32 probability of the target is exactly 1, so the row's float32 "
        "loss and its gradient on the target logit are exactly 0. The detector scores 256 "
        "training rows after each epoch (softmax runs only); the probe scores all 1,000.",
        "",
        "Every 25 epochs (collapsed share under the run's own output / training accuracy / "
        "test accuracy):",
        "",
        *trajectory(results),
        "",
        f"CPU, 1 thread; load average {os.getloadavg()[0]:.1f} (a shared machine).",
    ]
    print("\n".join(lines))
    if not args.quick:
        RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
