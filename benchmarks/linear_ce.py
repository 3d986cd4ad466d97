"""Linear cross-entropy at scale: naive PyTorch vs headkit vs Cut Cross-Entropy (CPU).

    PYTHONPATH=src python benchmarks/linear_ce.py            # full run (several minutes)
    PYTHONPATH=src python benchmarks/linear_ce.py --quick    # smoke run, small sizes
    PYTHONPATH=src python benchmarks/linear_ce.py --classes 262144 --methods cce headkit --threads 1

Each (method, size) runs in a fresh subprocess: one warm-up call (for Cut Cross-Entropy this is
its torch.compile step, reported as "first call"), then timed forward+backward calls (up to 5
while their total stays under 40 s; the best is reported, which damps the noise of a shared
machine, and the mean with the number of calls). Peak extra
memory = the highest resident set size (RSS, /proc/self/statm, sampled every 2 ms by a background
thread) during the timed call minus the RSS just before it, with inputs allocated and their
gradients cleared. It therefore counts the gradients of x and W (outputs every method must
produce) plus every temporary. Effective GFLOP/s = 6·N·D·C / time (three GEMMs' worth), compared
with the float32 GEMM rate measured here on (4096×256)·(256×8192).

Cut Cross-Entropy (apple/ml-cross-entropy, ``pip install cut-cross-entropy --no-deps``): its
package ``__init__`` imports its Triton kernels unconditionally on Linux and Triton is not
installed on this CPU machine, so the benchmark loads its ``torch_compile`` module directly
(the package's own, unmodified ``impl="torch_compile"`` code path).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import threading
import time
import types

METHODS = ("naive", "cce", "headkit")
FULL = [(4096, 256, 65_536), (4096, 256, 262_144), (4096, 256, 1_048_576)]
QUICK = [(1024, 64, 8_192), (1024, 64, 32_768)]
REPEATS, REPEAT_WITHIN_S = 5, 40.0  # timed calls: up to 5 while their total stays < 40 s
NAIVE_MAX_C = 262_144  # the naive expression needs ~48 GB at C = 1,048,576
SKIP = {
    "naive": "skipped: needs ~48 GB (N×C logits, softmax and gradient)",
    "cce": "skipped: ~17 GB extra (4x its C=262,144 figure) on a shared 24 GB machine",
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Sample RSS in a thread (torch releases the GIL in its kernels) and keep the maximum."""

    def __enter__(self):
        self.start = self.peak = _rss()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop:
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, _rss())

    @property
    def extra(self) -> int:
        return self.peak - self.start


def _load_cce():
    spec = importlib.util.find_spec("cut_cross_entropy")
    if spec is None:
        raise ImportError("cut-cross-entropy is not installed")
    pkg = types.ModuleType("cut_cross_entropy")
    pkg.__path__ = list(spec.submodule_search_locations)
    sys.modules["cut_cross_entropy"] = pkg
    from cut_cross_entropy.torch_compile import torch_compile_linear_cross_entropy

    return torch_compile_linear_cross_entropy


def worker(method: str, n: int, d: int, c: int, threads: int) -> dict:
    import torch

    if threads:
        torch.set_num_threads(threads)
    from torch.nn import functional as F

    from headkit.functional import linear_cross_entropy

    torch.manual_seed(0)
    x = torch.randn(n, d, requires_grad=True)
    w = (torch.randn(c, d) / d**0.5).requires_grad_()
    t = torch.randint(0, c, (n,))
    if method == "naive":
        fn = lambda: F.cross_entropy(x @ w.T, t)  # noqa: E731
    elif method == "headkit":
        fn = lambda: linear_cross_entropy(x, w, t)  # noqa: E731
    else:
        cce = _load_cce()
        fn = lambda: cce(x, w, t)  # noqa: E731
    t0 = time.perf_counter()
    fn().backward()
    first = time.perf_counter() - t0
    times, cpus, extra = [], [], 0
    while len(times) < REPEATS and sum(times) < REPEAT_WITHIN_S:
        x.grad = w.grad = None
        with PeakRSS() as mem:
            t0, c0 = time.perf_counter(), time.process_time()
            loss = fn()
            loss.backward()
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
        extra = max(extra, mem.extra)
        value = float(loss)
        del loss
    return {
        "time": min(times),
        "mean": sum(times) / len(times),
        "calls": len(times),
        "cpu": min(cpus),
        "first": first,
        "extra": extra,
        "loss": value,
    }


def gemm_rate() -> float:
    import torch

    a, b = torch.randn(4096, 256), torch.randn(8192, 256)
    out = torch.empty(4096, 8192)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        torch.mm(a, b.T, out=out)
        best = min(best, time.perf_counter() - t0)
    return 2 * 4096 * 256 * 8192 / best / 1e9


def run(method: str, n: int, d: int, c: int, threads: int, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(n), str(d), str(c), str(threads)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:.0f}s"}
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", nargs=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument(
        "--methods", nargs="*", default=list(METHODS), choices=METHODS, help="methods to run"
    )
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--classes", type=int, nargs="*", help="run only these C of the full set")
    args = parser.parse_args()
    if args.worker:
        method, *size = args.worker
        print(json.dumps(worker(method, *map(int, size))))
        return
    import torch

    from speed_probes import cpu_model

    if args.threads:
        torch.set_num_threads(args.threads)
    rate = gemm_rate()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(
        f"{cpu_model()}; load average {load}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; "
        f"float32 GEMM rate {rate:.0f} GFLOP/s (best of 5, 4096x256 @ 256x8192)\n"
    )
    print(
        "| N | D | C | method | fwd+bwd s | mean s (calls) | first call s | peak extra GB | extra vs naive "
        "| speed vs naive | speed vs CCE | GFLOP/s | % of GEMM | loss |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    sizes = QUICK if args.quick else [s for s in FULL if not args.classes or s[2] in args.classes]
    for n, d, c in sizes:
        rows = {}
        for method in args.methods:
            if method != "headkit" and c > (32_768 if args.quick else NAIVE_MAX_C):
                rows[method] = {"error": SKIP[method]}
                continue
            rows[method] = run(method, n, d, c, args.threads, args.timeout)
        flops = 6 * n * d * c
        for method, r in rows.items():
            if "error" in r:
                print(f"| {n} | {d} | {c:,} | {method} | {r['error']} | | | | | | | | | |")
                continue
            ratio = lambda other, key, r=r, rows=rows: (  # noqa: E731
                f"{rows[other][key] / r[key]:.2f}x" if "time" in rows.get(other, {}) else "-"
            )
            mem = (
                f"{100 * r['extra'] / rows['naive']['extra']:.1f} %"
                if "extra" in rows.get("naive", {})
                else "-"
            )
            gf = flops / r["time"] / 1e9
            print(
                f"| {n} | {d} | {c:,} | {method} | {r['time']:.2f} | {r['mean']:.2f} ({r['calls']}) | "
                f"{r['first']:.2f} | "
                f"{r['extra'] / 1e9:.3f} | {mem} | {ratio('naive', 'time')} | "
                f"{ratio('cce', 'time')} | {gf:.0f} | {100 * gf / rate:.0f} % | {r['loss']:.5f} |",
                flush=True,
            )
    print(
        f"\nGEMM floor (6·N·D·C at {rate:.0f} GFLOP/s): "
        + ", ".join(f"C={c:,}: {6 * n * d * c / rate / 1e9:.1f} s" for n, d, c in sizes)
    )


if __name__ == "__main__":
    main()
