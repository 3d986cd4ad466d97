"""Overload over HTTP: a flood past the queue bound gets 503 + Retry-After, never a 5xx else."""

import asyncio
import json

from .test_lifecycle import get, start

CONNECTIONS = 32
PER_CONNECTION = 25
BODY = json.dumps({"rows": [[0.5, -1.0, 2.0, 0.0]] * 64})
REQUEST = (
    "POST /predict HTTP/1.1\r\nHost: flood\r\nContent-Type: application/json\r\n"
    f"Content-Length: {len(BODY)}\r\n\r\n{BODY}"
).encode()


async def client(port, answers):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(PER_CONNECTION):
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        body = await reader.readexactly(length)
        answers.append((int(head[9:12]), head.lower(), body))
    writer.close()


def flood(port):
    answers = []

    async def main():
        await asyncio.gather(*(client(port, answers) for _ in range(CONNECTIONS)))

    asyncio.run(main())
    return answers


def test_a_flood_past_the_queue_bound_gets_503s_and_the_server_stays_up(small_run):
    server, port = start(small_run, "--max-queue-rows", "64")  # one waiting request at most
    try:
        answers = flood(port)
        statuses = [status for status, _, _ in answers]
        print(
            f"\n{len(answers)} requests: {statuses.count(200)} × 200, {statuses.count(503)} × 503"
        )
        assert len(answers) == CONNECTIONS * PER_CONNECTION
        assert set(statuses) == {200, 503}
        for status, head, body in answers:
            if status == 503:
                assert b"\r\nretry-after: 1\r\n" in head
                assert "overloaded" in json.loads(body)["error"]
            else:
                assert len(json.loads(body)["probabilities"]) == 64
        assert get(port, "/health")[0] == 200
        assert get(port, "/ready")[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
