"""Out-of-distribution detection: MSP, max logit, energy and Mahalanobis on two held-out shifts.

Two set-ups, each trained with ``headkit.HeadClassifier`` (2 × 256 ReLU, dropout 0.2, defaults
otherwise, 150 epochs) over several seeds, scored with :meth:`HeadClassifier.ood_score`:

* **digits 0–4 vs 5–9** — scikit-learn's 8×8 digits; the model learns digits 0–4 (stratified
  75 % of them); in-distribution = the other 25 % of 0–4, OOD = every 5–9 image (semantic shift:
  same pixels, unseen classes).
* **MNIST-1D vs shuffled MNIST-1D** — trained on MNIST-1D (4000 rows); in-distribution = its
  1000 test rows, OOD = the same test rows with the 40 positions permuted by one fixed random
  permutation (``shuffle_seq=True`` in the mnist1d generator): same marginal values, broken
  spatial structure.

For each score (higher = in-distribution) the table gives AUROC, AUPR with in-distribution as
positive, and FPR at 95 % TPR (share of OOD rows accepted when 95 % of in-distribution rows are),
as mean ± standard deviation over seeds, plus the AUROC difference to MSP. A second table gives
the same scores' AUROC for telling correct from misclassified in-distribution rows.

    python benchmarks/ood.py            # 3 seeds, writes benchmarks/results/ood.md
    python benchmarks/ood.py --quick    # 1 seed, few epochs, prints only
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from headkit import HeadClassifier
from headkit.evaluation import misclassification_metrics, ood_metrics

RESULTS = Path(__file__).parent / "results" / "ood.md"
SCORES = ("msp", "max_logit", "energy", "mahalanobis")


def digits_task(seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_in, y_in, X_out) for digits 0–4 in, 5–9 out."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    X, y = d.data.astype(np.float32), d.target
    seen = y < 5
    X_tr, X_in, y_tr, y_in = train_test_split(
        X[seen], y[seen], test_size=0.25, random_state=seed, stratify=y[seen]
    )
    return X_tr, y_tr, X_in, y_in, X[~seen]


def mnist1d_task(seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_in, y_in, X_out) for MNIST-1D in, shuffled MNIST-1D out."""
    from mnist1d.data import get_dataset_args, make_dataset

    del seed  # the data set is fixed; seeds vary the network only
    args = get_dataset_args()
    plain = make_dataset(args)
    args.shuffle_seq = True
    shuffled = make_dataset(args)  # same generator seed: the same rows, positions permuted
    assert np.allclose(np.sort(plain["x_test"], 1), np.sort(shuffled["x_test"], 1))
    f32 = np.float32
    return (plain["x"].astype(f32), plain["y"], plain["x_test"].astype(f32), plain["y_test"],
            shuffled["x_test"].astype(f32))  # fmt: skip


TASKS = {
    "digits 0–4 vs 5–9": (digits_task, 150),
    "MNIST-1D vs shuffled MNIST-1D": (mnist1d_task, 150),
}


def run_once(task, epochs: int, seed: int) -> dict[str, dict[str, float]]:
    X_tr, y_tr, X_in, y_in, X_out = task(seed)
    model = HeadClassifier(hidden_sizes=(256, 256), dropout=0.2, epochs=epochs, random_state=seed)
    model.fit(X_tr, y_tr)
    proba = model.predict_proba(X_in)
    target = np.searchsorted(model.classes_, y_in)
    out: dict[str, dict[str, float]] = {
        "_": {"accuracy": float(np.mean(proba.argmax(1) == target))}
    }
    for name in SCORES:
        s_in, s_out = model.ood_score(X_in, name), model.ood_score(X_out, name)
        res = ood_metrics(s_in, s_out)
        res["mis_auroc"] = misclassification_metrics(target, proba, s_in)["auroc"]
        out[name] = res
    return out


def _pm(values: list[float], digits: int = 3) -> str:
    a = np.asarray(values, float)
    return f"{a.mean():.{digits}f} ± {a.std():.{digits}f}" if len(a) > 1 else f"{a[0]:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 5 epochs, no file written")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest on a shared machine
    seeds = [0] if args.quick else list(range(args.seeds))
    started = time.perf_counter()
    runs: dict[str, list[dict[str, dict[str, float]]]] = {}
    for label, (task, epochs) in TASKS.items():
        runs[label] = [run_once(task, 5 if args.quick else epochs, s) for s in seeds]
        print(f"done: {label} ({time.perf_counter() - started:.0f}s)", flush=True)

    lines = [
        f"HeadClassifier 2 × 256 ReLU, dropout 0.2, defaults otherwise; {len(seeds)} seed(s) "
        f"(mean ± std over seeds); torch {torch.__version__}, {torch.get_num_threads()} threads. "
        "In-distribution = positive class; every score is higher for in-distribution rows.",
        "",
        "| set-up | in-dist. test acc | score | AUROC | AUPR (in) | FPR@95%TPR | AUROC − MSP |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, results in runs.items():
        acc = _pm([r["_"]["accuracy"] for r in results])
        msp = np.array([r["msp"]["auroc"] for r in results])
        for i, name in enumerate(SCORES):
            au = [r[name]["auroc"] for r in results]
            diff = np.mean(np.asarray(au) - msp)
            lines.append(
                f"| {label if i == 0 else ''} | {acc if i == 0 else ''} | {name} | {_pm(au)} | "
                f"{_pm([r[name]['aupr'] for r in results])} | "
                f"{_pm([r[name]['fpr95'] for r in results])} | {diff:+.3f} |"
            )
    lines += [
        "",
        "Misclassification detection on the in-distribution test rows (correct = positive), AUROC:",
        "",
        "| set-up | " + " | ".join(SCORES) + " |",
        "|---|" + "---|" * len(SCORES),
    ]
    for label, results in runs.items():
        cells = [_pm([r[name]["mis_auroc"] for r in results]) for name in SCORES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"Total wall time {time.perf_counter() - started:.0f} s."]
    table = "\n".join(lines)
    print(table)
    if not args.quick:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        command = f"python benchmarks/ood.py --seeds {args.seeds}"
        RESULTS.write_text(f"# benchmarks/ood.py\n\n`{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()
