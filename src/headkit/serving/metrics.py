"""Prometheus metrics of the server, written in the text exposition format (version 0.0.4).

No client library: counters and histograms are a few integers each, and the format is plain
text (``# HELP``, ``# TYPE``, then ``name{labels} value`` lines; a histogram has cumulative
``_bucket{le=...}`` lines, ``_sum`` and ``_count``). Each worker process keeps its own metrics and
labels them with its ``pid``, so a scrape through a shared port sees one worker at a time.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)


class Histogram:
    """Counts of observations at or below each bucket bound (Prometheus cumulative form).

    Parameters
    ----------
    bounds : sequence of float
        Increasing upper bounds; ``+Inf`` is added.
    """

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        """Record one observation."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        """The ``_bucket``, ``_sum`` and ``_count`` lines, ``labels`` being ``k="v",...``."""
        out, total = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            le = "+Inf" if bound == float("inf") else repr(float(bound))
            out.append(f'{name}_bucket{{{labels},le="{le}"}} {total}')
        out.append(f"{name}_sum{{{labels}}} {self.sum!r}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class Metrics:
    """The server's counters: requests by route and status, latency, rows per model call.

    Parameters
    ----------
    routes : sequence of str
        Known paths; any other path is counted as ``other`` (bounded label values).
    gauges : callable, optional
        Returns ``{name: (help, value)}`` read at scrape time (queue depth, readiness).
    """

    def __init__(
        self,
        routes: Sequence[str],
        gauges: Callable[[], dict[str, tuple[str, float]]] | None = None,
    ) -> None:
        self.routes = frozenset(routes)
        self.requests: dict[tuple[str, int], int] = {}
        self.latency = {route: Histogram(LATENCY_BUCKETS) for route in routes}
        self.call_rows = Histogram(ROW_BUCKETS)
        self.call_seconds = Histogram(LATENCY_BUCKETS)
        self.gauges = gauges
        self.pid = os.getpid()

    def observe_request(self, path: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        route = path if path in self.routes else "other"
        key = (route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        if route != "other":
            self.latency[route].observe(seconds)

    def observe_call(self, rows: int, seconds: float) -> None:
        """Record one model call of ``rows`` rows."""
        self.call_rows.observe(rows)
        self.call_seconds.observe(seconds)

    def render(self) -> str:
        """All metrics in the Prometheus text format."""
        pid = f'pid="{self.pid}"'
        lines = [
            "# HELP headkit_requests_total HTTP requests answered, by route and status code.",
            "# TYPE headkit_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'headkit_requests_total{{{pid},route="{route}",code="{status}"}} {count}')
        lines += [
            "# HELP headkit_request_duration_seconds Time from request start to response, by route.",
            "# TYPE headkit_request_duration_seconds histogram",
        ]
        for route, histogram in sorted(self.latency.items()):
            if histogram.count:
                labels = f'{pid},route="{route}"'
                lines += histogram.lines("headkit_request_duration_seconds", labels)
        lines += [
            "# HELP headkit_model_call_rows Rows per model call (micro-batches).",
            "# TYPE headkit_model_call_rows histogram",
            *self.call_rows.lines("headkit_model_call_rows", pid),
            "# HELP headkit_model_call_duration_seconds Time of one model call.",
            "# TYPE headkit_model_call_duration_seconds histogram",
            *self.call_seconds.lines("headkit_model_call_duration_seconds", pid),
        ]
        for name, (text, value) in (self.gauges() if self.gauges else {}).items():
            lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge", f"{name}{{{pid}}} {value}"]
        return "\n".join(lines) + "\n"
