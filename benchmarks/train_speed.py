"""headkit's defaults, its accurate preset, a busy machine and Keras, on MNIST-1D and tabular data.

Each section is spliced in place into ``benchmarks/results/train_speed.md`` (``--section NAME``,
repeatable, reruns only that part; the default runs them all):

    defaults  new vs old defaults over seeds 0–4 at 1 and 2 threads on MNIST-1D (mean, min,
              time, epochs, per-step time)
    tabular   new vs old defaults on digits, breast cancer, wine and a synthetic set
    step      per-step time of the 2×256 dropout-0.2 fit against the GEMM floor of that step
    preset    preset="accurate": test accuracy vs seconds over 3 seeds
    busy      the default fit alone vs beside 1 and 2 CPU-bound processes that this script starts
              and stops (threads automatic, 2 and 1), and GridSearchCV n_jobs=1 vs 2
    keras     time to 68 %: headkit's whole 2×256 fit vs Keras (batch 128 and its default 32),
              a plain DataLoader loop and MLPClassifier, in one process

    python benchmarks/train_speed.py                       # everything (about 30 min, quiet)
    python benchmarks/train_speed.py --section busy        # one part
    python benchmarks/train_speed.py --quick               # smoke run, nothing written

Wall-clock figures are only as good as the machine is quiet: every section prints the load
average, and per-step times are also given as the 10th percentile of step durations (a step that
ran without being descheduled) and as a ratio to the GEMM floor measured in the same process.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import speed_contestants as race
import speed_probes as probes
from headkit import HeadClassifier
from headkit.training import Callback

RESULTS = Path(__file__).parent / "results" / "train_speed.md"
# The defaults before this benchmark chose new ones (kept to show old vs new side by side).
OLD_DEFAULTS: dict[str, Any] = {
    "hidden_sizes": (256, 256),
    "activation": "relu",
    "dropout": 0.2,
    "loss": "cross_entropy",
    "epochs": 150,
    "batch_size": 256,
    "lr": 1e-2,
    "validation_fraction": 0.1,
}
FIXED_NET = {"hidden_sizes": (256, 256), "dropout": 0.2}  # the network the issue races


class StepTimer(Callback):
    """Record the time between consecutive backward passes (one full optimisation step)."""

    def __init__(self) -> None:
        self.last: float | None = None
        self.last_cpu = 0.0
        self.steps: list[float] = []
        self.cpu_steps: list[float] = []  # this thread's CPU time per step (all of it at 1 thread)

    def on_fit_start(self, trainer: Any, epochs: int) -> None:
        self.last = None

    def on_after_backward(self, trainer: Any) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        if self.last is not None:
            self.steps.append(now - self.last)
            self.cpu_steps.append(cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        self.last = None  # the gap across an epoch boundary holds the validation pass

    def p10(self) -> float:
        return float(np.percentile(self.steps, 10)) if self.steps else float("nan")


def fit_once(data: tuple, seed: int, threads: int | None, **params: Any) -> dict[str, Any]:
    X, y, Xt, yt = data
    timer = StepTimer()
    model = HeadClassifier(random_state=seed, threads=threads, **params)
    start, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y, callbacks=[timer])
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {
        "acc": float(model.score(Xt, yt)),
        "seconds": seconds,
        "cpu": cpu,
        "epochs": model.n_iter_,
        "p10": timer.p10(),
        "median_step": float(np.median(timer.steps)) if timer.steps else float("nan"),
        "cpu_step": float(np.median(timer.cpu_steps)) if timer.cpu_steps else float("nan"),
        "threads": model.threads_,
    }


def add_row(lines: list[str], *cells: object) -> None:
    """Append the Markdown table row ``| c1 | c2 | ... |`` to ``lines`` and print it."""
    lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    print(lines[-1], flush=True)


def summarise(runs: list[dict[str, Any]]) -> list[str]:
    """Table cells: mean, min, per seed, fit (s), CPU (s), epochs, step p10 (ms)."""
    accs = [r["acc"] for r in runs]
    return [
        f"{statistics.mean(accs):.4f}",
        f"{min(accs):.4f}",
        ", ".join(f"{a:.3f}" for a in accs),
        f"{statistics.mean(r['seconds'] for r in runs):.2f}",
        f"{statistics.mean(r['cpu'] for r in runs):.2f}",
        str(runs[0]["epochs"]),
        f"{1e3 * statistics.mean(r['p10'] for r in runs):.2f}",
    ]


def mnist1d() -> tuple:
    from headkit.data import load_dataset

    d = load_dataset("mnist1d")
    return d.X_train, d.y_train, d.X_test, d.y_test


def tabular_sets() -> dict[str, tuple]:
    """Each set as (X float32, y)."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_classification

    sets = {
        "digits": load_digits(return_X_y=True),
        "breast_cancer": load_breast_cancer(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "synthetic (make_classification 2000×20, 4 classes)": make_classification(
            2000, 20, n_informative=10, n_classes=4, random_state=0
        ),
    }
    return {name: (X.astype(np.float32), y) for name, (X, y) in sets.items()}


def stratified_split(X: np.ndarray, y: np.ndarray, seed: int) -> tuple:
    """A 75/25 stratified split drawn with ``seed``, as (X_train, y_train, X_test, y_test)."""
    from sklearn.model_selection import train_test_split

    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    return X_tr, y_tr, X_te, y_te


def section_defaults(args: argparse.Namespace) -> list[str]:
    data = mnist1d()
    seeds = args.seeds
    head = "| defaults | threads | mean | min | per seed | fit (s) | CPU (s) | epochs | step p10 (ms) |"
    lines = [
        "## Defaults over seeds",
        "",
        f"MNIST-1D 4000/1000, `HeadClassifier(random_state=s, threads=t)` vs the old defaults "
        f"({OLD_DEFAULTS}); seeds {seeds}. *fit* = wall time of `fit` on this machine; *CPU* = "
        "process CPU time of `fit` (at 1 thread about the wall time on a quiet machine, since "
        "waiting for a core is not counted; at 2 threads the sum of both threads'); *step p10* "
        f"= 10th percentile of step durations. Machine: {probes.machine_line()}.",
        "",
        head,
        "|---|---|---|---|---|---|---|---|---|",
    ]
    epochs = {"epochs": 2} if args.quick else {}
    for threads in (1, 2):
        for name, params in (("new", {}), ("old", OLD_DEFAULTS)):
            runs = [fit_once(data, s, threads, **{**params, **epochs}) for s in seeds]
            add_row(lines, name, threads, *summarise(runs))
    return lines


def section_tabular(args: argparse.Namespace) -> list[str]:
    seeds = args.seeds
    epochs = {"epochs": 2} if args.quick else {}
    lines = [
        "## New vs old defaults on other data",
        "",
        f"scikit-learn digits, breast cancer, wine and a synthetic set; {len(seeds)} stratified "
        f"75/25 splits (split seeds {seeds}) × model seeds {seeds}: {len(seeds) ** 2} fits per "
        "row and defaults, 1 thread, test accuracy. *new − old* is the mean of the paired "
        "differences (same split, same model seed) ± its standard error; a difference inside two "
        "standard errors is a tie. Old defaults: "
        f"{OLD_DEFAULTS}. Machine: {probes.machine_line()}.",
        "",
        "| data | new mean | new min | old mean | old min | new − old | new fit (s) | old fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, (X, y) in tabular_sets().items():
        new, old = [], []
        for split_seed in seeds:
            split = stratified_split(X, y, split_seed)
            new += [fit_once(split, s, 1, **epochs) for s in seeds]
            old += [fit_once(split, s, 1, **{**OLD_DEFAULTS, **epochs}) for s in seeds]
        new_acc = np.array([r["acc"] for r in new])
        old_acc = np.array([r["acc"] for r in old])
        diff = new_acc - old_acc
        error = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        secs = [statistics.mean(r["seconds"] for r in rs) for rs in (new, old)]
        add_row(
            lines,
            name,
            *(f"{v:.4f}" for v in (new_acc.mean(), new_acc.min(), old_acc.mean(), old_acc.min())),
            f"{diff.mean():+.4f} ± {error:.4f}",
            *(f"{v:.2f}" for v in secs),
        )
    return lines


def section_step(args: argparse.Namespace) -> list[str]:
    data = mnist1d()
    lines = [
        "## Per-step time vs the GEMM floor",
        "",
        "`HeadClassifier(hidden_sizes=(256, 256), dropout=0.2)` (other parameters default) on "
        "MNIST-1D, seed 0, at each `precision`. *GEMM floor* = the step's nine matrix products "
        "(forward, grad input, grad weight of 40→256→256→10) timed back to back, best of 30, in "
        "the fit's precision (bfloat16: the two hidden layers' products on bfloat16 operands, "
        "the head's in float32, as the fit runs them); *FLOP floor* = its FLOPs / the rate of a "
        "float32 1024² product measured at the same moment. Step = 10th percentile of "
        "the fit's step durations; *CPU* columns use this thread's CPU time (at 1 thread the whole "
        f"step; robust to other processes). Machine: {probes.machine_line()}.",
        "",
        "| threads | precision | batch | step p10 (ms) | step median (ms) | GEMM floor (ms) | "
        "FLOP floor (ms) | step / GEMM floor | CPU step (ms) | CPU GEMM floor (ms) | CPU ratio | "
        "1024² GEMM (GFLOP/s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    params = {**FIXED_NET, "epochs": 2 if args.quick else 30}
    from headkit.config import batch_rows

    batch = batch_rows(HeadClassifier().resolved_params()["batch_size"], len(data[0]))
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    for threads, precision in itertools.product((1, 2), dtypes):
        torch.set_num_threads(threads)
        floor = probes.step_floor([40, 256, 256, 10], batch, hidden_dtype=dtypes[precision])
        run = fit_once(data, 0, threads, precision=precision, **params)
        ms = (run["p10"], run["median_step"], floor.gemm_seconds, floor.flop_seconds)
        add_row(
            lines,
            threads,
            precision,
            batch,
            *(f"{1e3 * v:.3f}" for v in ms),
            f"{run['p10'] / floor.gemm_seconds:.2f}×",
            f"{1e3 * run['cpu_step']:.3f}",
            f"{1e3 * floor.gemm_cpu_seconds:.3f}",
            f"{run['cpu_step'] / floor.gemm_cpu_seconds:.2f}×",
            f"{floor.peak_rate / 1e9:.1f}",
        )
    return lines


def section_preset(args: argparse.Namespace) -> list[str]:
    data = mnist1d()
    seeds = args.seeds[:3]
    lines = [
        "## Preset accurate: accuracy vs time",
        "",
        f"MNIST-1D 4000/1000, `HeadClassifier(preset='accurate:epochs=E', random_state=s)`, seeds "
        f"{seeds}, threads automatic (count used shown). Machine: {probes.machine_line()}.",
        "",
        "| epochs | threads used | mean | min | per seed | fit (s) | CPU (s) | step p10 (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for epochs in (1,) if args.quick else (25, 50, 100, 130):
        runs = [fit_once(data, s, None, preset=f"accurate:epochs={epochs}") for s in seeds]
        *cells, _, step = summarise(runs)  # the epochs are the row's own
        used = sorted({r["threads"] for r in runs})
        add_row(lines, epochs, used, *cells, step)
    return lines


def section_busy(args: argparse.Namespace) -> list[str]:
    data = mnist1d()
    params = {"epochs": 2} if args.quick else {}
    lines = [
        "## A busy machine",
        "",
        "Default `HeadClassifier(random_state=0, threads=t)` fit on MNIST-1D, alone and beside "
        "CPU-bound Python processes started and stopped by this script; ratio = fit time / the "
        f"same setting alone. Machine before: {probes.machine_line()}.",
        "",
        "| threads | alone (s) | + 1 busy (s) | ratio | + 2 busy (s) | ratio | threads used alone / +1 / +2 |",
        "|---|---|---|---|---|---|---|",
    ]
    for threads in (None, 2, 1):
        alone = fit_once(data, 0, threads, **params)
        with probes.BusyNeighbour(1):
            one = fit_once(data, 0, threads, **params)
        with probes.BusyNeighbour(2):
            two = fit_once(data, 0, threads, **params)
        add_row(
            lines,
            threads or "auto",
            f"{alone['seconds']:.2f}",
            *(f"{r['seconds']:.2f} | {r['seconds'] / alone['seconds']:.2f}×" for r in (one, two)),
            " / ".join(str(r["threads"]) for r in (alone, one, two)),
        )
    lines += ["", *grid_search_lines(data, args)]
    return lines


def _import_headkit() -> int:
    import headkit.estimator  # noqa: F401  (torch and scikit-learn with it)

    return 0


def _cold_workers() -> None:
    """Shut joblib's reusable worker pool down, so the next parallel call starts fresh processes."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def grid_search_lines(data: tuple, args: argparse.Namespace) -> list[str]:
    from joblib import Parallel, delayed
    from sklearn.model_selection import GridSearchCV

    X, y = data[0], data[1]
    grid = {"dropout": [0.2, 0.4]}
    _cold_workers()
    start = time.perf_counter()
    Parallel(n_jobs=2)(delayed(_import_headkit)() for _ in range(2))
    startup = time.perf_counter() - start
    out = [
        f"GridSearchCV over `HeadClassifier(random_state=0)`, `{grid}`, cv=3: 6 fits. *cold*: "
        "the first parallel call of a process, which starts joblib's two worker processes "
        f"(each imports scikit-learn and torch: {startup:.2f} s for two workers that only "
        "import headkit, measured alone); *warm*: the same search again, reusing them (joblib "
        "keeps its workers between calls). Threads automatic: the workers see "
        "`OMP_NUM_THREADS=1` from joblib and fit on one thread each; `n_jobs=1` fits on 2.",
        "",
        "| GridSearchCV | epochs per fit | seconds | / n_jobs=1 |",
        "|---|---|---|---|",
    ]
    for epochs in (2,) if args.quick else (30, None):
        params = {"random_state": 0} if epochs is None else {"epochs": epochs, "random_state": 0}
        shown = epochs or f"{HeadClassifier().epochs} (default)"
        serial = None
        for label, n_jobs in (("n_jobs=1", 1), ("n_jobs=2, cold", 2), ("n_jobs=2, warm", 2)):
            if label.endswith("cold"):
                _cold_workers()
            search = GridSearchCV(HeadClassifier(**params), grid, cv=3, n_jobs=n_jobs)
            start = time.perf_counter()
            search.fit(X, y)
            seconds = time.perf_counter() - start
            serial = serial or seconds
            ratio = "" if n_jobs == 1 else f"{seconds / serial:.2f}×"
            add_row(out, label, shown, f"{seconds:.2f}", ratio)
    return out


def section_keras(args: argparse.Namespace) -> list[str]:
    X, y, Xt, yt = race.load()
    if args.quick:  # a smoke run: Keras at batch 32 takes minutes per epoch on a busy machine
        X, y = X[:500], y[:500]
    torch.set_num_threads(2)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # pay torch.optim's import first
    quick = 1 if args.quick else None
    contestants = {
        "headkit HeadClassifier(hidden_sizes=(256, 256), dropout=0.2), whole fit": (
            lambda s: race.run_headkit(X, y, Xt, yt, quick, s, threads=2, **FIXED_NET)
        ),
        "headkit, the same with precision='bfloat16', whole fit": (
            lambda s: race.run_headkit(
                X, y, Xt, yt, quick, s, threads=2, precision="bfloat16", **FIXED_NET
            )
        ),
        "Keras 3, torch backend, Adam, batch 128": (
            lambda s: race.run_keras(X, y, Xt, yt, quick or 60, s, batch_size=128)
        ),
        "Keras 3, torch backend, Adam, batch 32 (Keras's default)": (
            lambda s: race.run_keras(X, y, Xt, yt, quick or 40, s, batch_size=32)
        ),
        "plain PyTorch DataLoader loop (Adam, batch 128)": (
            lambda s: race.run_plain_loop(X, y, Xt, yt, quick or 100, s)
        ),
        "scikit-learn MLPClassifier (256, 256), no dropout, batch 200": (
            lambda s: race.run_sklearn(X, y, Xt, yt, quick or 100, s)
        ),
    }
    if not args.keras_batch32:  # minutes per seed on a slow host: keeps the section under 5 min
        contestants.pop("Keras 3, torch backend, Adam, batch 32 (Keras's default)")
    if args.keras_only:  # headkit (both precisions) against Keras at batch 128 alone
        for name in list(contestants)[3:]:
            contestants.pop(name, None)
    return race.table(contestants, args.seeds[:5], probes.machine_line())


SECTIONS = {
    "defaults": section_defaults,
    "tabular": section_tabular,
    "step": section_step,
    "preset": section_preset,
    "busy": section_busy,
    "keras": section_keras,
}


def splice(path: Path, section: list[str]) -> str:
    """Replace in place (or append) the ``## `` section headed ``section[0]`` of a results file."""
    old = path.read_text().splitlines() if path.exists() else ["# benchmarks/train_speed.py"]
    try:
        start = old.index(section[0])
    except ValueError:
        return "\n".join([*old, "", *section]) + "\n"
    end = next((i for i in range(start + 1, len(old)) if old[i].startswith("## ")), len(old))
    after = ["", *old[end:]] if end < len(old) else []
    return "\n".join([*old[:start], *section, *after]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny runs; nothing is written")
    parser.add_argument("--section", action="append", choices=sorted(SECTIONS), default=None)
    parser.add_argument(
        "--seeds", type=int, default=5, help="seeds 0..N-1 (preset: ≤ 3, keras: ≤ 5)"
    )
    parser.add_argument(
        "--no-keras-batch32",
        dest="keras_batch32",
        action="store_false",
        help="keras section: leave out Keras at batch 32 (the slowest contestant)",
    )
    parser.add_argument(
        "--keras-only",
        action="store_true",
        help="keras section: only headkit and Keras at batch 128 (fits a time limit on a busy host)",
    )
    args = parser.parse_args()
    args.seeds = list(range(1 if args.quick else args.seeds))
    for name in args.section or list(SECTIONS):
        before = torch.get_num_threads()
        lines = SECTIONS[name](args)
        torch.set_num_threads(before)
        lines.append(f"\nLoad average after: {probes.machine_line()}.")
        print("\n".join(lines), flush=True)
        if not args.quick:
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(splice(RESULTS, lines))


if __name__ == "__main__":
    main()
