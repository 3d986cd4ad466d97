"""headkit against the tabular field on the development suite: accuracy, log-loss, ECE, fit time.

    python benchmarks/tabular_suite.py                         # every table, contestant, 3 splits
    python benchmarks/tabular_suite.py --quick                 # 4 small tables, 1 split, short fits
    python benchmarks/tabular_suite.py --contestants headkit   # refit headkit only (rest cached)
    python benchmarks/tabular_suite.py --tables Pima.te,biopsy --splits 2
    python benchmarks/tabular_suite.py --report-only           # tables from the cache, no fits

Tables, splits, the preprocessing of raw tables and the contestants' settings are in
``tabular_contestants.py``; the report (ranks, paired differences, wins/ties/losses, fit-time
ratios, the large table, conformal sets) in ``tabular_report.py``.

Every (table, split, contestant) result is kept in a JSON cache (``--cache``; more caches to read
from with ``--read-cache``) under a key of the table, split, contestant, its settings, the thread
count, ``--quick`` and a code version: for headkit a hash of the imported ``headkit`` source
tree, for the others the versions of scikit-learn / LightGBM / pytabkit and of the
preprocessing. Changing headkit therefore refits only headkit.

Fairness: every process runs with ``--threads`` (default 1) threads (``OMP_NUM_THREADS``,
``MKL``/``OpenBLAS`` limits, ``torch.set_num_threads``, pytabkit's ``n_threads``; headkit picks
at most that many). One thread is the default because the shared 2-core host runs at a load of
10–13: at 2 threads HistGradientBoosting's OpenMP barriers took 93 s on ISLR Default (7,500 rows),
waiting for descheduled threads. Each fit holds ``--lock`` (``flock``, default ``/tmp/headkit-bench.lock``) so
timed fits never overlap one another; it is kept across consecutive fits for up to ``--hold``
seconds (default 90) and then handed on. Fit time is wall time of ``fit`` including each
contestant's own preprocessing. Log-loss clips probabilities to ``[1e-7, 1]`` and renormalises,
for every contestant; ECE is ``headkit.evaluation.expected_calibration_error`` (15 equal bins).

Time budget (``--budget``, default 300 s per fit): a contestant is not fitted (and the table says
so) on a split of a table when its earlier split of that table took longer than the budget, or on
a table with at least 5× the rows of every other table when its median seconds per row over the
tables of ≥ 1,000 rows it has been fitted on, times the rows, exceeds the budget (with
``--skip-estimated``: on any table, for a contestant as slow as TabM). Skips are cached so that
the report shows them, and decided again on each run that fits; failures are not cached. Tables of ``--subprocess-rows`` rows or more (the
254,654-row AER Fertility) are fitted in a subprocess that reports its peak RSS, killed at
2 × budget.
"""

from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # thread limits before NumPy/torch load their pools
    _threads = "1"
    for _i, _a in enumerate(sys.argv):
        if _a == "--threads" and _i + 1 < len(sys.argv):
            _threads = sys.argv[_i + 1]
    for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[_v] = _threads

import fcntl
import functools
import hashlib
import json
import resource
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import tabular_cache as tcache
import tabular_contestants as tc
import tabular_report as report

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tabular_suite.md"
CACHE = HERE / "results" / "tabular_suite_cache.json"
PREP_VERSION = "1"
EPS = 1e-7
QUICK_TABLES = ("Pima.te", "biopsy", "CreditCard", "digits")
ALPHA = 0.1
# Conformal entries' code version carries this: "sets2" = aps and raps randomised (the defaults),
# aps-det non-randomised with the top class in (before it: "aps" was the non-randomised form).
SETS_VERSION = "sets2"


# ------------------------------------------------------------------------------- metrics
def metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    from headkit.evaluation import expected_calibration_error

    p = np.clip(proba, EPS, 1.0)
    p = p / p.sum(axis=1, keepdims=True)
    return {
        "acc": float(np.mean(proba.argmax(axis=1) == y)),
        "logloss": float(-np.mean(np.log(p[np.arange(len(y)), y]))),
        "ece": expected_calibration_error(y, p),
    }


def prior_logloss(y_train: np.ndarray, y_test: np.ndarray, n_classes: int) -> float:
    freq = np.bincount(y_train, minlength=n_classes) / len(y_train)
    return metrics(y_test, np.tile(freq, (len(y_test), 1)))["logloss"]


# ---------------------------------------------------------------------------- versions
@functools.cache
def headkit_version() -> str:
    import headkit

    h = hashlib.sha256()
    root = Path(headkit.__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return "src-" + h.hexdigest()[:12]


def code_version(contestant: str) -> str:
    sets = f"-{SETS_VERSION}" if contestant.startswith("conformal:") else ""
    if contestant.split(":")[-1] in tc.HEADKIT:
        return headkit_version() + sets
    from importlib.metadata import version

    libs = {"lgbm": "lightgbm", "realmlp": "pytabkit", "tabm": "pytabkit"}
    lib = libs.get(contestant.split(":")[-1], "scikit-learn")
    return f"{lib}-{version(lib)}-sklearn-{version('scikit-learn')}-prep{PREP_VERSION}{sets}"


def cache_key(table: str, split: int, contestant: str, threads: int, quick: bool) -> str:
    settings = tc.CONTESTANTS[contestant.split(":")[-1]][0]
    return json.dumps(
        [table, split, contestant, settings, code_version(contestant), threads, quick]
    )


# ------------------------------------------------------------------------------ fitting
@functools.lru_cache(maxsize=2)
def split_of(table: str, split: int) -> tuple[tc.Split, dict[str, int]]:
    spec = next(s for s in tc.suite_specs() if s["name"] == table)
    return tc.load_split(spec, split)


def fit_one(table: str, split: int, contestant: str, threads: int, quick: bool) -> dict:
    """Fit one contestant on one split; return its metrics, fit seconds and peak RSS (MB)."""
    import torch

    torch.set_num_threads(threads)
    data, _ = split_of(table, split)
    name = contestant.split(":")[-1]
    if contestant.startswith("conformal:"):
        return conformal_one(data, name, split, threads, quick)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model = tc.make_model(name, split, threads, quick, data.X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu_start = time.perf_counter(), time.process_time()
        model.fit(data.X_train, data.y_train)
        fit_s, fit_cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
        start = time.perf_counter()
        proba = tc.full_proba(model, data.X_test, data.n_classes)
        predict_s = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # CPU seconds of the whole process (every thread): what a one-thread fit costs, whatever
    # else the shared machine runs; the wall time is what the user waits for.
    out = {**metrics(data.y_test, proba), "fit_s": fit_s, "fit_cpu_s": fit_cpu_s}
    out["predict_s"] = predict_s
    out.update(peak_rss_mb=rss, rss_before_fit_mb=rss_before, n_train=len(data.y_train))
    out["load1"] = os.getloadavg()[0]  # how busy the shared machine was when the fit ended
    if name in tc.HEADKIT and getattr(model, "conformal_", None) is not None:
        out["sets"] = headkit_sets(model, data)
    return out


def headkit_sets(model: Any, data: tc.Split) -> dict[str, dict[str, float]]:
    """Coverage and mean size of ``predict_set(X_test, ALPHA, method)``: what a user gets."""
    from headkit.evaluation.conformal import mean_set_size, set_coverage

    out = {}
    for method in ("aps", "raps", "aps-det"):
        try:
            sets = model.predict_set(data.X_test, ALPHA, method)
        except Exception:  # an older headkit without this method
            continue
        out[method] = {"coverage": set_coverage(sets, data.y_test), "size": mean_set_size(sets)}
    return out


def conformal_one(data: tc.Split, name: str, split: int, threads: int, quick: bool) -> dict:
    """Fit on 80 % of the training split, calibrate on the other 20 %, score sets on the test."""
    from sklearn.model_selection import train_test_split

    from headkit.evaluation.conformal import calibrate, mean_set_size, prediction_sets, set_coverage

    idx = np.arange(len(data.y_train))
    try:
        fit_idx, cal_idx = train_test_split(
            idx, test_size=0.2, random_state=split, stratify=data.y_train
        )
    except ValueError:  # a class with a single training row
        fit_idx, cal_idx = train_test_split(idx, test_size=0.2, random_state=split)
    X = data.X_train
    rows = (lambda i: X.iloc[i]) if hasattr(X, "iloc") else (lambda i: X[i])
    model = tc.make_model(name, split, threads, quick, rows(fit_idx))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(rows(fit_idx), data.y_train[fit_idx])
    p_cal = tc.full_proba(model, rows(cal_idx), data.n_classes)
    p_test = tc.full_proba(model, data.X_test, data.n_classes)
    out: dict[str, Any] = {"n_calibration": len(cal_idx)}
    variants = {"aps": {}, "raps": {"method": "raps"}, "aps-det": {"randomized": False}}
    for label, kw in variants.items():  # the defaults: randomised, no top class forced in
        cal = calibrate(p_cal, data.y_train[cal_idx], ALPHA, rng=split, **kw)
        sets = prediction_sets(p_test, cal, rng=split + 1)
        out[label] = {"coverage": set_coverage(sets, data.y_test), "size": mean_set_size(sets)}
    return out


def fit_in_subprocess(table: str, split: int, contestant: str, args: argparse.Namespace) -> dict:
    job = json.dumps([table, split, contestant, args.threads, args.quick])
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", job]
    cmd += ["--threads", str(args.threads)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=2 * args.budget, check=False
        )
    except subprocess.TimeoutExpired:
        return {"skipped": f"killed after {2 * args.budget:.0f} s (2 × budget)"}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


class BenchLock:
    """``flock`` on ``path``, kept across consecutive fits for at most ``hold`` seconds.

    On a shared machine other benchmarks hold the lock for minutes; taking it once per fit
    would wait minutes for each 1-s fit. After ``hold`` seconds it is released and, after a
    short pause that lets a waiting process in, taken again. No timed fit ever overlaps another
    process's locked benchmark.
    """

    def __init__(self, path: str | None, hold: float) -> None:
        self.path, self.hold, self.handle, self.since = path, hold, None, 0.0

    def before_fit(self) -> None:
        if not self.path:
            return
        if self.handle is not None and time.monotonic() - self.since < self.hold:
            return
        if self.handle is not None:
            self.release()
            time.sleep(1.0)
        self.handle = open(self.path, "a")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        self.since = time.monotonic()

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


# ------------------------------------------------------------------------------- cache
def skip_reason(
    cache: dict, table: str, split: int, contestant: str, rows: dict, args: argparse.Namespace
) -> str | None:
    """The documented budget rule (module docstring), or None to fit."""
    key = functools.partial(cache_key, threads=args.threads, quick=args.quick)
    for earlier in range(split):
        done = cache.get(key(table, earlier, contestant), {})
        if done.get("fit_s", 0.0) > args.budget:
            return f"split {earlier} took {done['fit_s']:.0f} s > budget {args.budget:.0f} s"
    base = contestant.split(":")[-1]  # a conformal refit costs what the contestant's fit does
    rates = [
        cache[key(t, s, base)]["fit_s"] / rows[t]
        for t in rows
        for s in range(args.splits)
        if t != table and rows[t] >= 1000 and "fit_s" in cache.get(key(t, s, base), {})
    ]
    if rates:
        estimate = float(np.median(rates)) * rows[table]
        largest = max(rows[t] for t in rows if t != table)
        large = rows[table] >= 5 * largest or args.skip_estimated
        if large and estimate > args.budget:
            return f"estimated {estimate:.0f} s > budget {args.budget:.0f} s"
    return None


# --------------------------------------------------------------------------------- main
def run(args: argparse.Namespace, tables: list[str], contestants: list[str]) -> dict:
    cache = tcache.load_caches([*args.read_cache, args.cache])
    rows = {t: split_of(t, 0)[1]["rows"] for t in tables}
    lock = BenchLock(args.lock, args.hold)
    try:
        loop(args, tables, contestants, cache, rows, lock)
    finally:
        lock.release()
    return cache


def loop(args, tables, contestants, cache, rows, lock) -> None:
    for split in range(args.splits):
        for table in tables:
            for contestant in contestants:
                key = cache_key(table, split, contestant, args.threads, args.quick)
                done = key in cache and "skipped" not in cache[key]  # skips: decided again
                if done or args.report_only:
                    continue
                reason = skip_reason(cache, table, split, contestant, rows, args)
                if reason:
                    entry: dict[str, Any] = {"skipped": reason}
                else:
                    lock.before_fit()
                    entry = fit_entry(table, split, contestant, rows[table], args)
                cache[key] = entry
                if "acc" in entry or "aps" in entry or "skipped" in entry:  # not failures
                    tcache.save_cache(args.cache, key, entry)
                print(f"{table:18s} split {split} {contestant:24s} {short(entry)}", flush=True)


def fit_entry(table: str, split: int, contestant: str, n_rows: int, args) -> dict:
    if n_rows >= args.subprocess_rows:
        entry = fit_in_subprocess(table, split, contestant, args)
    else:
        try:
            entry = fit_one(table, split, contestant, args.threads, args.quick)
        except Exception as exc:
            entry = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    code = {"code": code_version(contestant), "commit": tcache.git_commit(), "fitted_at": stamp}
    return {
        **entry,
        **code,
        "locked": bool(args.lock),
    }  # False: the fit time is not a timing figure


def short(entry: dict) -> str:
    if "acc" in entry:
        return f"acc {entry['acc']:.3f} logloss {entry['logloss']:.3f} fit {entry['fit_s']:.1f} s"
    if "aps" in entry:
        return f"coverage {entry['aps']['coverage']:.3f} size {entry['aps']['size']:.2f}"
    return entry.get("skipped") or entry.get("error", "?")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tables", default="", help="comma-separated table names")
    ap.add_argument("--contestants", default="", help=f"comma-separated of {list(tc.CONTESTANTS)}")
    ap.add_argument("--conformal", default="headkit,logreg", help="contestants for the sets")
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--budget", type=float, default=300.0, help="seconds per fit")
    ap.add_argument(
        "--skip-estimated",
        action="store_true",
        help="skip any table whose estimated fit time exceeds --budget (not only the large one)",
    )
    ap.add_argument("--subprocess-rows", type=int, default=100_000)
    ap.add_argument("--cache", default=str(CACHE))
    ap.add_argument("--read-cache", action="append", default=[], help="extra caches to read")
    ap.add_argument("--lock", default="/tmp/headkit-bench.lock", help="'' for none")
    ap.add_argument("--hold", type=float, default=90.0, help="seconds to keep the lock")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.worker:
        print(json.dumps(fit_one(*json.loads(args.worker))))
        return
    names = [s["name"] for s in tc.suite_specs()]
    tables = args.tables.split(",") if args.tables else list(names)
    if args.quick and not args.tables:
        tables = list(QUICK_TABLES)
    unknown = set(tables) - set(names)
    if unknown:
        sys.exit(f"unknown tables {sorted(unknown)}; choose from {names}")
    if args.quick:
        args.splits = 1
    contestants = args.contestants.split(",") if args.contestants else list(tc.CONTESTANTS)
    conformal = [f"conformal:{c}" for c in args.conformal.split(",") if c in contestants]
    bad = set(contestants) - set(tc.CONTESTANTS)
    if bad:
        sys.exit(f"unknown contestants {sorted(bad)}; choose from {list(tc.CONTESTANTS)}")
    summary = Path(args.out).with_suffix(".json")  # the summary written beside --out
    if summary.resolve() in {Path(p).resolve() for p in [args.cache, *args.read_cache]}:
        sys.exit(
            f"--out {args.out} would write its summary over the cache {summary}; "
            "give --out another name."
        )
    cache = run(args, tables, contestants + conformal)
    key = functools.partial(cache_key, threads=args.threads, quick=args.quick)
    find = tcache.lookup(cache, key)  # an entry of older code when the current code has none
    shown = list(tc.CONTESTANTS)  # everything cached is reported, fitted now or before
    results = report.collect(find, tables, shown, args.splits, split_of, prior_logloss)
    text = report.render(results, args, tc.CONTESTANTS)
    print(text)
    from headkit.io import atomic_write_text

    atomic_write_text(args.out, text)
    atomic_write_text(summary, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
