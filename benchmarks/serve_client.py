"""The load generator of benchmarks/serve.py, always in its own process.

`wrk` when installed (one thread, ``serve_post.lua``), else this file's asyncio client on raw
keep-alive sockets (run as ``python serve_client.py PORT BODY SECONDS CONNECTIONS``, printing
JSON). :func:`drive` returns requests/s, p50/p99 latency in ms, the count of non-200 answers and
the client's CPU seconds (its rusage).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

LUA = Path(__file__).parent / "serve_post.lua"
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _wrk(port: int, body: Path, seconds: float, connections: int) -> tuple[dict, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    command += ["-s", str(LUA), f"http://127.0.0.1:{port}/predict"]
    env = {**os.environ, "BODY_FILE": str(body)}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    latency = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)$", out, re.M)
    }
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    result = {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency["50"],
        "p99": latency["99"],
        "n": n,
        "errors": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else "",
        "wall": wall,
    }
    return result, usage.ru_utime + usage.ru_stime


def _python(port: int, body: Path, seconds: float, connections: int) -> tuple[dict, float]:
    command = [sys.executable, __file__, str(port), str(body), str(seconds), str(connections)]
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    result = json.loads(out)
    result["wall"] = time.perf_counter() - start
    return result, usage.ru_utime + usage.ru_stime


def drive(port: int, body: Path, seconds: float, connections: int) -> dict:
    """Load ``/predict`` with ``connections`` keep-alive clients for ``seconds``; see the module."""
    run = _wrk if shutil.which("wrk") else _python
    result, cpu = run(port, body, seconds, connections)
    result["client_cpu_s"] = cpu
    return result


async def _client(port: int, request: bytes, until: float, latencies: list, errors: list) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < until:
        start = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            errors.append(head[:12])
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - start)
    writer.close()


async def _load(port: int, body: bytes, seconds: float, connections: int) -> dict:
    import numpy as np

    request = (
        "POST /predict HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors: list[bytes] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_client(port, request, until, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000
    return {
        "rps": len(ms) / elapsed,
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "n": len(ms),
        "errors": len(errors),
    }


if __name__ == "__main__":
    port, body, seconds, connections = sys.argv[1:5]
    data = Path(body).read_bytes()
    print(json.dumps(asyncio.run(_load(int(port), data, float(seconds), int(connections)))))
