"""Memory heads and kNN accuracy: headkit's ``ncm`` / ``knn`` heads against scikit-learn.

Three comparisons on the built-in data sets (``headkit.data.load_dataset``: digits and MNIST-1D,
their fixed train/test splits), all on standardised features:

* ``head="ncm"`` (``hidden_sizes=()``, one epoch) vs ``sklearn.neighbors.NearestCentroid``;
* ``head="knn:k=5"`` vs ``KNeighborsClassifier(5, algorithm="brute")``;
* kNN accuracy (k = 5, cosine) and linear-probe accuracy of the raw input vs the penultimate
  features of a trained 2 × 256 MLP (``headkit.evaluation.knn_accuracy``), the "kNN accuracy as a
  feature-quality metric" use.

Each row gives test accuracy, the share of test rows where headkit and scikit-learn predict the
same class, and fit + predict seconds (one run; the machine is shared, so times are indicative).

    python benchmarks/memory_heads.py            # writes benchmarks/results/memory_heads.md
    python benchmarks/memory_heads.py --quick    # digits only, short MLP, prints only
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier, NearestCentroid
from sklearn.preprocessing import StandardScaler

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.evaluation import knn_accuracy, probe_accuracy

RESULTS = Path(__file__).parent / "results" / "memory_heads.md"
FROZEN = dict(hidden_sizes=(), dropout=0.0, validation_fraction=0.0, epochs=1, random_state=0)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare_heads(name: str) -> list[str]:
    """Table rows for ncm / knn vs scikit-learn on one data set."""
    ds = load_dataset(name)
    scaler = StandardScaler().fit(ds.X_train)
    xs_tr, xs_te = scaler.transform(ds.X_train), scaler.transform(ds.X_test)
    pairs = [
        ("ncm", "NearestCentroid", NearestCentroid()),
        ("knn:k=5", "KNeighborsClassifier(5)", KNeighborsClassifier(5, algorithm="brute")),
    ]
    rows = []
    for spec, ref_name, ref in pairs:
        ours, t_ours = _timed(
            lambda spec=spec: (
                HeadClassifier(head=spec, **FROZEN).fit(ds.X_train, ds.y_train).predict(ds.X_test)
            )
        )
        theirs, t_ref = _timed(lambda ref=ref: ref.fit(xs_tr, ds.y_train).predict(xs_te))
        rows.append(
            f"| {name} | `{spec}` vs {ref_name} | {np.mean(ours == ds.y_test):.4f} | "
            f"{np.mean(theirs == ds.y_test):.4f} | {np.mean(ours == theirs):.4f} | "
            f"{t_ours:.2f} | {t_ref:.2f} |"
        )
    return rows


def feature_quality(name: str, epochs: int) -> str:
    """kNN and probe accuracy of the raw input vs a trained MLP's penultimate features."""
    ds = load_dataset(name)
    clf = HeadClassifier(hidden_sizes=(256, 256), epochs=epochs, random_state=0)
    clf.fit(ds.X_train, ds.y_train)
    net = clf.model_.eval()
    with torch.no_grad():
        f_tr, f_te = (net.features(torch.as_tensor(x, dtype=torch.float32)).numpy()
                      for x in (ds.X_train, ds.X_test))  # fmt: skip
    scaler = StandardScaler().fit(ds.X_train)
    raw_tr, raw_te = scaler.transform(ds.X_train), scaler.transform(ds.X_test)
    knn_raw = knn_accuracy(raw_tr, ds.y_train, raw_te, ds.y_test)
    knn_feat = knn_accuracy(f_tr, ds.y_train, f_te, ds.y_test)
    probe_raw = probe_accuracy(np.r_[raw_tr, raw_te], np.r_[ds.y_train, ds.y_test])
    probe_feat = probe_accuracy(np.r_[f_tr, f_te], np.r_[ds.y_train, ds.y_test])
    return (
        f"| {name} | {epochs} | {clf.score(ds.X_test, ds.y_test):.4f} | {knn_raw:.4f} | "
        f"{knn_feat:.4f} | {probe_raw:.4f} | {probe_feat:.4f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="digits only, 10 epochs, no file")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = ["digits"] if args.quick else ["digits", "mnist1d"]
    epochs = 10 if args.quick else 150
    lines = [
        "# Memory heads vs scikit-learn",
        "",
        f"`python benchmarks/memory_heads.py{' --quick' if args.quick else ''}`; "
        f"load average {os.getloadavg()[0]:.1f} (shared machine: times are indicative).",
        "",
        "| data | head vs reference | headkit acc. | sklearn acc. | same prediction | "
        "headkit s | sklearn s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        lines += compare_heads(name)
    lines += [
        "",
        "kNN (k = 5, cosine) and linear-probe accuracy (half the rows fit, half score) of the "
        "standardised input vs the penultimate features of a 2 × 256 MLP:",
        "",
        "| data | MLP epochs | MLP test acc. | kNN raw | kNN features | probe raw | "
        "probe features |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [feature_quality(name, epochs) for name in names]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
