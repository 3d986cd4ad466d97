"""Prediction server throughput: `headkit serve` under 8 keep-alive loopback connections, per engine.

The default MNIST-1D model (trained here, or ``--run``) is served by `headkit serve` in its own
process, once per engine: ``auto`` (the default: NumPy, as `headkit predict` picks for this plain
network, for model calls of at most 128 rows, traced torch above), ``numpy``, ``torch``, and ``onnx``
(onnxruntime, when the onnx extra is installed). A separate client
process drives it over 127.0.0.1 with 8 keep-alive connections, each sending its next request as
soon as the previous answer arrived: `wrk` (C, one thread, a Lua script for the POST body) when
installed, else a Python asyncio client on raw sockets. JSON bodies of 1 and of 256 rows of the
MNIST-1D test split. Each (engine, size) runs ``--repeats`` times, engines alternating.

Reported per scenario: requests/s (mean and min over the repeats), p50/p99 latency (the client's;
mean over repeats), rows per model call (the server's /metrics), and the CPU each process used
over the run (``/proc/<pid>/stat`` utime + stime for the server and its workers; the client's
own rusage) as a share of one core and of all the CPU the two used. ``server µs/request`` is the
server's CPU time per answer: the throughput one free core would give is 10⁶ / that.

Targets (issue 24, a 2-core host): 1-row ≥ 2,000 requests/s with p99 ≤ 10 ms; 256-row ≥ 500
requests/s. The load average is recorded, since other work on the machine depresses every figure.

    python benchmarks/serve.py                  # 10 s per scenario, 3 repeats
    python benchmarks/serve.py --quick          # 3 s per scenario, 1 repeat, auto engine only
    python benchmarks/serve.py --run RUN_DIR    # serve an existing run instead of training one
    python benchmarks/serve.py --workers 1,2    # each engine with 1 and with 2 server processes
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

sys.path.insert(0, str(Path(__file__).parent))
from serve_client import drive

RESULTS = Path(__file__).parent / "results" / "serve.md"
CONNECTIONS = 8
HEADKIT = [sys.executable, "-m", "headkit"]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its live children (uvicorn workers), in seconds."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return total / TICKS


def start_server(run: Path, engine: str, workers: int) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*HEADKIT, "serve", str(run), "--port", "0", "--engine", engine]
    server = subprocess.Popen(
        [*command, "--workers", str(workers)], stderr=subprocess.PIPE, text=True, env=env
    )
    line = server.stderr.readline()
    if "http://" not in line:
        server.kill()
        raise RuntimeError(f"headkit serve --engine {engine} did not start: {line}")
    port = int(line.rsplit(":", 1)[1])
    deadline = time.time() + 300
    while time.time() < deadline:
        if get(port, "/ready")[0] == 200:
            return server, port
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"headkit serve --engine {engine} never became ready")


def get(port: int, path: str) -> tuple[int, bytes]:
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", path)
        response = connection.getresponse()
        answer = response.status, response.read()
        connection.close()
    except OSError:
        return 0, b""
    return answer


def call_rows(port: int, workers: int) -> dict[str, tuple[float, float]]:
    """pid → (sum, count) of each worker's rows-per-model-call histogram.

    A scrape reaches one worker; with several, scrape until each answered (or 40 tries).
    """
    seen: dict[str, tuple[float, float]] = {}
    for _ in range(40 if workers > 1 else 1):
        values, pid = {}, None
        for line in get(port, "/metrics")[1].decode().splitlines():
            if line.startswith(("headkit_model_call_rows_sum", "headkit_model_call_rows_count")):
                values[line.split("{", 1)[0]] = float(line.rsplit(" ", 1)[1])
                pid = line.split('pid="', 1)[1].split('"', 1)[0]
        seen[pid] = (values["headkit_model_call_rows_sum"], values["headkit_model_call_rows_count"])
        if len(seen) >= workers:
            break
    return seen


def rows_per_call(before: dict, after: dict) -> float:
    """Mean rows per model call between two :func:`call_rows` readings, over the workers."""
    rows = sum(after[p][0] - before.get(p, (0.0, 0.0))[0] for p in after)
    calls = sum(after[p][1] - before.get(p, (0.0, 0.0))[1] for p in after)
    return rows / max(calls, 1)


def scenario(server: subprocess.Popen, port: int, body: Path, seconds: float, workers: int) -> dict:
    drive(port, body, min(1.0, seconds / 3), CONNECTIONS)  # warm-up
    rows_before = call_rows(port, workers)
    cpu_before = cpu_seconds(server.pid)
    result = drive(port, body, seconds, CONNECTIONS)
    server_cpu = cpu_seconds(server.pid) - cpu_before
    result["rows_per_call"] = rows_per_call(rows_before, call_rows(port, workers))
    result["server_cpu"] = server_cpu / result["wall"]
    result["client_cpu"] = result["client_cpu_s"] / result["wall"]
    result["server_us"] = server_cpu / max(result["n"], 1) * 1e6
    return result


def summary(runs: list[dict]) -> dict:
    rps = [r["rps"] for r in runs]
    keys = ("p50", "p99", "rows_per_call", "server_cpu", "client_cpu", "server_us")
    out = {k: float(np.mean([r[k] for r in runs])) for k in keys}
    out.update(rps=float(np.mean(rps)), rps_min=min(rps), errors=sum(r["errors"] for r in runs))
    out["p99_max"] = max(r["p99"] for r in runs)
    return out


def table_row(engine: str, workers: int, rows: int, s: dict) -> str:
    share = s["server_cpu"] / max(s["server_cpu"] + s["client_cpu"], 1e-9)
    return (
        f"| {engine} | {workers} | {rows} | {s['rps']:.0f} (min {s['rps_min']:.0f}) | {s['p50']:.2f} | "
        f"{s['p99']:.2f} (max {s['p99_max']:.2f}) | {s['rows_per_call']:.1f} | "
        f"{s['server_cpu']:.2f} / {s['client_cpu']:.2f} ({share:.0%}) | {s['server_us']:.0f} | "
        f"{s['errors']} |"
    )


def train_default(out: Path, epochs: int | None) -> None:
    args = [*HEADKIT, "train", "--dataset", "mnist1d", "--out", str(out), "--quiet"]
    subprocess.run(args + (["--epochs", str(epochs)] if epochs else []), check=True)


def available_engines(requested: list[str]) -> list[str]:
    import importlib.util

    has_onnx = all(importlib.util.find_spec(m) for m in ("onnxruntime", "onnx", "onnxscript"))
    return [e for e in requested if e != "onnx" or has_onnx]


def bodies(tmp: Path) -> dict[int, Path]:
    from headkit.data import load_dataset

    data = load_dataset("mnist1d")
    paths = {}
    for n in (1, 256):
        paths[n] = tmp / f"body{n}.json"
        paths[n].write_text(json.dumps({"rows": data.X_test[:n].tolist()}))
    return paths


def measure(run: Path, engines: list[str], files: dict, args: argparse.Namespace) -> list[str]:
    results: dict[tuple[str, int, int], list[dict]] = {}
    for _ in range(args.repeats):
        for engine in engines:
            for workers in args.workers:
                server, port = start_server(run, engine, workers)
                try:
                    for rows, body in files.items():
                        got = scenario(server, port, body, args.seconds, workers)
                        results.setdefault((engine, workers, rows), []).append(got)
                        print(
                            f"{engine} ×{workers} {rows}-row: {got['rps']:.0f}/s "
                            f"p99 {got['p99']:.2f} ms"
                        )
                finally:
                    server.terminate()
                    server.wait(timeout=60)
    return [table_row(e, w, n, summary(r)) for (e, w, n), r in sorted(results.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, 1 repeat")
    parser.add_argument("--run", type=Path, help="serve this run (default: train one)")
    parser.add_argument("--seconds", type=float, help="load time per scenario")
    parser.add_argument("--repeats", type=int, help="runs per scenario (default 3)")
    parser.add_argument("--engines", default="auto,numpy,torch,onnx", help="comma-separated")
    parser.add_argument(
        "--workers", default="1", help="server processes; comma-separated to compare (1,2)"
    )
    parser.add_argument("--epochs", type=int, help="epochs when training (default: headkit's)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file to write")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.repeats = args.repeats or (1 if args.quick else 3)
    engines = available_engines(["auto"] if args.quick else args.engines.split(","))
    args.workers = [int(w) for w in str(args.workers).split(",")]
    loads = [load_average()]
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = Path(tmp) / "run"
            train_default(run, args.epochs or (3 if args.quick else None))
        network = json.loads((run / "config.json").read_text())["network"]
        lines = measure(run, engines, bodies(Path(tmp)), args)
    loads.append(load_average())
    write(lines, loads, args, network, engines)


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def write(lines: list[str], loads: list[str], args, network: dict, engines: list[str]) -> None:
    import platform

    client = "wrk (1 thread, Lua POST)" if shutil.which("wrk") else "Python asyncio raw sockets"
    cores = len(os.sched_getaffinity(0))
    shape = ", ".join(f"{k}={network[k]}" for k in ("hidden_sizes", "dropout", "head", "output"))
    header = [
        "# benchmarks/serve.py",
        "",
        f"`python benchmarks/serve.py{''.join(' ' + a for a in sys.argv[1:])}` · "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {cpu_model()} · {cores} cores "
        f"usable · Python {platform.python_version()} · client: {client}, {CONNECTIONS} "
        f"keep-alive connections on 127.0.0.1 · {args.seconds:g} s per scenario × {args.repeats} "
        f"repeats · server: 1 BLAS/torch thread, {'/'.join(map(str, args.workers))} worker(s) · "
        "engines: "
        f"{', '.join(engines)}",
        "",
        f"Served network: {shape} ({network['n_features']} features, {network['n_classes']} "
        "classes); speed does not depend on the trained weights.",
        "",
        f"Load average (1, 5, 15 min) at start → end: {' → '.join(loads)}. Other work on the "
        "machine depresses every figure.",
        "",
        "| engine | workers | rows/request | requests/s (mean, min) | p50 ms | "
        "p99 ms (mean, max) | rows per model call | CPU server / client, cores (server's share) | "
        "server µs/request | non-200 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    args.out.write_text("\n".join([*header, *lines, ""]))
    print("\n".join(header[-2:] + lines))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
