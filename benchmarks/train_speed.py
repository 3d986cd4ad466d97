"""Time to 68 % test accuracy on MNIST-1D: headkit vs Keras 3 (torch) vs MLPClassifier vs a DataLoader loop.

Same data (MNIST-1D 4000/1000, standardised on the training rows), same network (2 × 256 ReLU,
dropout 0.2, softmax; MLPClassifier has no dropout), one process, 2 threads. Each contestant's
test accuracy is measured after every epoch with its clock paused, so evaluation costs nothing.
68 % is the MLP row of the MNIST-1D paper's table.

    python benchmarks/train_speed.py            # the full comparison, 3 seeds each
    python benchmarks/train_speed.py --quick    # a short smoke run

Keras and its torch backend are development extras (`pip install keras`), not headkit
dependencies; a contestant that cannot be imported is reported as missing.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch

TARGET = 0.68
RESULTS = Path(__file__).parent / "results" / "train_speed.md"


@dataclass
class Clock:
    """Training-time clock that can be paused while the test set is scored."""

    started: float = field(default_factory=time.perf_counter)
    paused: float = 0.0
    accuracies: list[float] = field(default_factory=list)
    hit: float | None = None
    hit_epoch: int | None = None

    def record(self, accuracy: float) -> None:
        pause = time.perf_counter()
        self.accuracies.append(accuracy)
        if self.hit is None and accuracy >= TARGET:
            self.hit, self.hit_epoch = pause - self.started - self.paused, len(self.accuracies)
        self.paused += time.perf_counter() - pause

    def pause_for(self, fn: Callable[[], float]) -> None:
        start = time.perf_counter()
        accuracy = fn()
        self.paused += time.perf_counter() - start
        self.record(accuracy)

    def total(self) -> float:
        return time.perf_counter() - self.started - self.paused


def load() -> tuple[np.ndarray, ...]:
    from headkit.data import load_dataset

    d = load_dataset("mnist1d")
    mean, std = d.X_train.mean(0), d.X_train.std(0)
    return (d.X_train - mean) / std, d.y_train, (d.X_test - mean) / std, d.y_test


def run_headkit(X, y, Xt, yt, epochs: int, seed: int) -> Clock:
    from headkit import HeadClassifier
    from headkit.training import Callback

    clock_box: list[Clock] = []

    class TestAccuracy(Callback):
        def on_epoch_end(self, trainer, record):
            model = trainer.model

            def accuracy() -> float:
                model.eval()
                with torch.no_grad():
                    acc = (model(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean()
                model.train()
                return float(acc)

            clock_box[0].pause_for(accuracy)

    model = HeadClassifier(epochs=epochs, random_state=seed)  # standardize=True is a no-op here
    clock_box.append(Clock())
    model.fit(X, y, callbacks=[TestAccuracy()])
    clock = clock_box[0]
    clock.final = float(model.score(Xt, yt))  # type: ignore[attr-defined]
    clock.finished = clock.total()  # type: ignore[attr-defined]
    return clock


def run_keras(X, y, Xt, yt, epochs: int, seed: int) -> Clock:
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((X.shape[1],)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    clock = Clock()

    class TestAccuracy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock.pause_for(
                lambda: float(
                    (model.predict(Xt, verbose=0, batch_size=1000).argmax(1) == yt).mean()
                )
            )

    model.fit(
        X, y, epochs=epochs, verbose=0, callbacks=[TestAccuracy()]
    )  # Keras defaults: batch 32
    clock.finished = clock.total()  # type: ignore[attr-defined]
    clock.final = clock.accuracies[-1]  # type: ignore[attr-defined]
    return clock


def run_sklearn(X, y, Xt, yt, epochs: int, seed: int) -> Clock:
    import warnings

    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier((256, 256), random_state=seed)
    clock = Clock()
    classes = np.unique(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(epochs):
            model.partial_fit(X, y, classes=classes)  # one Adam epoch, batch 200
            clock.pause_for(lambda: float(model.score(Xt, yt)))
    clock.finished = clock.total()  # type: ignore[attr-defined]
    clock.final = clock.accuracies[-1]  # type: ignore[attr-defined]
    return clock


def run_plain_loop(X, y, Xt, yt, epochs: int, seed: int) -> Clock:
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Linear(X.shape[1], 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(256, 10),
    )
    loader = DataLoader(
        TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), batch_size=128, shuffle=True
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    clock = Clock()
    Xt_tensor = torch.from_numpy(Xt)

    def accuracy() -> float:
        model.eval()
        with torch.no_grad():
            acc = (model(Xt_tensor).argmax(1).numpy() == yt).mean()
        model.train()
        return float(acc)

    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        clock.pause_for(accuracy)
    clock.finished = clock.total()  # type: ignore[attr-defined]
    clock.final = clock.accuracies[-1]  # type: ignore[attr-defined]
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs, for a smoke run")
    parser.add_argument("--seeds", type=int, default=3, help="runs per contestant (seeds 0..N-1)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    X, y, Xt, yt = load()
    # Pay one-off import costs (torch.optim pulls in torch._dynamo) before any clock starts.
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    epochs = {"headkit": 150, "keras": 100, "sklearn": 100, "plain": 100}
    if args.quick:
        epochs = dict.fromkeys(epochs, 3)
    contestants = {
        "headkit HeadClassifier (defaults)": (run_headkit, epochs["headkit"]),
        "Keras 3, torch backend (Adam, batch 32)": (run_keras, epochs["keras"]),
        "plain PyTorch DataLoader loop (Adam, batch 128)": (run_plain_loop, epochs["plain"]),
        "scikit-learn MLPClassifier (256, 256), no dropout": (run_sklearn, epochs["sklearn"]),
    }
    seeds = range(1 if args.quick else args.seeds)
    rows = []
    for name, (runner, n_epochs) in contestants.items():
        try:
            clocks = [runner(X, y, Xt, yt, n_epochs, seed) for seed in seeds]
        except ImportError as error:
            rows.append((name, None, error))
            continue
        rows.append((name, clocks, None))
        print(f"done: {name}", flush=True)

    def hit_time(clocks: list[Clock]) -> float:
        return float(np.median([c.hit if c.hit is not None else np.inf for c in clocks]))

    head_hit = hit_time(next(c for n, c, _ in rows if n.startswith("headkit")))
    lines = [
        f"MNIST-1D 4000/1000, 2×256 ReLU, dropout 0.2, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, seeds {list(seeds)} (median time, mean/min accuracy)",
        "",
        "| contestant | epochs run | time to 68 % (s), median | per seed (s) | epoch reached | final test acc mean (min) | best test acc | train time (s), median | time to 68 % vs headkit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, clocks, error in rows:
        if clocks is None:
            lines.append(f"| {name} | missing: {error} | | | | | | | |")
            continue
        hit = hit_time(clocks)
        per_seed = ", ".join(f"{c.hit:.2f}" if c.hit is not None else "never" for c in clocks)
        reached = ", ".join(str(c.hit_epoch or "–") for c in clocks)
        finals = [c.final for c in clocks]
        hit_text = f"{hit:.2f}" if np.isfinite(hit) else "never"
        ratio = f"{hit / head_hit:.1f}×" if np.isfinite(hit) and np.isfinite(head_hit) else "–"
        lines.append(
            f"| {name} | {len(clocks[0].accuracies)} | {hit_text} | {per_seed} | {reached} | "
            f"{np.mean(finals):.3f} ({min(finals):.3f}) | {max(max(c.accuracies) for c in clocks):.3f} | "
            f"{np.median([c.finished for c in clocks]):.2f} | {ratio} |"
        )
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(f"# benchmarks/train_speed.py\n\n{table}\n")


if __name__ == "__main__":
    main()
