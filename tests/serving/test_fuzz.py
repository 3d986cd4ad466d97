"""Property-based fuzzing of the live server: generated requests, no 5xx, answers match the schema.

Hypothesis generates requests — rows that fit the model, rows that almost fit (a wrong width, a
missing or extra column, a value of another JSON type), arbitrary JSON, raw bytes, other content
types, paths and methods — and sends them over one keep-alive loopback connection to a
`headkit serve` process. Every answer must be one of the documented statuses, never 5xx, and its
body must validate against the server's own OpenAPI document (for 200: one answer per row).
"""

import http.client
import json
from collections import Counter

import jsonschema
import pytest

from .conftest import NAMES
from .test_lifecycle import start

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

DOCUMENTED = {200, 400, 404, 405, 408, 413, 415, 422, 503, 504}
SENT = {"count": 0}
STATUSES: Counter = Counter()

numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.integers(-(2**31), 2**31),
    st.floats(min_value=-1e300, max_value=1e300),
)
json_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
list_row = st.lists(numbers, min_size=4, max_size=4)
object_row = st.fixed_dictionaries({name: numbers for name in NAMES})


@st.composite
def near_rows(draw):
    """A row that almost fits: one change to a valid list or object row."""
    if draw(st.booleans()):
        row = draw(list_row)
        change = draw(st.sampled_from(["drop", "add", "value"]))
        if change == "drop":
            row.pop()
        elif change == "add":
            row.append(draw(numbers))
        else:
            row[draw(st.integers(0, 3))] = draw(json_values)
        return row
    row = draw(object_row)
    change = draw(st.sampled_from(["drop", "add", "value"]))
    if change == "drop":
        row.pop(draw(st.sampled_from(NAMES)))
    elif change == "add":
        row[draw(st.text(max_size=5))] = draw(numbers)
    else:
        row[draw(st.sampled_from(NAMES))] = draw(json_values)
    return row


rows = st.lists(st.one_of(list_row, object_row, near_rows()), min_size=0, max_size=6)
json_bodies = st.one_of(
    rows.map(lambda r: {"rows": r}), rows, json_values, st.lists(list_row, min_size=1)
).map(lambda v: json.dumps(v).encode())
csv_bodies = st.lists(st.lists(numbers, min_size=4, max_size=4), min_size=1, max_size=4).map(
    lambda r: ("a,b,c,d\n" + "\n".join(",".join(map(str, x)) for x in r) + "\n").encode()
)
requests = st.one_of(
    st.tuples(st.just("POST"), st.just("/predict"), st.just("application/json"), json_bodies),
    st.tuples(st.just("POST"), st.just("/predict"), st.just("text/csv"), csv_bodies),
    st.tuples(
        st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
        st.sampled_from(["/predict", "/health", "/ready", "/metadata", "/nope", "/predict/x"]),
        st.sampled_from(["application/json", "text/csv", "text/plain", ""]),
        st.one_of(st.binary(max_size=64), json_bodies),
    ),
)


@pytest.fixture(scope="module")
def live(small_run):
    """(port, OpenAPI document) of a live server; stopped after the module."""
    server, port = start(small_run, "--max-body-mb", "0.001")
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/openapi.json")
        document = json.loads(connection.getresponse().read())
        yield port, document
    finally:
        server.terminate()
        server.wait(timeout=30)


class Client:
    """One keep-alive connection, reopened when the server closes it (e.g. after a 413)."""

    def __init__(self, port):
        self.port = port
        self.connection = None

    def send(self, method, path, content_type, body):
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            answer = response.status, response.getheader("content-type", ""), response.read()
        except (http.client.HTTPException, OSError):
            self.connection.close()
            self.connection = None
            raise
        if response.will_close:
            self.connection.close()
            self.connection = None
        SENT["count"] += 1
        STATUSES[answer[0]] += 1
        return answer


def check(document, client, request):
    method, path, content_type, body = request
    status, kind, data = client.send(method, path, content_type, body)
    assert status in DOCUMENTED, (status, request, data[:200])
    if not kind.startswith("application/json"):
        return
    answer = json.loads(data)
    components = {"components": document["components"]}
    if path == "/predict" and method == "POST":
        ref = "Prediction" if status == 200 else "Error"
        schema = {"$ref": f"#/components/schemas/{ref}", **components}
        jsonschema.Draft202012Validator(schema).validate(answer)
        if status == 200 and content_type == "application/json":
            sent = json.loads(body)
            sent = sent["rows"] if isinstance(sent, dict) else sent
            assert len(answer["probabilities"]) == len(sent) == len(answer["labels"])
    elif status >= 400:
        assert isinstance(answer.get("error", answer.get("status")), str)


def fuzz(live, examples):
    port, document = live
    client = Client(port)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests)
    def run(request):
        check(document, client, request)

    run()


def test_generated_requests_get_no_5xx_and_schema_conforming_answers(live):
    before = SENT["count"]
    fuzz(live, 150)
    assert SENT["count"] - before >= 150


@pytest.mark.slow
def test_thousands_of_generated_requests_get_no_5xx(live):
    before = SENT["count"]
    fuzz(live, 1500)
    print(f"\n{SENT['count'] - before} generated requests sent; statuses {dict(STATUSES)}")
    assert SENT["count"] - before >= 1000
