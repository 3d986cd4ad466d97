"""A big CSV to the first epoch: peak memory and seconds, pyarrow blocks vs pandas.read_csv.

A CSV of ``--rows`` rows × 20 feature columns (16 floats, one of them with 2 % empty cells, one
integer, three text columns of 4, 6 and 8 values) plus a text label is generated into ``--dir``
(default /tmp) and deleted afterwards. Each contestant runs in a fresh process; peak RSS is the
kernel's high-water mark (VmHWM) of that process:

* ``headkit`` — :func:`headkit.data.load_table` (pyarrow, block by block, numbers straight to
  float32, text to dictionary codes) and this tree's :class:`TablePreprocessor` (one float32
  matrix, filled column by column);
* ``pandas + previous`` — ``pandas.read_csv`` and the previous ``TablePreprocessor`` (float64
  blocks concatenated, then cast to float32), read from git (``--legacy-rev``).

Two stages are timed per contestant: ``matrix`` (file → the float32 matrix the network reads)
and ``first epoch`` (file → ``HeadClassifier.fit`` reaching its first epoch, with its own split
and checks). The ratio column is peak RSS over the final matrix's bytes.

    python benchmarks/big_table_load.py            # 9M rows (~2 GB), writes results
    python benchmarks/big_table_load.py --quick    # 200k rows, prints only
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "big_table_load.md"
REPO = Path(__file__).resolve().parents[1]
CHUNK = 500_000


def generate(path: Path, rows: int, seed: int = 0) -> None:
    """Write the CSV chunk by chunk (pyarrow), so generating needs little memory."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, CHUNK):
        n = min(CHUNK, rows - start)
        columns = {f"f{i}": rng.normal(i, 1 + i, n).round(8) for i in range(16)}
        gaps = rng.random(n) < 0.02
        columns["f0"] = pa.array(columns["f0"], mask=gaps)
        columns["count"] = rng.integers(0, 1000, n)
        for name, k in (("colour", 4), ("shape", 6), ("region", 8)):
            columns[name] = rng.choice([f"{name}_{j}" for j in range(k)], n)
        columns["label"] = np.where(columns["f1"] + rng.normal(0, 2, n) > 1, "yes_class", "no")
        table = pa.table(columns)
        if writer is None:
            writer = pacsv.CSVWriter(str(path), table.schema)
        writer.write_table(table)
    writer.close()


def _status(key: str) -> int:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) * 1024
    return 0


def _peak_rss() -> int:
    return _status("VmHWM")


def _legacy_module(rev: str):
    import importlib.util

    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:src/headkit/data/preprocessing.py"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    file = Path(tempfile.mkdtemp()) / "legacy_preprocessing.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location("legacy_preprocessing", file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contestant(name: str, stage: str, path: Path, rev: str) -> dict:
    """Run one contestant in this process; return seconds, peak RSS and matrix bytes."""
    import pandas as pd

    from headkit import HeadClassifier
    from headkit.data import load_table
    from headkit.training import Callback

    if name == "pandas + previous":
        import headkit.data.preprocessing as current

        current.TablePreprocessor = _legacy_module(rev).TablePreprocessor
    import pyarrow.csv  # noqa: F401  (imported before the baseline, as the readers would)
    import torch  # noqa: F401

    base = _status("VmRSS")
    start = time.perf_counter()
    if name == "headkit":
        table = load_table(path, "label")
        X, y = table.X, table.y
        del table
    else:
        X = pd.read_csv(path)
        y = X.pop("label").to_numpy()
    if stage == "matrix":
        import headkit.data.preprocessing as pre

        encoder = pre.TablePreprocessor().fit(X)
        matrix = encoder.transform(X)
        del X
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "peak": _peak_rss(), "base": base, "bytes": matrix.nbytes}

    class FirstEpoch(Callback, Exception):
        def on_fit_start(self, trainer, epochs):
            self.seconds, self.peak = time.perf_counter() - start, _peak_rss()
            raise self

    stop = FirstEpoch()
    try:
        HeadClassifier(hidden_sizes=(64,), epochs=1, verbose=0).fit(X, y, callbacks=[stop])
    except FirstEpoch:
        pass
    return {"seconds": stop.seconds, "peak": stop.peak, "base": base, "bytes": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rows", type=int, default=None, help="default 9M, about 2 GB (--quick: 200k)"
    )
    parser.add_argument("--dir", type=Path, default=Path("/tmp"))
    parser.add_argument("--legacy-rev", default="6427be0")
    parser.add_argument("--run", nargs=3, metavar=("NAME", "STAGE", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        print(json.dumps(contestant(args.run[0], args.run[1], Path(args.run[2]), args.legacy_rev)))
        return
    rows = args.rows or (200_000 if args.quick else 9_000_000)
    folder = Path(tempfile.mkdtemp(prefix="big_table_", dir=args.dir))
    path = folder / "big.csv"
    try:
        tick = time.perf_counter()
        generate(path, rows)
        size = path.stat().st_size
        print(f"generated {rows:,} rows, {size / 1e9:.2f} GB in {time.perf_counter() - tick:.0f} s")
        results = {}
        for stage in ("matrix", "first epoch"):
            for name in ("headkit", "pandas + previous"):
                if "error" in results.get(("matrix", name), {}):  # it would fail again
                    results[stage, name] = {"error": "skipped: the matrix stage failed"}
                    continue
                out = subprocess.run(
                    [sys.executable, __file__, "--legacy-rev", args.legacy_rev, "--run", name,
                     stage, str(path)],
                    capture_output=True, text=True, env={**os.environ},
                )  # fmt: skip
                if out.returncode == 0:
                    results[stage, name] = json.loads(out.stdout.strip().splitlines()[-1])
                else:  # e.g. MemoryError: reported in the table, not hidden
                    why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
                    results[stage, name] = {"error": f"{why[:120]} (exit {out.returncode})"}
                print(stage, name, results[stage, name], flush=True)
    finally:
        shutil.rmtree(folder)
    final = results["matrix", "headkit"]["bytes"]
    lines = [
        f"# A {size / 1e9:.2f} GB CSV ({rows:,} rows × 20 columns + label) to the first epoch",
        "",
        f"Final float32 matrix: {final / 1e9:.2f} GB. CPU: {_cpu()}; threads: torch "
        f"{_threads()}, pyarrow {_arrow_threads()}.",
        "",
        "Peak RSS is the process's high-water mark; 'added' subtracts the RSS after the imports "
        "(Python, NumPy, pandas, torch), and the ratio divides 'added' by the final matrix.",
        "",
        "| stage | contestant | seconds | peak RSS (GB) | added (GB) | added / final matrix |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (stage, name), r in results.items():
        if "error" in r:
            lines.append(f"| {stage} | {name} | failed: {r['error']} | | | |")
            continue
        added = r["peak"] - r["base"]
        lines.append(
            f"| {stage} | {name} | {r['seconds']:.1f} | {r['peak'] / 1e9:.2f} | "
            f"{added / 1e9:.2f} | {added / final:.2f} |"
        )
    for stage in ("matrix", "first epoch"):
        new, old = results[stage, "headkit"], results[stage, "pandas + previous"]
        if "error" in new or "error" in old:
            continue
        lines.append(
            f"\n{stage}: headkit takes {new['seconds'] / old['seconds']:.2f}× the seconds and "
            f"{(new['peak'] - new['base']) / (old['peak'] - old['base']):.2f}× the added peak "
            "memory of pandas + previous."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.quick:
        RESULTS.write_text(text)


def _cpu() -> str:
    from speed_probes import cpu_model  # imports torch, so only once the measured runs are done

    return cpu_model()


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def _arrow_threads() -> int:
    import pyarrow as pa

    return pa.cpu_count()


if __name__ == "__main__":
    main()
