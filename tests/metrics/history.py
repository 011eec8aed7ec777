"""Deterministic Istio telemetry for the tests, written as OpenMetrics for promtool to backfill.

Namespace `test`, target `podinfo` (the canary) and `podinfo-primary`, 30 minutes from T0 with a
sample every 10 s. Every expected value below is worked out by hand from these rates:

- podinfo: 95 ok/s + 5 x 503/s (success 95 %) until T0+20m, then 70 ok/s + 30 x 503/s (70 %).
- podinfo-primary: 99 ok/s + 1 x 500/s (success 99 %).
- Latency, per second, cumulative by bucket: podinfo le=5:10, 10:20, 25:50, 50:90, 100:98, 250+:100
  so p99 = 100 + 150 * (99-98)/(100-98) = 175 ms; podinfo-primary le=5:20, 10:50, 25:80, 50:96,
  100+:100 so p99 = 50 + 50 * (99-96)/(100-96) = 87.5 ms.
- Decoys that a dropped filter would mix in: `podinfo` in namespace `other`, and
  `reporter="source"` series for `test/podinfo`, both all 500s and all in the 5000 ms bucket.
- `idle` in `test`: series exist but never move, so rates are 0 and the success rate is 0/0 = NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

T0 = 1767225600
"""2026-01-01T00:00:00Z, a multiple of 2 h so promtool's block is aligned."""
STEP = 10
DURATION = 1800
INCIDENT = T0 + 1200
"""The canary's 5xx rate jumps from 5/s to 30/s here."""

BUCKETS = (
    *("0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "2500", "5000", "10000"),
    *("30000", "60000", "300000", "600000", "1800000", "3600000"),
)
"""Envoy's default buckets, which Istio exports (+Inf is added when writing)."""

Rate = Callable[[int], float]
"""Counter value at time t (seconds since T0)."""


def steady(per_second: float) -> Rate:
    return lambda t: per_second * t


def switching(before: float, after: float) -> Rate:
    switch = INCIDENT - T0
    return lambda t: before * min(t, switch) + after * max(0, t - switch)


def labels(workload: str, namespace: str = "test", reporter: str = "destination") -> str:
    return (
        f'reporter="{reporter}",destination_workload="{workload}",'
        f'destination_workload_namespace="{namespace}",destination_service_name="podinfo"'
    )


REQUESTS: list[tuple[str, str, Rate]] = [
    (labels("podinfo"), "200", switching(95, 70)),
    (labels("podinfo"), "503", switching(5, 30)),
    (labels("podinfo-primary"), "200", steady(99)),
    (labels("podinfo-primary"), "500", steady(1)),
    (labels("podinfo", namespace="other"), "500", steady(50)),
    (labels("podinfo", reporter="source"), "500", steady(50)),
    (labels("idle"), "200", steady(0)),
]

LATENCY: list[tuple[str, dict[str, int]]] = [
    (labels("podinfo"), {"5": 10, "10": 20, "25": 50, "50": 90, "100": 98, "250": 100}),
    (labels("podinfo-primary"), {"5": 20, "10": 50, "25": 80, "50": 96, "100": 100}),
    (labels("podinfo", namespace="other"), {"5000": 100}),
    (labels("podinfo", reporter="source"), {"5000": 100}),
]


def times() -> range:
    return range(0, DURATION + 1, STEP)


def cumulative(per_bucket: dict[str, int], bound: str) -> int:
    """Requests per second at or below `bound`: the count of the largest listed bucket <= bound."""
    below = [count for le, count in per_bucket.items() if float(le) <= float(bound)]
    return max(below, default=0)


def request_lines() -> Iterator[str]:
    for selector, code, value in REQUESTS:
        for t in times():
            yield f'istio_requests_total{{{selector},response_code="{code}"}} {value(t):g} {T0 + t}'


def latency_lines() -> Iterator[str]:
    for selector, per_bucket in LATENCY:
        total = max(per_bucket.values())
        for le in [*BUCKETS, "+Inf"]:
            rate = total if le == "+Inf" else cumulative(per_bucket, le)
            for t in times():
                yield f'istio_request_duration_milliseconds_bucket{{{selector},le="{le}"}} {rate * t} {T0 + t}'
        for t in times():
            yield f"istio_request_duration_milliseconds_count{{{selector}}} {total * t} {T0 + t}"


def openmetrics() -> str:
    """Untyped samples (promtool accepts them), one series after another, seconds timestamps."""
    return "\n".join([*request_lines(), *latency_lines(), "# EOF", ""])
