"""The Softmax Collapse detector on a run made to collapse, and on a normal run (C8).

A run made to collapse (as in *Grokking at the Edge of Numerical Stability*): 400 MNIST-1D
training rows, a wide MLP (1 × 512, no dropout, no weight decay), a large constant learning rate
(0.05) and many epochs, so the network memorises the rows and their logits grow until float32
softmax cross-entropy is exactly 0 for most of them. The detector (on by default with
``output="softmax"``) records the collapsed share of training rows each epoch (history column
``softmax_collapse``) and warns. The same set-up with ``output="stablemax"`` shows StableMax's
loss staying positive; the default set-up on the full data shows the detector silent.

    python benchmarks/softmax_collapse.py            # writes results
    python benchmarks/softmax_collapse.py --quick    # fewer epochs, prints only
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import torch

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.training import SoftmaxCollapseWarning

RESULTS = Path(__file__).parent / "results" / "softmax_collapse.md"


def run(name: str, params: dict, X, y, data) -> str:
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SoftmaxCollapseWarning)
        model = HeadClassifier(random_state=0, **params).fit(X, y)
    fired = [w for w in caught if issubclass(w.category, SoftmaxCollapseWarning)]
    history = model.history_
    fractions = [row.get("softmax_collapse", float("nan")) for row in history]
    first = next((row["epoch"] for row in history if row.get("softmax_collapse", 0) >= 0.9), None)
    return (
        f"| {name} | {'yes' if fired else 'no'} | {first or '—'} | "
        f"{max(fractions):.2f} | {history[-1]['train_loss']:.2e} | "
        f"{model.score(data.X_test, data.y_test):.3f} | {time.perf_counter() - started:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("mnist1d")
    epochs = 100 if args.quick else 400
    collapse = {
        "hidden_sizes": (512,),
        "dropout": 0.0,
        "weight_decay": 0.0,
        "lr": 0.05,
        "schedule": "constant",
        "epochs": epochs,
        "batch_size": 50,
        "validation_fraction": 0.0,
    }
    small = data.X_train[:400], data.y_train[:400]
    rows = [
        run("made to collapse (softmax)", collapse, *small, data),
        run("same, output=stablemax", {**collapse, "output": "stablemax"}, *small, data),
        run("defaults, 4000 rows", {}, data.X_train, data.y_train, data),
    ]
    lines = [
        "# Softmax Collapse detector (C8)",
        "",
        f"Command: `python benchmarks/softmax_collapse.py{' --quick' if args.quick else ''}`; "
        f"the collapse set-up runs {epochs} epochs of 8 batches on 400 rows.",
        "",
        "| run | warning | first epoch with ≥ 90 % collapsed | max collapsed share | "
        "final train loss | test accuracy | seconds |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        "StableMax runs are not watched (the detector measures float32 softmax cross-entropy), "
        "so their collapsed share reads nan.",
        f"Load average {os.getloadavg()[0]:.1f} (a shared, busy machine).",
    ]
    print("\n".join(lines))
    if not args.quick:
        RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
