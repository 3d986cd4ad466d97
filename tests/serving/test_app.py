"""The ASGI app in-process: routes, schema, readiness, metrics, overload, time limit, logs."""

import asyncio
import json
import threading

import jsonschema
import numpy as np
import pytest

from headkit.serving.app import create_app
from headkit.serving.model import load_model
from headkit.serving.options import ServeOptions

from .asgi import call, start, stop

ROW = [0.5, -1.0, 2.0, 0.0]


def validator(app, ref):
    """A JSON-Schema validator of ``#/components/schemas/<ref>`` of the app's OpenAPI document."""
    document = app.openapi()
    schema = {"$ref": f"#/components/schemas/{ref}", "components": document["components"]}
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def app(small_run):
    return create_app(load_model(small_run, engine="numpy"))


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_answer_matches_the_saved_model_and_the_openapi_schema(app, small_run):
    status, headers, body = run(call(app, "POST", "/predict", {"rows": [ROW, ROW[::-1]]}))
    assert status == 200 and headers["content-type"] == "application/json"
    answer = json.loads(body)
    validator(app, "Prediction").validate(answer)
    expected = load_model(small_run, engine="torch").predict_proba(np.array([ROW, ROW[::-1]]))
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-6, atol=1e-7)
    assert answer["labels"] == np.array(["no", "yes"])[expected.argmax(1)].tolist()


def test_openapi_describes_this_runs_columns_and_classes(app):
    document = json.loads(run(call(app, "GET", "/openapi.json"))[2])
    assert document["openapi"].startswith("3.1")
    body = document["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    rows = body["schema"]["oneOf"][1]
    as_object = rows["items"]["oneOf"][1]
    assert as_object["required"] == ["a", "b", "c", "d"]
    assert document["components"]["schemas"]["Prediction"]["properties"]["classes"] == {
        "const": ["no", "yes"]
    }
    jsonschema.Draft202012Validator(rows).validate([ROW, dict(zip("abcd", ROW, strict=True))])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(rows).validate([[1.0, True, 2.0, 3.0]])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 404), ("POST", "/health", 405), ("GET", "/predict", 405)],
)
def test_unknown_paths_and_methods_answer_json_errors(app, method, path, status):
    got, headers, body = run(call(app, method, path))
    assert got == status
    validator(app, "Error").validate(json.loads(body))
    if status == 405:
        assert headers["allow"] in ("GET", "POST")


@pytest.mark.parametrize(
    "body",
    [[[1.0, True, 2.0, 3.0]], [{"a": 1, "b": 2, "c": False, "d": 4}]],
)
def test_a_boolean_in_a_numeric_column_is_refused(app, body):
    status, _, answer = run(call(app, "POST", "/predict", body))
    assert status == 422
    assert "is not a number" in json.loads(answer)["error"]


def test_a_boolean_csv_column_is_refused(app):
    csv = "a,b,c,d\n1,True,2,3\n2,False,1,0\n"
    status, _, answer = run(call(app, "POST", "/predict", csv, "text/csv"))
    assert status == 422 and "True/False" in json.loads(answer)["error"]


def test_ready_only_after_the_warm_up_call_and_not_while_stopping(app):
    async def main():
        assert (await call(app, "GET", "/ready"))[0] == 503
        assert (await call(app, "GET", "/health"))[0] == 200
        lifespan = await start(app)
        await app._warm_up
        assert (await call(app, "GET", "/ready"))[0] == 200
        await stop(*lifespan)
        return await call(app, "GET", "/ready")

    assert run(main())[0] == 503


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of the Prometheus text format (a strict reader)."""
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.split()[1] in ("HELP", "TYPE"), line
            continue
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        pairs = frozenset(tuple(p.split("=", 1)) for p in labels.rstrip("}").split(",") if p)
        values[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return values


def metric(values, name, **labels):
    wanted = {(k, str(v)) for k, v in labels.items()}
    found = [v for (n, ls), v in values.items() if n == name and wanted <= ls]
    assert len(found) == 1, (name, labels)
    return found[0]


def test_metrics_count_requests_by_status_latency_and_rows_per_call(app):
    async def main():
        for body in ([ROW], [ROW, ROW, ROW], [[1, 2]]):
            await call(app, "POST", "/predict", body)
        await call(app, "GET", "/nowhere")
        return await call(app, "GET", "/metrics")

    status, headers, body = run(main())
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    values = parse_metrics(body.decode())
    assert metric(values, "headkit_requests_total", route="/predict", code=200) == 2
    assert metric(values, "headkit_requests_total", route="/predict", code=422) == 1
    assert metric(values, "headkit_requests_total", route="other", code=404) == 1
    assert metric(values, "headkit_request_duration_seconds_count", route="/predict") == 3
    assert metric(values, "headkit_model_call_rows_count") == 2
    assert metric(values, "headkit_model_call_rows_sum") == 4
    assert metric(values, "headkit_model_call_rows_bucket", le="1.0") == 1
    assert metric(values, "headkit_model_call_rows_bucket", le="+Inf") == 2
    assert metric(values, "headkit_queue_rows") == 0


class Gate:
    """Wraps a model's predict_proba so that calls wait until released."""

    def __init__(self, model):
        self.inner = model.predict_proba
        self.open = threading.Event()
        model.predict_proba = self

    def __call__(self, X, names=None):
        assert self.open.wait(10)
        return self.inner(X, names)


def test_overload_gets_503_with_retry_after_and_a_bounded_queue(small_run):
    model = load_model(small_run, engine="numpy")
    gate = Gate(model)
    app = create_app(model, ServeOptions(max_queue_rows=3, max_batch_rows=2))

    async def main():
        tasks = [asyncio.create_task(call(app, "POST", "/predict", [ROW])) for _ in range(12)]
        await asyncio.sleep(0.2)
        depth = app.batcher.queued_rows
        gate.open.set()
        return depth, await asyncio.gather(*tasks), await call(app, "POST", "/predict", [ROW])

    depth, answers, after = run(main())
    statuses = [status for status, _, _ in answers]
    # all twelve arrive before the first call: three fit the queue, two of them go into the
    # first call (max_batch_rows=2) and one waits; the other nine are refused at once
    assert depth == 1
    assert statuses.count(200) == 3 and statuses.count(503) == 9
    for status, headers, body in answers:
        if status == 503:
            assert headers["retry-after"] == "1"
            assert "overloaded" in json.loads(body)["error"]
    assert after[0] == 200 and app.batcher.queued_rows == 0


def test_an_answer_past_the_time_limit_is_504_and_the_server_goes_on(small_run):
    model = load_model(small_run, engine="numpy")
    gate = Gate(model)
    app = create_app(model, ServeOptions(timeout_s=0.2))

    async def main():
        late = await call(app, "POST", "/predict", [ROW])
        gate.open.set()
        await asyncio.sleep(0.1)
        return late, await call(app, "POST", "/predict", [ROW])

    late, after = run(main())
    assert late[0] == 504 and "time limit of 0.2 s" in json.loads(late[2])["error"]
    assert after[0] == 200


def test_the_access_log_is_one_json_line_per_request(small_run, capfd):
    app = create_app(load_model(small_run), ServeOptions(access_log=True))
    run(call(app, "POST", "/predict", [ROW]))
    run(call(app, "GET", "/nowhere"))
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert [(e["method"], e["path"], e["status"]) for e in lines] == [
        ("POST", "/predict", 200),
        ("GET", "/nowhere", 404),
    ]
    assert all(e["ms"] >= 0 and e["client"] == "127.0.0.1:5000" for e in lines)


def test_metadata_names_the_engine_and_limits(app):
    meta = json.loads(run(call(app, "GET", "/metadata"))[2])
    assert meta["engine"] == "numpy"
    assert meta["features"] == ["a", "b", "c", "d"] and meta["target"] == "answer"
    assert meta["limits"]["max_queue_rows"] == ServeOptions().max_queue_rows


def test_values_that_overflow_the_forward_get_422_not_nan(app):
    body = [ROW, [3.4e38] * 4]  # finite in float32; the forward overflows to NaN
    status, _, answer = run(call(app, "POST", "/predict", body))
    assert status == 422
    assert json.loads(answer)["error"].startswith("Row 1 gives no finite probabilities")
