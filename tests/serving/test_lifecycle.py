"""The server process: readiness over HTTP, SIGTERM finishing requests in flight, workers."""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("uvicorn")
BODY = b'{"rows": [[0.5, -1.0, 2.0, 0.0]]}'


def start(run, *flags):
    """(process, port) of `headkit serve run --port 0 flags`, once /ready answers 200."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "headkit", "serve", str(run), "--port", "0", *flags]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    line = server.stderr.readline()
    assert "http://127.0.0.1:" in line, line
    port = int(line.rsplit(":", 1)[1])
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if get(port, "/ready")[0] == 200:
                return server, port
        except OSError:
            pass
        time.sleep(0.1)
    server.kill()
    raise AssertionError("the server did not become ready")


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    answer = response.status, json.loads(response.read())
    connection.close()
    return answer


def test_sigterm_lets_the_request_in_flight_finish_then_exits_cleanly(small_run):
    server, port = start(small_run)
    try:
        client = socket.create_connection(("127.0.0.1", port), timeout=30)
        head = (
            "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\n\r\n"
        ).encode()
        client.sendall(head + BODY[:10])  # the request is in flight, its body half sent
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(OSError):  # no new connections once stopping
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        client.sendall(BODY[10:])
        answer = client.makefile("rb").read()  # the server closes the connection after it
        client.close()
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b'"labels":["' in answer
        # uvicorn re-raises the signal once shut down, as a process ended by SIGTERM would end
        assert server.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if server.poll() is None:
            server.kill()


def test_workers_are_processes_sharing_the_port(small_run):
    server, port = start(small_run, "--workers", "2", "--engine", "numpy")
    try:
        pids = set()
        deadline = time.time() + 120  # the second worker may still be loading the model
        while len(pids) < 2 and time.time() < deadline:
            status, health = get(port, "/health")
            assert status == 200
            pids.add(health["pid"])
            time.sleep(0.01)
        assert len(pids) == 2 and server.pid not in pids
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        for pid in pids:  # the workers stopped with the supervisor
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if server.poll() is None:
            server.kill()
