"""Output maps and heads of the softmax family: quality on two data sets, and speed of each map.

Part 1 trains one HeadClassifier per output map (linear head) and per head (softmax output;
``sphereface2`` is read through ``sigmoid`` as its paper does) on MNIST-1D (4000/1000) and on
scikit-learn's digits (the built-in 75/25 split), and reports test accuracy, negative
log-likelihood, expected calibration error (15 equal-width confidence bins) and the mean
fraction of exact zeros in the predicted probabilities. Every run uses the default network
(2 × 256 ReLU, dropout 0.2) and the default loss (``cross_entropy`` = the map's natural loss),
seed 0, with a shortened budget of ``--epochs`` (60 by default instead of 150) so the whole
script stays under five minutes on 2 CPU cores. NLL uses probabilities clipped at 1e-12 and
renormalised (as ``headkit evaluate`` does), so sparse maps that put an exact 0 on the true
class pay log(1e12) ≈ 27.6 for that row; the per-class ``sigmoid`` rows are renormalised to
sum to 1 for NLL and ECE.

Part 2 times forward + backward of each map (``headkit.functional``) against ``torch.softmax``
on float32 inputs of (4096 × 1024) and (256 × 65536), fastest of 5 runs after one warm-up, in
this one process; the ``entmax`` package's kernels are listed for reference.

    python benchmarks/outputs.py            # full run, writes benchmarks/results/outputs.md
    python benchmarks/outputs.py --quick    # smoke run (few epochs, small tensors), no file
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import headkit.functional as F
from headkit import HeadClassifier
from headkit.data import load_dataset

RESULTS = Path(__file__).parent / "results" / "outputs.md"
OUTPUT_ROWS = [
    "softmax",
    "sparsemax",
    "entmax15",
    "entmax_bisect",
    "gumbel",
    "ssmax",
    "power",
    "sigmoid",
]
HEAD_ROWS = ["cosine", "cosface", "arcface", "sphereface", "sphereface2", "etf", "ebv"]


def ece(proba: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """Expected calibration error of the top-1 confidence, equal-width bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def quality(spec: dict[str, str], data: object, epochs: int) -> dict[str, float]:
    """Train one model and return its test metrics."""
    start = time.perf_counter()
    model = HeadClassifier(epochs=epochs, random_state=0, verbose=0, **spec)
    model.fit(data.X_train, data.y_train)  # type: ignore[attr-defined]
    proba = model.predict_proba(data.X_test)  # type: ignore[attr-defined]
    y = np.searchsorted(model.classes_, data.y_test)  # type: ignore[attr-defined]
    zeros = float((proba == 0).mean())
    normal = proba / np.clip(proba.sum(axis=1, keepdims=True), 1e-12, None)
    clipped = np.clip(normal, 1e-12, 1.0)
    clipped = clipped / clipped.sum(axis=1, keepdims=True)
    return {
        "acc": float((proba.argmax(axis=1) == y).mean()),
        "nll": float(-np.log(clipped[np.arange(len(y)), y]).mean()),
        "ece": ece(normal, y),
        "zeros": zeros,
        "seconds": time.perf_counter() - start,
    }


def quality_table(epochs: int) -> list[str]:
    sets = {"MNIST-1D": load_dataset("mnist1d"), "digits": load_dataset("digits")}
    specs: list[tuple[str, dict[str, str]]] = [(f"output={o}", {"output": o}) for o in OUTPUT_ROWS]
    for head in HEAD_ROWS:
        output = "sigmoid" if head == "sphereface2" else "softmax"
        specs.append(
            (
                f"head={head}" + (" (output=sigmoid)" if output == "sigmoid" else ""),
                {"head": head, "output": output},
            )
        )
    lines = [
        "| configuration | "
        + " | ".join(f"{n} acc | {n} NLL | {n} ECE | {n} zeros" for n in sets)
        + " | fit s (both) |",
        "|---|" + "---|---|---|---|" * len(sets) + "---|",
    ]
    for label, spec in specs:
        cells, seconds = [], 0.0
        for data in sets.values():
            m = quality(spec, data, epochs)
            seconds += m["seconds"]
            cells += [f"{m['acc']:.3f}", f"{m['nll']:.3f}", f"{m['ece']:.3f}", f"{m['zeros']:.3f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {seconds:.1f} |")
        print(lines[-1], flush=True)
    return lines


def fwd_bwd_time(fn: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, int]) -> float:
    """Fastest of 5 runs of ``fn(x).backward(g)`` after a warm-up (seconds).

    The minimum, as ``timeit`` recommends: on a shared machine the other runs only add noise.
    """
    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=gen) * 3).requires_grad_(True)
    g = torch.randn(shape, generator=gen)
    times = []
    for i in range(6):
        x.grad = None
        start = time.perf_counter()
        fn(x).backward(g)
        if i:
            times.append(time.perf_counter() - start)
    return min(times)


def speed_table(shapes: list[tuple[int, int]]) -> list[str]:
    import entmax

    maps: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "torch.softmax (baseline)": lambda x: torch.softmax(x, -1),
        "softmax": lambda x: F.softmax(x),
        "sparsemax": lambda x: F.sparsemax(x),
        "entmax15": lambda x: F.entmax15(x),
        "entmax_bisect (α=1.5, 50 it)": lambda x: F.entmax_bisect(x, 1.5),
        "gumbel_softmax (τ=1)": lambda x: F.gumbel_softmax(x, tau=1.0),
        "gumbel_softmax (hard)": lambda x: F.gumbel_softmax(x, tau=1.0, hard=True),
        "scalable_softmax": lambda x: F.scalable_softmax(x, s=1.0),
        "power_softmax (p=2)": lambda x: F.power_softmax(x, 2.0),
        "sigmoid": lambda x: F.sigmoid(x),
        "entmax pkg sparsemax": lambda x: entmax.sparsemax(x, -1),
        "entmax pkg entmax15": lambda x: entmax.entmax15(x, -1),
        "entmax pkg entmax_bisect (50 it)": lambda x: entmax.entmax_bisect(x, 1.5, -1, 50),
    }
    header = " | ".join(f"{r}×{c} ms | vs torch.softmax" for r, c in shapes)
    lines = [f"| map | {header} |", "|---|" + "---|---|" * len(shapes)]
    results = {name: [fwd_bwd_time(fn, s) for s in shapes] for name, fn in maps.items()}
    base = results["torch.softmax (baseline)"]
    for name, values in results.items():
        cells = []
        for value, ref in zip(values, base, strict=True):
            cells += [f"{value * 1e3:.1f}", f"{value / ref:.2f}×"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs, small tensors, no file")
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(2)
    epochs = 3 if args.quick else args.epochs
    shapes = [(256, 256), (16, 4096)] if args.quick else [(4096, 1024), (256, 65536)]
    started = time.perf_counter()
    env = f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU"
    quality_lines = quality_table(epochs)
    speed_lines = speed_table(shapes)
    text = "\n".join(
        [
            "# benchmarks/outputs.py",
            "",
            f"## Quality: default network, seed 0, {epochs} epochs ({env})",
            "",
            "Test accuracy, NLL (probabilities clipped at 1e-12), ECE (15 bins) and the mean",
            "fraction of exact zeros in the test probabilities. Heads use the softmax output.",
            "`fit s` is wall time on a shared 2-core machine (other jobs' tests ran unlocked",
            "beside it), a rough cost indication only; the timings below are the speed figures.",
            "",
            *quality_lines,
            "",
            "## Forward + backward time of each map, fastest of 5 (after a warm-up)",
            "",
            *speed_lines,
            "",
            f"Total run time {time.perf_counter() - started:.0f} s.",
            "",
        ]
    )
    print(text)
    if not args.quick:
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(text)
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
