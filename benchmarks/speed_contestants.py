"""Contestants of the time-to-68 % race on MNIST-1D, each with a clock paused while it is scored.

Used by ``train_speed.py --section keras``. Same data (MNIST-1D 4000/1000, standardised on the
training rows) and same network (2 × 256 ReLU, dropout 0.2, softmax; MLPClassifier has no
dropout) for all. Each contestant's test accuracy is measured after every epoch with its clock
paused, so evaluation costs nothing. 68 % is the MLP row of the MNIST-1D paper's table.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch

TARGET = 0.68


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


def run_headkit(X, y, Xt, yt, epochs: int | None, seed: int, **params) -> Clock:
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

    if epochs is not None:
        params["epochs"] = epochs
    model = HeadClassifier(random_state=seed, **params)  # standardize=True is a no-op here
    clock_box.append(Clock())
    model.fit(X, y, callbacks=[TestAccuracy()])
    clock = clock_box[0]
    clock.finished = clock.total()  # type: ignore[attr-defined]  # the fit, not the scoring below
    clock.final = float(model.score(Xt, yt))  # type: ignore[attr-defined]
    return clock


def run_keras(X, y, Xt, yt, epochs: int, seed: int, batch_size: int = 32) -> Clock:
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

    model.fit(X, y, epochs=epochs, batch_size=batch_size, verbose=0, callbacks=[TestAccuracy()])
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


def table(
    contestants: dict[str, Callable[[int], Clock]], seeds: list[int], machine: str
) -> list[str]:
    """Run every contestant over ``seeds``, interleaved seed by seed, and return the markdown
    section (missing ones noted).

    The ratio column divides each contestant's median time to 68 % by headkit's median *whole*
    fit time (the first contestant), which is what a user waits for; in brackets, the smallest
    and largest ratio of one seed's time to 68 % to headkit's whole fit with the same seed.
    """
    # Seeds outer, contestants inner: this host's speed drifts by up to 1.5x over minutes, and
    # interleaving gives every contestant the same share of the fast and the slow moments.
    clocks: dict[str, list[Clock]] = {name: [] for name in contestants}
    missing: dict[str, ImportError] = {}
    for seed in seeds:
        for name, runner in contestants.items():
            if name in missing:
                continue
            try:
                clocks[name].append(runner(seed))
            except ImportError as error:
                missing[name] = error
    rows = []
    for name in contestants:
        if name in missing:
            rows.append((name, None, missing[name]))
            continue
        rows.append((name, clocks[name], None))
        hits = ", ".join("never" if c.hit is None else f"{c.hit:.2f}" for c in clocks[name])
        wholes = ", ".join(f"{c.finished:.2f}" for c in clocks[name])  # type: ignore[attr-defined]
        print(f"done: {name}: time to 68 % (s) {hits}; whole fit (s) {wholes}", flush=True)
    head_whole = float(np.median([c.finished for c in rows[0][1]]))  # type: ignore[attr-defined]
    lines = [
        "## Time to 68 % vs Keras",
        "",
        f"MNIST-1D 4000/1000, 2×256 ReLU, dropout 0.2, softmax, 2 threads, seeds {seeds} "
        "(median times; the contestants take turns seed by seed; test accuracy scored after every epoch with the clock paused). "
        f"Machine: {machine}. headkit's whole fit per seed (s): "
        + ", ".join(f"{c.finished:.2f}" for c in rows[0][1])  # type: ignore[attr-defined]
        + ".",
        "",
        "| contestant | epochs run | time to 68 % (s), median | per seed (s) | epoch reached | "
        "final test acc mean (min) | whole fit (s), median | time to 68 % / headkit whole fit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, clocks, error in rows:
        if clocks is None:
            lines.append(f"| {name} | missing: {error} | | | | | | |")
            continue
        hits = [c.hit if c.hit is not None else np.inf for c in clocks]
        hit = float(np.median(hits))
        per_seed = ", ".join(f"{h:.2f}" if np.isfinite(h) else "never" for h in hits)
        reached = ", ".join(str(c.hit_epoch or "–") for c in clocks)
        finals = [c.final for c in clocks]  # type: ignore[attr-defined]
        whole = float(np.median([c.finished for c in clocks]))  # type: ignore[attr-defined]
        ratio = "–"
        if np.isfinite(hit):  # and the spread of the same seed's ratio
            seed_ratios = [h / c.finished for h, c in zip(hits, rows[0][1], strict=True)]  # type: ignore[attr-defined]
            ratio = (
                f"{hit / head_whole:.1f}× (per seed {min(seed_ratios):.1f}–{max(seed_ratios):.1f}×)"
            )
        lines.append(
            f"| {name} | {len(clocks[0].accuracies)} | {hit:.2f} | {per_seed} | {reached} | "
            f"{np.mean(finals):.3f} ({min(finals):.3f}) | {whole:.2f} | {ratio} |"
        )
    return lines + _against_other_headkit(rows)


def _against_other_headkit(rows: list) -> list[str]:
    """A line per further headkit contestant: every other contestant's ratio to its whole fit."""
    lines = []
    for name, clocks, _ in rows[1:]:
        if clocks is None or not name.startswith("headkit"):
            continue
        whole = float(np.median([c.finished for c in clocks]))
        ratios = []
        for other, theirs, _ in rows[1:]:
            hits = [c.hit for c in theirs or [] if c.hit is not None]
            if other.startswith("headkit") or not hits or len(hits) < len(theirs):
                continue
            per_seed = [c.hit / mine.finished for c, mine in zip(theirs, clocks, strict=True)]
            ratios.append(
                f"{other}: {float(np.median(hits)) / whole:.1f}× "
                f"(per seed {min(per_seed):.1f}–{max(per_seed):.1f}×)"
            )
        lines += [
            "",
            f"Against *{name}* (whole fit median {whole:.2f} s): " + "; ".join(ratios) + ".",
        ]
    return lines
