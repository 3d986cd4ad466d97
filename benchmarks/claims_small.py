"""Headline claims of the catalogue tested at small scale on a CPU (issue 23).

Sections (``--sections e2,a5,b8,j1,h1``; all by default):

* **e2** (E2/I2) label smoothing vs plain cross-entropy: ECE and NLL *before* temperature
  scaling, and after it (the claim: LS improves calibration before scaling).
* **a5** (A5) ReLU vs GELU vs Mish, each without and with layer normalisation.
* **b8** (B8) CutMix vs mixup vs none, on MNIST-1D and on a table (scikit-learn's wine).
* **j1** (J1) neural collapse: NC1 over the terminal phase, after training accuracy reaches 100 %.
* **h1** (H1) distillation where it should help: a small student on little data, distilled from
  a larger teacher, and self-distillation, against the same student trained alone.

Every fit uses ``HeadClassifier`` with the settings printed in each table, seeds 0..S−1 (mean and
min over seeds), one torch thread. Results: ``benchmarks/results/claims_small_<sections>.md``.

    flock /tmp/headkit-bench.lock python benchmarks/claims_small.py            # 2 seeds
    flock /tmp/headkit-bench.lock python benchmarks/claims_small.py --sections a5 --seeds 3
    python benchmarks/claims_small.py --quick                                 # 1 seed, fewer epochs
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.evaluation.reliability import expected_calibration_error
from speed_probes import cpu_model

RESULTS = Path(__file__).parent / "results" / "claims_small.md"


def machine() -> str:
    """The CPU model with its family and model numbers, and the load averages, for a header."""
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"CPU {cpu_model()} ({os.cpu_count()} cores); load average {load} (a shared machine)"


def _nll(y, proba):
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))


def _fit(X, y, seed, callbacks=(), **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return HeadClassifier(random_state=seed, **params).fit(X, y, callbacks=callbacks)


def _stat(values):
    v = np.asarray(values, float)
    return f"{v.mean():.3f} (min {v.min():.3f})"


def section_e2(d, seeds, epochs):
    base = {"hidden_sizes": (128, 128), "epochs": epochs, "validation_fraction": 0.2}
    rows = ["| loss | test acc | ECE before T | NLL before T | ECE after T | NLL after T |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for name, loss in (
        ("cross-entropy", "cross_entropy"),
        ("label smoothing 0.1", "label_smoothing:0.1"),
    ):
        acc, e0, n0, e1, n1 = [], [], [], [], []
        for seed in seeds:
            raw = _fit(d.X_train, d.y_train, seed, loss=loss, **base)
            cal = _fit(d.X_train, d.y_train, seed, loss=loss, calibrate=True, **base)
            p, q = raw.predict_proba(d.X_test), cal.predict_proba(d.X_test)
            acc.append(raw.score(d.X_test, d.y_test))
            e0.append(expected_calibration_error(d.y_test, p))
            n0.append(_nll(d.y_test, p))
            e1.append(expected_calibration_error(d.y_test, q))
            n1.append(_nll(d.y_test, q))
        rows.append(
            f"| {name} | {_stat(acc)} | {_stat(e0)} | {_stat(n0)} | {_stat(e1)} | {_stat(n1)} |"
        )
    note = (f"MNIST-1D, {base}, 15-bin ECE; 'after T': the same fit with calibrate=True "
            "(temperature fitted on the 20 % validation split).")  # fmt: skip
    return (
        "E2/I2 — label smoothing vs cross-entropy, calibration before/after temperature",
        note,
        rows,
    )


def section_a5(d, seeds, epochs):
    rows = ["| activation | norm=None | norm=layer |", "|---|---|---|"]
    for act in ("relu", "gelu", "mish"):
        cells = []
        for norm in (None, "layer"):
            accs = [
                _fit(d.X_train, d.y_train, s, hidden_sizes=(128, 128), epochs=epochs,
                     activation=act, norm=norm).score(d.X_test, d.y_test)
                for s in seeds
            ]  # fmt: skip
            cells.append(_stat(accs))
        rows.append(f"| {act} | {cells[0]} | {cells[1]} |")
    note = (
        f"MNIST-1D test accuracy, hidden_sizes=(128, 128), {epochs} epochs, other settings default."
    )
    return "A5 — ReLU vs GELU vs Mish, with and without layer normalisation", note, rows


def section_b8(datasets, seeds, epochs):
    rows = ["| data | none | mixup:alpha=0.2 | cutmix:alpha=1 |", "|---|---|---|---|"]
    for name, d in datasets.items():
        cells = []
        for aug in ("none", "mixup:alpha=0.2", "cutmix:alpha=1"):
            accs = [
                _fit(d.X_train, d.y_train, s, hidden_sizes=(128, 128), epochs=epochs,
                     augment=aug).score(d.X_test, d.y_test)
                for s in seeds
            ]  # fmt: skip
            cells.append(_stat(accs))
        rows.append(f"| {name} | {' | '.join(cells)} |")
    note = (f"Test accuracy, hidden_sizes=(128, 128), {epochs} epochs; wine: scikit-learn's 178-row "
            "table, a stratified 70/30 split (seed 0).")  # fmt: skip
    return "B8 — CutMix vs mixup vs none", note, rows


def section_j1(d, seeds, epochs):
    X, y = d.X_train[:1000], d.y_train[:1000]
    keys = ("train_loss", "nc1", "nc2_equinorm", "nc2_equiangular", "nc3")
    runs, train_acc = [], []
    for seed in seeds:
        model = _fit(X, y, seed, hidden_sizes=(256, 256), epochs=epochs, dropout=0.0,
                     weight_decay=5e-4, track_collapse=True, validation_fraction=0.0)  # fmt: skip
        runs.append({r["epoch"]: r for r in model.history_ if "nc1" in r})
        train_acc.append(model.score(X, y))
    epochs_seen = sorted(set.intersection(*(set(r) for r in runs)))
    step = max(1, len(epochs_seen) // 12)
    marks = epochs_seen[::step] + ([epochs_seen[-1]] if (len(epochs_seen) - 1) % step else [])
    rows = [
        "| epoch | train loss | NC1 (min) | NC2 equinorm | NC2 equiangular | NC3 |",
        "|---|---|---|---|---|---|",
    ]
    for e in marks:
        v = {k: [r[e][k] for r in runs] for k in keys}
        rows.append(f"| {e} | {np.mean(v['train_loss']):.2e} | {np.mean(v['nc1']):.4f} "
                    f"({min(v['nc1']):.4f}) | {np.mean(v['nc2_equinorm']):.3f} | "
                    f"{np.mean(v['nc2_equiangular']):.3f} | {np.mean(v['nc3']):.3f} |")  # fmt: skip
    note = (f"1,000 MNIST-1D rows, hidden_sizes=(256, 256), dropout 0, weight_decay 5e-4, {epochs} "
            f"epochs, seeds {list(seeds)} (mean over seeds, NC1's min in brackets); final "
            f"training accuracy {_stat(train_acc)}. NC1 = tr(Σ_W Σ_B⁺)/C on the penultimate "
            "features (lower = more collapsed).")  # fmt: skip
    return "J1 — neural collapse over the terminal phase", note, rows


def section_h1(d, seeds, epochs, tmp):
    n = 500
    X, y = d.X_train[:n], d.y_train[:n]
    student = {"hidden_sizes": (32,), "epochs": epochs}
    rows = ["| student | alone | distilled from (256, 256) | self-distilled (from a (32,) run) |",
            "|---|---|---|---|"]  # fmt: skip
    alone, taught, self_taught = [], [], []
    for s in seeds:
        teacher = _fit(X, y, s, hidden_sizes=(256, 256), epochs=epochs)
        teacher.save(tmp / f"teacher{s}")
        first = _fit(X, y, s + 100, **student)
        first.save(tmp / f"self{s}")
        alone.append(_fit(X, y, s, **student).score(d.X_test, d.y_test))
        kd = {"teacher_temperature": 4.0, "teacher_weight": 0.7}
        taught.append(
            _fit(X, y, s, teacher=str(tmp / f"teacher{s}"), **kd, **student).score(
                d.X_test, d.y_test
            )
        )
        self_taught.append(
            _fit(X, y, s, teacher=str(tmp / f"self{s}"), **kd, **student).score(d.X_test, d.y_test)
        )
    rows.append(f"| (32,), {n} rows | {_stat(alone)} | {_stat(taught)} | {_stat(self_taught)} |")
    note = (
        f"MNIST-1D, the first {n} training rows, test on 1,000; {epochs} epochs; distillation "
        "T = 4, β = 0.7 (teacher_temperature, teacher_weight)."
    )
    return "H1 — distillation: small student, little data, self-distillation", note, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sections", default="e2,a5,b8,j1,h1")
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..S-1 (default 2)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = [0] if args.quick else list(range(args.seeds))
    epochs = 10 if args.quick else 30
    mnist = load_dataset("mnist1d")
    out = []
    started = time.perf_counter()
    for key in args.sections.split(","):
        t0 = time.perf_counter()
        if key == "e2":
            title, note, rows = section_e2(mnist, seeds, epochs)
        elif key == "a5":
            title, note, rows = section_a5(mnist, seeds, epochs)
        elif key == "b8":
            from sklearn.datasets import load_wine
            from sklearn.model_selection import train_test_split

            from headkit.data.datasets import Dataset

            Xw, yw = load_wine(return_X_y=True)
            a, b, c, e = train_test_split(
                Xw.astype(np.float32), yw, test_size=0.3, stratify=yw, random_state=0
            )
            wine = Dataset(a, c, b, e, [f"f{i}" for i in range(Xw.shape[1])], "wine")
            title, note, rows = section_b8({"MNIST-1D": mnist, "wine": wine}, seeds, epochs)
        elif key == "j1":
            title, note, rows = section_j1(mnist, seeds, 30 if args.quick else 200)
        elif key == "h1":
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                title, note, rows = section_h1(mnist, seeds, epochs * 2, Path(tmp))
        else:
            raise SystemExit(f"unknown section {key!r}")
        block = [f"## {title}", "", note, "", *rows, "", f"({time.perf_counter() - t0:.0f} s)", ""]
        print("\n".join(block), flush=True)
        out += block
    header = [
        "# Catalogue claims at small scale",
        "",
        f"Command: `python benchmarks/claims_small.py{' --quick' if args.quick else ''} "
        f"--sections {args.sections} --seeds {args.seeds}`; seeds {seeds}; one torch thread; "
        f"{machine()}; {time.perf_counter() - started:.0f} s.",
        "",
    ]
    if not args.quick:
        path = RESULTS.with_name(f"claims_small_{args.sections.replace(',', '_')}.md")
        path.write_text("\n".join(header + out))


if __name__ == "__main__":
    main()
