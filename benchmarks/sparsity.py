"""Sparse Dense layers on MNIST-1D: test accuracy vs sparsity, saved and ONNX file sizes.

``HeadClassifier`` with its defaults (3×256 ReLU, 80 epochs, one-cycle AdamW) and
``prune="gmp:sparsity=S"`` (gradual magnitude pruning, catalogue K2) or
``prune="erk:density=1-S"`` (static ERK random sparse training, K1), S in 0, 0.5, 0.8, 0.9,
0.95, seeds 0–2, one torch thread. For seed 0 the run is saved (``model.safetensors``: pruned
matrices as bitmask + values, :mod:`headkit.sparse_storage`) and exported to ONNX (sparse
initializers), and both sizes are reported next to the dense model's.

Each invocation measures the methods and sparsities it is given, stores them in
``benchmarks/results/sparsity.json`` and rewrites ``benchmarks/results/sparsity.md`` from every
stored row, so the grid can be measured in parts (each under five minutes)::

    flock /tmp/headkit-bench.lock timeout 300 python benchmarks/sparsity.py --method dense
    flock /tmp/headkit-bench.lock timeout 300 python benchmarks/sparsity.py --method gmp
    flock /tmp/headkit-bench.lock timeout 300 python benchmarks/sparsity.py --method erk

``--quick``: 3 epochs, one seed, writes nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from headkit import HeadClassifier
from headkit.data import load_dataset
from headkit.export.onnx import export_onnx
from headkit.io import WEIGHTS
from headkit.training import weight_sparsity

RESULTS = Path(__file__).parent / "results"
SPARSITIES = (0.5, 0.8, 0.9, 0.95)


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def prune_spec(method: str, sparsity: float) -> str:
    if method == "dense":
        return "none"
    if method == "gmp":
        return f"gmp:sparsity={sparsity}"
    return f"erk:density={round(1 - sparsity, 4)}"


def measure(method: str, sparsity: float, seeds: list[int], epochs: int | None) -> dict:
    d = load_dataset("mnist1d")
    spec = prune_spec(method, sparsity)
    row: dict = {"method": method, "sparsity": sparsity, "prune": spec, "seeds": seeds, "acc": []}
    extra = {} if epochs is None else {"epochs": epochs}
    for seed in seeds:
        started = time.perf_counter()
        model = HeadClassifier(prune=spec, random_state=seed, threads=1, **extra)
        model.fit(d.X_train, d.y_train)
        row["acc"].append(float(model.score(d.X_test, d.y_test)))
        row.setdefault("seconds", []).append(time.perf_counter() - started)
        if seed == seeds[0]:
            row["realized_sparsity"] = weight_sparsity(model.model_)
            with tempfile.TemporaryDirectory() as tmp:
                model.save(Path(tmp) / "run")
                row["safetensors_bytes"] = (Path(tmp) / "run" / WEIGHTS).stat().st_size
                row["onnx_bytes"] = (
                    export_onnx(Path(tmp) / "run", Path(tmp) / "m.onnx").stat().st_size
                )
        print(
            f"{spec:>20} seed {seed}: acc {row['acc'][-1]:.4f} ({row['seconds'][-1]:.1f} s)",
            flush=True,
        )
    return row


def table(rows: list[dict]) -> str:
    dense = next((r for r in rows if r["method"] == "dense"), None)
    lines = [
        "| method | target sparsity | realized (seed 0) | test acc mean | min | Δ mean vs dense | "
        "model.safetensors | ratio | ONNX | ratio | s/fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {"dense": 0, "gmp": 1, "erk": 2}
    for r in sorted(rows, key=lambda r: (order[r["method"]], r["sparsity"])):
        mean, low = statistics.mean(r["acc"]), min(r["acc"])
        delta = f"{mean - statistics.mean(dense['acc']):+.4f}" if dense else "—"
        st = r["safetensors_bytes"] / dense["safetensors_bytes"] if dense else float("nan")
        ox = r["onnx_bytes"] / dense["onnx_bytes"] if dense else float("nan")
        lines.append(
            f"| {r['prune']} | {r['sparsity']} | {r['realized_sparsity']:.3f} | {mean:.4f} | "
            f"{low:.4f} | {delta} | {r['safetensors_bytes'] / 1e3:.0f} kB | {st:.3f} | "
            f"{r['onnx_bytes'] / 1e3:.0f} kB | {ox:.3f} | {statistics.mean(r['seconds']):.1f} |"
        )
    return "\n".join(lines)


def write(rows: list[dict], meta: dict) -> None:
    text = f"""# benchmarks/sparsity.py

MNIST-1D (4,000 train / 1,000 test rows), `HeadClassifier` defaults (3×256 ReLU, dropout 0.3, 80
epochs, one-cycle AdamW at 1e-2, batch n/8), seeds {meta["seeds"]}, one torch thread, on
{meta["cpu"]} (torch {meta["torch"]}); measured in parts (the last at {meta["when"]}),
each under `flock /tmp/headkit-bench.lock timeout 300`. "sparsity" is the share of exact zeros over the
Dense and head weight matrices (`headkit.training.weight_sparsity`); gmp prunes each layer to it
(cubic schedule, end at 70 % of the fit), erk gives each layer an ERK density with that global
density (the first layer, 40 inputs, is denser). Sizes are seed 0's run: `model.safetensors`
(pruned matrices as bitmask + values) and the ONNX export (sparse initializers), with their
ratio to the dense run's.

{table(rows)}
"""
    (RESULTS / "sparsity.md").write_text(text + meta.get("verdict", ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--method", choices=("dense", "gmp", "erk"), required=True)
    parser.add_argument("--sparsity", type=float, nargs="*", default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sparsities = [0.0] if args.method == "dense" else (args.sparsity or list(SPARSITIES))
    seeds = args.seeds[:1] if args.quick else args.seeds
    store = RESULTS / "sparsity.json"
    saved = json.loads(store.read_text()) if store.exists() else {"rows": []}
    for s in sparsities:
        row = measure(args.method, s, seeds, 3 if args.quick else None)
        if args.quick:
            continue
        saved["rows"] = [
            r for r in saved["rows"] if (r["method"], r["sparsity"]) != (args.method, s)
        ] + [row]
        store.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    if args.quick:
        return
    saved["meta"] = {
        "cpu": cpu_model(),
        "torch": torch.__version__,
        "seeds": seeds,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "verdict": saved.get("meta", {}).get("verdict", ""),
    }
    store.write_text(json.dumps(saved, indent=1), encoding="utf-8")
    write(saved["rows"], saved["meta"])
    print(table(saved["rows"]))


if __name__ == "__main__":
    main()
