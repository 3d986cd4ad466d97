"""Fit time of headkit's default on tables against RealMLP-TD's, side by side in one run.

    flock /tmp/headkit-bench.lock timeout 600 python benchmarks/members_speed.py
    python benchmarks/members_speed.py --tables Pima.te,biopsy --seeds 2

On split 0 of each table (``tabular_contestants.py``: the suite's tables and splits), the
contestants take turns seed by seed, so a drift of the shared host falls on all alike:

- ``realmlp``: pytabkit's ``RealMLP_TD_Classifier`` (as in ``tabular_suite.py``);
- ``headkit``: ``HeadClassifier()``, the default (3 members trained packed on a table);
- ``members=1``: ``HeadClassifier(members=1)``, one network;
- ``sequential``: the default with a no-op callback, which trains the 3 members one after
  another (any callback does: :func:`headkit.estimator.members.train_packed`).

One thread everywhere (``OMP_NUM_THREADS``, ``torch.set_num_threads``, pytabkit's ``n_threads``).
Fit time is the wall time of ``fit`` with each contestant's own preprocessing. Prints the mean
and minimum seconds over seeds per table, the ratio of the means to RealMLP-TD's, and the
geometric mean of the ratios over the tables.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before NumPy and torch start their pools
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import tabular_contestants as tc

HERE = Path(__file__).resolve().parent
TABLES = "Pima.te,biopsy,CreditCard,attrition,digits,leaf_id_flavia,Wage,Arrests,wa_churn"  # ≤ 3,000 rows + 2
CONTESTANTS = ("realmlp", "headkit", "members=1", "sequential")


def build(name: str, seed: int, X_train) -> tuple[object, dict]:
    """The model of contestant ``name`` and the keyword arguments of its ``fit``."""
    if name == "realmlp":
        return tc.make_model("realmlp", seed, 1, False, X_train), {}
    from headkit import HeadClassifier
    from headkit.training import Callback

    if name == "members=1":
        return HeadClassifier(random_state=seed, members=1), {}
    if name == "sequential":
        return HeadClassifier(random_state=seed), {"callbacks": [Callback()]}
    return HeadClassifier(random_state=seed), {}


def fit_seconds(name: str, seed: int, data: tc.Split) -> tuple[float, str]:
    """Fit one contestant; return its fit seconds and a note (members, epochs, test log-loss)."""
    model, kwargs = build(name, seed, data.X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        model.fit(data.X_train, data.y_train, **kwargs)
        seconds = time.perf_counter() - start
        proba = tc.full_proba(model, data.X_test, data.n_classes)
    p = np.clip(proba[np.arange(len(data.y_test)), data.y_test], 1e-7, 1)
    note = f"ll {-np.mean(np.log(p)):.3f}"
    if name != "realmlp":
        note += f" k={model.members_} ep={model.n_iter_}"
    return seconds, note


def main() -> None:
    import torch

    torch.set_num_threads(1)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tables", default=TABLES)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--out", default=str(HERE / "results" / "members_speed.md"))
    args = ap.parse_args()
    specs = {s["name"]: s for s in tc.suite_specs()}
    lines = [
        f"load before: {os.getloadavg()}",
        "",
        "| table | rows | "
        + " | ".join(CONTESTANTS)
        + " | headkit / RealMLP | members=1 / RealMLP | sequential / RealMLP |",
    ]
    lines.append("|" + "---|" * (len(CONTESTANTS) + 5))
    ratios: dict[str, list[float]] = {c: [] for c in CONTESTANTS[1:]}
    for i, table in enumerate(args.tables.split(",")):
        data, info = tc.load_split(specs[table], 0)
        for name in CONTESTANTS if i == 0 else ():  # warm-up: imports and first-call costs
            fit_seconds(name, 0, data)
        times: dict[str, list[float]] = {c: [] for c in CONTESTANTS}
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for name in CONTESTANTS:
                seconds, note = fit_seconds(name, seed, data)
                times[name].append(seconds)
                print(f"{table:16s} seed {seed} {name:11s} {seconds:6.2f} s  {note}", flush=True)
        cells = [f"{np.mean(t):.2f} (min {np.min(t):.2f})" for t in times.values()]
        real = np.mean(times["realmlp"])
        for name in CONTESTANTS[1:]:
            ratios[name].append(np.mean(times[name]) / real)
        shown = [f"{ratios[name][-1]:.3f}" for name in CONTESTANTS[1:]]
        lines.append(f"| {table} | {info['rows']} | " + " | ".join(cells + shown) + " |")
    geo = [f"{np.exp(np.mean(np.log(ratios[n]))):.3f}" for n in CONTESTANTS[1:]]
    lines.append("| geometric mean | | | | | | " + " | ".join(geo) + " |")
    last = args.first_seed + args.seeds - 1
    lines += [
        "",
        f"load after: {os.getloadavg()}, seeds {args.first_seed}..{last}, split 0, 1 thread",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
