"""Variants of headkit's default on the suite's small tables over many splits, against logreg.

    flock /tmp/headkit-bench.lock timeout 300 python benchmarks/tabular_small.py \\
        --tables Pima.te,biopsy --splits 6 \\
        --variants '{"base": {}, "s1": {"seed": 1}, "s2": {"seed": 2}, "s3": {"seed": 3},
                     "s4": {"seed": 4}}' \\
        --averages '{"bag5": ["base", "s1", "s2", "s3", "s4"]}' --out /tmp/small.json

Each variant is ``HeadClassifier(random_state=split + 1000 * seed, **params)`` on the raw frame
of one stratified 75/25 split (``tabular_contestants.load_split``); an average is the mean of
some variants' probabilities (fits that held out different rows when their seeds differ). Prints
log-loss per split and the means per table; one thread. Used for docs/tables.md's "smallest
table" paragraph.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings

import numpy as np
import torch

import tabular_contestants as tc
from tabular_suite import metrics


def run_split(spec: dict, split: int, variants: dict, averages: dict) -> dict[str, float]:
    from headkit import HeadClassifier

    data, _ = tc.load_split(spec, split)
    logreg = tc.make_model("logreg", split, 1, False, data.X_train).fit(data.X_train, data.y_train)
    res = {"logreg": metrics(data.y_test, tc.full_proba(logreg, data.X_test, data.n_classes))}
    probs = {}
    for name, params in variants.items():
        params = dict(params)
        seed = split + 1000 * params.pop("seed", 0)
        model = HeadClassifier(random_state=seed, **params).fit(data.X_train, data.y_train)
        probs[name] = tc.full_proba(model, data.X_test, data.n_classes)
        res[name] = metrics(data.y_test, probs[name])
    for name, parts in averages.items():
        res[name] = metrics(data.y_test, np.mean([probs[q] for q in parts], axis=0))
    return {name: m["logloss"] for name, m in res.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tables", default="Pima.te")
    ap.add_argument("--splits", type=int, default=6)
    ap.add_argument("--variants", default='{"base": {}}', help="JSON: name → parameters")
    ap.add_argument("--averages", default="{}", help="JSON: name → variants to average")
    ap.add_argument("--out", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    specs = {s["name"]: s for s in tc.suite_specs()}
    variants, averages = json.loads(args.variants), json.loads(args.averages)
    out: dict[str, dict[str, float]] = {}
    for table in args.tables.split(","):
        for split in range(args.splits):
            out[f"{table}|{split}"] = run_split(specs[table], split, variants, averages)
            print(table, split, {k: round(v, 4) for k, v in out[f"{table}|{split}"].items()})
        rows = [v for k, v in out.items() if k.startswith(f"{table}|")]
        means = {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}
        print(table, "mean", {k: round(v, 4) for k, v in means.items()}, flush=True)
    if args.out:
        json.dump(out, open(args.out, "w"), indent=1)


if __name__ == "__main__":
    sys.exit(main())
