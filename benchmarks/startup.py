"""Start-up cost of `headkit predict` on a 50-row file, now vs older commits, with its imports.

Each contestant runs `python -m headkit predict RUN rows.csv -o out.csv` in a fresh process, in
rounds (every contestant once per round); wall time and CPU time (user + sys of the child) are
recorded. `import torch` alone is what a predict that needs torch cannot go below. A
`-X importtime` run of each lists what the time goes to. A baseline is the same command on the
source tree of an older commit (`git archive`), run with `PYTHONPATH` pointing at it, so all use
this environment's packages.
Every source tree is byte-compiled first (`compileall`; an installed package is compiled at
install time, and `PYTHONDONTWRITEBYTECODE=1` would otherwise make every run compile headkit
again) and every contestant runs once untimed, so no column includes compiling a tree or reading
files into the page cache for the first time.

Target (quiet 2-core machine): ≤ 1.5 s wall. The load average and thread settings are recorded.

    python benchmarks/startup.py                     # 5 runs each, baselines 81fa205,3b348ea
    python benchmarks/startup.py --quick             # 2 runs each
    python benchmarks/startup.py --baseline REV,REV  # other commits ("" for none)
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "startup.md"
ROOT = Path(__file__).resolve().parent.parent
# main before the lean predict path; main with it, before the NumPy forward of plain networks
BASELINE = "81fa205,3b348ea"
WATCHED = (
    "torch",
    "torch._dynamo",
    "sklearn",
    "scipy",
    "pandas",
    "numpy",
    "typer",
    "typer._adapters",
    "headkit.estimator",
    "headkit.inference.numpy_net",
)


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, user + sys CPU) seconds of one child process."""
    if "-o" in command:  # predict refuses to overwrite its -o file
        Path(command[command.index("-o") + 1]).unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(
    contestants: dict[str, tuple[list[str], dict[str, str]]], repeats: int
) -> dict[str, dict[str, Any]]:
    """Median wall and CPU seconds of each (command, env) over ``repeats`` rounds.

    Each runs once untimed first (page cache); then the rounds run every contestant in turn, so
    a change of machine load during the benchmark affects them all alike.
    """
    for command, env in contestants.values():
        timed(command, env)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contestants}
    for _ in range(repeats):
        for name, (command, env) in contestants.items():
            runs[name].append(timed(command, env))
    results = {}
    for name, values in runs.items():
        array = np.array(values)
        results[name] = {
            "wall": float(np.median(array[:, 0])),
            "cpu": float(np.median(array[:, 1])),
            "walls": array[:, 0].tolist(),
        }
    return results


def import_costs(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Cumulative `-X importtime` seconds of the watched modules (0 when not imported)."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", *command[1:]], capture_output=True, text=True, env=env
    ).stderr
    costs = dict.fromkeys(WATCHED, 0.0)
    for line in err.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|")
        name = name.strip()
        if name in costs and cumulative.strip().isdigit():
            costs[name] = max(costs[name], int(cumulative) / 1e6)
    return costs


def compiled(tree: Path) -> Path:
    """Byte-compile a source tree (compileall writes even under PYTHONDONTWRITEBYTECODE)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree)], check=True)
    return tree


def baseline_tree(revision: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return compiled(into / "src")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 runs per contestant")
    parser.add_argument("--baseline", default=BASELINE, help="older commits, comma-separated")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    loads = [" / ".join(f"{x:.2f}" for x in os.getloadavg())]
    env = {**os.environ}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / "run"
        train = [sys.executable, "-m", "headkit", "train", "--out", str(run), "--epochs", "1"]
        subprocess.run([*train, "--quiet"], check=True, env=env)
        from headkit.data import load_dataset

        data = load_dataset("mnist1d")
        rows = pd.DataFrame(data.X_test[:50], columns=data.feature_names)
        rows.to_csv(tmp / "rows.csv", index=False)
        predict = [sys.executable, "-m", "headkit", "predict", str(run), str(tmp / "rows.csv")]
        predict += ["-o", str(tmp / "out.csv")]
        compiled(ROOT / "src")
        contestants = {
            "`import torch` alone": ([sys.executable, "-c", "import torch"], env),
            "`headkit predict`, current": (predict, env),
        }
        for revision in filter(None, args.baseline.split(",")):
            old_env = {**env, "PYTHONPATH": str(baseline_tree(revision, tmp / revision))}
            contestants[f"`headkit predict`, {revision}"] = (predict, old_env)
        results = measure(contestants, repeats)
        costs = {
            name.rsplit(", ", 1)[-1]: import_costs(command, env)
            for name, (command, env) in contestants.items()
            if "predict" in name
        }
    loads.append(" / ".join(f"{x:.2f}" for x in os.getloadavg()))
    write(results, costs, loads, repeats, args)


def write(results, costs, loads, repeats, args) -> None:
    lines = [
        "# benchmarks/startup.py",
        "",
        f"`python benchmarks/startup.py{' --quick' if args.quick else ''}` · "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} CPUs · "
        f"median of {repeats} fresh processes · 50-row MNIST-1D CSV, default network",
        "",
        f"Load average (1, 5, 15 min) at start → end: {' → '.join(loads)}. Threads: "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}. Source trees byte-compiled "
        "and each command run once untimed first; contestants take turns. CPU time (user + sys) "
        "is less sensitive to other work than wall time.",
        "",
        "| command | wall s (median) | CPU s (median) | each run, wall s |",
        "|---|---|---|---|",
        *(
            f"| {name} | {r['wall']:.2f} | {r['cpu']:.2f} | "
            + ", ".join(f"{w:.2f}" for w in r["walls"])
            + " |"
            for name, r in results.items()
        ),
        "",
        "Cumulative `python -X importtime` seconds of `headkit predict` (0 = not imported):",
        "",
        "| module | " + " | ".join(costs) + " |",
        "|---|" + "---|" * len(costs),
        *(
            f"| {module} | " + " | ".join(f"{c[module]:.2f}" for c in costs.values()) + " |"
            for module in WATCHED
        ),
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
