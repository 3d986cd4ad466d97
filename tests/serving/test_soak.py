"""A bounded soak on loopback: 100,000 requests and the server's memory stays flat."""

import asyncio
import json

import pytest

from .test_lifecycle import get, start

TOTAL = 100_000
WARM_UP = 10_000
CONNECTIONS = 8
BODIES = [  # mostly valid rows, some errors, some other routes
    ("POST", "/predict", json.dumps({"rows": [[0.5, -1.0, 2.0, 0.0]]})),
    ("POST", "/predict", json.dumps([[float(i), 1.0, -1.0, 0.5] for i in range(8)])),
    (
        "POST",
        "/predict",
        json.dumps([{"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 5, "b": 6, "c": 7, "d": 8}]),
    ),
    ("POST", "/predict", json.dumps([[1, 2, 3]])),  # 422
    ("GET", "/nowhere", ""),  # 404
    ("GET", "/health", ""),
]


def raw(method, path, body):
    head = f"{method} {path} HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n"
    return f"{head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


async def client(port, count, statuses):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    messages = [raw(*b) for b in BODIES]
    for i in range(count):
        writer.write(messages[i % len(messages)])
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        statuses[status] = statuses.get(status, 0) + 1
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
    writer.close()


def load(port, total):
    statuses = {}

    async def main():
        per = total // CONNECTIONS
        await asyncio.gather(*(client(port, per, statuses) for _ in range(CONNECTIONS)))

    asyncio.run(main())
    return statuses


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_memory_stays_flat_over_100k_requests(small_run):
    server, port = start(small_run)
    try:
        load(port, WARM_UP)
        samples = [rss_kib(server.pid)]
        statuses = {}
        for _ in range(9):
            for status, count in load(port, (TOTAL - WARM_UP) // 9).items():
                statuses[status] = statuses.get(status, 0) + count
            samples.append(rss_kib(server.pid))
        print(f"\nRSS (KiB) after 10k, then every 10k requests: {samples}; statuses {statuses}")
        assert sum(statuses.values()) + WARM_UP >= TOTAL
        assert set(statuses) == {200, 404, 422}
        assert samples[-1] - samples[0] < 8 * 1024  # no growth beyond allocator noise (8 MiB)
        assert max(samples[5:]) - min(samples[5:]) < 4 * 1024
        assert get(port, "/health")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
