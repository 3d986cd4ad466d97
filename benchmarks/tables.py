"""Cost of the table, weight and sparse paths, side by side with what they replace.

1. Numeric arrays, this tree vs an older commit (``git archive`` of BASELINE, run with
   ``PYTHONPATH`` pointing at it): fit seconds on ``digits`` and a digest of the fitted weights,
   which must be equal (numeric-array users' results unchanged bit for bit).
2. Weights and sparse input in this tree: fit seconds with no weights, ``sample_weight``,
   ``class_weight="balanced"``, and a 5 %-dense SciPy CSR matrix vs the same matrix dense.
3. The table preprocessing: ``TablePreprocessor`` fit + transform vs scikit-learn's
   ``ColumnTransformer`` (median ``SimpleImputer`` + ``StandardScaler`` + ``MissingIndicator``,
   ``OneHotEncoder``) on a penguins-style frame.

    python benchmarks/tables.py             # 3 repeats, 200k table rows
    python benchmarks/tables.py --quick     # 1 repeat, 20k table rows
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "tables.md"
ROOT = Path(__file__).resolve().parent.parent
BASELINE = "81fa205"  # main before table preprocessing, weights and sparse input
FIT_SNIPPET = """
import hashlib, time, torch
torch.set_num_threads(1)
from headkit import HeadClassifier
from headkit.data import load_dataset
d = load_dataset("digits")
start = time.perf_counter()
m = HeadClassifier(epochs={epochs}, random_state=0, device="cpu").fit(d.X_train, d.y_train)
seconds = time.perf_counter() - start
h = hashlib.sha256()
for k, v in sorted(m.model_.state_dict().items()):
    h.update(v.numpy().tobytes())
print(seconds, h.hexdigest()[:16])
"""


def fit_in_tree(src: Path, epochs: int) -> tuple[float, str]:
    env = {**os.environ, "PYTHONPATH": str(src), "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", FIT_SNIPPET.format(epochs=epochs)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    ).stdout.split()
    return float(out[0]), out[1]


def numeric_vs_baseline(repeats: int, epochs: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        trees = {"this tree": ROOT / "src", f"baseline {BASELINE}": Path(tmp) / "src"}
        runs = {
            name: [fit_in_tree(src, epochs) for _ in range(repeats)] for name, src in trees.items()
        }
    base = np.median([s for s, _ in runs[f"baseline {BASELINE}"]])
    lines = ["| code | fit s (median) | ratio | weights digest |", "|---|---|---|---|"]
    for name, results in runs.items():
        seconds = float(np.median([s for s, _ in results]))
        lines.append(f"| {name} | {seconds:.2f} | {seconds / base:.2f} | {results[0][1]} |")
    return lines


def timed_fit(X, y, repeats: int, params: dict | None = None, **fit_kwargs) -> float:
    from headkit import HeadClassifier

    times = []
    for _ in range(repeats):
        model = HeadClassifier(epochs=20, random_state=0, device="cpu", **(params or {}))
        start = time.perf_counter()
        model.fit(X, y, **fit_kwargs)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def weights_and_sparse(repeats: int) -> list[str]:
    import scipy.sparse as sp

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(4000, 500)) * (rng.random((4000, 500)) < 0.05)).astype(np.float32)
    y = (X[:, :10].sum(axis=1) > 0).astype(int) + (X[:, 10:20].sum(axis=1) > 0.3)
    weights = rng.random(len(y)) + 0.5
    rows = {
        "dense, no weights": timed_fit(X, y, repeats),
        "dense, sample_weight": timed_fit(X, y, repeats, sample_weight=weights),
        'dense, class_weight="balanced"': timed_fit(
            X, y, repeats, params={"class_weight": "balanced"}
        ),
        "CSR (5 % dense), no weights": timed_fit(sp.csr_matrix(X), y, repeats),
    }
    base = rows["dense, no weights"]
    lines = ["| input (4000 × 500, 20 epochs) | fit s | ratio |", "|---|---|---|"]
    lines += [f"| {name} | {s:.2f} | {s / base:.2f} |" for name, s in rows.items()]
    return lines


def penguin_frame(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n).astype(object),
            "sex": rng.choice(["male", "female"], n).astype(object),
            "bill_length_mm": rng.normal(44, 5, n),
            "bill_depth_mm": rng.normal(17, 2, n),
            "flipper_length_mm": rng.normal(200, 14, n),
            "body_mass_g": rng.normal(4200, 800, n),
        }
    )
    for column in ("bill_length_mm", "sex"):
        frame.loc[rng.random(n) < 0.05, column] = None
    return frame


def preprocessing(n: int, repeats: int) -> list[str]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import MissingIndicator, SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from headkit.data.preprocessing import TablePreprocessor

    frame = penguin_frame(n)
    numeric = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    text = ["island", "sex"]

    def sklearn_version():
        return ColumnTransformer(
            [
                ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
                ("gaps", MissingIndicator(), numeric),
                ("cat", OneHotEncoder(handle_unknown="ignore"), text),
            ]
        ).fit_transform(frame.fillna({c: "" for c in text}))

    contenders = {
        "headkit TablePreprocessor": lambda: TablePreprocessor().fit(frame).transform(frame),
        "scikit-learn ColumnTransformer": sklearn_version,
    }
    seconds = {}
    for name, run in contenders.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        seconds[name] = float(np.median(times))
    base = seconds["scikit-learn ColumnTransformer"]
    lines = [f"| fit + transform, {n} rows × 6 columns | s | ratio |", "|---|---|---|"]
    lines += [f"| {name} | {s:.3f} | {s / base:.2f} |" for name, s in seconds.items()]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    repeats = 1 if args.quick else 3
    sections = {
        "Numeric arrays: this tree vs the baseline (digits, 10 epochs)": numeric_vs_baseline(
            repeats, 10
        ),
        "Weights and sparse input": weights_and_sparse(repeats),
        "Table preprocessing": preprocessing(20_000 if args.quick else 200_000, repeats),
    }
    load = os.getloadavg()
    text = [
        "# Tables, weights, sparse input",
        "",
        f"`python benchmarks/tables.py{' --quick' if args.quick else ''}`; one torch thread; "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end.",
    ]
    for title, lines in sections.items():
        text += ["", f"## {title}", "", *lines]
    report = "\n".join(text) + "\n"
    print(report)
    RESULTS.write_text(report)


if __name__ == "__main__":
    main()
