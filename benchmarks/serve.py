"""Prediction server throughput: `headkit serve` under 8 loopback clients vs the alternatives.

The default MNIST-1D model (2 × 256 ReLU, dropout 0.2, softmax; 40 features, 10 classes) is
served by `headkit serve` (uvicorn + Starlette, micro-batching, 1 torch thread) in its own
process. Eight clients on loopback (one asyncio process, keep-alive connections, each sending its
next request as soon as the previous answer arrives) post JSON bodies of 1 and of 256 rows of the
MNIST-1D test split for a fixed time. Reported: requests/s, rows/s, p50/p99 latency and the mean
rows per model call. Side by side:

* one `headkit predict` process per request (the same rows as a CSV file, run one after another);
* onnxruntime in this process on the exported model (1 thread, no HTTP), the floor of the
  per-request cost.

Targets (quiet 2-core machine): 1-row ≥ 500 requests/s with p99 ≤ 20 ms, 256-row ≥ 50
requests/s, and ≥ 20× one `headkit predict` process per request. The load average (`uptime`) is
recorded with every run, since other work on the machine depresses all figures.

    python benchmarks/serve.py                  # 10 s per scenario, 5 predict processes each
    python benchmarks/serve.py --quick          # 3 s per scenario, 2 predict processes each
    python benchmarks/serve.py --run RUN_DIR    # serve an existing run instead of training one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).parent / "results" / "serve.md"
CLIENTS = 8
HEADKIT = [sys.executable, "-m", "headkit"]


def load_average() -> str:
    """`uptime`'s load averages (1, 5, 15 min)."""
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def train_default(out: Path, epochs: int | None) -> None:
    args = [*HEADKIT, "train", "--dataset", "mnist1d", "--out", str(out), "--quiet"]
    if epochs is not None:
        args += ["--epochs", str(epochs)]
    subprocess.run(args, check=True)


def start_server(run: Path) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [*HEADKIT, "serve", str(run), "--port", "0"], stderr=subprocess.PIPE, text=True, env=env
    )
    line = server.stderr.readline()
    port = int(line.rsplit(":", 1)[1])
    return server, port


async def _client(port: int, body: bytes, until: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        "POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    while time.perf_counter() < until:
        start = time.perf_counter()
        writer.write(head + body)
        headers = await reader.readuntil(b"\r\n\r\n")
        if not headers.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(headers.decode(errors="replace"))
        length = int(headers.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
    writer.close()


async def _load(port: int, body: bytes, seconds: float) -> tuple[list[float], float]:
    latencies: list[float] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(port, body, until, latencies) for _ in range(CLIENTS)))
    return latencies, time.perf_counter() - started


def health(port: int) -> dict:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", "/health")
    answer = json.loads(connection.getresponse().read())
    connection.close()
    return answer


def serve_scenario(port: int, rows: np.ndarray, seconds: float) -> dict:
    body = json.dumps({"rows": rows.tolist()}).encode()
    asyncio.run(_load(port, body, min(1.0, seconds / 3)))  # warm-up
    before = health(port)
    latencies, elapsed = asyncio.run(_load(port, body, seconds))
    after = health(port)
    calls = after["calls"] - before["calls"]
    lat = np.array(latencies) * 1000
    return {
        "rps": len(lat) / elapsed,
        "p50": float(np.percentile(lat, 50)),
        "p99": float(np.percentile(lat, 99)),
        "rows_per_call": len(rows) * (after["requests"] - before["requests"]) / max(calls, 1),
        "n": len(lat),
    }


def predict_process(run: Path, rows: np.ndarray, names: list[str], repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "rows.csv"
        pd.DataFrame(rows, columns=names).to_csv(data, index=False)
        walls = []
        for _ in range(repeats):
            (Path(tmp) / "p.csv").unlink(missing_ok=True)  # predict refuses to overwrite -o
            start = time.perf_counter()
            subprocess.run(
                [*HEADKIT, "predict", str(run), str(data), "-o", str(Path(tmp) / "p.csv")],
                check=True,
                capture_output=True,
            )
            walls.append(time.perf_counter() - start)
    lat = np.array(walls) * 1000
    return {
        "rps": 1000 / lat.mean(),
        "p50": float(np.median(lat)),
        "p99": float(lat.max()),
        "n": repeats,
    }


def onnx_in_process(model: Path, rows: np.ndarray, seconds: float) -> dict | None:
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    feed = {"features": rows.astype(np.float32)}
    latencies = []
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        start = time.perf_counter()
        session.run(None, feed)
        latencies.append(time.perf_counter() - start)
    lat = np.array(latencies) * 1000
    return {
        "rps": len(lat) / lat.sum() * 1000,
        "p50": float(np.median(lat)),
        "p99": float(np.percentile(lat, 99)),
        "n": len(lat),
    }


def row(name: str, result: dict | None, baseline: dict | None) -> str:
    if result is None:
        return f"| {name} | missing (pip install 'headkit[onnx]') | | | | |"
    ratio = f"{result['rps'] / baseline['rps']:.0f}×" if baseline else "–"
    per_call = f"{result['rows_per_call']:.1f}" if "rows_per_call" in result else "–"
    return (
        f"| {name} | {result['rps']:.1f} | {result['p50']:.2f} | {result['p99']:.2f} | "
        f"{per_call} | {ratio} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s per scenario")
    parser.add_argument(
        "--run", type=Path, help="serve this run (default: train the default model)"
    )
    parser.add_argument("--seconds", type=float, help="load time per scenario")
    parser.add_argument("--epochs", type=int, help="epochs when training (default: headkit's)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    repeats = 2 if args.quick else 5
    from headkit.data import load_dataset

    data = load_dataset("mnist1d")
    loads = [load_average()]
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            run = Path(tmp) / "run"
            train_default(run, args.epochs if args.epochs else (5 if args.quick else None))
        config = json.loads((run / "config.json").read_text())["network"]
        network = ", ".join(
            f"{k}={config[k]}" for k in ("hidden_sizes", "dropout", "head", "output")
        )
        network += f"; {'given run' if args.run else 'trained here'}"
        model = Path(tmp) / "model.onnx"
        subprocess.run(
            [*HEADKIT, "export", str(run), "-o", str(model)], check=True, capture_output=True
        )
        server, port = start_server(run)
        try:
            while True:
                try:
                    health(port)
                    break
                except OSError:
                    time.sleep(0.2)
            lines = []
            for n in (1, 256):
                rows = data.X_test[:n]
                loads.append(load_average())
                served = serve_scenario(port, rows, seconds)
                per_process = predict_process(run, rows, data.feature_names, repeats)
                onnx = onnx_in_process(model, rows, min(seconds, 3.0)) if model.exists() else None
                lines += [
                    f"| **{n}-row requests** | | | | | |",
                    row("`headkit serve`, 8 loopback clients", served, per_process),
                    row("one `headkit predict` process per request", per_process, per_process),
                    row("onnxruntime in-process (1 thread, no HTTP)", onnx, per_process),
                ]
                print("\n".join(lines[-4:]), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    loads.append(load_average())
    write(lines, loads, seconds, repeats, args, network)


def write(
    lines: list[str], loads: list[str], seconds: float, repeats: int, args, network: str
) -> None:
    import torch

    header = [
        "# benchmarks/serve.py",
        "",
        f"`python benchmarks/serve.py{' --quick' if args.quick else ''}` · {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · "
        f"{os.cpu_count()} CPUs · torch {torch.__version__} · {CLIENTS} clients · {seconds:g} s per "
        f"serve scenario · {repeats} `headkit predict` processes per size",
        "",
        f"Served network: {network} (speed does not depend on the trained weights).",
        "",
        f"Load average (1, 5, 15 min) at start, before each size, at end: {' → '.join(loads)}. "
        "Other work on the machine depresses every figure; rerun on a quiet machine for the targets.",
        "",
        "| contestant | requests/s | p50 ms | p99 ms | rows per model call | throughput vs one predict process |",
        "|---|---|---|---|---|---|",
    ]
    text = "\n".join([*header, *lines, ""])
    RESULTS.write_text(text)
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
