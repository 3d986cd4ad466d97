"""The real server in a subprocess on a loopback port, spoken to over HTTP."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from headkit import HeadClassifier
from headkit.cli.app import app

pytest.importorskip("uvicorn")
NAMES = ["a", "b", "c", "d"]
LIMIT_MB = 0.05  # 52,428 bytes: small, so the huge-body tests stay quick


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, run directory, test rows) of a server running a small model with named columns."""
    tmp = tmp_path_factory.mktemp("serve")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = np.array(["no", "yes"])[(X[:, 0] + X[:, 1] > 0).astype(int)]
    frame = pd.DataFrame(X, columns=NAMES)
    model = HeadClassifier(hidden_sizes=(8,), epochs=5, random_state=0).fit(frame, y)
    model.save(tmp / "run", extra_metadata={"target": "answer"})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "headkit", "serve", str(tmp / "run"), "--port", "0"]
    server = subprocess.Popen(
        [*command, "--max-body-mb", str(LIMIT_MB)], stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        line = server.stderr.readline()
        assert "http://127.0.0.1:" in line, line
        port = int(line.rsplit(":", 1)[1])
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield port, tmp / "run", frame.head(20)
    finally:
        server.terminate()
        server.wait(timeout=30)


def request(port, method, path, body=None, content_type="application/json"):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} if body is not None else {}
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    status, data = response.status, response.read()
    connection.close()
    return status, json.loads(data) if data else None


def cli_predictions(run, rows, tmp_path):
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = CliRunner().invoke(
        app, ["predict", str(run), str(tmp_path / "rows.csv"), "-o", str(tmp_path / "p.csv")]
    )
    assert result.exit_code == 0, result.output
    return pd.read_csv(tmp_path / "p.csv")


def assert_same_as_predict(answer, expected):
    assert answer["classes"] == ["no", "yes"]
    assert answer["labels"] == expected["label"].tolist()
    proba = np.array(answer["probabilities"])
    np.testing.assert_allclose(proba, expected[["proba_no", "proba_yes"]].to_numpy(), atol=1e-6)


def test_health_and_metadata(served):
    port, _, _ = served
    assert request(port, "GET", "/health")[1]["status"] == "ok"
    status, meta = request(port, "GET", "/metadata")
    assert status == 200
    assert meta["classes"] == ["no", "yes"]
    assert meta["features"] == NAMES
    assert meta["target"] == "answer"
    assert meta["network"]["hidden_sizes"] == [24]  # a table: three members of 8 units, merged


def test_json_list_rows_object_rows_and_csv_agree_with_headkit_predict(served, tmp_path):
    port, run, rows = served
    expected = cli_predictions(run, rows, tmp_path)
    status, answer = request(port, "POST", "/predict", {"rows": rows.to_numpy().tolist()})
    assert status == 200
    assert_same_as_predict(answer, expected)
    shuffled = rows[["d", "b", "a", "c"]].to_dict(orient="records")
    assert_same_as_predict(request(port, "POST", "/predict", shuffled)[1], expected)
    csv = rows.assign(answer="yes").to_csv(index=False)  # the label column is ignored
    assert_same_as_predict(request(port, "POST", "/predict", csv, "text/csv")[1], expected)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        ('{"rows": [[1, 2, 3, 4]', "application/json", 400, "not valid JSON"),
        ([{"a": 1, "b": 2, "c": 3}], "application/json", 422, "missing columns d"),
        (
            [{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}],
            "application/json",
            422,
            "unexpected columns e",
        ),
        ([[1, 2, 3]], "application/json", 422, "Row 0 has 3 values but the model takes 4"),
        ([[1, 2, "x", 4]], "application/json", 422, "'x' is not a number"),
        ([[1, 2, None, 4]], "application/json", 422, "NaN"),
        ({"data": []}, "application/json", 422, '"rows"'),
        ([], "application/json", 422, "non-empty"),
        ("a,b,c\n1,2,3\n", "text/csv", 422, "missing columns d"),
        ("a=1", "application/x-www-form-urlencoded", 415, "not supported"),
    ],
)
def test_bad_requests_get_a_4xx_that_says_what_is_wrong(
    served, body, content_type, status, message
):
    port, _, _ = served
    got, answer = request(port, "POST", "/predict", body, content_type)
    assert got == status
    assert message in answer["error"]
    assert request(port, "GET", "/health")[0] == 200


def raw_exchange(port, head, body=b"", close_early=False):
    """Send raw bytes; return the response's status line (None when closing early)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head + body)
        if close_early:
            return None
        return sock.recv(65536).split(b"\r\n", 1)[0].decode()


def test_huge_bodies_are_refused_without_reading_them(served):
    port, _, _ = served
    declared = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    assert " 413 " in raw_exchange(port, declared, b"[[1, 2, 3, 4]")
    chunk = b"[" + b"1, " * 30000
    chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert " 413 " in raw_exchange(port, chunked, b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2)
    assert request(port, "GET", "/health")[0] == 200


def test_a_client_that_disconnects_mid_request_does_not_hurt_the_server(served, tmp_path):
    port, run, rows = served
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    for _ in range(5):
        raw_exchange(port, head, b'{"rows": [[1, 2,', close_early=True)
    time.sleep(0.2)
    status, answer = request(port, "POST", "/predict", rows.to_numpy().tolist())
    assert status == 200
    assert_same_as_predict(answer, cli_predictions(run, rows, tmp_path))


def test_concurrent_requests_each_get_their_own_rows(served, tmp_path):
    port, run, rows = served
    expected = cli_predictions(run, rows, tmp_path)
    before = request(port, "GET", "/health")[1]

    def one(i):
        return request(port, "POST", "/predict", [rows.to_numpy()[i].tolist()])[1]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(len(rows))))
    for i, answer in enumerate(answers):
        assert answer["labels"] == [expected["label"][i]]
        np.testing.assert_allclose(
            answer["probabilities"][0], expected.iloc[i, 1:].to_numpy(float), atol=1e-6
        )
    after = request(port, "GET", "/health")[1]
    assert after["requests"] - before["requests"] == len(rows)
    assert after["calls"] - before["calls"] <= len(rows)
