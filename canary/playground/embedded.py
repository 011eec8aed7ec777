"""The playground's default metrics back end: the built-in Istio queries answered from memory.

NOT FOR PRODUCTION. When no `prometheus` binary is on PATH the playground runs the controller
in-process with `MetricAnalyzer(EmbeddedProvider(telemetry), ...)` instead of a
PrometheusProvider. It answers exactly the controller's built-in queries of
`canary.metrics.promql` (SUCCESS_RATE, REQUEST_DURATION, REQUESTS, FAILURES and the *_SINCE
counts), rendered for any
namespace, workload and interval, from the requests `Telemetry` counted (reporter="destination");
every other query (MetricTemplates) raises MetricProviderError naming the limitation.

A query is recognised by its shape, not parsed as PromQL: each built-in template becomes a pattern
whose placeholders capture the values, and the capture counts only if rendering the template with
those values gives back the query exactly.

Semantics, against Prometheus over the same traffic:
- `rate(x[w])` over the window (at - w, at] is count / w, so the success rate is the share of
  non-5xx requests x 100; no request in the window is no data (None), like Prometheus's empty
  denominator.
- `histogram_quantile(0.99, ...)` interpolates linearly inside Envoy's buckets as Prometheus does
  (the lowest bucket from 0; beyond the last finite bound, that bound).
- `increase(x[w])` is the exact count; Prometheus extrapolates to the window's edges, so its
  value can differ by a fraction of a scrape interval's traffic.

API: `EmbeddedProvider(telemetry).query(q, at)`, `.query_range(q, start, end, step)`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from canary.api.common import parse_duration
from canary.metrics import promql
from canary.playground.telemetry import ENVOY_BUCKETS_MS, Request
from canary.protocols import MetricProviderError, Sample


class RequestSource(Protocol):
    def requests(self, since: float = 0.0) -> list[Request]: ...


Aggregate = Callable[[Sequence[Request], float], float | None]
"""(requests in the window, window seconds) -> the query's value."""


def success_rate(requests: Sequence[Request], window: float) -> float | None:
    if not requests:
        return None
    ok = sum(1 for r in requests if not 500 <= r.code <= 599)
    return ok / len(requests) * 100


def p99_duration(requests: Sequence[Request], window: float) -> float | None:
    return histogram_quantile(0.99, [r.duration_ms for r in requests])


def request_count(requests: Sequence[Request], window: float) -> float | None:
    return float(len(requests))


def failure_count(requests: Sequence[Request], window: float) -> float | None:
    return float(sum(1 for r in requests if 500 <= r.code <= 599))


def histogram_quantile(q: float, durations: Sequence[float]) -> float | None:
    """Prometheus's histogram_quantile over Envoy's buckets for these observations (ms)."""
    if not durations:
        return None
    counts = [sum(1 for d in durations if d <= bound) for bound in ENVOY_BUCKETS_MS]
    total = len(durations)
    rank = q * total
    lower, below = 0.0, 0
    for bound, cumulative in zip(ENVOY_BUCKETS_MS, counts, strict=True):
        if cumulative >= rank:
            if cumulative == below:
                return float(bound)
            return lower + (bound - lower) * (rank - below) / (cumulative - below)
        lower, below = float(bound), cumulative
    return float(ENVOY_BUCKETS_MS[-1])  # the +Inf bucket: Prometheus returns the last bound


_QUERIES: tuple[tuple[str, str, Aggregate], ...] = (
    ("request-success-rate", promql.SUCCESS_RATE, success_rate),
    ("request-duration", promql.REQUEST_DURATION, p99_duration),
    ("requests", promql.REQUESTS, request_count),
    ("failures", promql.FAILURES, failure_count),
    ("requests-since", promql.REQUESTS_SINCE, request_count),
    ("failures-since", promql.FAILURES_SINCE, failure_count),
)

_STRING = r'((?:[^"\\]|\\.)*)'
_DURATION = r"([0-9]+(?:ms|s|m|h|d|w|y)(?:[0-9]+(?:ms|s|m|h|d|w|y))*)"


def _pattern(template: str) -> re.Pattern[str]:
    """The template with each placeholder capturing its value (a repeat must be equal)."""
    parts: list[str] = []
    seen: set[str] = set()
    index = 0
    for match in re.finditer(r"\{\{\s*(\w+)\s*\}\}", template):
        parts.append(re.escape(template[index : match.start()]))
        name = match.group(1)
        group = _DURATION if name == "interval" else _STRING
        parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>{group[1:-1]})")
        seen.add(name)
        index = match.end()
    parts.append(re.escape(template[index:]))
    return re.compile("".join(parts))


_PATTERNS = [
    (name, template, _pattern(template), aggregate) for name, template, aggregate in _QUERIES
]


def recognise(query: str) -> tuple[str, str, str, float, Aggregate] | None:
    """(kind, namespace, workload, window seconds, aggregate) of a built-in query, else None."""
    text = query.strip()
    for name, template, pattern, aggregate in _PATTERNS:
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values = {
            "namespace": promql.unescape_string(match.group("namespace"), '"'),
            "target": promql.unescape_string(match.group("target"), '"'),
            "interval": match.group("interval"),
        }
        try:
            if promql.render(template, values) != text:
                continue
            window = parse_duration(values["interval"])
        except (promql.TemplateError, ValueError):
            continue
        return name, values["namespace"], values["target"], window, aggregate
    return None


class EmbeddedProvider:
    """A canary.protocols.MetricProvider over a Telemetry's counts (see module docstring)."""

    def __init__(self, source: RequestSource) -> None:
        self._source = source

    def query(self, query: str, at: datetime) -> float | None:
        known = recognise(query)
        if known is None:
            raise MetricProviderError(
                "the playground's embedded metrics provider answers only the built-in "
                "request-success-rate and request-duration queries; put `prometheus` on PATH "
                "to run MetricTemplate queries"
            )
        _, namespace, workload, window, aggregate = known
        end = at.timestamp()
        requests = [
            r
            for r in self._source.requests(since=end - window)
            if r.time <= end
            and r.reporter == "destination"
            and r.workload == workload
            and r.namespace == namespace
        ]
        value = aggregate(requests, window)
        return None if value is None or math.isnan(value) else value

    def query_range(self, query: str, start: datetime, end: datetime, step: float) -> list[Sample]:
        if step <= 0:
            raise MetricProviderError(f"step must be > 0 seconds, got {step}")
        samples: list[Sample] = []
        at = start
        while at <= end:
            value = self.query(query, at)
            if value is not None:
                samples.append(Sample(at.timestamp(), value))
            at += timedelta(seconds=step)
        return samples
